/**
 * The Registry: Kubernetes object semantics over any {@link KV}. It owns the generic flow of
 * every verb — system metadata, defaulting, validation, optimistic concurrency, the status
 * subresource, finalizers and graceful deletion — and delegates what differs per kind to a
 * {@link KindStrategy}. Every failure is an ApiError carrying the Status kube-apiserver would
 * send; a failed request leaves the store unchanged.
 */
import { randomUUID } from 'node:crypto';
import {
  ApiError,
  alreadyExists,
  badRequest,
  unsupportedMediaType,
  conflict,
  invalid,
  notFound,
  tooLarge,
  type FieldError,
  type GroupResource,
} from '../api/errors.js';
import { formatTimestamp, type KubeList, type KubeObject, type ObjectMeta, type WatchEvent } from '../api/meta.js';
import { ResourceTypes, apiVersionOf, type KindRef, type ResourceInfo } from '../api/resources.js';
import { isKVError, type KV, type KeyValue } from '../storage/kv.js';
import { systemClock, type Clock } from '../util/clock.js';
import { byteLength } from '../api/validation.js';
import { MAX_OBJECT_BYTES, decodeKeyValue, decodeObject, encodeObject } from './codec.js';
import { objectKey } from './keys.js';
import { storageError } from './errors.js';
import { listObjects, type ListRequest } from './list.js';
import { applyJsonPatch, applyMergePatch, decodeJsonPatch, parsePatchBody, type PatchType } from './patch.js';
import type { KindStrategy, StrategyFactory } from './strategy.js';
import { watchObjects, type WatchRequest } from './watch.js';

/** Options common to writes. */
export interface WriteOptions {
  /** Run every check but store nothing (`dryRun=All`). */
  dryRun?: boolean;
  /** What to do with unknown fields: drop silently, drop with a warning (default), or refuse. */
  fieldValidation?: 'Ignore' | 'Warn' | 'Strict';
  /** Who is writing (recorded in managedFields by the API server). */
  fieldManager?: string;
}

/** Options of create. */
export interface CreateOptions extends WriteOptions {
  /** The namespace of the request (the URL's); the object's own must match it if set. */
  namespace?: string;
}

/** Options of update and patch. */
export interface UpdateOptions extends WriteOptions {
  namespace?: string;
  /** The name of the request (the URL's); the object's own must match it. */
  name?: string;
  /** `status` writes only the status; absent writes the main resource. */
  subresource?: 'status';
  /** Server-side apply: take ownership of fields other managers own. */
  force?: boolean;
}

/** Delete preconditions, as DeleteOptions.preconditions. */
export interface Preconditions {
  uid?: string;
  resourceVersion?: string;
}

/** Options of delete (meta/v1 DeleteOptions). */
export interface DeleteOptions {
  preconditions?: Preconditions;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  /** Legacy form of propagationPolicy: true = Orphan, false = Background. */
  orphanDependents?: boolean;
  gracePeriodSeconds?: number;
  dryRun?: boolean;
}

/** The result of a write: the stored object and the warnings for the caller. */
export interface WriteResult<T = KubeObject> {
  object: T;
  warnings: string[];
}

/** The result of a delete: what kube answers (object or Success Status) and whether it is gone. */
export interface DeleteResult {
  /** The object (still present with deletionTimestamp, or as last stored) or a Success Status. */
  object: KubeObject;
  /** True when the object was removed from the store by this call. */
  deleted: boolean;
}

/** Decodes and prunes a request body for a kind (see lib/api/decode); returns warnings. */
export type BodyDecoder = (info: ResourceInfo, body: unknown, fieldValidation: WriteOptions['fieldValidation']) => WriteResult;

/** What a write is, for admission plugins. */
export interface AdmissionAttributes {
  operation: 'CREATE' | 'UPDATE' | 'DELETE';
  info: ResourceInfo;
  /** The object as it will be stored (CREATE, UPDATE); for DELETE, the stored object. */
  object: KubeObject;
  /** The stored object, for UPDATE. */
  oldObject?: KubeObject;
  subresource?: string;
  dryRun: boolean;
}

/**
 * An admission plugin (kube-apiserver's admission chain): `mutate` may change the object before
 * validation (e.g. allocate a Service's clusterIP), `validate` may refuse it after (e.g. the
 * NamespaceLifecycle check). Both run on every path that writes — in-process and over HTTP —
 * and throw an ApiError to refuse.
 */
export interface AdmissionPlugin {
  readonly name: string;
  mutate?(attributes: AdmissionAttributes): Promise<void> | void;
  validate?(attributes: AdmissionAttributes): Promise<void> | void;
  /** Called after a write committed (e.g. to release a Service's IP on delete). */
  committed?(attributes: AdmissionAttributes): Promise<void> | void;
}

/** Options of a {@link Registry}. */
export interface RegistryOptions {
  /** The kinds served; default: the built-ins. */
  types: ResourceTypes;
  /** Per-kind behaviour. */
  strategies: StrategyFactory;
  /** Decodes request bodies (type checks, pruning). */
  decode: BodyDecoder;
  clock?: Clock;
  /** Add `orphan`/`foregroundDeletion` finalizers on delete (only when a garbage collector runs). */
  garbageCollection?: boolean;
  /** Upper bound on a stored object's size (default 1.5 MiB, etcd's). */
  maxObjectBytes?: number;
  /** How long Events live (default 1 h, as kube-apiserver's --event-ttl). */
  eventTtlSeconds?: number;
  /** Random source for UIDs and generated names (tests may fix it). */
  random?: { uid(): string; suffix(): string };
  /** How often idle watches that asked for bookmarks get one (default 60 s, about kube's). */
  bookmarkIntervalMs?: number;
  /** Admission plugins, run in order on every write. */
  admission?: AdmissionPlugin[];
  /** Applies a strategic merge patch for a kind (built-in kinds only); absent = 415. */
  strategicMerge?: (info: ResourceInfo, current: KubeObject, patch: unknown) => unknown;
}

const SUPPORTED_PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'];

const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const GENERATE_NAME_ATTEMPTS = 8;
const MAX_GUARANTEED_UPDATE_ATTEMPTS = 64;

function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += NAME_ALPHABET[Math.floor(Math.random() * NAME_ALPHABET.length)];
  return s;
}

/** The resource of a kind, as errors name it (`pods`, `leases.coordination.k8s.io`). */
export function groupResource(info: ResourceInfo): GroupResource {
  return { group: info.group, resource: info.plural };
}

function metaOf(obj: KubeObject): ObjectMeta {
  if (!obj.metadata) obj.metadata = {};
  return obj.metadata;
}

/** Kubernetes object semantics over a KV store. */
export class Registry {
  readonly kv: KV;
  readonly types: ResourceTypes;
  readonly clock: Clock;
  private readonly strategyFactory: StrategyFactory;
  private readonly strategies = new Map<ResourceInfo, KindStrategy>();
  private readonly decodeBody: BodyDecoder;
  private readonly garbageCollection: boolean;
  private readonly maxObjectBytes: number;
  private readonly eventTtlSeconds: number;
  private readonly random: { uid(): string; suffix(): string };
  private eventLease: { id: number; grantedAt: number } | undefined;
  private readonly bookmarkIntervalMs: number;
  private readonly strategicMerge: RegistryOptions['strategicMerge'];
  /** The admission chain (add plugins before serving). */
  readonly admission: AdmissionPlugin[];
  /** The kinds that were served before any CRD (strategic merge patch applies to these only). */
  private readonly builtinKinds: Set<string>;

  constructor(kv: KV, options: RegistryOptions) {
    this.kv = kv;
    this.types = options.types;
    this.strategyFactory = options.strategies;
    this.decodeBody = options.decode;
    this.clock = options.clock ?? systemClock;
    this.garbageCollection = options.garbageCollection ?? false;
    this.maxObjectBytes = options.maxObjectBytes ?? MAX_OBJECT_BYTES;
    this.eventTtlSeconds = options.eventTtlSeconds ?? 3600;
    this.random = options.random ?? { uid: randomUUID, suffix: randomSuffix };
    this.bookmarkIntervalMs = options.bookmarkIntervalMs ?? 60_000;
    this.strategicMerge = options.strategicMerge;
    this.admission = [...(options.admission ?? [])];
    this.builtinKinds = new Set(this.types.all().map((i) => `${apiVersionOf(i)}/${i.kind}`));
    this.types.onChange(() => this.strategies.clear());
  }

  /** The ResourceInfo of a kind; 404 when the kind is not served. */
  resolve(ref: KindRef): ResourceInfo {
    const info = this.types.resolve(ref);
    if (!info) {
      const gvk = typeof ref === 'function' ? { apiVersion: '?', kind: ref.name } : ref;
      throw new ApiError({
        code: 404,
        reason: 'NotFound',
        message: `the server could not find the requested resource (no kind "${gvk.kind}" is registered for version "${gvk.apiVersion}")`,
      });
    }
    return info;
  }

  /** The strategy of a kind. */
  strategy(info: ResourceInfo): KindStrategy {
    let strategy = this.strategies.get(info);
    if (!strategy) {
      strategy = this.strategyFactory(info);
      this.strategies.set(info, strategy);
    }
    return strategy;
  }

  // ---------------------------------------------------------------- get

  /** Reads one object; 404 if absent. */
  async get<T extends KubeObject = KubeObject>(info: ResourceInfo, namespace: string | undefined, name: string): Promise<T> {
    this.checkName(info, name);
    const kv = await this.kvCall(() => this.kv.get(objectKey(info, this.namespaceFor(info, namespace), name)));
    if (!kv) throw notFound(groupResource(info), name);
    return decodeKeyValue<T>(kv);
  }

  // ---------------------------------------------------------------- list & watch

  /** Lists a collection (see list.ts for the semantics). */
  list(info: ResourceInfo, request: ListRequest): Promise<KubeList> {
    if (request.namespace !== undefined && !info.namespaced) request = { ...request, namespace: undefined };
    return listObjects(this.kv, this.clock, info, request);
  }

  /** Watches a collection (see watch.ts for the semantics). */
  watch(info: ResourceInfo, request: WatchRequest): AsyncIterableIterator<WatchEvent> {
    if (request.namespace !== undefined && !info.namespaced) request = { ...request, namespace: undefined };
    return watchObjects(this.kv, info, request, { clock: this.clock, bookmarkIntervalMs: this.bookmarkIntervalMs });
  }

  // ---------------------------------------------------------------- create

  /** Creates an object (POST). */
  async create(info: ResourceInfo, body: unknown, options: CreateOptions = {}): Promise<WriteResult> {
    const strategy = this.strategy(info);
    const decoded = this.decodeBody(info, body, options.fieldValidation);
    const obj = decoded.object;
    const meta = metaOf(obj);
    if (meta.resourceVersion) {
      throw new ApiError({ code: 500, message: 'resourceVersion should not be set on objects to be created' });
    }
    this.settleNamespace(info, meta, options.namespace);
    strategy.applyDefaults(obj);
    const generated = !meta.name && !!meta.generateName;
    for (let attempt = 1; ; attempt++) {
      const candidate = structuredClone(obj);
      const candidateMeta = metaOf(candidate);
      if (generated) candidateMeta.name = `${meta.generateName}${this.random.suffix()}`;
      this.fillSystemFields(candidate, strategy);
      strategy.prepareForCreate(candidate);
      const attributes: AdmissionAttributes = { operation: 'CREATE', info, object: candidate, dryRun: !!options.dryRun };
      await this.runAdmission('mutate', attributes);
      this.throwIfInvalid(info, candidate, strategy.validate(candidate));
      await this.runAdmission('validate', attributes);
      const value = this.encodeChecked(candidate);
      const warnings = [...decoded.warnings, ...strategy.warnings(candidate)];
      if (options.dryRun) return { object: candidate, warnings };
      const key = objectKey(info, candidateMeta.namespace, candidateMeta.name!);
      // (A failed write must not leave what admission reserved, e.g. an allocated IP.)
      try {
        const lease = await this.leaseFor(info);
        const kv = await this.kv.create(key, value, lease ? { lease } : {});
        const object = decodeKeyValue(kv);
        await this.runAdmission('committed', { ...attributes, object });
        return { object, warnings };
      } catch (err) {
        if (isKVError(err, 'exists')) {
          if (generated && attempt < GENERATE_NAME_ATTEMPTS) continue;
          const error = alreadyExists(groupResource(info), candidateMeta.name!);
          const existing = err.current ? decodeKeyValue(err.current) : undefined;
          if (existing?.metadata?.deletionTimestamp) {
            error.status.message = `object is being deleted: ${error.status.message}`;
          }
          throw error;
        }
        throw storageError(err, info, candidateMeta.name!);
      }
    }
  }

  // ---------------------------------------------------------------- update

  /** Replaces an object (PUT), or only its status with `subresource: 'status'`. */
  async update(info: ResourceInfo, body: unknown, options: UpdateOptions = {}): Promise<WriteResult & { created: boolean }> {
    const strategy = this.strategy(info);
    if (options.subresource === 'status' && !info.subresources.status) throw this.noSubresource(info, 'status');
    const decoded = this.decodeBody(info, body, options.fieldValidation);
    const input = decoded.object;
    const meta = metaOf(input);
    const name = meta.name;
    if (!name) throw badRequest('resource name may not be empty');
    if (options.name !== undefined && options.name !== name) {
      throw badRequest(`the name of the object (${name}) does not match the name on the URL (${options.name})`);
    }
    this.settleNamespace(info, meta, options.namespace);
    strategy.applyDefaults(input);
    const key = objectKey(info, meta.namespace, name);
    const requestedVersion = meta.resourceVersion;

    for (let attempt = 0; attempt < MAX_GUARANTEED_UPDATE_ATTEMPTS; attempt++) {
      const current = await this.kvCall(() => this.kv.get(key));
      if (!current) {
        if (!strategy.allowCreateOnUpdate || options.subresource) throw notFound(groupResource(info), name);
        const createBody = structuredClone(input);
        delete metaOf(createBody).resourceVersion;
        try {
          const created = await this.create(info, createBody, { ...options, fieldValidation: 'Ignore' });
          return { ...created, warnings: decoded.warnings, created: true };
        } catch (err) {
          if (err instanceof ApiError && err.reason === 'AlreadyExists') continue;
          throw err;
        }
      }
      const old = decodeKeyValue(current);
      const obj = structuredClone(input);
      this.checkUidPrecondition(info, obj, old);
      if (requestedVersion) {
        if (requestedVersion !== old.metadata!.resourceVersion) throw conflict(groupResource(info), name);
      } else if (!strategy.allowUnconditionalUpdate) {
        throw invalid(info.plural, info.group, name, [
          { type: 'FieldValueInvalid', field: 'metadata.resourceVersion', value: 0, detail: 'must be specified for an update' },
        ]);
      }
      const attributes: AdmissionAttributes = {
        operation: 'UPDATE',
        info,
        object: obj,
        oldObject: old,
        ...(options.subresource ? { subresource: options.subresource } : {}),
        dryRun: !!options.dryRun,
      };
      await this.runAdmission('mutate', attributes);
      const result = this.prepareUpdate(info, strategy, obj, old, options.subresource);
      await this.runAdmission('validate', attributes);
      if (result.deleteNow) {
        if (options.dryRun) return { object: obj, warnings: decoded.warnings, created: false };
        try {
          await this.kv.delete(key, current.modRevision);
        } catch (err) {
          if (isKVError(err, 'conflict')) continue;
          if (!isKVError(err, 'not-found')) throw storageError(err, info, name);
        }
        return { object: obj, warnings: decoded.warnings, created: false };
      }
      const warnings = [...decoded.warnings, ...strategy.warnings(obj)];
      const value = this.encodeChecked(obj);
      // A no-op update writes nothing: no new resourceVersion, no watch event (as kube).
      if (value === current.value) return { object: old, warnings, created: false };
      if (options.dryRun) return { object: obj, warnings, created: false };
      try {
        const kv = await this.kv.update(key, value, current.modRevision, current.lease ? { lease: current.lease } : {});
        return { object: decodeKeyValue(kv), warnings, created: false };
      } catch (err) {
        if (isKVError(err, 'conflict') || isKVError(err, 'not-found')) {
          if (requestedVersion) throw conflict(groupResource(info), name);
          continue;
        }
        throw storageError(err, info, name);
      }
    }
    throw conflict(groupResource(info), name, 'too many concurrent updates; please try again');
  }

  /**
   * Applies `mutate` to the current object and writes the result, retrying on conflicts
   * (kube's GuaranteedUpdate). `mutate` returns the new object; if it carries a
   * resourceVersion that differs from the current one, the update is a 409 Conflict.
   */
  async guaranteedUpdate(
    info: ResourceInfo,
    namespace: string | undefined,
    name: string,
    mutate: (current: KubeObject) => unknown,
    options: UpdateOptions = {},
  ): Promise<WriteResult> {
    this.checkName(info, name);
    const ns = this.namespaceFor(info, namespace);
    for (let attempt = 0; attempt < MAX_GUARANTEED_UPDATE_ATTEMPTS; attempt++) {
      const current = await this.get(info, ns, name);
      const next = mutate(structuredClone(current));
      if (typeof next !== 'object' || next === null || Array.isArray(next)) {
        throw badRequest('the patched object is not a JSON object');
      }
      const nextMeta = metaOf(next as KubeObject);
      if (nextMeta.name !== undefined && nextMeta.name !== name) {
        throw badRequest(`the name of the object (${String(nextMeta.name)}) does not match the name on the URL (${name})`);
      }
      if (info.namespaced && nextMeta.namespace !== undefined && nextMeta.namespace !== ns) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      const pinned = nextMeta.resourceVersion !== undefined && nextMeta.resourceVersion !== current.metadata!.resourceVersion;
      if (pinned) throw conflict(groupResource(info), name);
      // Pin the version we read, so a concurrent writer makes this attempt retry, not clobber.
      nextMeta.resourceVersion = current.metadata!.resourceVersion!;
      try {
        const result = await this.update(info, next, { ...options, namespace: ns, name });
        return result;
      } catch (err) {
        if (err instanceof ApiError && err.reason === 'Conflict' && !pinned) continue;
        throw err;
      }
    }
    throw conflict(groupResource(info), name, 'too many concurrent updates; please try again');
  }

  // ---------------------------------------------------------------- patch

  /** Patches an object (PATCH) with a merge, JSON or strategic merge patch. */
  async patch(
    info: ResourceInfo,
    namespace: string | undefined,
    name: string,
    body: unknown,
    type: PatchType,
    options: UpdateOptions = {},
  ): Promise<WriteResult> {
    if (options.subresource === 'status' && !info.subresources.status) throw this.noSubresource(info, 'status');
    const patch = parsePatchBody(body);
    let apply: (current: KubeObject) => unknown;
    switch (type) {
      case 'merge':
        if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
          throw badRequest('the merge patch must be a JSON object');
        }
        apply = (current) => applyMergePatch(current, patch);
        break;
      case 'json': {
        const operations = decodeJsonPatch(patch);
        apply = (current) => applyJsonPatch(current, operations);
        break;
      }
      case 'strategic': {
        const strategicMerge = this.strategicMerge;
        if (!strategicMerge || !this.isBuiltin(info)) {
          throw unsupportedMediaType('application/strategic-merge-patch+json', SUPPORTED_PATCH_TYPES);
        }
        if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
          throw badRequest('the strategic merge patch must be a JSON object');
        }
        apply = (current) => strategicMerge(info, current, patch);
        break;
      }
      default:
        throw unsupportedMediaType(`patch type ${String(type)}`, SUPPORTED_PATCH_TYPES);
    }
    return this.guaranteedUpdate(info, namespace, name, apply, options);
  }

  private isBuiltin(info: ResourceInfo): boolean {
    return this.builtinKinds.has(`${apiVersionOf(info)}/${info.kind}`);
  }

  /**
   * Changes a stored object directly, below the strategy (no defaulting, no validation): for
   * system subresources whose rules differ from the main resource's, such as `pods/binding`
   * setting `spec.nodeName` on a pod whose spec is otherwise immutable. `mutate` may throw an
   * ApiError to refuse; it is retried on conflicts with the latest object.
   */
  async mutateStored(info: ResourceInfo, namespace: string | undefined, name: string, mutate: (current: KubeObject) => KubeObject): Promise<KubeObject> {
    this.checkName(info, name);
    const key = objectKey(info, this.namespaceFor(info, namespace), name);
    for (let attempt = 0; attempt < MAX_GUARANTEED_UPDATE_ATTEMPTS; attempt++) {
      const current = await this.kvCall(() => this.kv.get(key));
      if (!current) throw notFound(groupResource(info), name);
      const next = mutate(decodeKeyValue(current));
      const value = this.encodeChecked(next);
      if (value === current.value) return decodeKeyValue(current);
      try {
        return decodeKeyValue(await this.kv.update(key, value, current.modRevision, current.lease ? { lease: current.lease } : {}));
      } catch (err) {
        if (isKVError(err, 'conflict')) continue;
        throw storageError(err, info, name);
      }
    }
    throw conflict(groupResource(info), name, 'too many concurrent updates; please try again');
  }

  // ---------------------------------------------------------------- delete

  /** Deletes an object (DELETE), honouring finalizers, graceful deletion and preconditions. */
  async delete(info: ResourceInfo, namespace: string | undefined, name: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    this.checkName(info, name);
    const strategy = this.strategy(info);
    const key = objectKey(info, this.namespaceFor(info, namespace), name);
    const requestedGrace =
      options.gracePeriodSeconds === undefined ? undefined : options.gracePeriodSeconds < 0 ? 1 : options.gracePeriodSeconds;
    for (let attempt = 0; attempt < MAX_GUARANTEED_UPDATE_ATTEMPTS; attempt++) {
      const current = await this.kvCall(() => this.kv.get(key));
      if (!current) throw notFound(groupResource(info), name);
      const obj = decodeKeyValue(current);
      const meta = metaOf(obj);
      this.checkDeletePreconditions(info, meta, options.preconditions);
      const firstDeletion = !meta.deletionTimestamp;
      await this.runAdmission('validate', { operation: 'DELETE', info, object: obj, dryRun: !!options.dryRun });

      // Graceful deletion (pods): set or shorten the deletion timestamp.
      let graceful = false;
      let gracePeriod = 0;
      if (meta.deletionTimestamp) {
        const existing = meta.deletionGracePeriodSeconds ?? 0;
        if (existing > 0) {
          if (requestedGrace === undefined || requestedGrace >= existing) {
            return { object: this.deletedResponse(info, strategy, obj), deleted: false };
          }
          const start = Date.parse(meta.deletionTimestamp) - existing * 1000;
          meta.deletionTimestamp = formatTimestamp(start + requestedGrace * 1000);
          meta.deletionGracePeriodSeconds = requestedGrace;
          graceful = true;
          gracePeriod = requestedGrace;
        }
      } else {
        const period = strategy.gracePeriodSeconds(obj, requestedGrace);
        if (period !== undefined) {
          graceful = true;
          gracePeriod = period;
          meta.deletionTimestamp = formatTimestamp(this.clock.now() + period * 1000);
          meta.deletionGracePeriodSeconds = period;
          if ((meta.generation ?? 0) > 0) meta.generation = meta.generation! + 1;
        }
      }

      const finalizersBefore = meta.finalizers ?? [];
      const finalizers = [...this.gcFinalizers(strategy, finalizersBefore, options)];
      if (firstDeletion) {
        for (const f of strategy.deletionFinalizers?.(obj) ?? []) if (!finalizers.includes(f)) finalizers.push(f);
        strategy.prepareForDelete?.(obj);
      }
      const finalizersChanged = !sameSet(finalizers, finalizersBefore);
      if (finalizersChanged) meta.finalizers = finalizers;
      if (meta.finalizers && meta.finalizers.length === 0) delete meta.finalizers;
      const pendingFinalizers = finalizers.length > 0 || !!strategy.holdsDeletion?.(obj);

      if (graceful || pendingFinalizers || finalizersChanged) {
        if (!graceful && pendingFinalizers) {
          if (!meta.deletionTimestamp && (meta.generation ?? 0) > 0) meta.generation = meta.generation! + 1;
          const now = this.clock.now();
          if (!meta.deletionTimestamp || Date.parse(meta.deletionTimestamp) > now) meta.deletionTimestamp = formatTimestamp(now);
          meta.deletionGracePeriodSeconds = 0;
        }
        if (graceful || pendingFinalizers) {
          if (options.dryRun) return { object: obj, deleted: false };
          // Deleting again while finalizers are pending changes nothing: write nothing.
          if (!graceful && encodeObject(obj) === current.value) return { object: obj, deleted: false };
          try {
            const kv = await this.kv.update(key, encodeObject(obj), current.modRevision, current.lease ? { lease: current.lease } : {});
            const updated = decodeKeyValue(kv);
            if (pendingFinalizers || gracePeriod > 0) return { object: updated, deleted: false };
            return await this.deleteNow(info, strategy, key, kv, name);
          } catch (err) {
            if (isKVError(err, 'conflict')) continue;
            if (err instanceof ApiError) throw err;
            throw storageError(err, info, name);
          }
        }
      }
      if (options.dryRun) return { object: this.deletedResponse(info, strategy, obj), deleted: true };
      try {
        return await this.deleteNow(info, strategy, key, current, name);
      } catch (err) {
        if (isKVError(err, 'conflict')) continue;
        throw err;
      }
    }
    throw conflict(groupResource(info), name, 'too many concurrent updates; please try again');
  }

  private async deleteNow(info: ResourceInfo, strategy: KindStrategy, key: string, current: KeyValue, name: string): Promise<DeleteResult> {
    try {
      const { prev } = await this.kv.delete(key, current.modRevision);
      const last = decodeKeyValue(prev);
      await this.runAdmission('committed', { operation: 'DELETE', info, object: last, dryRun: false });
      return { object: this.deletedResponse(info, strategy, last), deleted: true };
    } catch (err) {
      if (isKVError(err, 'conflict')) throw err;
      if (isKVError(err, 'not-found')) {
        // Someone else finished the deletion first (kube tolerates this race too).
        return { object: this.deletedResponse(info, strategy, decodeKeyValue(current)), deleted: true };
      }
      throw storageError(err, info, name);
    }
  }

  /** What a finished delete answers: the object, or a Success Status naming it. */
  private deletedResponse(info: ResourceInfo, strategy: KindStrategy, obj: KubeObject): KubeObject {
    if (strategy.returnDeletedObject) return obj;
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: {
        name: obj.metadata?.name,
        ...(info.group ? { group: info.group } : {}),
        kind: info.plural,
        uid: obj.metadata?.uid,
      },
    } as KubeObject;
  }

  private gcFinalizers(strategy: KindStrategy, finalizers: string[], options: DeleteOptions): string[] {
    if (!this.garbageCollection || strategy.defaultGarbageCollectionPolicy === 'Unsupported') return finalizers;
    const ORPHAN = 'orphan';
    const FOREGROUND = 'foregroundDeletion';
    let orphan: boolean;
    let foreground: boolean;
    if (options.orphanDependents !== undefined) {
      orphan = options.orphanDependents;
      foreground = false;
    } else if (options.propagationPolicy) {
      orphan = options.propagationPolicy === 'Orphan';
      foreground = options.propagationPolicy === 'Foreground';
    } else if (finalizers.includes(ORPHAN) || finalizers.includes(FOREGROUND)) {
      orphan = finalizers.includes(ORPHAN);
      foreground = !orphan && finalizers.includes(FOREGROUND);
    } else {
      orphan = strategy.defaultGarbageCollectionPolicy === 'OrphanDependents';
      foreground = false;
    }
    const rest = finalizers.filter((f) => f !== ORPHAN && f !== FOREGROUND);
    if (orphan) rest.push(ORPHAN);
    if (foreground) rest.push(FOREGROUND);
    return rest;
  }

  private checkDeletePreconditions(info: ResourceInfo, meta: ObjectMeta, preconditions: Preconditions | undefined): void {
    if (!preconditions) return;
    const gr = { group: info.group, resource: info.kind };
    if (preconditions.uid !== undefined && preconditions.uid !== meta.uid) {
      throw conflict(
        gr,
        meta.name ?? '',
        `the UID in the precondition (${preconditions.uid}) does not match the UID in record (${meta.uid}). The object might have been deleted and then recreated`,
      );
    }
    if (preconditions.resourceVersion !== undefined && preconditions.resourceVersion !== meta.resourceVersion) {
      throw conflict(
        gr,
        meta.name ?? '',
        `the ResourceVersion in the precondition (${preconditions.resourceVersion}) does not match the ResourceVersion in record (${meta.resourceVersion}). The object might have been modified`,
      );
    }
  }

  /**
   * Deletes every object of a collection that matches (DELETE on a collection): each as a
   * single delete would, objects already gone skipped. Answers the list of what was deleted.
   */
  async deleteCollection(info: ResourceInfo, request: ListRequest, options: DeleteOptions = {}): Promise<KubeList> {
    const items: KubeObject[] = [];
    let cont: string | undefined;
    const first = await this.list(info, { ...request, limit: request.limit ?? 500 });
    let page = first;
    for (;;) {
      for (const item of page.items) {
        try {
          await this.delete(info, item.metadata?.namespace, item.metadata!.name!, options);
          items.push(item);
        } catch (err) {
          if (!(err instanceof ApiError && err.reason === 'NotFound')) throw err;
        }
      }
      cont = page.metadata.continue;
      if (!cont || request.limit) break;
      page = await this.list(info, { ...request, limit: 500, continue: cont, resourceVersion: undefined, resourceVersionMatch: undefined });
    }
    return { ...first, metadata: { resourceVersion: first.metadata.resourceVersion! }, items };
  }

  // ---------------------------------------------------------------- helpers

  private async runAdmission(phase: 'mutate' | 'validate' | 'committed', attributes: AdmissionAttributes): Promise<void> {
    for (const plugin of this.admission) {
      if (phase !== 'committed') {
        await plugin[phase]?.(attributes);
        continue;
      }
      // The write is done: bookkeeping after it must not turn a success into a failure.
      try {
        await plugin.committed?.(attributes);
      } catch {
        // Best effort; the plugin reconciles its state later (e.g. an allocator repairs leaks).
      }
    }
  }

  /** The update flow shared by PUT, PATCH and /status (kube's BeforeUpdate). */
  private prepareUpdate(
    info: ResourceInfo,
    strategy: KindStrategy,
    obj: KubeObject,
    old: KubeObject,
    subresource: 'status' | undefined,
  ): { deleteNow: boolean } {
    const meta = metaOf(obj);
    const oldMeta = old.metadata!;
    // An unconditional update is checked as if it named the current version (kube does the same).
    if (!meta.resourceVersion) meta.resourceVersion = oldMeta.resourceVersion!;
    if (oldMeta.generation !== undefined) meta.generation = oldMeta.generation;
    else delete meta.generation;
    if (subresource === 'status') strategy.prepareForStatusUpdate(obj, old);
    else strategy.prepareForUpdate(obj, old);
    if (!meta.uid) meta.uid = oldMeta.uid!;
    if (oldMeta.creationTimestamp) meta.creationTimestamp = oldMeta.creationTimestamp;
    if (oldMeta.deletionTimestamp) meta.deletionTimestamp = oldMeta.deletionTimestamp;
    else delete meta.deletionTimestamp;
    if (oldMeta.deletionGracePeriodSeconds !== undefined && meta.deletionGracePeriodSeconds === undefined) {
      meta.deletionGracePeriodSeconds = oldMeta.deletionGracePeriodSeconds;
    }
    if (strategy.tracksGeneration && subresource !== 'status' && strategy.specChanged(obj, old)) {
      meta.generation = (oldMeta.generation ?? 0) + 1;
    }
    const errors = subresource === 'status' ? strategy.validateStatusUpdate(obj, old) : strategy.validateUpdate(obj, old);
    this.throwIfInvalid(info, obj, errors);
    delete meta.resourceVersion;
    // The last finalizer removed from an object being deleted: the update deletes it.
    const deleteNow =
      !(meta.finalizers && meta.finalizers.length > 0) &&
      !strategy.holdsDeletion?.(obj) &&
      !!oldMeta.deletionTimestamp &&
      (oldMeta.deletionGracePeriodSeconds ?? 0) === 0;
    dropEmptyMetadata(meta);
    return { deleteNow };
  }

  private fillSystemFields(obj: KubeObject, strategy: KindStrategy): void {
    const meta = metaOf(obj);
    meta.uid = this.random.uid();
    meta.creationTimestamp = formatTimestamp(this.clock.now());
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    if (strategy.tracksGeneration) meta.generation = 1;
    else delete meta.generation;
    dropEmptyMetadata(meta);
    obj.apiVersion = apiVersionOf(strategy.info);
    obj.kind = strategy.info.kind;
  }

  /** Reconciles the object's namespace with the request's (kube's EnsureObjectNamespaceMatchesRequestNamespace). */
  private settleNamespace(info: ResourceInfo, meta: ObjectMeta, requestNamespace: string | undefined): void {
    if (!info.namespaced) {
      delete meta.namespace;
      return;
    }
    if (requestNamespace) {
      if (meta.namespace && meta.namespace !== requestNamespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = requestNamespace;
    }
  }

  private namespaceFor(info: ResourceInfo, namespace: string | undefined): string | undefined {
    if (!info.namespaced) return undefined;
    if (!namespace) throw badRequest(`a namespace is required to address ${info.plural}`);
    return namespace;
  }

  private checkName(info: ResourceInfo, name: string): void {
    if (!name) throw badRequest('resource name may not be empty');
    if (name === '.' || name === '..' || name.includes('/') || name.includes('%')) {
      throw notFound(groupResource(info), name);
    }
  }

  private checkUidPrecondition(info: ResourceInfo, obj: KubeObject, old: KubeObject): void {
    const uid = obj.metadata?.uid;
    if (uid && uid !== old.metadata?.uid) {
      throw conflict(groupResource(info), obj.metadata!.name!, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${old.metadata?.uid ?? ''}`);
    }
  }

  private throwIfInvalid(info: ResourceInfo, obj: KubeObject, errors: FieldError[]): void {
    if (errors.length > 0) throw invalid(info.kind, info.group, obj.metadata?.name ?? '', errors);
  }

  private encodeChecked(obj: KubeObject): string {
    const value = encodeObject(obj);
    const size = byteLength(value);
    if (size > this.maxObjectBytes) {
      throw tooLarge(`Request entity too large: the object is ${size} bytes, the limit is ${this.maxObjectBytes}`);
    }
    return value;
  }

  private noSubresource(info: ResourceInfo, subresource: string): ApiError {
    return new ApiError({
      code: 404,
      reason: 'NotFound',
      message: `the server could not find the requested resource (${info.plural}/${subresource} is not served)`,
    });
  }

  /** Events expire: they are bound to a lease, one shared per minute of creations. */
  private async leaseFor(info: ResourceInfo): Promise<number | undefined> {
    if (info.group !== '' || info.kind !== 'Event') return undefined;
    const now = this.clock.now();
    if (!this.eventLease || now - this.eventLease.grantedAt > 60_000) {
      const id = await this.kv.grantLease(this.eventTtlSeconds + 60);
      this.eventLease = { id, grantedAt: now };
    }
    return this.eventLease.id;
  }

  /** Runs a KV call, turning storage failures into Status errors. */
  private async kvCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw storageError(err);
    }
  }

  /** Decodes a stored value at a revision (used by list and watch). */
  static decodeAt(value: string, revision: number): KubeObject {
    return decodeObject(value, revision);
  }
}

/**
 * Empty metadata lists and maps are absent, as kube's encoding (`omitempty`) stores them: a
 * client that clears its labels or owner references reads back no field, not `[]` or `{}`.
 */
function dropEmptyMetadata(meta: ObjectMeta): void {
  for (const field of ['labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields'] as const) {
    const value = meta[field] as unknown;
    if (value === null || (Array.isArray(value) && value.length === 0) || (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0)) {
      delete meta[field];
    }
  }
  if (meta.generateName === '') delete meta.generateName;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((x) => set.has(x));
}
