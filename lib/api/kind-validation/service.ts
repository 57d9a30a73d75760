/**
 * Service validation: type, ports (named and unique when several), selector, session affinity,
 * cluster IPs and IP families, external IPs and traffic policies; on update, the cluster IPs and
 * families that may not change; on `/status`, the load balancer ingress — kube's ValidateService,
 * ValidateServiceUpdate and ValidateServiceStatusUpdate.
 */
import type { FieldError } from '../errors.js';
import type { Service } from '../kinds.js';
import type { ServicePort, ServiceSpec } from '../types/core.js';
import { PORT_PROTOCOLS } from './container.js';
import { child, duplicate, forbidden, goSlice, index, invalid, invalidEach, notSupported, required } from './field.js';
import {
  isValidPortNum,
  parseIP,
  validateCIDR,
  validateDNS1123Label,
  validateDNS1123Subdomain,
  validateIP,
  validateLabels,
  validateNonSpecialIP,
  validatePortNumOrName,
  validateQualifiedName,
} from './formats.js';

const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const MAX_CLIENT_IP_AFFINITY_SECONDS = 86400;

function isHeadless(spec: ServiceSpec): boolean {
  return spec.clusterIPs?.length === 1 && spec.clusterIPs[0] === 'None';
}

/** Reachable from outside the cluster: NodePort, LoadBalancer, or ClusterIP with external IPs. */
export function externallyAccessible(spec: ServiceSpec): boolean {
  return spec.type === 'LoadBalancer' || spec.type === 'NodePort' || (spec.type === 'ClusterIP' && (spec.externalIPs?.length ?? 0) > 0);
}

function validateServicePort(sp: ServicePort, requireName: boolean, names: Set<string>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (requireName && !sp.name) errs.push(required(child(path, 'name')));
  else if (sp.name) {
    errs.push(...validateDNS1123Label(sp.name, child(path, 'name')));
    if (names.has(sp.name)) errs.push(duplicate(child(path, 'name'), sp.name));
    else names.add(sp.name);
  }
  errs.push(...invalidEach(child(path, 'port'), sp.port ?? 0, isValidPortNum(sp.port ?? 0)));
  if (!sp.protocol) errs.push(required(child(path, 'protocol')));
  else if (!(PORT_PROTOCOLS as readonly string[]).includes(sp.protocol)) errs.push(notSupported(child(path, 'protocol'), sp.protocol, PORT_PROTOCOLS));
  errs.push(...validatePortNumOrName(sp.targetPort, child(path, 'targetPort')));
  if (sp.appProtocol !== undefined) errs.push(...validateQualifiedName(sp.appProtocol, child(path, 'appProtocol')));
  return errs;
}

function validateClusterIPs(spec: ServiceSpec): FieldError[] {
  if (spec.type === 'ExternalName') return [];
  const errs: FieldError[] = [];
  const ips = spec.clusterIPs ?? [];
  if (spec.clusterIP) {
    if (ips.length === 0) errs.push(required('spec.clusterIPs'));
    else if (ips[0] !== spec.clusterIP) errs.push(invalid('spec.clusterIPs', goSlice('string', ips), 'first value must match `clusterIP`'));
  } else if (ips.length > 0) {
    errs.push(invalid('spec.clusterIPs', goSlice('string', ips), 'must be empty when `clusterIP` is not specified'));
  }
  const seen = new Set<string>();
  (spec.ipFamilies ?? []).forEach((family, i) => {
    if (family !== 'IPv4' && family !== 'IPv6') errs.push(notSupported(index('spec.ipFamilies', i), family, ['IPv4', 'IPv6']));
    if (seen.has(family)) errs.push(duplicate(index('spec.ipFamilies', i), family));
    seen.add(family);
  });
  const policy = spec.ipFamilyPolicy;
  if (policy !== undefined && !['PreferDualStack', 'RequireDualStack', 'SingleStack'].includes(policy)) {
    errs.push(notSupported('spec.ipFamilyPolicy', policy, ['PreferDualStack', 'RequireDualStack', 'SingleStack']));
  }
  let invalidIPs = false;
  ips.forEach((ip, i) => {
    if (i === 0 && ip === 'None') {
      if (ips.length > 1) {
        invalidIPs = true;
        errs.push(invalid('spec.clusterIPs', goSlice('string', ips), "'None' must be the first and only value"));
      }
      return;
    }
    const ipErrs = validateIP(ip, index('spec.clusterIPs', i));
    invalidIPs ||= ipErrs.length > 0;
    errs.push(...ipErrs);
  });
  if (ips.length > 2) errs.push(invalid('spec.clusterIPs', goSlice('string', ips), 'may only hold up to 2 values'));
  if (invalidIPs) return errs;
  if (ips.length > 1 && new Set(ips.map(parseIP)).size < 2) errs.push(invalid('spec.clusterIPs', goSlice('string', ips), 'may specify no more than one IP for each IP family'));
  if (!isHeadless(spec)) {
    ips.forEach((ip, i) => {
      const family = spec.ipFamilies?.[i];
      if (family === 'IPv4' && parseIP(ip) === 6) errs.push(invalid(index('spec.clusterIPs', i), ip, `expected an IPv4 value as indicated by \`ipFamilies[${i}]\``));
      if (family === 'IPv6' && parseIP(ip) !== 6) errs.push(invalid(index('spec.clusterIPs', i), ip, `expected an IPv6 value as indicated by \`ipFamilies[${i}]\``));
    });
  }
  return errs;
}

/** A Service's spec (kube's ValidateService, metadata excluded). */
export function validateService(svc: Service): FieldError[] {
  const spec = svc.spec ?? {};
  const ports = spec.ports ?? [];
  const errs: FieldError[] = [];
  if (ports.length === 0 && !isHeadless(spec) && spec.type !== 'ExternalName') errs.push(required('spec.ports'));
  if ((spec.type === 'LoadBalancer' || spec.type === 'NodePort') && isHeadless(spec)) {
    errs.push(invalid('spec.clusterIPs[0]', 'None', `may not be set to 'None' for ${spec.type} services`));
  }
  if (spec.type === 'ExternalName') {
    if (spec.clusterIPs?.length) errs.push(forbidden('spec.clusterIPs', 'may not be set for ExternalName services'));
    if (spec.ipFamilies?.length) errs.push(forbidden('spec.ipFamilies', 'may not be set for ExternalName services'));
    if (spec.ipFamilyPolicy !== undefined) errs.push(forbidden('spec.ipFamilyPolicy', 'may not be set for ExternalName services'));
    const cname = (spec.externalName ?? '').replace(/\.$/, '');
    if (cname) errs.push(...validateDNS1123Subdomain(cname, 'spec.externalName'));
    else errs.push(required('spec.externalName'));
  }
  const names = new Set<string>();
  ports.forEach((port, i) => errs.push(...validateServicePort(port, ports.length > 1, names, index('spec.ports', i))));
  if (spec.selector) errs.push(...validateLabels(spec.selector, 'spec.selector'));
  if (!spec.sessionAffinity) errs.push(required('spec.sessionAffinity'));
  else if (spec.sessionAffinity !== 'ClientIP' && spec.sessionAffinity !== 'None') {
    errs.push(notSupported('spec.sessionAffinity', spec.sessionAffinity, ['ClientIP', 'None']));
  }
  if (spec.sessionAffinity === 'ClientIP') {
    const timeout = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
    const when = 'when session affinity type is ClientIP';
    if (!spec.sessionAffinityConfig) errs.push(required('spec.sessionAffinityConfig', when));
    else if (!spec.sessionAffinityConfig.clientIP) errs.push(required('spec.sessionAffinityConfig.clientIP', when));
    else if (timeout === undefined) errs.push(required('spec.sessionAffinityConfig.clientIP.timeoutSeconds', when));
    else if (timeout <= 0 || timeout > MAX_CLIENT_IP_AFFINITY_SECONDS) {
      errs.push(invalid('spec.sessionAffinityConfig.clientIP.timeoutSeconds', timeout, `must be greater than 0 and less than ${MAX_CLIENT_IP_AFFINITY_SECONDS}`));
    }
  } else if (spec.sessionAffinity === 'None' && spec.sessionAffinityConfig) {
    errs.push(forbidden('spec.sessionAffinityConfig', 'must not be set when session affinity is None'));
  }
  errs.push(...validateClusterIPs(spec));
  (spec.externalIPs ?? []).forEach((ip, i) => {
    const ipErrs = validateIP(ip, index('spec.externalIPs', i));
    errs.push(...(ipErrs.length ? ipErrs : validateNonSpecialIP(ip, index('spec.externalIPs', i))));
  });
  if (!spec.type) errs.push(required('spec.type'));
  else if (!SERVICE_TYPES.includes(spec.type)) errs.push(notSupported('spec.type', spec.type, SERVICE_TYPES));
  if (spec.type === 'ClusterIP') {
    ports.forEach((port, i) => {
      if (port.nodePort) errs.push(forbidden(child(index('spec.ports', i), 'nodePort'), "may not be used when `type` is 'ClusterIP'"));
    });
  }
  const nodePorts = new Set<string>();
  const portKeys = new Set<string>();
  ports.forEach((port, i) => {
    if (port.nodePort) {
      const k = `${port.protocol}/${port.nodePort}`;
      if (nodePorts.has(k)) errs.push(duplicate(child(index('spec.ports', i), 'nodePort'), port.nodePort));
      nodePorts.add(k);
    }
    const k = `${port.protocol}/${port.port}`;
    if (portKeys.has(k)) errs.push(duplicate(index('spec.ports', i), { port: port.port, protocol: port.protocol }));
    portKeys.add(k);
  });
  if (spec.loadBalancerSourceRanges?.length) {
    if (spec.type !== 'LoadBalancer') errs.push(forbidden('spec.LoadBalancerSourceRanges', "may only be used when `type` is 'LoadBalancer'"));
    spec.loadBalancerSourceRanges.forEach((range, i) => errs.push(...validateCIDR(range.trim(), index('spec.LoadBalancerSourceRanges', i))));
  }
  if (spec.allocateLoadBalancerNodePorts !== undefined && spec.type !== 'LoadBalancer') {
    errs.push(forbidden('spec.allocateLoadBalancerNodePorts', "may only be used when `type` is 'LoadBalancer'"));
  }
  if (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts === undefined) errs.push(required('allocateLoadBalancerNodePorts'));
  if (spec.loadBalancerClass !== undefined) {
    if (spec.type === 'LoadBalancer') errs.push(...validateQualifiedName(spec.loadBalancerClass, 'spec.loadBalancerClass'));
    else errs.push(forbidden('spec.loadBalancerClass', "may only be used when `type` is 'LoadBalancer'"));
  }
  errs.push(...validateTrafficPolicies(spec));
  return errs;
}

function validateTrafficPolicies(spec: ServiceSpec): FieldError[] {
  const errs: FieldError[] = [];
  if (!externallyAccessible(spec)) {
    if (spec.externalTrafficPolicy) {
      errs.push(invalid('spec.externalTrafficPolicy', spec.externalTrafficPolicy, 'may only be set for externally-accessible services'));
    }
  } else if (!spec.externalTrafficPolicy) {
    errs.push(required('spec.externalTrafficPolicy'));
  } else if (spec.externalTrafficPolicy !== 'Cluster' && spec.externalTrafficPolicy !== 'Local') {
    errs.push(notSupported('spec.externalTrafficPolicy', spec.externalTrafficPolicy, ['Cluster', 'Local']));
  }
  const needsHealthCheck = spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
  if (!needsHealthCheck && spec.healthCheckNodePort) {
    errs.push(invalid('spec.healthCheckNodePort', spec.healthCheckNodePort, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"));
  } else if (needsHealthCheck && spec.healthCheckNodePort) {
    // kube also requires it here, but its registry allocates one before validating; keelson's
    // may leave it to the service proxy, so an absent port is not an error.
    errs.push(...invalidEach('spec.healthCheckNodePort', spec.healthCheckNodePort, isValidPortNum(spec.healthCheckNodePort)));
  }
  if (spec.internalTrafficPolicy === undefined && ['ClusterIP', 'NodePort', 'LoadBalancer'].includes(spec.type ?? '')) {
    errs.push(required('spec.internalTrafficPolicy'));
  } else if (spec.internalTrafficPolicy !== undefined && spec.internalTrafficPolicy !== 'Cluster' && spec.internalTrafficPolicy !== 'Local') {
    errs.push(notSupported('spec.internalTrafficPolicy', spec.internalTrafficPolicy, ['Cluster', 'Local']));
  }
  return errs;
}

/** A Service update: the new spec must be valid, and allocated IPs and families may not change. */
export function validateServiceUpdate(svc: Service, old: Service): FieldError[] {
  const spec = svc.spec ?? {};
  const prev = old.spec ?? {};
  const errs: FieldError[] = [];
  const external = spec.type === 'ExternalName' || prev.type === 'ExternalName';
  if (!external && !(isHeadless(prev) && isHeadless(spec))) {
    const ips = spec.clusterIPs ?? [];
    const oldIPs = prev.clusterIPs ?? [];
    if (ips.length === oldIPs.length) {
      oldIPs.forEach((ip, i) => {
        if (ip !== ips[i]) errs.push(invalid(index('spec.clusterIPs', i), goSlice('string', ips), 'may not change once set'));
      });
    } else if (oldIPs.length > ips.length) {
      if (ips.length === 0) errs.push(invalid('spec.clusterIPs[0]', goSlice('string', ips), 'primary clusterIP can not be unset'));
      if (oldIPs.length > 0 && ips.length > 0 && ips[0] !== oldIPs[0]) errs.push(invalid('spec.clusterIPs[0]', goSlice('string', ips), 'may not change once set'));
      if (ips.length === 1 && spec.ipFamilyPolicy !== 'SingleStack') {
        errs.push(invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy ?? null, "must be set to 'SingleStack' when releasing the secondary clusterIP"));
      }
    } else if (oldIPs.length > 0 && ips[0] !== oldIPs[0]) {
      errs.push(invalid('spec.clusterIPs[0]', goSlice('string', ips), 'may not change once set'));
    }
  }
  if (!external && isHeadless(prev) === isHeadless(spec) && !isHeadless(spec)) {
    const families = spec.ipFamilies ?? [];
    const oldFamilies = prev.ipFamilies ?? [];
    const changedPrimary = oldFamilies.length > 0 && families.length > 0 && families[0] !== oldFamilies[0];
    if (families.length === oldFamilies.length) {
      oldFamilies.forEach((family, i) => {
        if (family !== families[i]) errs.push(invalid('spec.ipFamilies[0]', goSlice('core.IPFamily', families), 'may not change once set'));
      });
    } else if (oldFamilies.length > families.length) {
      // kube checks clusterIPs here, not ipFamilies; kept for identical results.
      if ((spec.clusterIPs ?? []).length === 0) errs.push(invalid('spec.ipFamilies[0]', goSlice('core.IPFamily', families), 'primary ipFamily can not be unset'));
      if (changedPrimary) errs.push(invalid('spec.ipFamilies[0]', goSlice('string', spec.clusterIPs ?? []), 'may not change once set'));
      if (families.length === 1 && spec.ipFamilyPolicy !== 'SingleStack') {
        errs.push(invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy ?? null, "must be set to 'SingleStack' when releasing the secondary ipFamily"));
      }
    } else if (changedPrimary) {
      errs.push(invalid('spec.ipFamilies[0]', goSlice('string', spec.clusterIPs ?? []), 'may not change once set'));
    }
  }
  if (prev.type === 'LoadBalancer' && spec.type === 'LoadBalancer' && (prev.loadBalancerClass ?? null) !== (spec.loadBalancerClass ?? null)) {
    errs.push(invalid('spec.loadBalancerClass', spec.loadBalancerClass ?? null, 'may not change once set'));
  }
  const healthChecked = (s: ServiceSpec) => s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local';
  if (healthChecked(prev) && healthChecked(spec) && spec.healthCheckNodePort !== prev.healthCheckNodePort) {
    errs.push(forbidden('spec.healthCheckNodePort', 'field is immutable'));
  }
  return [...errs, ...validateService(svc)];
}

/** A `/status` update of a Service: the load balancer ingress points. */
export function validateServiceStatus(svc: Service): FieldError[] {
  const ingress = svc.status?.loadBalancer?.ingress ?? [];
  if (svc.spec?.type !== 'LoadBalancer' && ingress.length > 0) {
    return [forbidden('status.loadBalancer.ingress', "may only be used when `spec.type` is 'LoadBalancer'")];
  }
  const errs: FieldError[] = [];
  ingress.forEach((entry, i) => {
    const p = index('status.loadBalancer.ingress', i);
    if (entry.ip) errs.push(...validateIP(entry.ip, child(p, 'ip')));
    if (entry.ip && entry.ipMode === undefined) errs.push(required(child(p, 'ipMode'), 'must be specified when `ip` is set'));
    else if (entry.ipMode !== undefined && !entry.ip) errs.push(forbidden(child(p, 'ipMode'), 'may not be specified when `ip` is not set'));
    else if (entry.ipMode !== undefined && entry.ipMode !== 'VIP' && entry.ipMode !== 'Proxy') {
      errs.push(notSupported(child(p, 'ipMode'), entry.ipMode, ['Proxy', 'VIP']));
    }
    if (entry.hostname) {
      errs.push(...validateDNS1123Subdomain(entry.hostname, child(p, 'hostname')));
      if (parseIP(entry.hostname)) errs.push(invalid(child(p, 'hostname'), entry.hostname, 'must be a DNS name, not an IP address'));
    }
  });
  return errs;
}
