/**
 * The Client: what users and controllers call to read and write objects, whatever the source —
 * keelson's own store in-process (StoreClient) or any Kubernetes API server (KubeClient).
 * Objects are plain JSON in Kubernetes' shape; kinds are named by a class (`Pod`, a
 * `@Resource` class) or `{ apiVersion, kind }`. Every failure is an `ApiError` carrying the
 * Kubernetes Status.
 */
import type { KindRef, ResourceInfo } from '../api/resources.js';
import type { KubeList, KubeObject, LabelSelector, WatchEvent } from '../api/meta.js';
import type { Status } from '../api/errors.js';

/** A label selector: the string syntax (`app=web,tier in (a,b)`) or the object form. */
export type LabelSelectorInput = string | LabelSelector;

/** Options of {@link Client.get}. */
export interface GetOptions {
  /** Required for namespaced kinds. */
  namespace?: string;
}

/** Options of {@link Client.list}. */
export interface ListOptions {
  /** Limit to one namespace (all namespaces when absent). */
  namespace?: string;
  labelSelector?: LabelSelectorInput;
  /** Field selector, e.g. `spec.nodeName=n1,status.phase!=Running`. */
  fieldSelector?: string;
  /** Page size; follow `metadata.continue` for the next page. */
  limit?: number;
  continue?: string;
  /** `''` (latest, consistent), `'0'` (any), or a revision (see resourceVersionMatch). */
  resourceVersion?: string;
  resourceVersionMatch?: 'NotOlderThan' | 'Exact';
}

/** Options of {@link Client.watch}. */
export interface WatchOptions {
  namespace?: string;
  labelSelector?: LabelSelectorInput;
  fieldSelector?: string;
  /** Resume after this revision; absent or '0' starts with ADDED events for the current state. */
  resourceVersion?: string;
  /** Receive BOOKMARK events carrying fresh resourceVersions while idle. */
  allowWatchBookmarks?: boolean;
  /** Send the current state as ADDED events, then a bookmark annotated `k8s.io/initial-events-end`. */
  sendInitialEvents?: boolean;
  /** The server ends the watch after this many seconds. */
  timeoutSeconds?: number;
  /** Stops the watch; the iterator then ends. */
  signal?: AbortSignal;
}

/** Options of writes. */
export interface WriteOptions {
  /** Validate and answer as if written, but store nothing. */
  dryRun?: boolean;
  /** Unknown fields: drop (`Ignore`), drop with a warning (`Warn`, default) or refuse (`Strict`). */
  fieldValidation?: 'Ignore' | 'Warn' | 'Strict';
  fieldManager?: string;
}

/** Options of {@link Client.create}. */
export interface CreateOptions extends WriteOptions {
  /** The namespace, if the object does not name one. */
  namespace?: string;
}

/** The patch formats: JSON merge patch, JSON patch (RFC 6902), strategic merge patch, server-side apply. */
export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

/** Options of {@link Client.patch}. */
export interface PatchOptions extends WriteOptions {
  namespace?: string;
  /** Default `merge`. */
  type?: PatchType;
  /** Patch a subresource, e.g. `status`. */
  subresource?: 'status';
  /** Server-side apply: take ownership of conflicting fields. */
  force?: boolean;
}

/** Options of {@link Client.delete}. */
export interface DeleteOptions {
  namespace?: string;
  /** What happens to dependents: `Orphan`, `Background` (default for most kinds) or `Foreground`. */
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  /** Delete only if the object still has this uid / resourceVersion (else 409). */
  preconditions?: { uid?: string; resourceVersion?: string };
  gracePeriodSeconds?: number;
  dryRun?: boolean;
}

/** The operations every source offers. */
export interface Client {
  /** Reads one object; 404 if absent. */
  get<T extends KubeObject>(kind: KindRef<T>, name: string, options?: GetOptions): Promise<T>;
  /** Lists objects (one page when `limit` is set). */
  list<T extends KubeObject>(kind: KindRef<T>, options?: ListOptions): Promise<KubeList<T>>;
  /**
   * Watches objects. ERROR events carry a Status (e.g. 410 Expired: relist); the stream ends
   * after one. Closing the iterator (break, return) or aborting the signal stops the watch.
   */
  watch<T extends KubeObject>(kind: KindRef<T>, options?: WatchOptions): AsyncIterableIterator<WatchEvent<T>>;
  /** Creates an object; its `apiVersion` and `kind` say which kind. */
  create<T extends KubeObject>(obj: T, options?: CreateOptions): Promise<T>;
  /** Replaces an object; with `metadata.resourceVersion` set, a stale copy is a 409 Conflict. */
  update<T extends KubeObject>(obj: T, options?: WriteOptions): Promise<T>;
  /** Replaces only the status of an object (the `/status` subresource). */
  updateStatus<T extends KubeObject>(obj: T, options?: WriteOptions): Promise<T>;
  /** Patches an object. */
  patch<T extends KubeObject>(kind: KindRef<T>, name: string, patch: unknown, options?: PatchOptions): Promise<T>;
  /**
   * Deletes an object. Answers the object (while finalizers or a grace period keep it) or, once
   * it is gone, the object or a Success Status depending on the kind — as the Kubernetes API does.
   */
  delete<T extends KubeObject>(kind: KindRef<T>, name: string, options?: DeleteOptions): Promise<T | Status>;
  /**
   * Every kind the source serves (discovery): built-ins and the kinds of established CRDs, each
   * in its preferred version. Optional for other Client implementations.
   */
  serverResources?(): Promise<ResourceInfo[]>;
  /** Releases connections and stops watches started through this client. */
  close(): Promise<void>;
}
