/**
 * The apiserver's PKI: a CA and serving certificate generated on first start with the right
 * extensions, reused on later starts, the serving certificate re-issued from the same CA when a
 * host is added or it nears expiry; key files private; and a real TLS handshake with Node's
 * https client verifying the chain and the host name or IP.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { expect } from 'chai';
import { X509Certificate, generateKeyPairSync, type webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CA_VALIDITY_MS, SERVING_VALIDITY_MS, ensurePki, type Pki } from '../../lib/apiserver/pki.js';

const DAY = 24 * 60 * 60 * 1000;
const HOSTS = ['127.0.0.1', 'localhost'];

/** Starts an https server with `pki`'s serving certificate on `host`:0, answering "ok". */
async function serve(pki: Pick<Pki, 'serverCert' | 'serverKey'>, host = '127.0.0.1'): Promise<{ server: Server; port: number }> {
  const server = createServer({ cert: pki.serverCert, key: pki.serverKey }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** GETs https://host:port/ with the given TLS options; resolves the body or rejects with the TLS error. */
function get(host: string, port: number, tls: { ca?: string; servername?: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/', method: 'GET', agent: false, ...tls }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

async function tlsError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
  throw new Error('expected the TLS handshake to fail');
}

describe('apiserver PKI', function () {
  this.timeout(20_000);
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keelson-pki-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('generates a CA and a serving certificate signed by it on first start', async () => {
    const before = Date.now();
    const pki = await ensurePki(dir, { hosts: [...HOSTS, '127.0.0.5'] });
    expect(pki.issued).to.deep.equal({ ca: true, serving: true });
    expect(pki.dir).to.equal(dir);

    const ca = new X509Certificate(pki.caCert);
    expect(ca.ca).to.equal(true);
    expect(ca.subject).to.equal('CN=keelson-ca');
    expect(ca.issuer).to.equal('CN=keelson-ca');
    expect(ca.verify(ca.publicKey)).to.equal(true);
    expect(Date.parse(ca.validTo) - before).to.be.within(CA_VALIDITY_MS - 60_000, CA_VALIDITY_MS + 60_000);
    const caExt = new x509.X509Certificate(pki.caCert);
    const caBc = caExt.getExtension(x509.BasicConstraintsExtension);
    expect(caBc?.ca).to.equal(true);
    expect(caBc?.critical).to.equal(true);
    const caKu = caExt.getExtension(x509.KeyUsagesExtension);
    expect(caKu?.usages).to.equal(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);

    const cert = new X509Certificate(pki.serverCert);
    expect(cert.ca).to.equal(false);
    expect(cert.subject).to.equal('CN=keelson-apiserver');
    expect(cert.checkIssued(ca)).to.equal(true);
    expect(cert.verify(ca.publicKey)).to.equal(true);
    expect(cert.publicKey.asymmetricKeyType).to.equal('ec');
    expect(Date.parse(cert.validTo) - before).to.be.within(SERVING_VALIDITY_MS - 60_000, SERVING_VALIDITY_MS + 60_000);
    expect(Date.parse(cert.validFrom)).to.be.at.most(before);
    expect(cert.subjectAltName).to.equal('DNS:localhost, IP Address:127.0.0.1, IP Address:127.0.0.5');
    expect(cert.keyUsage).to.deep.equal(['1.3.6.1.5.5.7.3.1']); // extKeyUsage serverAuth
    const certExt = new x509.X509Certificate(pki.serverCert);
    expect(certExt.getExtension(x509.KeyUsagesExtension)?.usages).to.equal(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
    );
    expect(certExt.getExtension(x509.BasicConstraintsExtension)?.ca).to.equal(false);
    expect(certExt.serialNumber).to.not.equal(caExt.serialNumber);

    for (const f of ['ca.crt', 'ca.key', 'apiserver.crt', 'apiserver.key']) {
      expect(statSync(join(dir, f)).isFile(), f).to.equal(true);
    }
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).to.equal(pki.caCert);
    expect(readFileSync(join(dir, 'apiserver.crt'), 'utf8')).to.equal(pki.serverCert);
    expect(readFileSync(join(dir, 'apiserver.key'), 'utf8')).to.equal(pki.serverKey);
  });

  it('writes the keys with mode 0600 and leaves no temporary files', async () => {
    await ensurePki(dir, { hosts: HOSTS });
    expect(statSync(join(dir, 'ca.key')).mode & 0o777).to.equal(0o600);
    expect(statSync(join(dir, 'apiserver.key')).mode & 0o777).to.equal(0o600);
    expect(statSync(join(dir, 'ca.crt')).mode & 0o777).to.equal(0o644);
    expect(statSync(join(dir, 'apiserver.crt')).mode & 0o777).to.equal(0o644);
    expect(readdirSync(dir).sort()).to.deep.equal(['apiserver.crt', 'apiserver.key', 'ca.crt', 'ca.key']);
  });

  it('reuses the CA and serving certificate on later starts', async () => {
    const first = await ensurePki(dir, { hosts: HOSTS });
    const second = await ensurePki(dir, { hosts: HOSTS });
    expect(second.issued).to.deep.equal({ ca: false, serving: false });
    expect(second.caCert).to.equal(first.caCert);
    expect(second.serverCert).to.equal(first.serverCert);
    expect(second.serverKey).to.equal(first.serverKey);
    // A subset of the covered hosts, in another spelling, needs nothing new either.
    const third = await ensurePki(dir, { hosts: ['LOCALHOST', '[127.0.0.1]'] });
    expect(third.issued.serving).to.equal(false);
  });

  it('re-issues the serving certificate from the same CA when a host is added', async () => {
    const first = await ensurePki(dir, { hosts: HOSTS });
    const caKey = readFileSync(join(dir, 'ca.key'), 'utf8');
    const second = await ensurePki(dir, { hosts: [...HOSTS, '127.0.0.9', 'keelson.example'] });
    expect(second.issued).to.deep.equal({ ca: false, serving: true });
    expect(second.caCert).to.equal(first.caCert);
    expect(readFileSync(join(dir, 'ca.key'), 'utf8')).to.equal(caKey);
    expect(second.serverCert).to.not.equal(first.serverCert);
    expect(second.serverKey).to.not.equal(first.serverKey);
    const cert = new X509Certificate(second.serverCert);
    expect(cert.checkIssued(new X509Certificate(first.caCert))).to.equal(true);
    for (const ip of ['127.0.0.1', '127.0.0.9']) expect(cert.checkIP(ip), ip).to.equal(ip);
    for (const name of ['localhost', 'keelson.example']) expect(cert.checkHost(name), name).to.equal(name);
    expect(readFileSync(join(dir, 'apiserver.crt'), 'utf8')).to.equal(second.serverCert);
  });

  it('re-issues the serving certificate when it expires within 30 days', async () => {
    const now = Date.now();
    const first = await ensurePki(dir, { hosts: HOSTS });
    const later = await ensurePki(dir, { hosts: HOSTS, clock: { now: () => now + 300 * DAY } });
    expect(later.issued.serving).to.equal(false);
    const renewed = await ensurePki(dir, { hosts: HOSTS, clock: { now: () => now + 340 * DAY } });
    expect(renewed.issued).to.deep.equal({ ca: false, serving: true });
    expect(renewed.caCert).to.equal(first.caCert);
    const cert = new X509Certificate(renewed.serverCert);
    expect(Date.parse(cert.validTo)).to.be.greaterThan(now + 700 * DAY);
  });

  it('re-issues a serving certificate whose key does not match', async () => {
    const first = await ensurePki(dir, { hosts: HOSTS });
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(dir, 'apiserver.key'), other.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    const second = await ensurePki(dir, { hosts: HOSTS });
    expect(second.issued).to.deep.equal({ ca: false, serving: true });
    expect(second.caCert).to.equal(first.caCert);
  });

  it('refuses to replace a CA whose key is missing', async () => {
    await ensurePki(dir, { hosts: HOSTS });
    unlinkSync(join(dir, 'ca.key'));
    let error: Error | undefined;
    await ensurePki(dir, { hosts: HOSTS }).catch((e: Error) => (error = e));
    expect(error?.message).to.match(/ca\.key is missing/);
  });

  it('signs with a CA placed in the directory by hand (RSA key)', async () => {
    // A CA made outside keelson (here with node:crypto + @peculiar/x509, as an operator might with openssl).
    const keys = (await globalThis.crypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    )) as webcrypto.CryptoKeyPair;
    const caCert = await x509.X509CertificateGenerator.createSelfSigned({
      name: 'CN=corp-ca, O=Example',
      keys,
      notAfter: new Date(Date.now() + 100 * DAY),
      signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5' },
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    }, globalThis.crypto);
    const der = Buffer.from(await globalThis.crypto.subtle.exportKey('pkcs8', keys.privateKey));
    writeFileSync(join(dir, 'ca.crt'), caCert.toString('pem'));
    writeFileSync(join(dir, 'ca.key'), x509.PemConverter.encode(der, 'PRIVATE KEY'), { mode: 0o600 });
    const pki = await ensurePki(dir, { hosts: HOSTS });
    expect(pki.issued).to.deep.equal({ ca: false, serving: true });
    const cert = new X509Certificate(pki.serverCert);
    expect(cert.checkIssued(new X509Certificate(pki.caCert))).to.equal(true);
    // Never valid past the CA.
    expect(Date.parse(cert.validTo)).to.be.at.most(caCert.notAfter.getTime());
    const { server, port } = await serve(pki);
    try {
      expect(await get('127.0.0.1', port, { ca: pki.caCert })).to.equal('ok');
    } finally {
      await close(server);
    }
  });

  it('covers IPv6 addresses, skips wildcards and rejects garbage hosts', async () => {
    const pki = await ensurePki(dir, { hosts: ['::1', '0.0.0.0', '::', 'localhost'] });
    const cert = new X509Certificate(pki.serverCert);
    expect(cert.checkIP('::1')).to.not.equal(undefined);
    expect(cert.checkIP('0.0.0.0')).to.equal(undefined);
    const again = await ensurePki(dir, { hosts: ['[0:0:0:0:0:0:0:1]', 'localhost'] });
    expect(again.issued.serving).to.equal(false);
    let error: Error | undefined;
    await ensurePki(dir, { hosts: ['not a host!'] }).catch((e: Error) => (error = e));
    expect(error?.message).to.match(/neither an IP address nor a DNS name/);
  });

  describe('a real TLS handshake', () => {
    let pki: Pki;
    let server: Server;
    let port: number;

    beforeEach(async () => {
      pki = await ensurePki(dir, { hosts: HOSTS });
      ({ server, port } = await serve(pki));
    });
    afterEach(async () => close(server));

    it('verifies the chain and the IP 127.0.0.1 with the CA', async () => {
      expect(await get('127.0.0.1', port, { ca: pki.caCert })).to.equal('ok');
    });

    it('verifies the name localhost with the CA', async () => {
      expect(await get('127.0.0.1', port, { ca: pki.caCert, servername: 'localhost' })).to.equal('ok');
    });

    it('rejects a name the certificate does not cover', async () => {
      expect(await tlsError(get('127.0.0.1', port, { ca: pki.caCert, servername: 'example.com' }))).to.equal(
        'ERR_TLS_CERT_ALTNAME_INVALID',
      );
    });

    it('rejects the server without the CA', async () => {
      expect(await tlsError(get('127.0.0.1', port, {}))).to.be.oneOf([
        'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
        'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
        'SELF_SIGNED_CERT_IN_CHAIN',
      ]);
    });

    it('rejects the server with another CA', async () => {
      const otherDir = mkdtempSync(join(tmpdir(), 'keelson-pki-other-'));
      try {
        const other = await ensurePki(otherDir, { hosts: HOSTS });
        expect(await tlsError(get('127.0.0.1', port, { ca: other.caCert }))).to.be.oneOf([
          'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
          'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
        ]);
      } finally {
        rmSync(otherDir, { recursive: true, force: true });
      }
    });

    it('keeps clients that trust the CA working after a re-issue for a new bind address', async () => {
      const caBefore = pki.caCert;
      const reissued = await ensurePki(dir, { hosts: [...HOSTS, '127.0.0.2'] });
      expect(reissued.issued.serving).to.equal(true);
      const second = await serve(reissued, '127.0.0.2');
      try {
        expect(await get('127.0.0.2', second.port, { ca: caBefore })).to.equal('ok');
      } finally {
        await close(second.server);
      }
    });
  });
});
