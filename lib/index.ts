/**
 * keelson — Kubernetes-style controllers in TypeScript.
 *
 * This module is the one public door. Start with {@link connect}: it returns a {@link Client}
 * over a source — keelson's own store (embedded SQLite by default, memory, or etcd) — with the
 * Kubernetes API's semantics: resourceVersions, optimistic concurrency (409 Conflict), status
 * subresources, finalizers, label and field selectors, consistent pagination and resumable
 * watches. Every failure is an {@link ApiError} carrying the Kubernetes Status.
 *
 * ```ts
 * import { connect, ConfigMap, isConflict } from 'keelson';
 * const client = await connect({ store: 'sqlite:./data.db' });
 * await client.create<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' }, data: { a: '1' } });
 * for await (const ev of client.watch(ConfigMap, { namespace: 'default' })) console.log(ev.type, ev.object.metadata?.name);
 * ```
 */

// Connecting and the Client.
export { connect, openStore, type ConnectOptions } from './client/connect.js';
export type {
  CreateOptions,
  DeleteOptions,
  GetOptions,
  LabelSelectorInput,
  ListOptions,
  PatchOptions,
  PatchType,
  WatchOptions,
  WriteOptions,
} from './client/client.js';
export { StoreClient } from './client/store-client.js';
// (A type only: the class loads @kubernetes/client-node, which connect() imports on demand.)
export type { KubeClient, KubeClientOptions } from './client/kube-client.js';

// The Kubernetes-compatible API server over keelson's store (what `keelson up` runs).
export { ApiServer, type ApiServerOptions } from './apiserver/server.js';

// Errors.
export {
  ApiError,
  isAlreadyExists,
  isBadRequest,
  isConflict,
  isExpired,
  isInvalid,
  ignoreNotFound,
  isNotFound,
  type Status,
  type StatusCause,
  type StatusDetails,
} from './api/errors.js';

// Kinds and object shapes.
export {
  Binding,
  ConfigMap,
  CustomResourceDefinition,
  Endpoints,
  EndpointSlice,
  Event,
  Lease,
  Namespace,
  Node,
  Pod,
  ReplicationController,
  Secret,
  Service,
} from './api/kinds.js';
export type {
  Condition,
  KubeList,
  KubeObject,
  LabelSelector,
  LabelSelectorRequirement,
  ListMeta,
  ObjectMeta,
  OwnerReference,
  WatchEvent,
  WatchEventType,
} from './api/meta.js';
export { formatMicroTime, formatTimestamp } from './api/meta.js';
export type * from './api/types/core.js';
export type * from './api/types/coordination.js';
export type * from './api/types/discovery.js';
export type * from './api/types/apiextensions.js';
export { apiVersionOf, defineResource, gvkOf, type KindRef, type ResourceInfo, type ResourceSpec } from './api/resources.js';

// Quantities.
export { milliValue, parseQuantity, quantityValue } from './api/quantity.js';

// Selectors.
export { LabelSelectorMatcher, parseLabelSelector, selectorFromObject, selectorFromSet } from './api/labels.js';
export { FieldSelector, parseFieldSelector } from './api/fields.js';

// Taints and tolerations.
export { toleratesTaint } from './api/tolerations.js';

// Storage, for those who build on the KV contract directly.
export { KVError, type KV, type KVEvent, type KVWatchMessage, type KeyValue } from './storage/kv.js';
export { MemoryKV } from './storage/memory.js';
export { SqliteKV } from './storage/sqlite.js';
// (A type only: the etcd client loads gRPC; `connect({ store: 'etcd://…' })` imports it on demand.)
export type { EtcdKV } from './storage/etcd.js';

// Time.
export { SystemClock, systemClock, Wakeup, type TimerHandle } from './util/clock.js';

// Controllers: decorators, dependency injection tokens, the manager.
export { ApiReader, Client, Clock, Logger, MetricsToken } from './runtime/tokens.js';
export { Controller, Index, Resource, Watches, DecoratorError, type ControllerOptions, type PrinterColumn, type ResourceOptions } from './runtime/decorators.js';
export { Field, type FieldOptions, type FieldType } from './runtime/schema-decorators.js';
export { TerminalError, isTerminalError, requestFor, type Predicate, type ReconcileContext, type ReconcileRequest, type Reconciler, type Result } from './runtime/types.js';
export { generationChanged, labelsChanged, annotationsChanged, resourceVersionChanged, and, or, not } from './runtime/predicates.js';
export { Manager, type LeaderElectionOptions, type ManagerOptions, type Runnable } from './runtime/manager.js';
export { EventRecorder, ClientEventRecorder, type EventType } from './runtime/events.js';
export {
  addFinalizer,
  addFinalizerTo,
  getControllerOf,
  hasFinalizer,
  isControlledBy,
  removeFinalizer,
  removeFinalizerFrom,
  setControllerReference,
  setOwnerReference,
  AlreadyOwnedError,
  isAlreadyOwnedError,
} from './runtime/helpers.js';
export { LeaderElector, type LeaderElectorOptions } from './runtime/leader-election.js';
export { Informer, type InformerOptions } from './runtime/informer.js';
export { CachedClient, InformerCache } from './runtime/cached-client.js';
export { Indexer } from './runtime/cache.js';
export { WorkQueue, type RateLimitingQueue } from './runtime/workqueue.js';
export { BucketRateLimiter, ItemExponentialFailureRateLimiter, MaxOfRateLimiter, defaultControllerRateLimiter, type RateLimiter } from './runtime/rate-limiter.js';
export { Metrics } from './runtime/metrics.js';
export { createLogger } from './runtime/logger.js';
export { crdFor, crdYaml, installCrds } from './runtime/crd-gen.js';
