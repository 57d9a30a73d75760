/**
 * Loading user modules for `keelson run` and `keelson crds`: import each file and collect the
 * controller classes (`@Controller`), scheduler plugins (`@SchedulerPlugin`) and custom kinds
 * (`@Resource`) it exports — including kinds a controller names in `for`/`owns`/`@Watches`
 * without exporting them.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Newable } from 'inversify';
import { resourceInfoOf, type KindRef } from '../lib/api/resources.js';
import { controllerMetadata, isController, isResource, resourceOptionsOf } from '../lib/runtime/decorators.js';
import { schedulerPluginOptions } from '../controllers/scheduler/framework.js';

/** What a set of modules provides. */
export interface LoadedModules {
  controllers: Newable[];
  /** `@Resource` classes (deduplicated), each with CRD options. */
  resources: unknown[];
  /** `@SchedulerPlugin` classes, for the built-in scheduler (`--controllers scheduler`). */
  schedulerPlugins: Newable[];
}

/** A user error: printed as one line, exit code 1. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Imports the modules and collects what they export. */
export async function loadModules(paths: readonly string[]): Promise<LoadedModules> {
  const controllers: Newable[] = [];
  const schedulerPlugins: Newable[] = [];
  const resources = new Set<unknown>();
  for (const path of paths) {
    const file = resolve(path);
    if (!existsSync(file)) throw new CliError(`cannot load module ${path}: no such file (${file})`);
    let exports: Record<string, unknown>;
    try {
      exports = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    } catch (err) {
      throw new CliError(`cannot load module ${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
    for (const value of Object.values(exports)) {
      if (isController(value)) controllers.push(value as Newable);
      else if (schedulerPluginOptions(value)) schedulerPlugins.push(value as Newable);
      else if (isResource(value) && resourceOptionsOf(value)) resources.add(value);
    }
  }
  // Kinds a controller names count too, when they are @Resource classes.
  for (const cls of controllers) {
    const meta = controllerMetadata(cls);
    const named: KindRef[] = [meta.options.for, ...(meta.options.owns ?? []), ...meta.watches.map((w) => w.kind)];
    for (const kind of named) if (resourceInfoOf(kind) && resourceOptionsOf(kind)) resources.add(kind);
  }
  return { controllers, resources: [...resources], schedulerPlugins };
}
