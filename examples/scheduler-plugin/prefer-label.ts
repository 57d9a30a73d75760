/**
 * A scheduler plugin of your own, next to kube's defaults: pods that carry the annotation
 * `example.com/prefer-node-label: <key>=<value>` prefer nodes with that label, and a node labelled
 * `example.com/draining=true` takes no new pods at all (a filter, with a reason that shows in the
 * pod's `PodScheduled=False` message).
 *
 * Run it with the built-in scheduler (compiled first with `npx tsc -p .`):
 *
 *   npx keelson run --module dist/examples/scheduler-plugin/prefer-label.js --controllers scheduler
 *
 * (`keelson up` runs its own scheduler: start it with `--controllers '*,-scheduler'` so that this
 * one does the placing.) In a program of your own, bind the class to `SchedulerPlugins` in the
 * manager's container before adding the `Scheduler` controller.
 */
import type { NodeInfo, SchedulerPluginImpl } from '../../controllers/scheduler/index.js';
import { SchedulerPlugin } from '../../controllers/scheduler/index.js';
import type { Pod } from '../../lib/index.js';

/** The pod annotation naming the preferred node label, `key=value`. */
export const PREFER_ANNOTATION = 'example.com/prefer-node-label';
/** Nodes labelled with this (`true`) take no new pods. */
export const DRAINING_LABEL = 'example.com/draining';

/** See the file header. Weight 10: a preferred node wins over the default plugins' small differences. */
@SchedulerPlugin({ name: 'PreferLabel', weight: 10 })
export class PreferLabel implements SchedulerPluginImpl {
  /** Nodes being drained are out. */
  filter(_pod: Pod, node: NodeInfo): { reason: string } | undefined {
    return node.node.metadata?.labels?.[DRAINING_LABEL] === 'true' ? { reason: 'node(s) were being drained' } : undefined;
  }

  /** 100 for a node with the preferred label, 0 otherwise (and 0 everywhere without the annotation). */
  score(pod: Pod, node: NodeInfo): number {
    const wanted = pod.metadata?.annotations?.[PREFER_ANNOTATION];
    if (!wanted) return 0;
    const [key = '', value = ''] = wanted.split('=', 2);
    return node.node.metadata?.labels?.[key] === value ? 100 : 0;
  }
}
