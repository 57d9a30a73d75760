/**
 * Storage failures as Kubernetes Status errors: what kube-apiserver's storage error
 * interpretation (`storage/errors.go`) answers for the same etcd condition.
 */
import { ApiError, expired, internalError, notFound, timeout, tooLarge } from '../api/errors.js';
import type { ResourceInfo } from '../api/resources.js';
import { KVError } from '../storage/kv.js';

/** Maps a KV failure (or anything else thrown by storage) to an ApiError. */
export function storageError(err: unknown, info?: ResourceInfo, name?: string): ApiError {
  if (err instanceof ApiError) return err;
  if (!(err instanceof KVError)) return internalError(err);
  switch (err.code) {
    case 'compacted':
      return expired(`too old resource version: ${err.message}`);
    case 'future-revision':
      return timeout('Too large resource version', 1);
    case 'too-large':
      return tooLarge(`Request entity too large: ${err.message}`);
    case 'not-found':
      return info && name ? notFound({ group: info.group, resource: info.plural }, name) : internalError(err);
    case 'closed':
    case 'unavailable':
      return new ApiError({ code: 503, reason: 'ServiceUnavailable', message: `storage is unavailable: ${err.message}` });
    default:
      return internalError(err);
  }
}
