/**
 * The vocabulary of reconciliation, as controller-runtime's `reconcile` package: a request names
 * one object; a reconciler brings the world in line with it and says whether to come back.
 *
 * Reconcilers are level-triggered: a request carries no event, only a name. The reconciler reads
 * the current state (the object may be gone), compares it with the desired state, and acts. Any
 * number of events for one object may collapse into one request; a request may also come with
 * nothing changed (resync). Returning normally means "done until something changes"; returning
 * `{ requeueAfterMs }` means "look again later"; throwing means "failed — retry with backoff"
 * unless the error is a {@link TerminalError}.
 */
import type { Logger } from 'pino';
import type { KubeObject } from '../api/meta.js';

/** Names the object to reconcile. `namespace` is '' for cluster-scoped kinds. */
export interface ReconcileRequest {
  namespace: string;
  name: string;
}

/** What a reconcile asks for next. */
export interface Result {
  /** Reconcile this request again after this delay (the rate limiter is reset). */
  requeueAfterMs?: number;
  /** Reconcile again soon, with the rate limiter's backoff (as controller-runtime's Requeue). */
  requeue?: boolean;
}

/** What a reconcile call gets besides the request. */
export interface ReconcileContext {
  /** A logger carrying the controller, the object and a unique reconcileID. */
  logger: Logger;
  /** Unique id of this reconcile (correlates its log lines). */
  reconcileID: string;
  /** Aborted when the manager stops and the graceful shutdown timeout has passed. */
  signal: AbortSignal;
}

/** A reconciler: the one method a controller class implements. */
export interface Reconciler<T extends KubeObject = KubeObject> {
  reconcile(request: ReconcileRequest, context: ReconcileContext): Promise<Result | void>;
  /** Phantom: the kind the reconciler is for (never set; helps type inference). */
  readonly __kind?: T;
}

/**
 * An error that retrying cannot fix (a spec that can never be satisfied): logged, counted in
 * `controller_runtime_terminal_reconcile_errors_total`, and not requeued.
 */
export class TerminalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

/** True if `err` is (or wraps) a TerminalError. */
export function isTerminalError(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    if (e instanceof TerminalError || e.name === 'TerminalError') return true;
  }
  return false;
}

/** The key of a request in work queues and logs: `namespace/name`, or `name` when cluster-scoped. */
export function requestKey(request: ReconcileRequest): string {
  return request.namespace ? `${request.namespace}/${request.name}` : request.name;
}

/** The request naming an object. */
export function requestFor(obj: KubeObject): ReconcileRequest {
  return { namespace: obj.metadata?.namespace ?? '', name: obj.metadata?.name ?? '' };
}

/**
 * Filters the events that reach a controller's queue (controller-runtime's predicate.Funcs).
 * A missing function lets the event through.
 */
export interface Predicate<T extends KubeObject = KubeObject> {
  create?(obj: T): boolean;
  update?(oldObj: T, newObj: T): boolean;
  delete?(obj: T): boolean;
  /** Resync and other synthetic events. */
  generic?(obj: T): boolean;
}

/** The callbacks an informer invokes; `onUpdate` also fires on resync with old === new content. */
export interface InformerEventHandler<T extends KubeObject = KubeObject> {
  onAdd?(obj: T, isInInitialList: boolean): void;
  onUpdate?(oldObj: T, newObj: T): void;
  /** `obj` is the last state known (possibly stale if the deletion happened during a relist). */
  onDelete?(obj: T): void;
}
