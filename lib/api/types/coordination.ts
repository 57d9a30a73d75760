/** coordination.k8s.io/v1 types in Kubernetes' JSON shape. */

/**
 * The desired state of a Lease: who holds it and for how long. Leader election and node
 * heartbeats renew `renewTime`; a lease is expired once `renewTime + leaseDurationSeconds` passes.
 */
export interface LeaseSpec {
  holderIdentity?: string;
  /** Must be greater than 0. */
  leaseDurationSeconds?: number;
  /** MicroTime. */
  acquireTime?: string;
  /** MicroTime. */
  renewTime?: string;
  /** Must be greater than or equal to 0. */
  leaseTransitions?: number;
  /** Coordinated leader election strategy, e.g. `OldestEmulationVersion`. */
  strategy?: string;
  /** Only with `strategy`. */
  preferredHolder?: string;
}
