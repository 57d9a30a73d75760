/**
 * The existing-cluster source: the same Client, over any Kubernetes API server — keelson's own
 * (`keelson up` writes `.keelson/kubeconfig`) or a real cluster.
 *
 *   npx keelson up &                                     # or any cluster in ~/.kube/config
 *   node dist/examples/cluster-watch.js --kubeconfig .keelson/kubeconfig [--context C] [--once]
 *
 * It lists the pods of every namespace, then follows their changes. The watch survives what a
 * bare client-node watch does not: a dropped connection or a server error resumes from the last
 * resourceVersion; a resourceVersion too old to resume arrives as an ERROR event (410), on which
 * this program relists — exactly what an informer does for you in a controller.
 */
import { connect, isExpired, Pod, type KubeObject } from '../lib/index.js';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function line(pod: KubeObject & { status?: { phase?: string }; spec?: { nodeName?: string } }): string {
  return `${pod.metadata?.namespace}/${pod.metadata?.name} ${pod.status?.phase ?? '?'}${pod.spec?.nodeName ? ` on ${pod.spec.nodeName}` : ''}`;
}

async function main(): Promise<void> {
  const kubeconfig = flag('kubeconfig');
  const context = flag('context');
  const client = await connect({ ...(kubeconfig ? { kubeconfig } : {}), ...(context ? { context } : {}) });
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  try {
    while (!stop.signal.aborted) {
      const list = await client.list(Pod);
      console.log(`${list.items.length} pods at resourceVersion ${list.metadata.resourceVersion}`);
      for (const pod of list.items) console.log(`  ${line(pod)}`);
      if (process.argv.includes('--once')) return;
      let expired = false;
      for await (const event of client.watch(Pod, { resourceVersion: list.metadata.resourceVersion!, signal: stop.signal })) {
        if (event.type === 'ERROR') {
          expired = isExpired({ status: event.object });
          console.log(`watch ended: ${(event.object as { message?: string }).message}`);
          break;
        }
        if (event.type !== 'BOOKMARK') console.log(`${event.type.padEnd(8)} ${line(event.object)}`);
      }
      if (!expired) return; // aborted (Ctrl-C); an expired watch relists
    }
  } finally {
    await client.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
