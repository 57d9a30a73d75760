import { expect } from 'chai';
import { isBadRequest } from '../../lib/api/errors.js';
import { fieldsOf } from '../../lib/api/fields.js';
import type { KubeObject } from '../../lib/api/meta.js';
import type { Pod } from '../../lib/api/kinds.js';
import { deepFreeze, Indexer, LABEL_INDEX, metaNamespaceKey, NAMESPACE_INDEX } from '../../lib/runtime/cache.js';

function pod(namespace: string, name: string, rv: string, labels: Record<string, string> = {}, nodeName = ''): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name, resourceVersion: rv, labels },
    spec: { containers: [{ name: 'c', image: 'i' }], ...(nodeName ? { nodeName } : {}) },
  } as Pod;
}

const names = (objs: KubeObject[]) => objs.map(metaNamespaceKey).sort();
const byNode = (obj: Pod) => (obj.spec?.nodeName ? [obj.spec.nodeName] : []);

describe('Indexer', () => {
  it('keys objects namespace/name, or name when cluster-scoped', () => {
    const indexer = new Indexer();
    indexer.add(pod('ns1', 'a', '1'));
    indexer.add({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', resourceVersion: '2' } });
    expect(indexer.keys()).to.deep.equal(['ns1/a', 'n1']);
    expect(indexer.get('ns1', 'a')?.metadata?.name).to.equal('a');
    expect(indexer.get(undefined, 'n1')?.metadata?.name).to.equal('n1');
    expect(indexer.get('ns2', 'a')).to.equal(undefined);
    expect(indexer.size).to.equal(2);
  });

  it('hands out the stored object itself, deep-frozen', () => {
    const indexer = new Indexer<Pod>();
    indexer.add(pod('ns1', 'a', '1', { app: 'web' }));
    const stored = indexer.get('ns1', 'a')!;
    expect(indexer.list()[0]).to.equal(stored);
    expect(Object.isFrozen(stored)).to.equal(true);
    expect(Object.isFrozen(stored.metadata!.labels)).to.equal(true);
    expect(Object.isFrozen(stored.spec!.containers[0])).to.equal(true);
    expect(() => {
      stored.metadata!.labels!['app'] = 'changed';
    }).to.throw(TypeError);
  });

  it('keeps the namespace and label indexes right through add, update and delete', () => {
    const indexer = new Indexer<Pod>();
    indexer.add(pod('ns1', 'a', '1', { app: 'web' }));
    indexer.add(pod('ns1', 'b', '1', { app: 'db' }));
    indexer.add(pod('ns2', 'c', '1', { app: 'web', tier: 'front' }));
    expect(names(indexer.byIndex(NAMESPACE_INDEX, 'ns1'))).to.deep.equal(['ns1/a', 'ns1/b']);
    expect(names(indexer.byIndex(LABEL_INDEX, 'app=web'))).to.deep.equal(['ns1/a', 'ns2/c']);

    const old = indexer.update(pod('ns1', 'a', '2', { app: 'db' }));
    expect(old?.metadata?.resourceVersion).to.equal('1');
    expect(names(indexer.byIndex(LABEL_INDEX, 'app=web'))).to.deep.equal(['ns2/c']);
    expect(names(indexer.byIndex(LABEL_INDEX, 'app=db'))).to.deep.equal(['ns1/a', 'ns1/b']);

    indexer.delete(pod('ns2', 'c', '3'));
    expect(indexer.byIndex(LABEL_INDEX, 'app=web')).to.deep.equal([]);
    expect(indexer.byIndex(NAMESPACE_INDEX, 'ns2')).to.deep.equal([]);
    expect(indexer.listIndexFuncValues(LABEL_INDEX)).to.deep.equal(['app=db']);
    expect(indexer.listIndexFuncValues(NAMESPACE_INDEX)).to.deep.equal(['ns1']);
  });

  it('accepts a user index before and after objects exist, and keeps it right', () => {
    const before = new Indexer<Pod>();
    before.addIndexer('node', byNode);
    before.add(pod('ns1', 'a', '1', {}, 'n1'));
    const after = new Indexer<Pod>();
    after.add(pod('ns1', 'a', '1', {}, 'n1'));
    after.addIndexer('node', byNode);
    for (const indexer of [before, after]) {
      indexer.add(pod('ns1', 'b', '1', {}, 'n2'));
      expect(names(indexer.byIndex('node', 'n1'))).to.deep.equal(['ns1/a']);
      indexer.update(pod('ns1', 'a', '2', {}, 'n2'));
      expect(indexer.byIndex('node', 'n1')).to.deep.equal([]);
      expect(names(indexer.byIndex('node', 'n2'))).to.deep.equal(['ns1/a', 'ns1/b']);
      indexer.delete(pod('ns1', 'b', '2'));
      expect(indexer.indexKeys('node', 'n2')).to.deep.equal(['ns1/a']);
    }
  });

  it('refuses a second index of the same name, and an unknown index, with 400s', () => {
    const indexer = new Indexer<Pod>();
    indexer.addIndexer('node', byNode);
    expect(() => indexer.addIndexer('node', byNode)).to.throw().that.satisfies(isBadRequest);
    expect(() => indexer.addIndexer(NAMESPACE_INDEX, byNode)).to.throw().that.satisfies(isBadRequest);
    expect(() => indexer.byIndex('nope', 'x')).to.throw('Index with name nope does not exist');
  });

  it('stores an object whose IndexFunc throws, reporting the error and leaving it out of that index', () => {
    const errors: Error[] = [];
    const indexer = new Indexer<Pod>({ onIndexError: (e) => errors.push(e) });
    indexer.addIndexer('broken', (obj) => {
      if (obj.metadata?.name === 'bad') throw new Error('boom');
      return ['ok'];
    });
    indexer.add(pod('ns1', 'bad', '1'));
    indexer.add(pod('ns1', 'good', '1'));
    expect(indexer.keys()).to.deep.equal(['ns1/bad', 'ns1/good']);
    expect(names(indexer.byIndex('broken', 'ok'))).to.deep.equal(['ns1/good']);
    expect(errors[0]?.message).to.equal('unable to calculate an index entry for key "ns1/bad" on index "broken": boom');
  });

  it('lists by namespace, label selector (both forms) and field selector', () => {
    const indexer = new Indexer<Pod>({ selectableFields: (obj) => fieldsOf('Pod', obj) });
    indexer.add(pod('ns1', 'a', '1', { app: 'web', tier: 'front' }, 'n1'));
    indexer.add(pod('ns1', 'b', '1', { app: 'db' }, 'n2'));
    indexer.add(pod('ns2', 'c', '1', { app: 'web' }, 'n1'));
    expect(names(indexer.list())).to.deep.equal(['ns1/a', 'ns1/b', 'ns2/c']);
    expect(names(indexer.list({ namespace: 'ns1' }))).to.deep.equal(['ns1/a', 'ns1/b']);
    expect(names(indexer.list({ labelSelector: 'app=web' }))).to.deep.equal(['ns1/a', 'ns2/c']);
    expect(names(indexer.list({ labelSelector: 'app in (web,db),!tier' }))).to.deep.equal(['ns1/b', 'ns2/c']);
    expect(names(indexer.list({ labelSelector: { matchLabels: { app: 'web' } }, namespace: 'ns2' }))).to.deep.equal(['ns2/c']);
    expect(names(indexer.list({ fieldSelector: 'spec.nodeName=n1' }))).to.deep.equal(['ns1/a', 'ns2/c']);
    expect(names(indexer.list({ fieldSelector: 'spec.nodeName!=n1,metadata.namespace=ns1' }))).to.deep.equal(['ns1/b']);
    expect(names(indexer.list({ namespace: 'ns3' }))).to.deep.equal([]);
  });

  it('answers field selectors from a field: index when there is one', () => {
    const indexer = new Indexer<Pod>();
    indexer.addIndexer('field:spec.nodeName', byNode);
    indexer.add(pod('ns1', 'a', '1', {}, 'n1'));
    indexer.add(pod('ns1', 'b', '1', {}, 'n2'));
    expect(names(indexer.list({ fieldSelector: 'spec.nodeName=n2' }))).to.deep.equal(['ns1/b']);
    expect(names(indexer.list({ fieldSelector: 'spec.nodeName!=n2' }))).to.deep.equal(['ns1/a']);
    // Without an index the default selectable fields know only metadata.*; others count as ''.
    expect(names(indexer.list({ fieldSelector: 'metadata.name=a' }))).to.deep.equal(['ns1/a']);
    expect(names(indexer.list({ fieldSelector: 'status.phase=' }))).to.deep.equal(['ns1/a', 'ns1/b']);
  });

  it('replaces its contents and answers exactly what was added, updated and deleted', () => {
    const indexer = new Indexer<Pod>();
    indexer.addIndexer('node', byNode);
    const kept = pod('ns1', 'same', '1', {}, 'n1');
    indexer.replace([kept, pod('ns1', 'changed', '1', { app: 'web' }, 'n1'), pod('ns1', 'gone', '1', { app: 'web' }, 'n1')], '10');
    const diff = indexer.replace(
      [pod('ns1', 'same', '1', {}, 'n1'), pod('ns1', 'changed', '2', { app: 'db' }, 'n2'), pod('ns1', 'new', '3', {}, 'n2')],
      '20',
    );
    expect(names(diff.added)).to.deep.equal(['ns1/new']);
    expect(diff.updated.map((u) => [u.oldObj.metadata?.resourceVersion, u.newObj.metadata?.resourceVersion])).to.deep.equal([['1', '2']]);
    expect(diff.deleted.map((d) => [metaNamespaceKey(d), d.metadata?.resourceVersion])).to.deep.equal([['ns1/gone', '1']]);
    expect(indexer.resourceVersion).to.equal('20');
    expect(indexer.get('ns1', 'same')).to.equal(kept);
    expect(names(indexer.byIndex('node', 'n1'))).to.deep.equal(['ns1/same']);
    expect(names(indexer.byIndex('node', 'n2'))).to.deep.equal(['ns1/changed', 'ns1/new']);
    expect(indexer.byIndex(LABEL_INDEX, 'app=web')).to.deep.equal([]);
    expect(names(indexer.byIndex(LABEL_INDEX, 'app=db'))).to.deep.equal(['ns1/changed']);
  });

  it('can keep objects unfrozen when asked', () => {
    const indexer = new Indexer<Pod>({ freeze: false });
    indexer.add(pod('ns1', 'a', '1'));
    expect(Object.isFrozen(indexer.get('ns1', 'a'))).to.equal(false);
    expect(Object.isFrozen(deepFreeze({ a: { b: 1 } }).a)).to.equal(true);
  });
});
