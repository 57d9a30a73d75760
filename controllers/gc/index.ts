/**
 * The garbage collector, written with keelson's public API only. Objects name their owners in
 * `metadata.ownerReferences`; when an owner goes, so do its dependents (Background), or they
 * lose their reference to it (Orphan), or the owner waits until they are gone (Foreground).
 *
 * - `garbage-collector.ts`: the controller and its workers — what to do with one object;
 * - `graph.ts`: the dependency graph — who owns whom, and who needs a look;
 * - `monitors.ts`: an informer per served kind feeding the graph;
 * - `discovery.ts`: which kinds are served;
 * - `operations.ts`: the writes, each pinned to the object it was decided on.
 */
export { GarbageCollector } from './garbage-collector.js';
export { DependencyGraph, FOREGROUND_FINALIZER, identityOf, ORPHAN_FINALIZER, refersTo, type GraphNode, type GraphWork, type ObjectIdentity } from './graph.js';
export { discoverKinds, KindTable } from './discovery.js';
