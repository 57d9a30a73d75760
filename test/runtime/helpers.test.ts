/**
 * Object helpers (controller-runtime's controllerutil): owner references with their
 * validations, and finalizer patches that stay correct under concurrent modification. Also the
 * logger helpers every controller uses.
 */
import { expect } from 'chai';
import { ignoreNotFound, isBadRequest, isConflict, isNotFound } from '../../lib/api/errors.js';
import { ConfigMap, Namespace, Pod } from '../../lib/api/kinds.js';
import type { KubeObject } from '../../lib/api/meta.js';
import type { Client } from '../../lib/client/client.js';
import {
  AlreadyOwnedError,
  addFinalizer,
  addFinalizerTo,
  getControllerOf,
  hasFinalizer,
  isAlreadyOwnedError,
  isControlledBy,
  removeFinalizer,
  removeFinalizerFrom,
  setControllerReference,
  setOwnerReference,
} from '../../lib/runtime/helpers.js';
import { createLogger, reconcileLogger, silentLogger } from '../../lib/runtime/logger.js';
import { FakeClock, memoryClient } from '../../lib/testing/index.js';

const NS = 'default';

function rc(name: string, uid: string, namespace = NS): KubeObject {
  return { apiVersion: 'v1', kind: 'ReplicationController', metadata: { name, namespace, uid } };
}

function pod(name: string, namespace = NS): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace } };
}

function thrown(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}

describe('Owner references', () => {
  it('setControllerReference adds a controller reference that blocks owner deletion', () => {
    const obj = pod('web-1');
    setControllerReference(rc('web', 'uid-1'), obj);
    expect(obj.metadata!.ownerReferences).to.deep.equal([
      { apiVersion: 'v1', kind: 'ReplicationController', name: 'web', uid: 'uid-1', blockOwnerDeletion: true, controller: true },
    ]);
    expect(getControllerOf(obj)?.name).to.equal('web');
    expect(isControlledBy(obj, rc('web', 'uid-1'))).to.equal(true);
    expect(isControlledBy(obj, rc('web', 'uid-2'))).to.equal(false);
  });

  it('setControllerReference is idempotent and keeps other owners', () => {
    const obj = pod('web-1');
    setOwnerReference({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: NS, uid: 'cm' } }, obj);
    setControllerReference(rc('web', 'uid-1'), obj);
    setControllerReference(rc('web', 'uid-1'), obj);
    expect(obj.metadata!.ownerReferences!.map((r) => `${r.kind}/${r.name}/${r.controller ?? false}`)).to.deep.equal([
      'ConfigMap/cfg/false',
      'ReplicationController/web/true',
    ]);
  });

  it('refuses a second controller with AlreadyOwnedError', () => {
    const obj = pod('web-1');
    setControllerReference(rc('web', 'uid-1'), obj);
    const err = thrown(() => setControllerReference(rc('other', 'uid-2'), obj));
    expect(err).to.be.instanceOf(AlreadyOwnedError);
    expect(isAlreadyOwnedError(err)).to.equal(true);
    expect((err as AlreadyOwnedError).owner.name).to.equal('web');
    expect((err as Error).message).to.equal('Object default/web-1 is already owned by another ReplicationController controller web');
    expect(obj.metadata!.ownerReferences).to.have.length(1);
  });

  it('treats the same owner at another API version as the same controller', () => {
    const obj = pod('web-1');
    const v1 = { apiVersion: 'example.com/v1', kind: 'App', metadata: { name: 'web', namespace: NS, uid: 'u' } };
    setControllerReference(v1, obj);
    setControllerReference({ ...v1, apiVersion: 'example.com/v2' }, obj);
    expect(obj.metadata!.ownerReferences).to.have.length(1);
    expect(obj.metadata!.ownerReferences![0]!.apiVersion).to.equal('example.com/v2');
  });

  it('refuses cross-namespace owners and namespaced owners of cluster-scoped objects', () => {
    const crossNamespace = thrown(() => setControllerReference(rc('web', 'u', 'team-a'), pod('web-1', 'team-b')));
    expect(isBadRequest(crossNamespace)).to.equal(true);
    expect((crossNamespace as Error).message).to.match(/cross-namespace owner references are disallowed/);
    const clusterScoped: Namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } };
    expect((thrown(() => setOwnerReference(rc('web', 'u'), clusterScoped)) as Error).message).to.match(/cluster-scoped resource must not have a namespace-scoped owner/);
  });

  it('allows a cluster-scoped owner of a namespaced object', () => {
    const obj = pod('web-1');
    setOwnerReference({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1', uid: 'n1' } }, obj);
    expect(obj.metadata!.ownerReferences![0]).to.deep.equal({ apiVersion: 'v1', kind: 'Node', name: 'node-1', uid: 'n1' });
    expect(getControllerOf(obj)).to.equal(undefined);
  });

  it('refuses an owner that was never stored (no uid)', () => {
    const err = thrown(() => setControllerReference({ apiVersion: 'v1', kind: 'ReplicationController', metadata: { name: 'web', namespace: NS } }, pod('p')));
    expect((err as Error).message).to.match(/metadata\.uid/);
  });
});

describe('Finalizers in memory', () => {
  it('add and remove report whether they changed the object', () => {
    const obj = pod('p');
    expect(hasFinalizer(obj, 'keelson.dev/a')).to.equal(false);
    expect(addFinalizerTo(obj, 'keelson.dev/a')).to.equal(true);
    expect(addFinalizerTo(obj, 'keelson.dev/a')).to.equal(false);
    expect(addFinalizerTo(obj, 'keelson.dev/b')).to.equal(true);
    expect(obj.metadata!.finalizers).to.deep.equal(['keelson.dev/a', 'keelson.dev/b']);
    expect(removeFinalizerFrom(obj, 'keelson.dev/a')).to.equal(true);
    expect(removeFinalizerFrom(obj, 'keelson.dev/a')).to.equal(false);
    expect(obj.metadata!.finalizers).to.deep.equal(['keelson.dev/b']);
  });
});

describe('Finalizer patches', () => {
  let client: Client;
  let stale: ConfigMap;

  beforeEach(async () => {
    client = await memoryClient({ clock: new FakeClock() });
    stale = await client.create<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: NS }, data: { a: '1' } });
  });

  afterEach(() => client.close());

  const read = () => client.get(ConfigMap, 'cfg', { namespace: NS });

  it('adds a finalizer, and is a no-op when present', async () => {
    const written = await addFinalizer(client, ConfigMap, stale, 'keelson.dev/cleanup');
    expect(written.metadata!.finalizers).to.deep.equal(['keelson.dev/cleanup']);
    const again = await addFinalizer(client, ConfigMap, written, 'keelson.dev/cleanup');
    expect(again.metadata!.resourceVersion).to.equal(written.metadata!.resourceVersion);
  });

  it('does not clobber a finalizer added concurrently from a stale copy', async () => {
    const current = await read();
    await client.update<ConfigMap>({ ...current, metadata: { ...current.metadata, finalizers: ['other.io/keep'] } });
    const written = await addFinalizer(client, ConfigMap, stale, 'keelson.dev/cleanup');
    expect(written.metadata!.finalizers).to.deep.equal(['other.io/keep', 'keelson.dev/cleanup']);
    expect((await read()).metadata!.finalizers).to.deep.equal(['other.io/keep', 'keelson.dev/cleanup']);
  });

  it('keeps every finalizer when many writers add at once', async () => {
    const names = Array.from({ length: 4 }, (_, i) => `keelson.dev/f${i}`);
    await Promise.all(names.map((f) => addFinalizer(client, ConfigMap, stale, f)));
    expect([...(await read()).metadata!.finalizers!].sort()).to.deep.equal(names);
  });

  it('removes only its own finalizer, even from a stale copy', async () => {
    const withMine = await addFinalizer(client, ConfigMap, stale, 'keelson.dev/cleanup');
    const current = await read();
    await client.update<ConfigMap>({ ...current, metadata: { ...current.metadata, finalizers: ['keelson.dev/cleanup', 'other.io/keep'] } });
    const written = await removeFinalizer(client, ConfigMap, withMine, 'keelson.dev/cleanup');
    expect(written.metadata!.finalizers).to.deep.equal(['other.io/keep']);
  });

  it('lets a deletion complete when the last finalizer goes', async () => {
    const withMine = await addFinalizer(client, ConfigMap, stale, 'keelson.dev/cleanup');
    await client.delete(ConfigMap, 'cfg', { namespace: NS });
    const deleting = await read();
    expect(deleting.metadata!.deletionTimestamp).to.be.a('string');
    await removeFinalizer(client, ConfigMap, withMine, 'keelson.dev/cleanup');
    const gone = await read().catch((err: unknown) => err);
    expect(isNotFound(gone)).to.equal(true);
  });

  it('gives up with the Conflict after maxAttempts', async () => {
    let patches = 0;
    const contended: Client = Object.assign(Object.create(Object.getPrototypeOf(client) as object) as Client, client, {
      patch: async (...args: Parameters<Client['patch']>) => {
        patches++;
        const current = await read();
        await client.update<ConfigMap>({ ...current, data: { a: `changed-${patches}` } }); // someone else always writes first
        return client.patch(...args);
      },
    });
    const err = await addFinalizer(contended, ConfigMap, stale, 'keelson.dev/cleanup', { maxAttempts: 3 }).catch((e: unknown) => e);
    expect(isConflict(err), String(err)).to.equal(true);
    expect(patches).to.equal(3);
  });
});

describe('ignoreNotFound', () => {
  it('turns a read of a missing object into undefined and lets every other error through', async () => {
    const client = await memoryClient();
    try {
      expect(await client.get(ConfigMap, 'missing', { namespace: NS }).catch(ignoreNotFound)).to.equal(undefined);
      await client.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'here', namespace: NS } });
      expect((await client.get(ConfigMap, 'here', { namespace: NS }).catch(ignoreNotFound))?.metadata?.name).to.equal('here');
      const conflict = await client
        .update({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'here', namespace: NS, resourceVersion: '1' } })
        .catch(ignoreNotFound)
        .then(() => undefined, (err: unknown) => err);
      expect(isConflict(conflict)).to.equal(true);
    } finally {
      await client.close();
    }
  });
});

describe('Loggers', () => {
  it('writes JSON lines with the reconcile context under controller-runtime key names', () => {
    const lines: Array<Record<string, unknown>> = [];
    const base = createLogger({ level: 'info', name: 'manager', destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
    const log = reconcileLogger(base, { controller: 'replicationcontroller', kind: 'ReplicationController', namespace: 'default', name: 'web' });
    log.info('Reconciling');
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ logger: 'manager', name: 'web', msg: 'Reconciling', controller: 'replicationcontroller', controllerGroup: '', controllerKind: 'ReplicationController', namespace: 'default' });
    expect(lines[0]!.ReplicationController).to.deep.equal({ name: 'web', namespace: 'default' });
    expect(lines[0]!.reconcileID).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('takes the level from KEELSON_LOG_LEVEL unless given', () => {
    const saved = process.env.KEELSON_LOG_LEVEL;
    try {
      process.env.KEELSON_LOG_LEVEL = 'debug';
      expect(createLogger({ destination: { write() {} } }).level).to.equal('debug');
      expect(createLogger({ level: 'warn', destination: { write() {} } }).level).to.equal('warn');
      process.env.KEELSON_LOG_LEVEL = 'nonsense';
      expect(createLogger({ destination: { write() {} } }).level).to.equal('info');
    } finally {
      if (saved === undefined) delete process.env.KEELSON_LOG_LEVEL;
      else process.env.KEELSON_LOG_LEVEL = saved;
    }
  });

  it('has a silent logger for tests', () => {
    expect(silentLogger().isLevelEnabled('fatal')).to.equal(false);
  });
});
