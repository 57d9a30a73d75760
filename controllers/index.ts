/**
 * The built-in controllers, by the name `--controllers` selects them with (kube-controller-
 * manager's syntax: `*` for all, `name` to add one, `-name` to remove one). Each is written
 * with keelson's public API only, exactly as a user would write it.
 */
import type { Newable } from 'inversify';
import { EndpointSliceController } from './endpointslice/index.js';
import { EndpointsController } from './endpoints/index.js';
import { GarbageCollector } from './gc/index.js';
import { NodeIpamController } from './node-ipam/index.js';
import { NodeLifecycleController, TaintEvictionController } from './node-lifecycle/index.js';
import { ReplicationReconciler } from './replication/index.js';
import { Scheduler } from './scheduler/index.js';

/**
 * Built-in controllers by name (the folder each lives in); `keelson up` runs all of them,
 * `keelson run` none unless asked.
 */
export const builtinControllers: Readonly<Record<string, readonly Newable[]>> = {
  scheduler: [Scheduler],
  replication: [ReplicationReconciler],
  endpoints: [EndpointsController],
  endpointslice: [EndpointSliceController],
  gc: [GarbageCollector],
  'node-ipam': [NodeIpamController],
  'node-lifecycle': [NodeLifecycleController, TaintEvictionController],
};

/**
 * Resolves a `--controllers` value to the built-in controller names it selects. Unknown names
 * are an error naming them and the known ones.
 */
export function selectControllers(spec: string, defaults: 'all' | 'none'): string[] {
  const known = Object.keys(builtinControllers);
  const selected = new Set<string>(defaults === 'all' ? known : []);
  for (const raw of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (raw === '*') {
      for (const name of known) selected.add(name);
      continue;
    }
    const remove = raw.startsWith('-');
    const name = remove ? raw.slice(1) : raw;
    if (!known.includes(name)) {
      throw new Error(`unknown controller "${name}" in --controllers (known: ${known.length ? known.join(', ') : 'none yet'})`);
    }
    if (remove) selected.delete(name);
    else selected.add(name);
  }
  return [...selected].sort();
}
