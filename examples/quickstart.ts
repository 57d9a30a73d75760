/**
 * Quick start: keelson's store on embedded SQLite, used exactly like the Kubernetes API.
 *
 *   npm run quickstart             # runs this file against ./.keelson/quickstart.db
 *   KEELSON_STORE=memory: npm run quickstart
 *
 * It creates ConfigMaps, watches them, shows optimistic concurrency (a stale write is a 409
 * Conflict, retried on the fresh object), lists with a label selector and a page size, and
 * deletes — printing what happens at each step.
 */
import { ConfigMap, connect, isConflict, isNotFound, type WatchEvent } from '../lib/index.js';

const store = process.env.KEELSON_STORE ?? 'sqlite:./.keelson/quickstart.db';
const namespace = 'default';

function configMap(name: string, data: Record<string, string>, labels: Record<string, string>): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels }, data };
}

async function main(): Promise<void> {
  const client = await connect({ store });
  console.log(`connected to ${store}`);
  try {
    // Start from a clean slate: a previous run may have left objects behind (the store is durable).
    for (const name of ['web-config', 'db-config', 'cache-config']) {
      await client.delete(ConfigMap, name, { namespace }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }

    // Watch from "now": the list's resourceVersion is where the watch resumes.
    const start = await client.list(ConfigMap, { namespace });
    const stop = new AbortController();
    const seen: WatchEvent<ConfigMap>[] = [];
    const watching = (async () => {
      for await (const event of client.watch(ConfigMap, { namespace, resourceVersion: start.metadata.resourceVersion!, signal: stop.signal })) {
        seen.push(event);
        console.log(`  watch: ${event.type.padEnd(8)} ${event.object.metadata?.name} rv=${event.object.metadata?.resourceVersion}`);
      }
    })();

    const web = await client.create(configMap('web-config', { replicas: '2' }, { app: 'web', tier: 'front' }));
    await client.create(configMap('db-config', { engine: 'sqlite' }, { app: 'db', tier: 'back' }));
    await client.create(configMap('cache-config', { size: '64Mi' }, { app: 'cache', tier: 'back' }));
    console.log(`created web-config at resourceVersion ${web.metadata?.resourceVersion}`);

    // Optimistic concurrency: someone else updates first; our stale copy is refused with 409.
    await client.patch(ConfigMap, 'web-config', { data: { replicas: '3' } }, { namespace });
    try {
      await client.update({ ...web, data: { replicas: '5' } });
    } catch (err) {
      if (!isConflict(err)) throw err;
      console.log(`stale update refused: ${(err as Error).message}`);
      const fresh = await client.get(ConfigMap, 'web-config', { namespace });
      const updated = await client.update({ ...fresh, data: { ...fresh.data, replicas: '5' } });
      console.log(`retried on the fresh copy: replicas=${updated.data?.replicas} rv=${updated.metadata?.resourceVersion}`);
    }

    // Selectors and pagination.
    const back = await client.list(ConfigMap, { namespace, labelSelector: 'tier=back' });
    console.log(`tier=back: ${back.items.map((i) => i.metadata?.name).join(', ')}`);
    const page = await client.list(ConfigMap, { namespace, limit: 2 });
    const rest = await client.list(ConfigMap, { namespace, limit: 2, continue: page.metadata.continue! });
    console.log(`paged: [${page.items.map((i) => i.metadata?.name)}] then [${rest.items.map((i) => i.metadata?.name)}]`);

    await client.delete(ConfigMap, 'db-config', { namespace });

    // Wait (with a deadline) until the watch has seen all six changes, then stop it.
    const deadline = Date.now() + 5000;
    while (seen.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    stop.abort();
    await watching;
    console.log(`watch saw ${seen.length} events: ${seen.map((e) => e.type).join(' ')}`);
  } finally {
    await client.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
