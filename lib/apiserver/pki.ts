/**
 * The apiserver's TLS material, generated in-process on first start (as kubeadm's `certs`
 * phase, without shelling out to openssl): a self-signed CA and a serving certificate signed by
 * it, both ECDSA P-256 with SHA-256 — accepted by Node's TLS and by Go's crypto/tls (kubectl).
 * Keys are made with WebCrypto (`globalThis.crypto.subtle`), certificates with `@peculiar/x509`.
 *
 * The files live in one directory (`ca.crt`, `ca.key`, `apiserver.crt`, `apiserver.key`; keys
 * mode 0600, every file written atomically). Later starts reuse them. The serving certificate is
 * re-issued from the same CA when it no longer covers a requested host (a new `--bind-address`)
 * or expires within 30 days, so kubeconfigs, which pin only the CA, keep working. The CA is
 * never replaced silently: a CA certificate without its key is an error.
 */
import 'reflect-metadata'; // @peculiar/x509 uses tsyringe, which needs the Reflect polyfill first
import * as x509 from '@peculiar/x509';
import { X509Certificate, createPrivateKey, randomBytes, type webcrypto } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { tightenMode } from './auth.js';
import { writeFileAtomic } from './kubeconfig.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Validity of the generated CA: 10 years. */
export const CA_VALIDITY_MS = 3650 * DAY_MS;
/** Validity of a serving certificate: 1 year. */
export const SERVING_VALIDITY_MS = 365 * DAY_MS;
/** A serving certificate expiring within this window (30 days) is re-issued on start. */
export const RENEW_BEFORE_MS = 30 * DAY_MS;
/** notBefore is back-dated by this much (5 minutes) to tolerate clock skew between machines. */
const BACKDATE_MS = 5 * 60 * 1000;

/** Common name of the generated CA. */
export const CA_COMMON_NAME = 'keelson-ca';
/** Common name of the serving certificate. */
export const SERVING_COMMON_NAME = 'keelson-apiserver';

/** File names inside the PKI directory. */
export const PKI_FILES = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  serverCert: 'apiserver.crt',
  serverKey: 'apiserver.key',
} as const;

/** Options of {@link ensurePki}. */
export interface PkiOptions {
  /**
   * The IP addresses and DNS names the serving certificate must cover, e.g.
   * `['127.0.0.1', 'localhost', bindAddress]`. IPs become IP SANs, names DNS SANs; wildcard
   * addresses (`0.0.0.0`, `::`) are skipped — clients never connect to them.
   */
  hosts: string[];
  /** Source of "now" for validity periods and the expiry check. Default: the system clock. */
  clock?: Pick<Clock, 'now'>;
}

/** The PEM material {@link ensurePki} returns, ready for `https.createServer({ cert, key })`. */
export interface Pki {
  /** The CA certificate (PEM): what clients trust, e.g. kubeconfig `certificate-authority-data`. */
  caCert: string;
  /** The serving certificate (PEM). */
  serverCert: string;
  /** The serving certificate's private key (PEM, PKCS#8). */
  serverKey: string;
  /** The directory holding the files. */
  dir: string;
  /** What this call generated: a new CA (first start) and/or a new serving certificate. */
  issued: { ca: boolean; serving: boolean };
}

const subtle = (): webcrypto.SubtleCrypto => globalThis.crypto.subtle;
const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const EC_SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

/**
 * Returns the apiserver's CA and serving certificate from `dir`, generating what is missing:
 * the CA on first start, the serving certificate when absent, not signed by the CA, not matching
 * its key, not covering every requested host, or expiring within {@link RENEW_BEFORE_MS}.
 */
export async function ensurePki(dir: string, options: PkiOptions): Promise<Pki> {
  const clock = options.clock ?? systemClock;
  const hosts = normalizeHosts(options.hosts);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = (f: keyof typeof PKI_FILES) => join(dir, PKI_FILES[f]);
  const now = clock.now();

  let ca = await loadCa(path('caCert'), path('caKey'), now);
  const caIssued = ca === undefined;
  if (!ca) {
    ca = await generateCa(now);
    // Key first: a crash in between leaves no ca.crt, so the next start generates afresh.
    await writeFileAtomic(path('caKey'), ca.keyPem, 0o600);
    await writeFileAtomic(path('caCert'), ca.certPem, 0o644);
  }

  const existing = await readPair(path('serverCert'), path('serverKey'));
  if (!caIssued && existing && servingCertIsUsable(existing.cert, existing.key, ca.node, hosts, now)) {
    await tightenMode(path('serverKey'));
    return { caCert: ca.certPem, serverCert: existing.cert, serverKey: existing.key, dir, issued: { ca: false, serving: false } };
  }
  const serving = await issueServingCert(ca, hosts, now);
  await writeFileAtomic(path('serverKey'), serving.keyPem, 0o600);
  await writeFileAtomic(path('serverCert'), serving.certPem, 0o644);
  return { caCert: ca.certPem, serverCert: serving.certPem, serverKey: serving.keyPem, dir, issued: { ca: caIssued, serving: true } };
}

/** A host list split into IP and DNS SANs. */
interface Hosts {
  ips: string[];
  dns: string[];
}

function normalizeHosts(input: string[]): Hosts {
  const ips = new Set<string>();
  const dns = new Set<string>();
  for (const raw of input) {
    const h = raw.trim().replace(/^\[(.*)\]$/, '$1');
    if (!h) continue;
    if (isIP(h)) {
      if (h !== '0.0.0.0' && h !== '::') ips.add(h);
    } else if (/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/.test(h)) {
      dns.add(h.toLowerCase().replace(/\.$/, ''));
    } else {
      throw new Error(`ensurePki: ${JSON.stringify(raw)} is neither an IP address nor a DNS name`);
    }
  }
  if (ips.size + dns.size === 0) throw new Error('ensurePki: hosts must name at least one IP address or DNS name');
  return { ips: [...ips], dns: [...dns] };
}

/** A loaded or generated CA: PEMs, the signing key and both parsed forms of the certificate. */
interface Ca {
  certPem: string;
  keyPem: string;
  signingKey: webcrypto.CryptoKey;
  signingAlgorithm: webcrypto.Algorithm | webcrypto.EcdsaParams;
  cert: x509.X509Certificate;
  node: X509Certificate;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function loadCa(certPath: string, keyPath: string, now: number): Promise<Ca | undefined> {
  const certPem = await readOptional(certPath);
  if (certPem === undefined) return undefined;
  const keyPem = await readOptional(keyPath);
  const fix = `remove ${certPath} (and every kubeconfig that trusts it) to generate a new CA`;
  if (keyPem === undefined) throw new Error(`${certPath} exists but its key ${keyPath} is missing; ${fix}`);
  let node: X509Certificate;
  try {
    node = new X509Certificate(certPem);
  } catch (err) {
    throw new Error(`${certPath} is not a valid PEM certificate (${(err as Error).message}); ${fix}`);
  }
  if (!node.ca) throw new Error(`${certPath} is not a CA certificate (basicConstraints CA:FALSE); ${fix}`);
  if (!node.checkPrivateKey(createPrivateKey(keyPem))) throw new Error(`${keyPath} does not match ${certPath}; ${fix}`);
  if (Date.parse(node.validTo) <= now) throw new Error(`the CA in ${certPath} expired on ${node.validTo}; ${fix}`);
  await tightenMode(keyPath);
  const { key: signingKey, signingAlgorithm } = await importSigningKey(keyPem);
  return { certPem, keyPem, signingKey, signingAlgorithm, cert: new x509.X509Certificate(certPem), node };
}

/**
 * Imports a PEM private key (PKCS#8, or PKCS#1/SEC1 as openssl writes them) into WebCrypto for
 * signing: ECDSA P-256/P-384 or RSA (PKCS#1 v1.5), so a CA placed in the directory by hand works.
 */
async function importSigningKey(pem: string): Promise<{ key: webcrypto.CryptoKey; signingAlgorithm: webcrypto.Algorithm | webcrypto.EcdsaParams }> {
  const ko = createPrivateKey(pem);
  const der = ko.export({ format: 'der', type: 'pkcs8' });
  if (ko.asymmetricKeyType === 'ec') {
    const curve = ko.asymmetricKeyDetails?.namedCurve;
    const namedCurve = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : undefined;
    if (!namedCurve) throw new Error(`unsupported CA key curve ${curve ?? '(unknown)'}`);
    const key = await subtle().importKey('pkcs8', der, { name: 'ECDSA', namedCurve }, false, ['sign']);
    return { key, signingAlgorithm: { name: 'ECDSA', hash: namedCurve === 'P-256' ? 'SHA-256' : 'SHA-384' } as webcrypto.EcdsaParams };
  }
  if (ko.asymmetricKeyType === 'rsa') {
    const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    return { key: await subtle().importKey('pkcs8', der, alg, false, ['sign']), signingAlgorithm: alg };
  }
  throw new Error(`unsupported CA key type ${ko.asymmetricKeyType ?? '(unknown)'}`);
}

async function readPair(certPath: string, keyPath: string): Promise<{ cert: string; key: string } | undefined> {
  const [cert, key] = await Promise.all([readOptional(certPath), readOptional(keyPath)]);
  return cert !== undefined && key !== undefined ? { cert, key } : undefined;
}

/** True when the stored serving certificate can be served as is. */
function servingCertIsUsable(certPem: string, keyPem: string, ca: X509Certificate, hosts: Hosts, now: number): boolean {
  try {
    const cert = new X509Certificate(certPem);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return false;
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return false;
    if (Date.parse(cert.validFrom) > now + BACKDATE_MS) return false;
    if (Date.parse(cert.validTo) - now <= RENEW_BEFORE_MS) return false;
    return coversHosts(cert, hosts);
  } catch {
    return false; // unreadable: issue a new one
  }
}

/** True when `cert`'s SANs cover every host (IPs compared as addresses, names exactly). */
export function coversHosts(cert: X509Certificate, hosts: { ips: string[]; dns: string[] }): boolean {
  return (
    hosts.ips.every((ip) => cert.checkIP(ip) !== undefined) &&
    hosts.dns.every((name) => cert.checkHost(name, { subject: 'never', wildcards: false }) !== undefined)
  );
}

/** Generates the self-signed CA: 10 years, CN keelson-ca, CA:TRUE, keyCertSign + cRLSign. */
async function generateCa(now: number): Promise<Ca> {
  const keys = (await subtle().generateKey(EC_KEY, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialNumber(),
      name: `CN=${CA_COMMON_NAME}`,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + CA_VALIDITY_MS),
      signingAlgorithm: EC_SIGN,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, globalThis.crypto),
      ],
    },
    globalThis.crypto,
  );
  const certPem = cert.toString('pem');
  return {
    certPem,
    keyPem: await exportKeyPem(keys.privateKey),
    signingKey: keys.privateKey,
    signingAlgorithm: EC_SIGN,
    cert,
    node: new X509Certificate(certPem),
  };
}

/**
 * Issues a serving certificate from `ca`: a fresh key, 1 year (never past the CA's own expiry),
 * CN keelson-apiserver, the hosts as IP/DNS SANs, serverAuth, digitalSignature + keyEncipherment.
 */
async function issueServingCert(ca: Ca, hosts: Hosts, now: number): Promise<{ certPem: string; keyPem: string }> {
  const keys = (await subtle().generateKey(EC_KEY, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const caSki = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const aki = caSki
    ? new x509.AuthorityKeyIdentifierExtension(caSki, false)
    : await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey, false, globalThis.crypto);
  const sans: x509.JsonGeneralNames = [
    ...hosts.dns.map((value) => ({ type: 'dns' as const, value })),
    ...hosts.ips.map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialNumber(),
      subject: `CN=${SERVING_COMMON_NAME}`,
      issuer: ca.cert.subjectName, // the CA's encoded name as is, so chain building matches bytes
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(Math.min(now + SERVING_VALIDITY_MS, ca.cert.notAfter.getTime())),
      signingAlgorithm: ca.signingAlgorithm,
      signingKey: ca.signingKey,
      publicKey: keys.publicKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension(sans, false),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, globalThis.crypto),
        aki,
      ],
    },
    globalThis.crypto,
  );
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

/** A random positive 128-bit serial number (hex), as RFC 5280 asks (unique, ≤ 20 octets). */
function serialNumber(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40; // positive, no leading zero octet
  return b.toString('hex');
}

/** Exports a WebCrypto private key as PKCS#8 PEM. */
async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await subtle().exportKey('pkcs8', key));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}
