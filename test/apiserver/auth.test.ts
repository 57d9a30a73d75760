/**
 * Apiserver authentication: the generated admin token (random, private, stable across restarts),
 * the bearer-token authenticator, kube's 401 Status, the public health paths, and the refusal to
 * serve a non-loopback address without TLS and a token.
 */
import { expect } from 'chai';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkBindSafety,
  createAuthenticator,
  ensureToken,
  isLoopbackAddress,
  isPublicPath,
  unauthorizedStatus,
} from '../../lib/apiserver/auth.js';

describe('apiserver auth', () => {
  describe('ensureToken', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'keelson-auth-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('generates a random 256-bit base64url token stored with mode 0600', async () => {
      const token = await ensureToken(dir);
      expect(token).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token, 'base64url')).to.have.length(32);
      expect(readFileSync(join(dir, 'token'), 'utf8').trim()).to.equal(token);
      expect(statSync(join(dir, 'token')).mode & 0o777).to.equal(0o600);
      expect(readdirSync(dir)).to.deep.equal(['token']);
    });

    it('reuses the token on restart', async () => {
      const first = await ensureToken(dir);
      expect(await ensureToken(dir)).to.equal(first);
    });

    it('differs between data directories', async () => {
      const other = join(dir, 'other');
      expect(await ensureToken(join(dir, 'one'))).to.not.equal(await ensureToken(other));
      expect(statSync(other).mode & 0o777).to.equal(0o700);
    });

    it('makes a readable existing token file private', async () => {
      writeFileSync(join(dir, 'token'), 'x'.repeat(40) + '\n');
      chmodSync(join(dir, 'token'), 0o644);
      expect(await ensureToken(dir)).to.equal('x'.repeat(40));
      expect(statSync(join(dir, 'token')).mode & 0o777).to.equal(0o600);
    });

    it('rejects a token file that holds no usable token', async () => {
      writeFileSync(join(dir, 'token'), 'short\n', { mode: 0o600 });
      let error: Error | undefined;
      await ensureToken(dir).catch((e: Error) => (error = e));
      expect(error?.message).to.match(/does not hold a valid token/);
    });
  });

  describe('createAuthenticator', () => {
    const token = 'Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5';
    const authn = createAuthenticator({ tokens: [token] });

    it('accepts the token as a Bearer credential', () => {
      expect(authn(`Bearer ${token}`)).to.deep.equal({ user: 'keelson-admin' });
    });

    it('matches the scheme case-insensitively and ignores surrounding whitespace', () => {
      expect(authn(`bearer ${token}`)).to.deep.equal({ user: 'keelson-admin' });
      expect(authn(`  BEARER   ${token}  `)).to.deep.equal({ user: 'keelson-admin' });
    });

    it('rejects a missing, empty or malformed header', () => {
      expect(authn(undefined)).to.equal(undefined);
      expect(authn('')).to.equal(undefined);
      expect(authn('Bearer')).to.equal(undefined);
      expect(authn('Bearer ')).to.equal(undefined);
      expect(authn(token)).to.equal(undefined);
      expect(authn(`Basic ${Buffer.from(`admin:${token}`).toString('base64')}`)).to.equal(undefined);
      expect(authn(`Bearer ${token} extra`)).to.equal(undefined);
    });

    it('rejects a wrong token of any length', () => {
      expect(authn(`Bearer ${token.slice(0, -1)}X`)).to.equal(undefined);
      expect(authn(`Bearer ${token.slice(0, -1)}`)).to.equal(undefined);
      expect(authn(`Bearer ${token}A`)).to.equal(undefined);
      expect(authn('Bearer a')).to.equal(undefined);
    });

    it('accepts any of several tokens and maps them to the configured user', () => {
      const multi = createAuthenticator({ tokens: ['first-token-0123456789', 'second-token-0123456789'], user: 'ops' });
      expect(multi('Bearer first-token-0123456789')).to.deep.equal({ user: 'ops' });
      expect(multi('Bearer second-token-0123456789')).to.deep.equal({ user: 'ops' });
      expect(multi('Bearer third-token-0123456789')).to.equal(undefined);
    });

    it('accepts nothing without tokens, and refuses an empty token', () => {
      expect(createAuthenticator({ tokens: [] })('Bearer anything')).to.equal(undefined);
      expect(() => createAuthenticator({ tokens: [''] })).to.throw(/empty/);
    });
  });

  it('unauthorizedStatus is kube-apiserver 401 Status body', () => {
    expect(unauthorizedStatus()).to.deep.equal({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    });
    expect(unauthorizedStatus()).to.not.equal(unauthorizedStatus()); // a fresh object each time
  });

  describe('isPublicPath', () => {
    it('is true for the health endpoints and their checks', () => {
      for (const p of ['/healthz', '/livez', '/readyz', '/readyz/', '/healthz/ping', '/livez/log', '/readyz/etcd',
        '/healthz/poststarthook/start-apiextensions-controllers', '/readyz?verbose', '/livez/ping?exclude=etcd']) {
        expect(isPublicPath(p), p).to.equal(true);
      }
    });

    it('is false for everything else', () => {
      for (const p of ['/', '', 'healthz', '/version', '/api', '/apis', '/api/v1/namespaces/default/pods', '/openapi/v2',
        '/healthzz', '/readyz-x', '/metrics', '/healthz/../api/v1/secrets', '/readyz/./x', '/livez//x',
        '/healthz/%2e%2e/api', '/api/v1/healthz', '/HEALTHZ']) {
        expect(isPublicPath(p), p).to.equal(false);
      }
    });
  });

  describe('checkBindSafety', () => {
    it('allows loopback addresses without TLS or a token', () => {
      for (const bindAddress of ['127.0.0.1', '127.1.0.3', '127.255.255.254', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost']) {
        expect(isLoopbackAddress(bindAddress), bindAddress).to.equal(true);
        expect(() => checkBindSafety({ bindAddress, tls: false, token: false }), bindAddress).to.not.throw();
      }
    });

    it('refuses a non-loopback address without both TLS and a token', () => {
      for (const bindAddress of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.2', '128.0.0.1', '::2', 'example.com', '']) {
        expect(isLoopbackAddress(bindAddress), bindAddress).to.equal(false);
        expect(() => checkBindSafety({ bindAddress, tls: false, token: false })).to.throw(/without TLS and a bearer token/);
        expect(() => checkBindSafety({ bindAddress, tls: true, token: false })).to.throw(/without a bearer token/);
        expect(() => checkBindSafety({ bindAddress, tls: false, token: true })).to.throw(/without TLS:/);
      }
    });

    it('allows a non-loopback address with TLS and a token', () => {
      expect(() => checkBindSafety({ bindAddress: '0.0.0.0', tls: true, token: true })).to.not.throw();
      expect(() => checkBindSafety({ bindAddress: '10.0.0.5', tls: true, token: true })).to.not.throw();
    });

    it('names the address and the way out in its error', () => {
      expect(() => checkBindSafety({ bindAddress: '0.0.0.0', tls: false, token: false })).to.throw(
        /"0\.0\.0\.0".*bind to a loopback address/s,
      );
    });
  });
});
