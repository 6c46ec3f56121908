// Every runtime dependency in package.json has a user in the code: a package nothing imports is weight in every
// install and a supply-chain risk for nothing (issue 24). Dev dependencies are tools, run by name; not checked here.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const SOURCE_DIRS = ['actions', 'shared', 'cli', 'oidc-broker', 'scripts'];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/** The packages a source imports (static, dynamic and side-effect imports), by package name. */
export function importedPackages(text: string): Set<string> {
  const found = new Set<string>();
  // `from 'x'`, `import('x')`, `import 'x'`, `require('x')` and `createRequire(...)('x')`.
  const re = /(?:from\s+|import\s*\(\s*|import\s+|require\s*\(\s*|\)\(\s*)'([^'./][^']*)'/g;
  for (const m of text.matchAll(re)) {
    const spec = m[1] as string;
    if (spec.startsWith('node:')) continue;
    const parts = spec.split('/');
    found.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string));
  }
  return found;
}

describe('package.json dependencies', () => {
  it('reads static, dynamic and side-effect imports, scoped or not', () => {
    const text = [
      "import * as core from '@actions/core';",
      "const { DefaultArtifactClient } = await import('@actions/artifact');",
      "import 'reflect-metadata';",
      "import { parse } from 'yaml/util';",
      "import { x } from './local';",
      "import { y } from 'node:fs';",
      "const Database = createRequire(import.meta.url)('better-sqlite3');",
    ].join('\n');
    expect([...importedPackages(text)].sort()).toEqual([
      '@actions/artifact',
      '@actions/core',
      'better-sqlite3',
      'reflect-metadata',
      'yaml',
    ]);
  });

  it('every runtime dependency is imported by the actions, the CLI, the broker or the scripts', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const used = new Set<string>();
    for (const dir of SOURCE_DIRS)
      for (const file of sources(join(root, dir)))
        for (const p of importedPackages(readFileSync(file, 'utf8'))) used.add(p);
    const unused = Object.keys(pkg.dependencies).filter((d) => !used.has(d));
    expect(unused, `dependencies no source imports: remove them with npm uninstall`).toEqual([]);
  });
});
