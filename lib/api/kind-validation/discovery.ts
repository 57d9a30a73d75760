/**
 * Validation of discovery.k8s.io/v1 EndpointSlice (kube's pkg/apis/discovery/validation):
 * the address type, up to 1000 endpoints of 1–100 addresses each (checked against the address
 * type), node names, hostnames and topology hints, and up to 20000 uniquely named ports.
 * Like kube, port numbers are not range-checked.
 */
import { isIP } from 'node:net';
import type { FieldError } from '../errors.js';
import type { EndpointSlice } from '../kinds.js';
import type { Endpoint, EndpointHints, EndpointSlicePort } from '../types/discovery.js';
import { nameIsDNSSubdomain, validateImmutableField } from '../validation.js';
import { child, duplicate, index, invalid, invalidEach, notSupported, required, tooMany } from './field.js';
import { isDNS1123Label, isDNS1123Subdomain, isValidLabelValue, validateDNS1123Label, validateNonSpecialIP, validateQualifiedName } from './formats.js';

/** The address types an EndpointSlice may have, sorted as kube lists them. */
export const ENDPOINT_SLICE_ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6'] as const;
/** The protocols of an EndpointSlice port, sorted as kube lists them. */
const PORT_PROTOCOLS = ['SCTP', 'TCP', 'UDP'] as const;
const MAX_ENDPOINTS = 1000;
const MAX_ADDRESSES = 100;
const MAX_PORTS = 20000;
const MAX_ZONE_HINTS = 8;
const MAX_NODE_HINTS = 8;

/** kube's IsFullyQualifiedDomainName: a DNS subdomain of at least two labels (a trailing dot allowed). */
function validateFQDN(value: string, field: string): FieldError[] {
  if (value.length === 0) return [required(field)];
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  const subdomain = isDNS1123Subdomain(name);
  if (subdomain.length) return [invalid(field, name, subdomain.join(','))];
  const labels = name.split('.');
  if (labels.length < 2) return [invalid(field, name, 'should be a domain with at least two segments separated by dots')];
  for (const label of labels) {
    const errs = isDNS1123Label(label);
    if (errs.length) return [invalid(field, label, errs.join(','))];
  }
  return [];
}

/** One address, checked against the slice's address type (unknown types are not checked, as in kube). */
function validateAddress(address: string, addressType: string | undefined, field: string): FieldError[] {
  switch (addressType) {
    case 'IPv4':
      return [...(isIP(address) === 4 ? [] : [invalid(field, address, 'must be a valid IPv4 address')]), ...validateNonSpecialIP(address, field)];
    case 'IPv6':
      return [...(isIP(address) === 6 ? [] : [invalid(field, address, 'must be a valid IPv6 address')]), ...validateNonSpecialIP(address, field)];
    case 'FQDN':
      return validateFQDN(address, field);
    default:
      return [];
  }
}

/** Zone hints are label values, node hints node names; each unique and at most 8. */
function validateHints(hints: EndpointHints, path: string): FieldError[] {
  const zonesPath = child(path, 'forZones');
  const zones = hints.forZones ?? [];
  if (zones.length > MAX_ZONE_HINTS) return [tooMany(zonesPath, zones.length, MAX_ZONE_HINTS)];
  const errs = validateHintNames(zones, zonesPath, isValidLabelValue);
  const nodesPath = child(path, 'forNodes');
  const nodes = hints.forNodes ?? [];
  if (nodes.length > MAX_NODE_HINTS) return [...errs, tooMany(nodesPath, nodes.length, MAX_NODE_HINTS)];
  return [...errs, ...validateHintNames(nodes, nodesPath, (name) => nameIsDNSSubdomain(name, false))];
}

/** The `name` of each hint (`forZones[i]`, `forNodes[i]`): unique in its list and valid by `check`. */
function validateHintNames(hints: readonly { name?: string }[], path: string, check: (name: string) => string[]): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  hints.forEach((hint, i) => {
    const p = child(index(path, i), 'name');
    const name = hint.name ?? '';
    if (seen.has(name)) errs.push(duplicate(p, name));
    else seen.add(name);
    errs.push(...invalidEach(p, name, check(name)));
  });
  return errs;
}

function validateEndpoint(endpoint: Endpoint, addressType: string | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const addressesPath = child(path, 'addresses');
  const addresses = endpoint.addresses ?? [];
  if (addresses.length === 0) errs.push(required(addressesPath, 'must contain at least 1 address'));
  else if (addresses.length > MAX_ADDRESSES) errs.push(tooMany(addressesPath, addresses.length, MAX_ADDRESSES));
  addresses.forEach((address, i) => errs.push(...validateAddress(String(address), addressType, index(addressesPath, i))));
  if (endpoint.nodeName !== undefined && endpoint.nodeName !== null) {
    errs.push(...invalidEach(child(path, 'nodeName'), endpoint.nodeName, nameIsDNSSubdomain(endpoint.nodeName, false)));
  }
  if (endpoint.hostname !== undefined && endpoint.hostname !== null) errs.push(...validateDNS1123Label(endpoint.hostname, child(path, 'hostname')));
  if (endpoint.hints) errs.push(...validateHints(endpoint.hints, child(path, 'hints')));
  return errs;
}

function validatePorts(ports: readonly EndpointSlicePort[]): FieldError[] {
  if (ports.length > MAX_PORTS) return [tooMany('ports', ports.length, MAX_PORTS)];
  const errs: FieldError[] = [];
  const names = new Set<string>();
  ports.forEach((port, i) => {
    const p = index('ports', i);
    // Defaulting made `name` '' and `protocol` TCP when absent.
    const name = port.name ?? '';
    if (name.length > 0) errs.push(...validateDNS1123Label(name, child(p, 'name')));
    if (names.has(name)) errs.push(duplicate(child(p, 'name'), name));
    else names.add(name);
    if (port.protocol === undefined || port.protocol === null) errs.push(required(child(p, 'protocol')));
    else if (!(PORT_PROTOCOLS as readonly string[]).includes(port.protocol)) errs.push(notSupported(child(p, 'protocol'), port.protocol, PORT_PROTOCOLS));
    if (port.appProtocol !== undefined && port.appProtocol !== null) errs.push(...validateQualifiedName(port.appProtocol, child(p, 'appProtocol')));
  });
  return errs;
}

/** An EndpointSlice (create, and the first part of update): kube's ValidateEndpointSlice, metadata excluded. */
export function validateEndpointSlice(slice: EndpointSlice): FieldError[] {
  const errs: FieldError[] = [];
  const addressType = slice.addressType as string | undefined;
  if (!addressType) errs.push(required('addressType'));
  else if (!(ENDPOINT_SLICE_ADDRESS_TYPES as readonly string[]).includes(addressType)) errs.push(notSupported('addressType', addressType, ENDPOINT_SLICE_ADDRESS_TYPES));
  const endpoints = slice.endpoints ?? [];
  if (endpoints.length > MAX_ENDPOINTS) errs.push(tooMany('endpoints', endpoints.length, MAX_ENDPOINTS));
  else endpoints.forEach((endpoint, i) => errs.push(...validateEndpoint(endpoint, addressType, index('endpoints', i))));
  errs.push(...validatePorts(slice.ports ?? []));
  return errs;
}

/** An EndpointSlice update: the new object's rules, and `addressType` may not change. */
export function validateEndpointSliceUpdate(slice: EndpointSlice, old: EndpointSlice): FieldError[] {
  return [...validateEndpointSlice(slice), ...validateImmutableField((slice.addressType ?? '') === (old.addressType ?? ''), slice.addressType ?? '', 'addressType')];
}
