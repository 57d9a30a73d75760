/**
 * The kubeconfig keelson writes: its shape, the atomic write with mode 0600, and the real
 * client — kubectl v1.32 reads it, verifies the generated CA over TLS and sends the bearer token
 * to a small https server started here.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ensureToken } from '../../lib/apiserver/auth.js';
import { readKubeconfig, writeFileAtomic, writeKubeconfig } from '../../lib/apiserver/kubeconfig.js';
import { ensurePki, type Pki } from '../../lib/apiserver/pki.js';

const KUBECTL = '/usr/bin/kubectl';
const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';

describe('apiserver kubeconfig', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keelson-kubeconfig-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes one cluster, user and context, selected as current-context', async () => {
    const path = join(dir, 'kubeconfig');
    await writeKubeconfig(path, { server: 'https://127.0.0.1:6443', caCert: CA, token: 'tok-123' });
    const kc = await readKubeconfig(path);
    expect(kc).to.deep.equal({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'keelson', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': Buffer.from(CA).toString('base64') } }],
      users: [{ name: 'keelson-admin', user: { token: 'tok-123' } }],
      contexts: [{ name: 'keelson', context: { cluster: 'keelson', user: 'keelson-admin' } }],
      'current-context': 'keelson',
      preferences: {},
    });
    // Plain YAML any tool can read.
    expect(parse(readFileSync(path, 'utf8'))).to.deep.equal(kc);
  });

  it('honours custom names and a namespace', async () => {
    const path = join(dir, 'kc.yaml');
    await writeKubeconfig(path, {
      server: 'https://10.0.0.5:7443', caCert: CA, token: 't', context: 'dev', cluster: 'c1', user: 'u1', namespace: 'team-a',
    });
    const kc = await readKubeconfig(path);
    expect(kc['current-context']).to.equal('dev');
    expect(kc.contexts).to.deep.equal([{ name: 'dev', context: { cluster: 'c1', user: 'u1', namespace: 'team-a' } }]);
    expect(kc.clusters[0]?.name).to.equal('c1');
    expect(kc.users[0]?.name).to.equal('u1');
  });

  it('writes with mode 0600, creating the directory, and leaves no temporary file', async () => {
    const path = join(dir, 'nested', 'deeper', 'kubeconfig');
    await writeKubeconfig(path, { server: 'https://127.0.0.1:6443', caCert: CA, token: 't' });
    expect(statSync(path).mode & 0o777).to.equal(0o600);
    expect(readdirSync(join(dir, 'nested', 'deeper'))).to.deep.equal(['kubeconfig']);
  });

  it('replaces an existing file by rename, never in place', async () => {
    const path = join(dir, 'kubeconfig');
    writeFileSync(path, 'old: content\n');
    chmodSync(path, 0o644);
    const inodeBefore = statSync(path).ino;
    await writeKubeconfig(path, { server: 'https://127.0.0.1:6443', caCert: CA, token: 'new' });
    const after = statSync(path);
    expect(after.ino).to.not.equal(inodeBefore); // a new file was renamed over the old one
    expect(after.mode & 0o777).to.equal(0o600);
    expect((await readKubeconfig(path)).users[0]?.user.token).to.equal('new');
    expect(readdirSync(dir)).to.deep.equal(['kubeconfig']);
  });

  it('leaves the target untouched and removes its temporary file when the rename fails', async () => {
    const path = join(dir, 'target');
    mkdirSync(join(path, 'child'), { recursive: true }); // renaming a file over a non-empty directory fails
    let error: NodeJS.ErrnoException | undefined;
    await writeFileAtomic(path, 'data').catch((e: NodeJS.ErrnoException) => (error = e));
    expect(error?.code).to.be.oneOf(['EISDIR', 'ENOTEMPTY', 'EEXIST', 'ENOTDIR']);
    expect(readdirSync(dir)).to.deep.equal(['target']);
    expect(readdirSync(path)).to.deep.equal(['child']);
  });

  it('rejects options that cannot make a working kubeconfig', async () => {
    const path = join(dir, 'kubeconfig');
    for (const bad of [
      { server: '127.0.0.1:6443', caCert: CA, token: 't' },
      { server: 'https://127.0.0.1:6443', caCert: 'not pem', token: 't' },
      { server: 'https://127.0.0.1:6443', caCert: CA, token: '' },
    ]) {
      let error: Error | undefined;
      await writeKubeconfig(path, bad).catch((e: Error) => (error = e));
      expect(error, JSON.stringify(bad)).to.be.instanceOf(Error);
    }
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it('readKubeconfig refuses a file that is not a kubeconfig', async () => {
    const path = join(dir, 'x.yaml');
    writeFileSync(path, 'kind: Pod\n');
    let error: Error | undefined;
    await readKubeconfig(path).catch((e: Error) => (error = e));
    expect(error?.message).to.match(/not a kubeconfig/);
  });

  describe('with kubectl', function () {
    this.timeout(30_000);
    let pki: Pki;
    let token: string;
    let server: Server | undefined;
    let seen: Array<{ path: string; authorization: string | undefined }>;

    /** A tiny https "apiserver": /version for a valid token, 401 Status otherwise; records requests. */
    async function start(material: Pick<Pki, 'serverCert' | 'serverKey'>): Promise<number> {
      seen = [];
      server = createServer({ cert: material.serverCert, key: material.serverKey }, (req, res) => {
        const path = new URL(req.url ?? '/', 'https://x').pathname; // kubectl adds ?timeout=…
        seen.push({ path, authorization: req.headers.authorization });
        res.setHeader('Content-Type', 'application/json');
        if (req.headers.authorization !== `Bearer ${token}`) {
          res.statusCode = 401;
          res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 }));
        } else if (path === '/version') {
          res.end(JSON.stringify({ major: '1', minor: '32', gitVersion: 'v1.32.0', platform: 'linux/amd64' }));
        } else {
          res.statusCode = 404;
          res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'NotFound', code: 404 }));
        }
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(0, '127.0.0.1', resolve);
      });
      return (server.address() as AddressInfo).port;
    }

    function kubectl(kubeconfig: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
      return new Promise((resolve) => {
        const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir };
        execFile(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), '--request-timeout', '10s', ...args],
          { env, timeout: 20_000 }, (err, stdout, stderr) => {
            resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
          });
      });
    }

    beforeEach(async () => {
      pki = await ensurePki(join(dir, 'pki'), { hosts: ['127.0.0.1', 'localhost'] });
      token = await ensureToken(dir);
    });
    afterEach(async () => {
      if (!server) return;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
      server = undefined;
    });

    it('verifies the generated CA and sends the bearer token', async () => {
      const port = await start(pki);
      const path = join(dir, 'kubeconfig');
      await writeKubeconfig(path, { server: `https://127.0.0.1:${port}`, caCert: pki.caCert, token });
      expect(readFileSync(path, 'utf8')).to.not.contain('insecure-skip-tls-verify');
      const r = await kubectl(path, 'version', '-o', 'json');
      expect(r.code, r.stderr).to.equal(0);
      const out = JSON.parse(r.stdout) as { serverVersion?: { major: string; minor: string; gitVersion: string } };
      expect(out.serverVersion).to.include({ major: '1', minor: '32', gitVersion: 'v1.32.0' });
      const version = seen.filter((s) => s.path === '/version');
      expect(version).to.have.length.greaterThan(0);
      for (const s of seen) expect(s.authorization).to.equal(`Bearer ${token}`);
    });

    it('reaches the server by name (localhost) as well', async () => {
      const port = await start(pki);
      const path = join(dir, 'kubeconfig');
      await writeKubeconfig(path, { server: `https://localhost:${port}`, caCert: pki.caCert, token });
      const r = await kubectl(path, 'version', '-o', 'json');
      expect(r.code, r.stderr).to.equal(0);
      expect(seen.some((s) => s.path === '/version' && s.authorization === `Bearer ${token}`)).to.equal(true);
    });

    it('fails, sending nothing, when the kubeconfig trusts another CA', async () => {
      const port = await start(pki);
      const other = await ensurePki(join(dir, 'other-pki'), { hosts: ['127.0.0.1'] });
      const path = join(dir, 'kubeconfig');
      await writeKubeconfig(path, { server: `https://127.0.0.1:${port}`, caCert: other.caCert, token });
      const r = await kubectl(path, 'version', '-o', 'json');
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.match(/certificate signed by unknown authority|x509/);
      expect(seen).to.deep.equal([]);
    });

    it('keeps working after the serving certificate is re-issued for a new host', async () => {
      const path = join(dir, 'kubeconfig');
      const port = await start(pki);
      await writeKubeconfig(path, { server: `https://127.0.0.1:${port}`, caCert: pki.caCert, token });
      await new Promise<void>((resolve) => server!.close(() => resolve()));
      const reissued = await ensurePki(join(dir, 'pki'), { hosts: ['127.0.0.1', 'localhost', '127.0.0.3'] });
      expect(reissued.issued).to.deep.equal({ ca: false, serving: true });
      const port2 = await start(reissued);
      await writeKubeconfig(path, { server: `https://127.0.0.1:${port2}`, caCert: pki.caCert, token }); // the old CA
      const r = await kubectl(path, 'version', '-o', 'json');
      expect(r.code, r.stderr).to.equal(0);
      expect(seen.some((s) => s.path === '/version' && s.authorization === `Bearer ${token}`)).to.equal(true);
    });
  });
});
