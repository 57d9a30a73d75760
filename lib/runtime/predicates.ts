/**
 * Ready-made predicates (controller-runtime's `predicate` package): filter which events reach a
 * controller's queue. A predicate that leaves a method out lets those events through.
 */
import type { KubeObject } from '../api/meta.js';
import type { Predicate } from './types.js';

function sameRecord(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ak = Object.keys(a ?? {});
  const bk = Object.keys(b ?? {});
  return ak.length === bk.length && ak.every((k) => a![k] === b?.[k]);
}

/** Updates pass only when `metadata.generation` changed (spec edits; not status or metadata). */
export const generationChanged: Predicate = {
  update: (oldObj, newObj) => oldObj.metadata?.generation !== newObj.metadata?.generation,
};

/** Updates pass only when the labels changed. */
export const labelsChanged: Predicate = {
  update: (oldObj, newObj) => !sameRecord(oldObj.metadata?.labels, newObj.metadata?.labels),
};

/** Updates pass only when the annotations changed. */
export const annotationsChanged: Predicate = {
  update: (oldObj, newObj) => !sameRecord(oldObj.metadata?.annotations, newObj.metadata?.annotations),
};

/** Updates pass only when the object was written (not a resync). */
export const resourceVersionChanged: Predicate = {
  update: (oldObj, newObj) => oldObj.metadata?.resourceVersion !== newObj.metadata?.resourceVersion,
};

type Method = 'create' | 'update' | 'delete' | 'generic';
const METHODS: Method[] = ['create', 'update', 'delete', 'generic'];

function combine<T extends KubeObject>(predicates: Predicate<T>[], all: boolean): Predicate<T> {
  const result: Predicate<T> = {};
  for (const method of METHODS) {
    const call = (p: Predicate<T>, args: T[]): boolean => {
      const fn = p[method] as ((...a: T[]) => boolean) | undefined;
      return fn ? fn(...args) : true;
    };
    (result as Record<Method, (...a: T[]) => boolean>)[method] = (...args: T[]) =>
      all ? predicates.every((p) => call(p, args)) : predicates.some((p) => call(p, args));
  }
  return result;
}

/** Passes an event only when every predicate passes it. */
export function and<T extends KubeObject>(...predicates: Predicate<T>[]): Predicate<T> {
  return combine(predicates, true);
}

/** Passes an event when any predicate passes it. */
export function or<T extends KubeObject>(...predicates: Predicate<T>[]): Predicate<T> {
  return combine(predicates, false);
}

/** Inverts a predicate (a method it leaves out, which passes everything, then passes nothing). */
export function not<T extends KubeObject>(predicate: Predicate<T>): Predicate<T> {
  const result: Predicate<T> = {};
  for (const method of METHODS) {
    const fn = predicate[method] as ((...a: T[]) => boolean) | undefined;
    (result as Record<Method, (...a: T[]) => boolean>)[method] = (...args: T[]) => !(fn ? fn(...args) : true);
  }
  return result;
}
