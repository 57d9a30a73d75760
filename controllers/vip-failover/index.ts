/**
 * VIP failover — keepalived's job as a keelson controller: a `VirtualIP` (a cluster-scoped
 * custom resource, `keelson.dev/v1alpha1`) is an address that exactly one eligible node agent
 * serves at a time, and that another takes over within a few hundred milliseconds when the
 * holder dies — **never two at once**.
 *
 * Where keepalived lets the nodes decide among themselves (VRRP adverts: whoever stops hearing
 * a master becomes one, so a partition or a crash that leaves the address on a live kernel ends
 * with two holders), here the store decides and the network only hurries it:
 *
 * - `virtual-ip.ts`: the {@link VirtualIP} kind (its CRD is `crds/virtualips.keelson.dev.yaml`);
 * - `lease-record.ts`: the VIP's Lease — holder, fencing token, duration;
 * - `election.ts`: {@link VipElection}, one node's part in one VIP's election: compare-and-swap
 *   takeover, renewal, self-fencing, preemption, graceful release;
 * - `heartbeat.ts`: UDP heartbeats between agents (100 ms), so a standby knows at once when the
 *   holder's right ends, or that it released;
 * - `announcer.ts`, `loopback-announcer.ts`, `arp-announcer.ts`: what holding means on the
 *   network — a listener on a 127/8 address (no root), or the address on an interface with
 *   gratuitous ARP (Linux, root);
 * - `address-guard.ts` (+ `guard-main.ts`): the child process that removes the addresses when
 *   its agent dies, however it dies;
 * - `participant.ts`: {@link VipParticipant}, what a node agent runs: an election per VirtualIP
 *   it is eligible for.
 *
 * ```ts
 * const participant = new VipParticipant({ client, nodeName: 'node-1', heartbeatAddress: '198.51.100.11' });
 * await participant.start();   // takes part in every VirtualIP whose nodeSelector matches node-1
 * await participant.stop();    // releases what it holds at once
 * ```
 */
export { AddressGuard, type AddressGuardOptions } from './address-guard.js';
export type { Announcer } from './announcer.js';
export { ArpAnnouncer, GARP_SCHEDULE_MS, type ArpAnnouncerOptions } from './arp-announcer.js';
export { electionTiming, VipElection, type ElectionState, type ElectionTiming, type HoldingChange, type VipElectionOptions } from './election.js';
export {
  decodeHeartbeat,
  HEARTBEAT_ANNOTATION,
  parseEndpoint,
  UdpHeartbeatTransport,
  type Heartbeat,
  type HeartbeatEndpoint,
  type HeartbeatState,
  type HeartbeatTransport,
  type UdpHeartbeatOptions,
} from './heartbeat.js';
export { findExecutable, inSubnet, interfaceAddresses, placeVip, runIp, type InterfaceAddress } from './ip-command.js';
export {
  acquiredLease,
  LEASE_DURATION_ANNOTATION,
  leaseView,
  PREFERRED_HOLDER_ANNOTATION,
  releasedLease,
  renewedLease,
  VIP_LEASE_LABEL,
  VIP_LEASE_NAMESPACE,
  vipLeaseName,
  type LeaseView,
} from './lease-record.js';
export { isLoopbackAddress, LOOPBACK_CLAIM_PORT, LoopbackAnnouncer, type LoopbackAnnouncerOptions } from './loopback-announcer.js';
export { VipParticipant, type Placement, type VipParticipantOptions } from './participant.js';
export {
  ANNOUNCERS,
  DEFAULT_PRIORITY,
  VIP_API_VERSION,
  VirtualIP,
  VirtualIPPriority,
  VirtualIPServiceRef,
  VirtualIPSpec,
  VirtualIPStatus,
  serviceRefKey,
  type AnnouncerName,
} from './virtual-ip.js';
