/**
 * The layering of DESIGN.md, enforced: `lib/` never imports controllers, examples, the CLI,
 * tests or benchmarks, and inside `lib/` each layer imports only the layers below it.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** What each folder of lib/ may import from lib/ (besides itself). */
const ALLOWED: Record<string, string[]> = {
  util: [],
  api: ['util'],
  storage: ['util'],
  registry: ['api', 'storage', 'util'],
  client: ['api', 'registry', 'storage', 'util'],
  apiserver: ['api', 'registry', 'storage', 'util'],
  runtime: ['api', 'client', 'util'],
  testing: ['api', 'apiserver', 'client', 'registry', 'runtime', 'storage', 'util'],
  '.': ['api', 'apiserver', 'client', 'registry', 'runtime', 'storage', 'util', 'testing'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g)].map((m) => m[1]!);
  return specifiers.filter((s) => s.startsWith('.'));
}

describe('Layering', () => {
  const files = sourceFiles(join(root, 'lib'));

  it('finds the library sources', () => {
    expect(files.length).to.be.greaterThan(20);
  });

  it('lib/ imports nothing outside lib/', () => {
    const offenders = files.flatMap((file) =>
      relativeImports(file)
        .map((s) => relative(root, resolve(dirname(file), s)))
        .filter((target) => !target.startsWith('lib/') && !target.startsWith('lib\\'))
        .map((target) => `${relative(root, file)} → ${target}`),
    );
    expect(offenders).to.deep.equal([]);
  });

  it('each lib/ layer imports only the layers below it', () => {
    const layerOf = (path: string) => {
      const rel = relative(join(root, 'lib'), path).split(/[\\/]/);
      return rel.length === 1 ? '.' : rel[0]!;
    };
    const offenders: string[] = [];
    for (const file of files) {
      const layer = layerOf(file);
      const allowed = ALLOWED[layer];
      expect(allowed, `layer ${layer} has no rule`).to.not.equal(undefined);
      for (const specifier of relativeImports(file)) {
        const target = layerOf(resolve(dirname(file), specifier));
        if (target !== layer && !allowed!.includes(target)) offenders.push(`${relative(root, file)} (${layer}) → ${specifier} (${target})`);
      }
    }
    expect(offenders).to.deep.equal([]);
  });

  it('controllers/ use only the public entry of lib/ (lib/index.ts), as a user would', () => {
    const controllerFiles = sourceFiles(join(root, 'controllers'));
    expect(controllerFiles.length).to.be.greaterThan(0);
    const offenders = controllerFiles.flatMap((file) =>
      relativeImports(file)
        .map((s) => relative(root, resolve(dirname(file), s)))
        .filter((target) => !target.startsWith('controllers/') && target !== 'lib/index.js')
        .map((target) => `${relative(root, file)} → ${target}`),
    );
    expect(offenders).to.deep.equal([]);
  });
});
