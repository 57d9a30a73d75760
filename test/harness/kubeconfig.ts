/**
 * A kubeconfig for tests that talk to a plain-HTTP API server without credentials (keelson's
 * `writeKubeconfig` is for `keelson up`'s HTTPS server with a CA and a token).
 */
import { writeFileSync } from 'node:fs';

/** Writes to `path` a kubeconfig whose only context reaches `server` (an `http://` URL) with no credentials. */
export function writePlainKubeconfig(path: string, server: string): void {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server } }],
    users: [{ name: 'test', user: {} }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
    'current-context': 'test',
  };
  writeFileSync(path, JSON.stringify(config));
}
