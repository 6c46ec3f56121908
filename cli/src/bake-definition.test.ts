// `depot bake` under the bake action: the action has read the definition (`docker buildx bake --print`) and hands
// it over in the file DEPOT_BAKE_DEFINITION names, so the step runs `--print` once. The bundled CLI, with the
// docker stand-in on PATH recording its probes (`bake --print` among them) and a stub cache registry.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BAKE_DEFINITION_ENV } from '../../shared/contract/bake';
import { bundlePath } from '../../test/support/bundles';
import { projectToken } from '../test/tokens';

let bundle = '';
let server: Server;
let host = '';
beforeAll(async () => {
  bundle = bundlePath('cli');
  server = createServer((_req, res) => {
    res.writeHead(200);
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

function sandbox() {
  const dir = mkdtempSync(join(tmpdir(), 'depot-bake-def-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  copyFileSync(resolve(import.meta.dirname, '../../test/support/standins/docker'), join(bin, 'docker'));
  chmodSync(join(bin, 'docker'), 0o755);
  mkdirSync(join(dir, 'tmp'));
  const probes = join(dir, 'probes.jsonl');
  const record = join(dir, 'record.jsonl');
  const env: NodeJS.ProcessEnv = {
    PATH: `${bin}:${process.env.PATH ?? ''}`,
    HOME: dir,
    TMPDIR: join(dir, 'tmp'),
    STANDIN_PROBES: probes,
    STANDIN_RECORD: record,
  };
  const lines = (file: string): Array<{ args: string[] }> =>
    existsSync(file)
      ? readFileSync(file, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { args: string[] })
      : [];
  return { dir, env, probes: () => lines(probes), calls: () => lines(record) };
}

function depot(
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [bundle, ...args], {
      env,
      cwd,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => done({ code, stderr }));
  });
}

const isPrint = (p: { args: string[] }) =>
  p.args[0] === 'buildx' && p.args[1] === 'bake' && p.args.includes('--print');

describe('depot bake and the definition the bake action read', () => {
  it('with DEPOT_BAKE_DEFINITION it runs no `bake --print` and takes the targets from the file', async () => {
    const s = sandbox();
    const token = await projectToken({ cache: `${host}/cache/web` });
    const file = join(s.dir, 'definition.json');
    // Targets the docker stand-in's own --print would never name: the cache flags can only come from the file.
    writeFileSync(file, JSON.stringify({ target: { api: { tags: ['r/api:1'] }, web: {} } }));
    const r = await depot(
      ['bake', 'api', 'web'],
      { ...s.env, DEPOT_TOKEN: token, [BAKE_DEFINITION_ENV]: file },
      s.dir,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(s.probes().filter(isPrint)).toEqual([]);
    const [bake] = s.calls();
    expect(bake?.args).toEqual(
      expect.arrayContaining(['--set', `api.cache-from+=type=registry,ref=${host}/cache/web:api`]),
    );
    expect(bake?.args).toEqual(
      expect.arrayContaining(['--set', `web.cache-from+=type=registry,ref=${host}/cache/web:web`]),
    );
  });

  it('without it (depot bake run by hand) it reads the definition itself, once', async () => {
    const s = sandbox();
    const token = await projectToken({ cache: `${host}/cache/web` });
    const r = await depot(['bake', 'app'], { ...s.env, DEPOT_TOKEN: token }, s.dir);
    expect(r.code, r.stderr).toBe(0);
    expect(s.probes().filter(isPrint)).toHaveLength(1);
  });

  it('a file that cannot be read fails in one line, before buildx runs', async () => {
    const s = sandbox();
    const token = await projectToken({ cache: `${host}/cache/web` });
    const gone = join(s.dir, 'gone.json');
    const r = await depot(
      ['bake', 'app'],
      { ...s.env, DEPOT_TOKEN: token, [BAKE_DEFINITION_ENV]: gone },
      s.dir,
    );
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('depot: error:'))).toEqual([
      `depot: error: ${BAKE_DEFINITION_ENV} names ${gone}, which cannot be read: unset it to let depot bake read the definition itself.`,
    ]);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(s.calls()).toEqual([]);
  });
});
