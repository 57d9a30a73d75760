/**
 * DefaultTolerationSeconds: pods are created tolerating the not-ready and unreachable NoExecute
 * taints for 5 s (kube: 300 s), unless they already tolerate them; configurable and optional
 * through connect().
 */
import { expect } from 'chai';
import { connect } from '../../lib/client/connect.js';
import type { Client } from '../../lib/client/client.js';
import { Pod } from '../../lib/api/kinds.js';
import type { Toleration } from '../../lib/api/types/core.js';
import { DefaultTolerationSeconds } from '../../lib/registry/admission/default-tolerations.js';
import type { AdmissionAttributes } from '../../lib/registry/registry.js';

const NOT_READY = 'node.kubernetes.io/not-ready';
const UNREACHABLE = 'node.kubernetes.io/unreachable';

function pod(name: string, tolerations?: Toleration[]): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { containers: [{ name: 'c', image: 'busybox' }], ...(tolerations ? { tolerations } : {}) },
  };
}

describe('DefaultTolerationSeconds admission', () => {
  let client: Client;
  afterEach(async () => client?.close());

  const create = async (p: Pod) => (await client.create(p)).spec?.tolerations;

  it('adds not-ready and unreachable NoExecute tolerations of 5 s to a pod created without them', async () => {
    client = await connect({ store: 'memory:', compactionIntervalMs: 0 });
    expect(await create(pod('a'))).to.deep.equal([
      { key: NOT_READY, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 5 },
      { key: UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 5 },
    ]);
  });

  it('keeps the pod’s own toleration of a taint and adds only the missing one, after the pod’s', async () => {
    client = await connect({ store: 'memory:', compactionIntervalMs: 0 });
    const own: Toleration = { key: NOT_READY, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 60 };
    const other: Toleration = { key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' };
    expect(await create(pod('a', [other, own]))).to.deep.equal([other, own, { key: UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 5 }]);
  });

  it('adds nothing to a pod that tolerates everything (empty key, Exists) or both keys with any effect', async () => {
    client = await connect({ store: 'memory:', compactionIntervalMs: 0 });
    expect(await create(pod('all', [{ operator: 'Exists' }]))).to.deep.equal([{ operator: 'Exists' }]);
    const anyEffect: Toleration[] = [
      { key: NOT_READY, operator: 'Exists' },
      { key: UNREACHABLE, operator: 'Exists', effect: 'NoExecute' },
    ];
    expect(await create(pod('keys', anyEffect))).to.deep.equal(anyEffect);
  });

  it('does not count a toleration of the same key with another effect', async () => {
    client = await connect({ store: 'memory:', compactionIntervalMs: 0 });
    const noSchedule: Toleration = { key: UNREACHABLE, operator: 'Exists', effect: 'NoSchedule' };
    const tolerations = await create(pod('a', [noSchedule]));
    expect(tolerations).to.have.length(3);
    expect(tolerations?.filter((t) => t.key === UNREACHABLE && t.effect === 'NoExecute')).to.deep.equal([
      { key: UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 5 },
    ]);
  });

  it('never duplicates: a pod read back and created again under another name gets no second pair', async () => {
    client = await connect({ store: 'memory:', compactionIntervalMs: 0 });
    const first = await client.create(pod('a'));
    const again = await create({ ...pod('b'), spec: first.spec! });
    expect(again).to.have.length(2);
  });

  it('takes the seconds from connect() options, and can be turned off', async () => {
    client = await connect({ store: 'memory:', compactionIntervalMs: 0, defaultTolerationSeconds: { notReadyTolerationSeconds: 300, unreachableTolerationSeconds: 30 } });
    expect((await create(pod('a')))?.map((t) => [t.key, t.tolerationSeconds])).to.deep.equal([
      [NOT_READY, 300],
      [UNREACHABLE, 30],
    ]);
    await client.close();
    client = await connect({ store: 'memory:', compactionIntervalMs: 0, defaultTolerationSeconds: false });
    expect(await create(pod('b'))).to.equal(undefined);
  });

  it('touches only creates of pods: not updates, subresources or other kinds', () => {
    const plugin = new DefaultTolerationSeconds();
    const attributes = (operation: AdmissionAttributes['operation'], kind: string, subresource?: string): AdmissionAttributes => ({
      operation,
      info: { group: '', kind } as AdmissionAttributes['info'],
      object: pod('a') as AdmissionAttributes['object'],
      dryRun: false,
      ...(subresource ? { subresource } : {}),
    });
    for (const attrs of [attributes('UPDATE', 'Pod'), attributes('CREATE', 'Pod', 'status'), attributes('CREATE', 'PodTemplate')]) {
      plugin.mutate(attrs);
      expect((attrs.object as Pod).spec?.tolerations).to.equal(undefined);
    }
    const created = attributes('CREATE', 'Pod');
    plugin.mutate(created);
    expect((created.object as Pod).spec?.tolerations).to.have.length(2);
  });

  it('refuses a negative or fractional number of seconds', () => {
    expect(() => new DefaultTolerationSeconds({ notReadyTolerationSeconds: -1 })).to.throw(RangeError, /notReadyTolerationSeconds/);
    expect(() => new DefaultTolerationSeconds({ unreachableTolerationSeconds: 1.5 })).to.throw(RangeError, /unreachableTolerationSeconds/);
  });
});
