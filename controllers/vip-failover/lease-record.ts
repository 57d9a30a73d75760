/**
 * The VIP's Lease: the one place that says who holds a virtual IP. A `coordination.k8s.io/v1`
 * Lease `kube-system/keelson-vip-<name>` per VirtualIP, written only by compare-and-swap
 * (every update carries the resourceVersion last read, so of two writers one gets 409 Conflict).
 *
 * - `spec.holderIdentity`: the holding node, `''` once released.
 * - `spec.leaseTransitions`: the **fencing token**. Every acquisition increments it (even by
 *   the same node after a restart), renewals keep it, so it grows strictly with each holding.
 *   Whatever acts for a holding — heartbeats, the address guard, status writes — carries its
 *   token, and anything with a lower token than one already seen is stale and ignored.
 * - The duration is far below a second (300 ms by default) and `leaseDurationSeconds` is a
 *   whole number, so the exact value is in the annotation `vip.keelson.dev/lease-duration-ms`
 *   (`leaseDurationSeconds` is that rounded up, for kubectl readers).
 * - `vip.keelson.dev/preferred-holder`: set by a holder that steps down for a higher-priority
 *   node (preemption), so that node, not another, takes it (Lease's own `preferredHolder`
 *   requires a coordinated-election `strategy`).
 *
 * Expiry is never judged from `renewTime` on another machine's clock: a standby counts the
 * duration from when *it* observed a resourceVersion (see `election.ts`).
 */
import { formatMicroTime, type Lease } from '../../lib/index.js';

/** The namespace of VIP leases (where leader-election leases live too). */
export const VIP_LEASE_NAMESPACE = 'kube-system';
/** Label on every VIP lease, naming its VirtualIP. */
export const VIP_LEASE_LABEL = 'vip.keelson.dev/virtualip';
/** Annotation holding the lease duration in milliseconds. */
export const LEASE_DURATION_ANNOTATION = 'vip.keelson.dev/lease-duration-ms';
/** Annotation naming the node a preempted holder handed the address to. */
export const PREFERRED_HOLDER_ANNOTATION = 'vip.keelson.dev/preferred-holder';

/** The Lease name of a VirtualIP. */
export function vipLeaseName(vipName: string): string {
  return `keelson-vip-${vipName}`;
}

/** What the election needs to know of a Lease. */
export interface LeaseView {
  /** The holding node; `''` when released. */
  holder: string;
  /** The fencing token of the current (or last) holding; 0 before the first. */
  token: number;
  /** The lease duration, ms. */
  durationMs: number;
  /** The version to compare-and-swap against. */
  resourceVersion: string;
  /** Set by a holder that stepped down for this node. */
  preferredHolder?: string;
}

/** Reads a Lease as a {@link LeaseView}; `defaultDurationMs` when the annotation is missing. */
export function leaseView(lease: Lease, defaultDurationMs: number): LeaseView {
  const annotations = lease.metadata?.annotations ?? {};
  const annotated = Number(annotations[LEASE_DURATION_ANNOTATION]);
  const seconds = lease.spec?.leaseDurationSeconds;
  const durationMs = Number.isFinite(annotated) && annotated > 0 ? annotated : seconds ? seconds * 1000 : defaultDurationMs;
  const preferred = annotations[PREFERRED_HOLDER_ANNOTATION];
  return {
    holder: lease.spec?.holderIdentity ?? '',
    token: lease.spec?.leaseTransitions ?? 0,
    durationMs,
    resourceVersion: lease.metadata?.resourceVersion ?? '',
    ...(preferred ? { preferredHolder: preferred } : {}),
  };
}

function withAnnotations(existing: Lease | undefined, durationMs: number, preferredHolder: string | undefined): Record<string, string> {
  const annotations: Record<string, string> = { ...(existing?.metadata?.annotations ?? {}), [LEASE_DURATION_ANNOTATION]: String(durationMs) };
  delete annotations[PREFERRED_HOLDER_ANNOTATION];
  if (preferredHolder) annotations[PREFERRED_HOLDER_ANNOTATION] = preferredHolder;
  return annotations;
}

/**
 * The Lease after `node` acquires it at `nowMs`: a new holding, so the token is one more than
 * the last. Carries `existing`'s resourceVersion (the compare-and-swap precondition).
 */
export function acquiredLease(existing: Lease | undefined, vipName: string, node: string, nowMs: number, durationMs: number): Lease {
  const now = formatMicroTime(nowMs);
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      ...(existing?.metadata ?? {}),
      name: vipLeaseName(vipName),
      namespace: VIP_LEASE_NAMESPACE,
      labels: { ...(existing?.metadata?.labels ?? {}), [VIP_LEASE_LABEL]: vipName },
      annotations: withAnnotations(existing, durationMs, undefined),
    },
    spec: {
      holderIdentity: node,
      leaseDurationSeconds: Math.max(1, Math.ceil(durationMs / 1000)),
      acquireTime: now,
      renewTime: now,
      leaseTransitions: (existing?.spec?.leaseTransitions ?? 0) + 1,
    },
  };
}

/** The Lease after its holder renews it at `nowMs` (same holder, same token). */
export function renewedLease(existing: Lease, nowMs: number): Lease {
  return { ...existing, spec: { ...existing.spec, renewTime: formatMicroTime(nowMs) } };
}

/**
 * The Lease after its holder releases it at `nowMs` — having removed the address first: no
 * holder, the token kept (the next acquisition increments it), and the node it steps down for,
 * if any.
 */
export function releasedLease(existing: Lease, nowMs: number, durationMs: number, preferredHolder?: string): Lease {
  return {
    ...existing,
    metadata: { ...existing.metadata, annotations: withAnnotations(existing, durationMs, preferredHolder) },
    spec: { ...existing.spec, holderIdentity: '', renewTime: formatMicroTime(nowMs) },
  };
}
