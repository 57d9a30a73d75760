/**
 * CustomResourceDefinitions generated from `@Resource` classes: the names and scope from the
 * decorator, the openAPIV3Schema from the `@Field`s, the status and scale subresources, and the
 * printer columns. `keelson crds` writes them to `crds/<plural>.<group>.yaml`; `keelson run
 * --store` installs them so custom kinds are served without an API server.
 */
import { stringify } from 'yaml';
import { isAlreadyExists, isNotFound } from '../api/errors.js';
import { CustomResourceDefinition } from '../api/kinds.js';
import type { Client } from '../client/client.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { StructuralSchema } from '../api/schema.js';
import { apiVersionOf, resourceInfoOf } from '../api/resources.js';
import { resourceOptionsOf } from './decorators.js';
import { classSchema } from './schema-decorators.js';

/** The CRD of a `@Resource` class. */
export function crdFor(cls: unknown): CustomResourceDefinition {
  const info = resourceInfoOf(cls);
  const options = resourceOptionsOf(cls);
  if (!info || !options) throw new TypeError(`${(cls as { name?: string })?.name ?? String(cls)} is not a @Resource class`);
  const body = classSchema(cls as never, info.kind);
  const schema: StructuralSchema & { description?: string } = {
    type: 'object',
    ...(options.description ? { description: options.description } : {}),
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      ...(body.properties ?? {}),
    },
    ...((body as { required?: string[] }).required ? { required: (body as { required?: string[] }).required } : {}),
  } as StructuralSchema;
  const subresources: Record<string, unknown> = {};
  if (info.subresources.status) subresources.status = {};
  if (info.subresources.scale) subresources.scale = { ...info.subresources.scale };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${info.plural}.${info.group}` },
    spec: {
      group: info.group,
      names: {
        kind: info.kind,
        listKind: info.listKind,
        plural: info.plural,
        singular: info.singular,
        ...(info.shortNames.length ? { shortNames: info.shortNames } : {}),
        ...(info.categories.length ? { categories: info.categories } : {}),
      },
      scope: info.namespaced ? 'Namespaced' : 'Cluster',
      versions: [
        {
          name: info.version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: schema },
          ...(Object.keys(subresources).length ? { subresources } : {}),
          ...(options.printerColumns?.length ? { additionalPrinterColumns: options.printerColumns } : {}),
        },
      ],
    },
  } as CustomResourceDefinition;
}

/** The CRD of a `@Resource` class as a YAML document. */
export function crdYaml(cls: unknown): string {
  return stringify(crdFor(cls), { lineWidth: 0 });
}

/** The file name `keelson crds` writes a class's CRD to: `<plural>.<group>.yaml`. */
export function crdFileName(cls: unknown): string {
  const info = resourceInfoOf(cls);
  if (!info) throw new TypeError('not a @Resource class');
  return `${info.plural}.${info.group}.yaml`;
}

/**
 * Creates (or updates) the CRDs of `@Resource` classes through any Client and waits until each
 * kind is served — a list of it stops answering 404 — at most `timeoutMs` per kind.
 */
export async function installCrds(client: Client, resources: readonly unknown[], options: { timeoutMs?: number; clock?: Clock } = {}): Promise<void> {
  const clock = options.clock ?? systemClock;
  const timeoutMs = options.timeoutMs ?? 10_000;
  for (const cls of resources) {
    const crd = crdFor(cls);
    try {
      await client.create(crd);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      const current = await client.get(CustomResourceDefinition, crd.metadata!.name!);
      await client.update({ ...crd, metadata: { ...crd.metadata, resourceVersion: current.metadata!.resourceVersion! } });
    }
    const info = resourceInfoOf(cls)!;
    const kind = { apiVersion: apiVersionOf(info), kind: info.kind };
    const deadline = clock.now() + timeoutMs;
    for (;;) {
      try {
        await client.list(kind, { limit: 1 });
        break;
      } catch (err) {
        if (!isNotFound(err)) throw err;
        if (clock.now() > deadline) throw new Error(`kind ${info.kind} (${kind.apiVersion}) was not served within ${timeoutMs} ms after its CRD was installed`);
        await clock.sleep(10);
      }
    }
  }
}
