// Placeholder until the protobuf decoder lands: refuses protobuf bodies with 415.
import { unsupportedMediaType } from '../api/errors.js';
export function decodeKubernetesProtobuf(_body: Uint8Array): { apiVersion: string; kind: string; object: Record<string, unknown> } {
  throw unsupportedMediaType('application/vnd.kubernetes.protobuf', ['application/json', 'application/yaml']);
}
