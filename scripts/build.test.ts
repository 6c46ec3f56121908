// The bundles' licenses.txt: every package a bundle holds code of is listed with its license text. ncc's own --license
// missed the modules webpack concatenates (every ES module package), so these check what a reviewer would: a fresh
// bundle of an ES module package and a CommonJS one lists both, and each committed bundle in dist/ lists every
// package its code names as a module.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nccBuild } from './build';

const root = resolve(import.meta.dirname, '..');
const work = join(root, '.tmp', `build-test-${process.pid}`);
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The package names listed in a licenses.txt (each entry opens with `name version`). */
function listed(text: string): Set<string> {
  const names = new Set<string>();
  for (const entry of text.split(/\n-{70}\n\n/)) {
    const first = entry.split('\n')[0] ?? '';
    names.add(first.slice(0, first.lastIndexOf(' ')));
  }
  return names;
}

describe('licenses.txt', () => {
  it('lists an ES module package webpack concatenates and a CommonJS one, each with its license text', () => {
    mkdirSync(work, { recursive: true });
    const entry = join(work, 'entry.ts');
    writeFileSync(
      entry,
      [
        "import * as core from '@actions/core';",
        "import dockerignore from '@balena/dockerignore';",
        "core.info(String(dockerignore().add(['*.md']).ignores('a.md')));",
      ].join('\n'),
    );
    const packages = nccBuild(entry, join(work, 'out'));
    const text = readFileSync(join(work, 'out', 'licenses.txt'), 'utf8');
    expect(packages.map((p) => p.name)).toEqual(
      expect.arrayContaining(['@actions/core', '@balena/dockerignore']),
    );
    expect(listed(text)).toEqual(new Set(packages.map((p) => p.name)));
    const core = text.split(/\n-{70}\n\n/).find((e) => e.startsWith('@actions/core '));
    expect(core).toContain('MIT');
    expect(core).toContain('Permission is hereby granted');
    const balena = text.split(/\n-{70}\n\n/).find((e) => e.startsWith('@balena/dockerignore '));
    expect(balena).toContain('Apache License');
  }, 120_000);

  it('of every bundle in dist/ lists each package whose modules the bundle names', () => {
    const dist = join(root, 'dist');
    for (const name of readdirSync(dist)) {
      const dir = join(dist, name);
      const licenses = listed(readFileSync(join(dir, 'licenses.txt'), 'utf8'));
      const named = new Set<string>();
      for (const file of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
        const code = readFileSync(join(dir, file), 'utf8');
        for (const m of code.matchAll(
          /^;?\/\/ (?:CONCATENATED|EXTERNAL) MODULE: \.\/node_modules\/((?:@[^/]+\/)?[^/]+)\//gm,
        )) {
          named.add(m[1] as string);
        }
      }
      expect(named.size, `${name}: no module comments found`).toBeGreaterThan(0);
      const missing = [...named].filter((n) => !licenses.has(n));
      expect(missing, `dist/${name}/licenses.txt misses packages its bundle holds`).toEqual([]);
    }
  });
});
