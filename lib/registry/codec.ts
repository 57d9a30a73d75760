/**
 * How objects are stored: JSON text without `metadata.resourceVersion`, which is not part of
 * the stored bytes but derived from the key's modRevision on every read — as kube-apiserver's
 * etcd3 store does. Reads always return fresh copies, so callers may mutate them.
 */
import type { KubeObject } from '../api/meta.js';
import type { KeyValue } from '../storage/kv.js';

/** The largest object keelson stores (etcd's default request limit, 1.5 MiB). */
export const MAX_OBJECT_BYTES = 1.5 * 1024 * 1024;

/** Serializes an object for storage, leaving its resourceVersion out. */
export function encodeObject(obj: KubeObject): string {
  const meta = obj.metadata;
  if (meta && meta.resourceVersion !== undefined) {
    const { resourceVersion: _dropped, ...rest } = meta;
    return JSON.stringify({ ...obj, metadata: rest });
  }
  return JSON.stringify(obj);
}

/** Parses a stored object and stamps `resourceVersion` (the revision, as a decimal string). */
export function decodeObject<T extends KubeObject = KubeObject>(value: string, revision: number): T {
  const obj = JSON.parse(value) as T;
  obj.metadata = { ...(obj.metadata ?? {}), resourceVersion: String(revision) };
  return obj;
}

/** Parses the current object of a key. */
export function decodeKeyValue<T extends KubeObject = KubeObject>(kv: KeyValue): T {
  return decodeObject<T>(kv.value, kv.modRevision);
}
