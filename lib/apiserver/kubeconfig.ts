/**
 * The kubeconfig `keelson up` writes for kubectl and for `keelson run`: one cluster (the
 * apiserver's https URL and its CA), one user (a bearer token) and one context joining them,
 * selected as `current-context`. Also the atomic file write every secret file here uses
 * (kubeconfig, token, keys): a reader sees the old file or the new one, never half of one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';

/**
 * Writes `data` to `path` atomically: a temporary file in the same directory is written with
 * `mode`, flushed to disk, and renamed over `path` (rename within one filesystem is atomic).
 * Creates the parent directory (mode 0700) if missing. The temporary file is removed on failure.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    try {
      await fh.chmod(mode); // open()'s mode is filtered by the umask; make it exact
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  // Persist the rename itself; not every platform can open a directory, so this is best effort.
  const dh = await open(dir, 'r').catch(() => undefined);
  if (dh) await dh.sync().catch(() => undefined).finally(() => dh.close());
}

/** Options of {@link writeKubeconfig}. */
export interface KubeconfigOptions {
  /** The apiserver URL, e.g. `https://127.0.0.1:6443`. */
  server: string;
  /** The cluster CA certificate (PEM); stored base64-encoded as `certificate-authority-data`. */
  caCert: string;
  /** The bearer token kubectl sends as `Authorization: Bearer <token>`. */
  token: string;
  /** Context name, also the `current-context`. Default `keelson`. */
  context?: string;
  /** Cluster entry name. Default `keelson`. */
  cluster?: string;
  /** User entry name. Default `keelson-admin`. */
  user?: string;
  /** Default namespace of the context; omitted when not given (kubectl then uses `default`). */
  namespace?: string;
}

/** The subset of the kubeconfig (`kind: Config`) schema keelson writes and reads. */
export interface Kubeconfig {
  /** Always `v1`. */
  apiVersion: string;
  /** Always `Config`. */
  kind: string;
  /** Named clusters: where the apiserver is and which CA to trust. */
  clusters: Array<{ name: string; cluster: { server: string; 'certificate-authority-data'?: string } }>;
  /** Named users: the credentials. */
  users: Array<{ name: string; user: { token?: string } }>;
  /** Named contexts: a cluster, a user and a default namespace. */
  contexts: Array<{ name: string; context: { cluster: string; user: string; namespace?: string } }>;
  /** The context kubectl uses when no `--context` is given. */
  'current-context': string;
  /** kubectl preferences (empty). */
  preferences?: Record<string, unknown>;
}

/** Builds the kubeconfig object for `options` (without writing it). */
export function buildKubeconfig(options: KubeconfigOptions): Kubeconfig {
  const { server, caCert, token } = options;
  const contextName = options.context ?? 'keelson';
  const clusterName = options.cluster ?? 'keelson';
  const userName = options.user ?? 'keelson-admin';
  if (!/^https?:\/\//.test(server)) throw new Error(`kubeconfig server must be an http(s) URL, got ${JSON.stringify(server)}`);
  if (!token) throw new Error('kubeconfig token must not be empty');
  if (!caCert.includes('-----BEGIN CERTIFICATE-----')) throw new Error('kubeconfig caCert must be a PEM certificate');
  const context: Kubeconfig['contexts'][number]['context'] = { cluster: clusterName, user: userName };
  if (options.namespace) context.namespace = options.namespace;
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: clusterName,
        cluster: { server, 'certificate-authority-data': Buffer.from(caCert, 'utf8').toString('base64') },
      },
    ],
    users: [{ name: userName, user: { token } }],
    contexts: [{ name: contextName, context }],
    'current-context': contextName,
    preferences: {},
  };
}

/**
 * Writes a kubeconfig for `options` to `path`, atomically (temporary file in the same directory,
 * then rename) and with mode 0600: it holds a credential. An existing file is replaced, not merged.
 */
export async function writeKubeconfig(path: string, options: KubeconfigOptions): Promise<void> {
  const doc = buildKubeconfig(options);
  await writeFileAtomic(path, stringify(doc, { lineWidth: 0 }), 0o600);
}

/** Reads and parses a kubeconfig file (as written by {@link writeKubeconfig}). */
export async function readKubeconfig(path: string): Promise<Kubeconfig> {
  const doc: unknown = parse(await readFile(path, 'utf8'));
  if (!doc || typeof doc !== 'object' || (doc as { kind?: unknown }).kind !== 'Config') {
    throw new Error(`${path} is not a kubeconfig (kind: Config)`);
  }
  return doc as Kubeconfig;
}
