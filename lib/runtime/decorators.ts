/**
 * The decorator surface. Decorators carry *what to watch and how*; the class body carries only
 * reconcile logic and map functions (as java-operator-sdk's annotations do):
 *
 * ```ts
 * @Resource({ group: 'example.com', version: 'v1', kind: 'Website' })
 * export class Website { @Field({ required: true }) spec!: WebsiteSpec; @Field() status?: WebsiteStatus; }
 *
 * @Controller({ for: Website, owns: [ReplicationController, Service], concurrency: 2 })
 * export class WebsiteReconciler implements Reconciler<Website> {
 *   constructor(@inject(Client) private readonly client: Client) {}
 *   @Watches(ConfigMap) configToSites(cm: ConfigMap): ReconcileRequest[] { … }
 *   async reconcile(req: ReconcileRequest) { … }
 * }
 * ```
 *
 * Misuse is reported when the manager starts (see {@link controllerMetadata}), naming the class
 * and the fix.
 */
import 'reflect-metadata';
import { injectable } from 'inversify';
import type { KubeObject } from '../api/meta.js';
import { attachResourceInfo, defineResource, resourceInfoOf, type KindRef, type ResourceInfo, type ResourceSpec } from '../api/resources.js';
import type { Predicate, ReconcileRequest } from './types.js';

/** A column of `kubectl get` for a custom kind (a CRD's additionalPrinterColumns). */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  format?: string;
  priority?: number;
}

/** Options of {@link Resource}: the GVK and names, plus what the generated CRD declares. */
export interface ResourceOptions extends Omit<ResourceSpec, 'group' | 'subresources'> {
  group: string;
  /** Serve `/status` (default: true when the class declares a `status` field). */
  status?: boolean;
  /** Serve `/scale` with these paths. */
  scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath?: string };
  printerColumns?: PrinterColumn[];
  /** Description of the kind (the CRD schema's root description). */
  description?: string;
}

const RESOURCE_OPTIONS: unique symbol = Symbol.for('keelson.resourceOptions') as never;

/** Declares a class as a custom kind. */
export function Resource(options: ResourceOptions): ClassDecorator {
  return (target) => {
    const hasStatusField = Reflect.getMetadata('design:type', target.prototype as object, 'status') !== undefined;
    const status = options.status ?? hasStatusField;
    const info = defineResource({
      ...options,
      subresources: { status, ...(options.scale ? { scale: options.scale } : {}) },
    });
    attachResourceInfo(target, info);
    Object.defineProperty(target, RESOURCE_OPTIONS, { value: { ...options, status }, enumerable: false });
  };
}

/** The options a `@Resource` class was declared with. */
export function resourceOptionsOf(cls: unknown): (ResourceOptions & { status: boolean }) | undefined {
  return typeof cls === 'function' ? (cls as { [RESOURCE_OPTIONS]?: ResourceOptions & { status: boolean } })[RESOURCE_OPTIONS] : undefined;
}

/** A map function: which requests an event on another kind should trigger. */
export type MapFunction<T extends KubeObject = KubeObject> = (obj: T) => ReconcileRequest[] | Promise<ReconcileRequest[]>;

/** Options of {@link Controller}. */
export interface ControllerOptions<T extends KubeObject = KubeObject> {
  /** The kind this controller reconciles: its events enqueue the object itself. */
  for: KindRef<T>;
  /** Kinds this controller creates: their events enqueue their controller owner of the `for` kind. */
  owns?: KindRef[];
  /** How many reconciles may run at once (distinct objects only). Default 1. */
  concurrency?: number;
  /** Filters for events of the `for` kind. */
  predicates?: Predicate<T>[];
  /** Name in logs and metrics (default: the lower-cased kind). */
  name?: string;
  /** Watch only this namespace (default: all). */
  namespace?: string;
  /** Label selector restricting the `for` kind's informer. */
  labelSelector?: string;
  /**
   * Field selector restricting the `for` kind's informer, e.g. `spec.nodeName=node-1` (the
   * kubelet's view: only the pods bound to its node). Reads of that kind through the cached
   * client still need an informer without selectors, so they go to the source.
   */
  fieldSelector?: string;
}

/** One `@Watches` entry of a controller class. */
export interface WatchDeclaration {
  kind: KindRef;
  method: string;
  predicates: Predicate[];
  /** The method's declared parameter count (a map function takes the object). */
  arity: number;
}

/** A field index a controller asks for (see {@link Index}). */
export interface IndexDeclaration {
  kind: KindRef;
  /** The index name; also usable as a field selector on cached lists (`spec.nodeName=n1`). */
  field: string;
  extract: (obj: KubeObject) => string[];
}

/** Everything the decorators recorded about a controller class. */
export interface ControllerMetadata {
  target: abstract new (...args: never[]) => unknown;
  options: ControllerOptions;
  watches: WatchDeclaration[];
  indexes: IndexDeclaration[];
}

const CONTROLLER: unique symbol = Symbol.for('keelson.controller') as never;
const WATCHES: unique symbol = Symbol.for('keelson.watches') as never;
const INDEXES: unique symbol = Symbol.for('keelson.indexes') as never;

type Tagged = { [CONTROLLER]?: ControllerOptions; [WATCHES]?: WatchDeclaration[]; [INDEXES]?: IndexDeclaration[] };

function ownList<K extends typeof WATCHES | typeof INDEXES>(ctor: Tagged, key: K): NonNullable<Tagged[K]> {
  if (!Object.prototype.hasOwnProperty.call(ctor, key)) Object.defineProperty(ctor, key, { value: [], enumerable: false });
  return ctor[key] as NonNullable<Tagged[K]>;
}

/** Declares a class as a controller (and makes it injectable). */
export function Controller<T extends KubeObject>(options: ControllerOptions<T>): ClassDecorator {
  return (target) => {
    Object.defineProperty(target, CONTROLLER, { value: options, enumerable: false });
    injectable()(target as never);
  };
}

/** Declares a method as the map function for events of another kind. */
export function Watches(kind: KindRef, options: { predicates?: Predicate[] } = {}): MethodDecorator {
  return (target, property, descriptor) => {
    if (typeof property !== 'string') throw new TypeError('@Watches() applies to named methods only');
    const fn = descriptor.value as unknown;
    ownList(target.constructor as Tagged, WATCHES).push({
      kind,
      method: property,
      predicates: options.predicates ?? [],
      arity: typeof fn === 'function' ? fn.length : -1,
    });
  };
}

/**
 * Registers a field index on a kind's cache, for cached lists by that field
 * (`client.list(Pod, { fieldSelector: 'spec.nodeName=n1' })`), as controller-runtime's FieldIndexer.
 */
export function Index<T extends KubeObject>(kind: KindRef<T>, field: string, extract: (obj: T) => string[]): ClassDecorator {
  return (target) => {
    ownList(target as Tagged, INDEXES).push({ kind, field, extract: extract as (obj: KubeObject) => string[] });
  };
}

/** True if a class is decorated with `@Controller`. */
export function isController(cls: unknown): boolean {
  return typeof cls === 'function' && (cls as Tagged)[CONTROLLER] !== undefined;
}

/** True if a class is decorated with `@Resource`. */
export function isResource(cls: unknown): boolean {
  return resourceInfoOf(cls) !== undefined;
}

/** A decorator misuse, reported at startup with the class and the fix. */
export class DecoratorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecoratorError';
  }
}

function kindName(kind: KindRef | undefined): string {
  if (!kind) return 'undefined';
  if (typeof kind === 'function') return kind.name || 'anonymous class';
  return `${kind.apiVersion}/${kind.kind}`;
}

/**
 * Reads and checks a controller class's declarations: a `for` kind, a `reconcile` method, kinds
 * that carry resource metadata (or are `{ apiVersion, kind }`), map methods taking one argument,
 * a sensible concurrency. `isServed` (optional) checks that the source serves each kind.
 */
export function controllerMetadata(cls: unknown, isServed?: (kind: KindRef) => boolean): ControllerMetadata {
  const name = typeof cls === 'function' ? cls.name || 'anonymous class' : String(cls);
  if (typeof cls !== 'function') throw new DecoratorError(`${name} is not a class; pass controller classes to the manager`);
  const options = (cls as Tagged)[CONTROLLER];
  if (!options) throw new DecoratorError(`${name} is not a controller: decorate it with @Controller({ for: Kind })`);
  if (!options.for) throw new DecoratorError(`${name}: @Controller needs a \`for\` kind, e.g. @Controller({ for: Pod })`);
  if (typeof (cls.prototype as { reconcile?: unknown }).reconcile !== 'function') {
    throw new DecoratorError(`${name} has no reconcile method: add \`async reconcile(request: ReconcileRequest) { … }\``);
  }
  const checkKind = (kind: KindRef | undefined, where: string) => {
    if (kind === undefined || kind === null) {
      throw new DecoratorError(`${name}: ${where} is undefined — is the kind imported before the controller (a circular import)?`);
    }
    if (typeof kind === 'function' && !resourceInfoOf(kind)) {
      throw new DecoratorError(`${name}: ${where} ${kindName(kind)} is not a resource: decorate it with @Resource({ group, version, kind }) or pass { apiVersion, kind }`);
    }
    if (isServed && !isServed(kind)) {
      throw new DecoratorError(
        `${name}: ${where} ${kindName(kind)} is not served by the source: register it (install its CRD, e.g. with \`keelson crds\` and kubectl apply) or fix the apiVersion/kind`,
      );
    }
  };
  checkKind(options.for, '`for`');
  for (const owned of options.owns ?? []) checkKind(owned, '`owns` kind');
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new DecoratorError(`${name}: concurrency must be a positive integer, got ${String(options.concurrency)}`);
  }
  const watches = [...((cls as Tagged)[WATCHES] ?? [])];
  for (const watch of watches) {
    checkKind(watch.kind, `@Watches on ${watch.method}()`);
    if (watch.arity !== 1) {
      throw new DecoratorError(
        `${name}.${watch.method}: a @Watches map function takes exactly one argument (the ${kindName(watch.kind)} object) and returns ReconcileRequest[]; it declares ${watch.arity}`,
      );
    }
  }
  const indexes = [...((cls as Tagged)[INDEXES] ?? [])];
  for (const index of indexes) checkKind(index.kind, `@Index(${index.field})`);
  return { target: cls as ControllerMetadata['target'], options, watches, indexes };
}

/** The ResourceInfo of a kind reference when it is a decorated class. */
export function infoOfClass(kind: KindRef): ResourceInfo | undefined {
  return typeof kind === 'function' ? resourceInfoOf(kind) : undefined;
}
