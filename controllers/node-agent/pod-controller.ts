/**
 * The node agent's controller: a {@link PodWorker} declared as a keelson controller for the pods
 * bound to one node. The kubelet's view of the cluster is exactly that — an informer on
 * `spec.nodeName=<node>` — so the selector names the node, and the class is made per node.
 */
import type { Newable } from 'inversify';
import { Controller, Pod } from '../../lib/index.js';
import { PodWorker, type PodWorkerContext } from './pod-worker.js';

/** The controller's name in logs and metrics. */
export const NODE_AGENT_CONTROLLER = 'node-agent';

/**
 * A controller class for the pods of `context.nodeName`, reconciled `concurrency` at a time (a
 * slow pod — a long graceful kill, a slow API write — does not hold up the others).
 */
export function nodePodController(context: PodWorkerContext, concurrency = 8): Newable<PodWorker> {
  @Controller({ for: Pod, name: NODE_AGENT_CONTROLLER, fieldSelector: `spec.nodeName=${context.nodeName}`, concurrency })
  class NodePodController extends PodWorker {
    constructor() {
      super(context);
    }
  }
  return NodePodController;
}
