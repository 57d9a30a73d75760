/**
 * The endpoints controller, written with keelson's public API only — copy this folder to start a
 * controller of your own. A Service names its backends by a label selector; this controller
 * publishes the matching pods' addresses in an Endpoints object of the Service's name, ready and
 * not ready apart, ports resolved per pod, so that service proxies know where to send traffic.
 *
 * - `endpoints-controller.ts`: the reconciler — what triggers a sync, and when to write;
 * - `subsets.ts`: the pure computation of the subsets (kube's rules, RepackSubsets);
 * - `trigger-time.ts`: the `last-change-trigger-time` annotation.
 */
export { EndpointsController, ENDPOINTS_POD_UID_INDEX, HEADLESS_SERVICE_LABEL, OVER_CAPACITY_ANNOTATION } from './endpoints-controller.js';
export {
  countAddresses,
  endpointSubsetsFor,
  findPort,
  isPodReady,
  MAX_ENDPOINTS_CAPACITY,
  podAddress,
  repackSubsets,
  sameSubsets,
  shouldPodBeInEndpoints,
  sortSubsets,
  truncateSubsets,
} from './subsets.js';
export { LAST_CHANGE_TRIGGER_TIME_ANNOTATION, TriggerTimeTracker } from './trigger-time.js';
