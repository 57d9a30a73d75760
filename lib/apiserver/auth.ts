/**
 * Authentication for the apiserver: a static bearer token (as kube-apiserver's
 * `--token-auth-file`, with one generated admin token), the 401 Status kube answers without
 * one, the health paths that stay public, and the rule that a non-loopback bind address needs
 * both TLS and a token (kubectl never sends a token over plain http).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { BlockList, isIPv6 } from 'node:net';
import { join } from 'node:path';
import { writeFileAtomic } from './kubeconfig.js';

/** File name of the token inside the directory given to {@link ensureToken}. */
export const TOKEN_FILE = 'token';

/** The user a valid token authenticates as, unless {@link AuthenticatorOptions.user} says otherwise. */
export const DEFAULT_USER = 'keelson-admin';

/**
 * Returns the apiserver's admin token, stored in `dir/token` (mode 0600): read when present,
 * otherwise a new random 256-bit token (base64url, 43 characters) written atomically. The same
 * token is returned on every restart, so kubeconfigs written earlier keep working.
 */
export async function ensureToken(dir: string): Promise<string> {
  const path = join(dir, TOKEN_FILE);
  const existing = await readFile(path, 'utf8').then(
    (s) => s.trim(),
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    },
  );
  if (existing !== undefined) {
    if (!/^[A-Za-z0-9_\-.~+/=]{32,}$/.test(existing)) {
      throw new Error(`${path} does not hold a valid token (at least 32 URL-safe characters); delete it to generate a new one`);
    }
    await tightenMode(path);
    return existing;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  await writeFileAtomic(path, `${token}\n`, 0o600);
  return token;
}

/** Makes an existing secret file private (0600) if its mode lets others read it; best effort. */
export async function tightenMode(path: string): Promise<void> {
  const st = await stat(path);
  if ((st.mode & 0o077) !== 0) await chmod(path, 0o600).catch(() => undefined);
}

/** Who a request authenticated as. */
export interface UserInfo {
  /** The user name (kube's `user.Info.GetName()`). */
  user: string;
}

/**
 * Authenticates one request from its `Authorization` header: the user for a valid
 * `Bearer <token>`, `undefined` for a missing, malformed or unknown token.
 */
export type Authenticator = (authorizationHeader: string | undefined) => UserInfo | undefined;

/** Options of {@link createAuthenticator}. */
export interface AuthenticatorOptions {
  /** The accepted bearer tokens (e.g. from {@link ensureToken}); none means every request fails. */
  tokens: string[];
  /** The user every accepted token maps to. Default {@link DEFAULT_USER}. */
  user?: string;
}

/**
 * Creates a bearer-token {@link Authenticator}. The scheme is matched case-insensitively (as
 * kube's bearertoken authenticator); tokens are compared in constant time — both sides are
 * hashed with SHA-256 and compared with `crypto.timingSafeEqual`, against every configured token
 * without stopping early, so neither the content nor the length of a token leaks through timing.
 */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const user = options.user ?? DEFAULT_USER;
  const digests = options.tokens.map((t) => {
    if (!t) throw new Error('createAuthenticator: tokens must not be empty strings');
    return sha256(t);
  });
  return (header) => {
    if (header === undefined) return undefined;
    const match = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
    const token = match?.[1];
    if (!token) return undefined;
    const presented = sha256(token);
    let ok = false;
    for (const d of digests) ok = timingSafeEqual(presented, d) || ok;
    return ok ? { user } : undefined;
  };
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** A Kubernetes `Status` object, as kube-apiserver returns it on failure. */
export interface UnauthorizedStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: 'Unauthorized';
  reason: 'Unauthorized';
  code: 401;
}

/** The body kube-apiserver sends with a 401 (byte-for-byte the same fields). */
export function unauthorizedStatus(): UnauthorizedStatus {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'Unauthorized',
    reason: 'Unauthorized',
    code: 401,
  };
}

const PUBLIC_ROOTS = new Set(['healthz', 'livez', 'readyz']);

/**
 * True for the paths served without a token: `/healthz`, `/livez`, `/readyz` and their
 * per-check sub-paths (`/readyz/ping`, `/healthz/poststarthook/x`); a query string is ignored.
 * Anything else — including look-alikes such as `/healthzx`, `.`/`..` segments or
 * percent-encoded paths, which a router might resolve elsewhere — is not public.
 */
export function isPublicPath(path: string): boolean {
  const q = path.search(/[?#]/);
  const p = q < 0 ? path : path.slice(0, q);
  if (!p.startsWith('/')) return false;
  const segments = p.slice(1).split('/');
  if (!PUBLIC_ROOTS.has(segments[0] ?? '')) return false;
  const rest = segments.slice(1);
  if (rest.length > 0 && rest[rest.length - 1] === '') rest.pop(); // one trailing slash
  return rest.every((s) => /^[A-Za-z0-9_.:-]+$/.test(s) && s !== '.' && s !== '..');
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/**
 * True when `address` is a loopback address: in 127.0.0.0/8, `::1` (in any spelling, also
 * IPv4-mapped `::ffff:127.x.y.z`), or the name `localhost`. Wildcards (`0.0.0.0`, `::`), other
 * addresses and other names are not.
 */
export function isLoopbackAddress(address: string): boolean {
  const a = address.trim().replace(/^\[(.*)\]$/, '$1');
  if (a.toLowerCase() === 'localhost') return true;
  try {
    return loopback.check(a, isIPv6(a) ? 'ipv6' : 'ipv4');
  } catch {
    return false; // not an IP address
  }
}

/** Options of {@link checkBindSafety}. */
export interface BindSafetyOptions {
  /** The address the apiserver will listen on. */
  bindAddress: string;
  /** Whether it serves HTTPS. */
  tls: boolean;
  /** Whether it requires a bearer token. */
  token: boolean;
}

/**
 * Refuses (throws) to serve the API on a non-loopback address unless it is served over TLS and
 * requires a token: anyone who can reach the address could otherwise read and write every
 * object. Loopback addresses (127.0.0.0/8, ::1) are always allowed.
 */
export function checkBindSafety(options: BindSafetyOptions): void {
  const { bindAddress, tls, token } = options;
  if (isLoopbackAddress(bindAddress)) return;
  if (tls && token) return;
  const missing = [!tls && 'TLS', !token && 'a bearer token'].filter(Boolean).join(' and ');
  throw new Error(
    `refusing to serve the API on non-loopback address ${JSON.stringify(bindAddress)} without ${missing}: ` +
      'anyone who can reach it could read and change every object. Serve HTTPS with a token, ' +
      'or bind to a loopback address (127.0.0.1 or ::1).',
  );
}
