/** discovery.k8s.io/v1 types in Kubernetes' JSON shape. */
import type { ObjectReference } from './core.js';

/** The type of address an EndpointSlice carries; immutable once set. */
export type EndpointSliceAddressType = 'IPv4' | 'IPv6' | 'FQDN';

/**
 * The state of one endpoint. Kubernetes leaves every field unset (nil) unless the writer sets it;
 * consumers treat an unset `ready` as ready.
 */
export interface EndpointConditions {
  /** The endpoint can receive traffic; unset means unknown (treated as ready). */
  ready?: boolean;
  /** The endpoint can serve traffic, even while terminating. */
  serving?: boolean;
  /** The endpoint is terminating. */
  terminating?: boolean;
}

/** A zone an endpoint should be consumed by, for topology-aware routing. */
export interface ForZone {
  name: string;
}

/** A node an endpoint should be consumed by, for topology-aware routing. */
export interface ForNode {
  name: string;
}

/** Hints for how an endpoint should be consumed. */
export interface EndpointHints {
  forZones?: ForZone[];
  forNodes?: ForNode[];
}

/** One backend of an EndpointSlice: its addresses (1 to 100, all interchangeable) and state. */
export interface Endpoint {
  /** Addresses of the `addressType` of the slice; consumers use the first. */
  addresses: string[];
  conditions?: EndpointConditions;
  /** A DNS label, e.g. the pod's hostname. */
  hostname?: string;
  /** The object behind the endpoint, usually a Pod. */
  targetRef?: ObjectReference;
  /** The node hosting the endpoint. */
  nodeName?: string;
  /** The zone the endpoint lives in. */
  zone?: string;
  hints?: EndpointHints;
}

/**
 * A port of an EndpointSlice (Kubernetes' discovery/v1 EndpointPort; named apart from core/v1
 * EndpointPort of Endpoints). Every endpoint of the slice exposes all its ports.
 */
export interface EndpointSlicePort {
  /** A DNS-1123 label, unique in the slice; may be empty only when it is the sole port. */
  name?: string;
  /** `TCP` (the default), `UDP` or `SCTP`. */
  protocol?: string;
  /** 1 to 65535; unset means all ports. */
  port?: number;
  /** The application protocol, e.g. `http` or `kubernetes.io/h2c`. */
  appProtocol?: string;
}
