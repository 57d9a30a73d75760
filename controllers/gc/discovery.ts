/**
 * Which kinds exist: the garbage collector watches every kind the source serves that can be
 * listed, watched and deleted (Events excepted, as kube's `--gc-ignored-resources` default), and
 * resolves the kind named by an ownerReference to know whether that owner lives in a namespace.
 *
 * Sources that offer discovery (`serverResources()`, proposed for the Client) answer every served
 * kind. Until every Client offers it, the served kinds are the built-in kinds keelson exports
 * plus the custom kinds of the Established CustomResourceDefinitions — which both keelson's store
 * and a Kubernetes cluster answer through the ordinary Client.
 */
import { CustomResourceDefinition, defineResource, apiVersionOf, type Client, type ResourceInfo } from '../../lib/index.js';

/** A Client that can list every kind its source serves (the proposed discovery accessor). */
interface DiscoveringClient {
  serverResources?(): Promise<ResourceInfo[]>;
}

/** The built-in kinds keelson serves, for sources without discovery. */
const BUILTIN_KINDS: readonly ResourceInfo[] = [
  defineResource({ version: 'v1', kind: 'Pod' }),
  defineResource({ version: 'v1', kind: 'Service' }),
  defineResource({ version: 'v1', kind: 'Endpoints', plural: 'endpoints' }),
  defineResource({ version: 'v1', kind: 'ReplicationController' }),
  defineResource({ version: 'v1', kind: 'ConfigMap' }),
  defineResource({ version: 'v1', kind: 'Secret' }),
  defineResource({ version: 'v1', kind: 'Namespace', namespaced: false }),
  defineResource({ version: 'v1', kind: 'Node', namespaced: false }),
  defineResource({ group: 'coordination.k8s.io', version: 'v1', kind: 'Lease' }),
  defineResource({ group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', namespaced: false }),
];

/** Kinds the garbage collector never watches (kube's default ignored resources). */
const IGNORED_KINDS = new Set(['/Event', 'events.k8s.io/Event']);

/** `group/Kind`, the version-independent name of a kind. */
export function groupKind(apiVersion: string, kind: string): string {
  const slash = apiVersion.lastIndexOf('/');
  return `${slash < 0 ? '' : apiVersion.slice(0, slash)}/${kind}`;
}

/** The served kinds by group and kind, whatever the version an ownerReference names. */
export class KindTable {
  private readonly byGroupKind = new Map<string, ResourceInfo>();

  constructor(
    /** Every served kind. */
    readonly kinds: readonly ResourceInfo[],
  ) {
    for (const info of kinds) {
      const key = groupKind(apiVersionOf(info), info.kind);
      if (!this.byGroupKind.has(key)) this.byGroupKind.set(key, info);
    }
  }

  /** The served kind an `apiVersion` + `kind` names (any version of the group), if any. */
  resolve(apiVersion: string, kind: string): ResourceInfo | undefined {
    return this.byGroupKind.get(groupKind(apiVersion, kind));
  }

  /** True if some version of `group`/`kind` is served. */
  servesGroupKind(group: string, kind: string): boolean {
    return this.byGroupKind.has(`${group}/${kind}`);
  }

  /** The kinds to watch: listable, watchable, deletable, not ignored. */
  monitorable(): ResourceInfo[] {
    return this.kinds.filter(
      (info) => ['list', 'watch', 'delete'].every((verb) => info.verbs.includes(verb)) && !IGNORED_KINDS.has(groupKind(apiVersionOf(info), info.kind)),
    );
  }
}

/** The served kinds of a custom resource definition: its storage version (or first served one), once Established. */
function crdKind(crd: CustomResourceDefinition): ResourceInfo | undefined {
  const spec = crd.spec;
  if (!spec) return undefined;
  const established = crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
  const version = spec.versions.find((v) => v.storage && v.served) ?? spec.versions.find((v) => v.served);
  if (!established || !version) return undefined;
  return defineResource({
    group: spec.group,
    version: version.name,
    kind: spec.names.kind,
    plural: spec.names.plural,
    namespaced: spec.scope !== 'Cluster',
  });
}

/** Every kind the client's source serves (see the file header). */
export async function discoverKinds(client: Client): Promise<KindTable> {
  const discovering = client as Client & DiscoveringClient;
  if (typeof discovering.serverResources === 'function') return new KindTable(await discovering.serverResources());
  const crds = await client.list(CustomResourceDefinition);
  return new KindTable([...BUILTIN_KINDS, ...crds.items.flatMap((crd) => crdKind(crd) ?? [])]);
}
