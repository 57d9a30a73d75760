/**
 * The endpointslice controller (`--controllers endpointslice`): every Service's EndpointSlices
 * (`discovery.k8s.io/v1`), mirrored from its Endpoints.
 *
 * - `endpointslice-controller.ts`: the controller;
 * - `slices.ts`: the slices a Service should have (pure).
 */
export {
  EndpointSliceController,
  MANAGED_BY_CONTROLLER,
  MANAGED_BY_LABEL,
  MANAGED_BY_MIRRORING,
  SERVICE_NAME_LABEL,
} from './endpointslice-controller.js';
export { desiredSlices, MAX_ENDPOINTS_PER_SLICE, sliceKey, type SliceContent, type SliceEndpoint, type SlicePort } from './slices.js';
