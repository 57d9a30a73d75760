/**
 * `keelson crds`: one `crds/<plural>.<group>.yaml` per `@Resource` class of the modules.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crdFileName, crdYaml } from '../lib/runtime/crd-gen.js';
import { CliError, loadModules } from './modules.js';

/** Options of `keelson crds`. */
export interface CrdsOptions {
  module: string[];
  out: string;
}

/** Writes the CRD files; prints each path. */
export async function crdsCommand(options: CrdsOptions): Promise<void> {
  const { resources } = await loadModules(options.module);
  if (resources.length === 0) throw new CliError(`no @Resource classes exported by ${options.module.join(', ')}`);
  mkdirSync(options.out, { recursive: true });
  for (const cls of resources) {
    const path = join(options.out, crdFileName(cls));
    writeFileSync(path, crdYaml(cls));
    process.stdout.write(`${path}\n`);
  }
}
