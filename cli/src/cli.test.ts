// The bundled CLI (dist/cli/index.js after npm test's dist check, else a fresh build: test/support/bundles.ts) as a
// user runs it, with a stand-in `docker` on
// PATH that records what depot runs: refusals come before anything runs, and no secret reaches the output.
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
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import pkg from '../../package.json';
import { bundlePath } from '../../test/support/bundles';
import { projectToken } from '../test/tokens';

let bundle = '';
beforeAll(() => {
  bundle = bundlePath('cli');
});

interface Call {
  args: string[];
  dockerConfig?: string;
  depotToken: string | null;
  config: { auths?: Record<string, { auth: string }> } | null;
  signal?: string;
}

function sandbox() {
  const dir = mkdtempSync(join(tmpdir(), 'depot-cli-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  copyFileSync(resolve(import.meta.dirname, '../../test/support/standins/docker'), join(bin, 'docker'));
  chmodSync(join(bin, 'docker'), 0o755);
  const ctx = join(dir, 'ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\n');
  const log = join(dir, 'calls.jsonl');
  const env: NodeJS.ProcessEnv = {
    PATH: `${bin}:${process.env.PATH ?? ''}`,
    HOME: dir,
    STANDIN_RECORD: log,
    TMPDIR: join(dir, 'tmp'),
  };
  mkdirSync(join(dir, 'tmp'));
  const calls = (): Call[] =>
    existsSync(log)
      ? readFileSync(log, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Call)
      : [];
  return { dir, ctx, env, calls };
}

/** Async: the test's own servers must keep answering while depot runs. */
function depot(
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd?: string,
): Promise<{ code: number | null; out: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [bundle, ...args], {
      env,
      cwd: cwd ?? env.HOME,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => done({ code, out: `${stdout}${stderr}`, stderr }));
  });
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function registry(): Promise<number> {
  const server = createServer((_req, res) => {
    res.writeHead(200);
    res.end('{}');
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

describe('depot (bundle)', () => {
  it('prints its version', async () => {
    const s = sandbox();
    expect((await depot(['version'], s.env)).out.trim()).toBe(`depot ${pkg.version}`);
  });

  it('refuses an expired token in one line, before running anything, without printing it', async () => {
    const s = sandbox();
    const token = await projectToken({ expiresIn: -5 });
    const r = await depot(['build', s.ctx], { ...s.env, DEPOT_TOKEN: token });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^depot: error: DEPOT_TOKEN \(or --token\) expired at /);
    expect(r.out).not.toContain(token);
    expect(s.calls()).toEqual([]);
  });

  it('exits 69 when the cache registry cannot be reached, before running buildx', async () => {
    const s = sandbox();
    const token = await projectToken({ cache: '127.0.0.1:1/cache/web' });
    const r = await depot(['build', '--debug', s.ctx], { ...s.env, DEPOT_TOKEN: token });
    expect(r.code).toBe(69);
    expect(r.stderr).toContain('The cache registry 127.0.0.1:1 cannot be reached');
    expect(r.out).not.toContain(token);
    expect(s.calls()).toEqual([]);
  });

  it('builds with no token: no cache flags, a warning, depot.build in the metadata file', async () => {
    const s = sandbox();
    const meta = join(s.dir, 'meta.json');
    const r = await depot(['build', '--metadata-file', meta, '-t', 'x', s.ctx], s.env);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('no project token: building locally with no project cache');
    expect(s.calls()[0]?.args).toEqual(['buildx', 'build', '--metadata-file', meta, '-t', 'x', s.ctx]);
    const json = JSON.parse(readFileSync(meta, 'utf8')) as Record<string, unknown>;
    expect(json['containerimage.digest']).toBe('sha256:abc');
    expect(json['depot.build']).toMatchObject({ projectID: '', isolated: false });
    expect(r.stderr).toContain(`build ID ${(json['depot.build'] as { buildID: string }).buildID}`);
  });

  it('a failed build still writes depot.build into the metadata file, and exits with buildx status', async () => {
    const s = sandbox();
    const meta = join(s.dir, 'meta.json');
    const r = await depot(['build', '--metadata-file', meta, s.ctx], { ...s.env, STANDIN_DOCKER_EXIT: '3' });
    expect(r.code).toBe(3);
    const json = JSON.parse(readFileSync(meta, 'utf8')) as Record<string, unknown>;
    expect(json['depot.build']).toMatchObject({ projectID: '', isolated: false });
    expect(r.stderr).toContain(`build ID ${(json['depot.build'] as { buildID: string }).buildID}`);
  });

  it('a failed bake still writes depot.build into the metadata file', async () => {
    const s = sandbox();
    const meta = join(s.dir, 'meta.json');
    writeFileSync(join(s.ctx, 'docker-bake.hcl'), 'target "app" {}\n');
    const r = await depot(['bake', '--metadata-file', meta, '-f', join(s.ctx, 'docker-bake.hcl'), 'app'], {
      ...s.env,
      STANDIN_DOCKER_EXIT: '1',
    });
    expect(r.code).toBe(1);
    const json = JSON.parse(readFileSync(meta, 'utf8')) as Record<string, unknown>;
    expect(json['depot.build']).toMatchObject({ projectID: '' });
  });

  it('gives buildx the cache credentials in a temporary DOCKER_CONFIG only, and removes it afterwards', async () => {
    const s = sandbox();
    const port = await registry();
    const host = `127.0.0.1:${port}`;
    const token = await projectToken({ cache: `${host}/cache/web` });
    mkdirSync(join(s.dir, '.docker'));
    const userConfig = JSON.stringify({ auths: { 'ghcr.io': { auth: 'dTpw' } } });
    writeFileSync(join(s.dir, '.docker', 'config.json'), userConfig);
    const r = await depot(['build', '--debug', '--project', 'web', s.ctx], { ...s.env, DEPOT_TOKEN: token });
    expect(r.code).toBe(0);
    const call = s.calls()[0] as Call;
    expect(call.depotToken).toBeNull();
    expect(call.args).toContain(`type=registry,ref=${host}/cache/web:default,mode=max,ignore-error=true`);
    expect(call.config?.auths?.[host]?.auth).toBe(Buffer.from(`depot:${token}`).toString('base64'));
    expect(call.config?.auths?.['ghcr.io']?.auth).toBe('dTpw');
    expect(existsSync(call.dockerConfig ?? '/')).toBe(false);
    expect(readFileSync(join(s.dir, '.docker', 'config.json'), 'utf8')).toBe(userConfig);
    expect(r.out).not.toContain(token);
  });

  it('refuses --save with no token, before running anything', async () => {
    const s = sandbox();
    const r = await depot(['build', '--save', s.ctx], s.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--save needs a project token: set DEPOT_TOKEN (or --token).');
    expect(s.calls()).toEqual([]);
  });

  it('refuses --save for an isolated token', async () => {
    const s = sandbox();
    const token = await projectToken({ isolated: true, scope: 'build' });
    const r = await depot(['build', '--save', s.ctx], { ...s.env, DEPOT_TOKEN: token });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('isolated builds cannot --save');
    expect(s.calls()).toEqual([]);
  });

  it('forwards SIGTERM to buildx, returns its status and removes the temporary DOCKER_CONFIG', async () => {
    const s = sandbox();
    const port = await registry();
    const token = await projectToken({ cache: `127.0.0.1:${port}/cache/web` });
    const started = join(s.dir, 'started');
    const child = spawn(process.execPath, [bundle, 'build', s.ctx], {
      env: { ...s.env, DEPOT_TOKEN: token, STANDIN_SLEEP: started },
      stdio: 'ignore',
    });
    const code = await new Promise<number | null>((done) => {
      const poll = setInterval(() => {
        if (existsSync(started)) {
          clearInterval(poll);
          child.kill('SIGTERM');
        }
      }, 50);
      child.on('close', (c) => done(c));
    });
    expect(code).toBe(130);
    const calls = s.calls();
    expect(calls.at(-1)?.signal).toBe('SIGTERM');
    expect(existsSync(calls[0]?.dockerConfig ?? '/')).toBe(false);
  });

  it('gives a clear line for an unknown command and an unknown depot flag', async () => {
    const s = sandbox();
    expect((await depot(['frobnicate'], s.env)).stderr.trim()).toBe(
      'depot: error: Unknown command "frobnicate": run `depot --help` for the list.',
    );
    expect((await depot(['build', '--sav', '.'], s.env)).stderr).toContain(
      'Unknown flag --sav for depot build',
    );
  });
});

describe('depot init and the configure-docker shim (bundle)', () => {
  it('init writes depot.json that a later build finds', async () => {
    const s = sandbox();
    const r = await depot(['init', '--project', 'web'], s.env, s.dir);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(s.dir, 'depot.json'), 'utf8'))).toEqual({ id: 'web' });
    const meta = join(s.dir, 'meta.json');
    const b = await depot(['build', '--metadata-file', meta, s.ctx], s.env, tmpdir());
    expect(b.code, b.stderr).toBe(0);
    expect((JSON.parse(readFileSync(meta, 'utf8')) as Record<string, unknown>)['depot.build']).toMatchObject({
      projectID: 'web',
    });
  });

  it('turns a re-entry into the shim from inside a depot build into a clear error', async () => {
    const s = sandbox();
    const config = join(s.dir, '.docker');
    mkdirSync(config);
    writeFileSync(join(config, 'depot-configure-docker.json'), JSON.stringify({ buildx: '/bin/false' }));
    const r = await depot(['__buildx-shim', 'buildx', 'build', s.ctx], { ...s.env, DEPOT_INSIDE_BUILD: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('was reached from inside a depot build (a loop)');
    expect(s.calls()).toEqual([]);
  });
});

describe("a CircleCI job's project token (bundle)", () => {
  /** A `circleci` stand-in on PATH: each `circleci run oidc get` prints a fresh token and records its argv. */
  function circleci(s: ReturnType<typeof sandbox>): { calls: () => string[][] } {
    const file = join(s.dir, 'circleci-calls.jsonl');
    const script = join(s.dir, 'bin', 'circleci');
    writeFileSync(
      script,
      `#!${process.execPath}
const fs = require('node:fs');
fs.appendFileSync(${JSON.stringify(file)}, JSON.stringify(process.argv.slice(2)) + '\\n');
const n = fs.readFileSync(${JSON.stringify(file)}, 'utf8').trim().split('\\n').length;
process.stdout.write('circleci-oidc-secret-' + n + '-' + process.pid + '\\n');
`,
    );
    chmodSync(script, 0o755);
    return {
      calls: () =>
        existsSync(file)
          ? readFileSync(file, 'utf8')
              .trim()
              .split('\n')
              .map((l) => JSON.parse(l) as string[])
          : [],
    };
  }

  async function broker(
    answer: (n: number) => { status: number; body: unknown; headers?: Record<string, string> },
  ): Promise<{ url: string; bodies: Array<{ token: string; project?: string }> }> {
    const bodies: Array<{ token: string; project?: string }> = [];
    const server = createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8').on('data', (d: string) => (raw += d));
      req.on('end', () => {
        bodies.push(JSON.parse(raw) as { token: string; project?: string });
        const a = answer(bodies.length);
        res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
        res.end(JSON.stringify(a.body));
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies };
  }

  const job = (s: ReturnType<typeof sandbox>, url: string): NodeJS.ProcessEnv => ({
    ...s.env,
    CIRCLECI: 'true',
    CIRCLE_WORKFLOW_JOB_ID: 'wf-job-1',
    CIRCLE_PROJECT_REPONAME: 'web',
    DEPOT_BROKER_URL: url,
    DEPOT_CACHE_DIR: join(s.dir, 'depot-cache'),
  });

  it('exchanges once per job, builds with the project cache, and prints no token', async () => {
    const s = sandbox();
    const c = circleci(s);
    const port = await registry();
    const token = await projectToken({ cache: `127.0.0.1:${port}/cache/web` });
    const b = await broker(() => ({
      status: 200,
      body: {
        ok: true,
        token,
        project: 'web',
        isolated: false,
        expiresAt: new Date(Date.now() + 6e5).toISOString(),
      },
    }));
    const first = await depot(['build', '--debug', '--project', 'web', s.ctx], job(s, b.url));
    expect(first.code, first.stderr).toBe(0);
    const second = await depot(['build', '--project', 'web', s.ctx], job(s, b.url));
    expect(second.code, second.stderr).toBe(0);
    expect(c.calls()).toEqual([['run', 'oidc', 'get', '--claims', JSON.stringify({ aud: b.url })]]);
    expect(b.bodies).toEqual([{ token: expect.stringMatching(/^circleci-oidc-secret-1-/), project: 'web' }]);
    for (const call of s.calls()) {
      expect(call.args).toContain(`type=registry,ref=127.0.0.1:${port}/cache/web:default`);
      expect(call.depotToken).toBeNull();
    }
    expect(second.stderr).toContain('using the project token this CircleCI job got from');
    for (const out of [first.out, second.out]) {
      expect(out).not.toContain(token);
      expect(out).not.toContain(b.bodies[0]?.token);
    }
  });

  it('a refusal: exit 1, one line with the code and request id, nothing built', async () => {
    const s = sandbox();
    circleci(s);
    const b = await broker(() => ({
      status: 403,
      body: {
        ok: false,
        error: { code: 'no_trust_relationship', message: 'no rule matches', requestId: 'req-42' },
      },
    }));
    const r = await depot(['build', s.ctx], job(s, b.url));
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `depot: error: The broker at ${b.url} refused the token exchange (403 no_trust_relationship, request id req-42): no rule matches`,
    ]);
    expect(s.calls()).toEqual([]);
    expect(r.out).not.toContain(b.bodies[0]?.token);
  });

  it('a broker that keeps answering 503: exit 69 after bounded retries, nothing built', async () => {
    const s = sandbox();
    const c = circleci(s);
    const b = await broker(() => ({
      status: 503,
      body: { ok: false, error: { code: 'jwks_unavailable', message: 'keys down', requestId: 'req-43' } },
      headers: { 'retry-after': '0' },
    }));
    const r = await depot(['build', s.ctx], job(s, b.url));
    expect(r.code).toBe(69);
    expect(r.stderr).toContain(
      'Token exchange failed: the broker answered 503 jwks_unavailable, request id req-43',
    );
    expect(b.bodies).toHaveLength(4);
    expect(c.calls()).toHaveLength(4);
    expect(s.calls()).toEqual([]);
  });

  it('a pull request from a fork: never exchanges, builds with no project cache, one line says why', async () => {
    const s = sandbox();
    const c = circleci(s);
    const b = await broker(() => ({ status: 500, body: {} }));
    const r = await depot(['build', s.ctx], { ...job(s, b.url), CIRCLE_PR_NUMBER: '7' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      'depot: warning: this CircleCI job builds a pull request from a fork (#7): untrusted builds never exchange a CI token, so this build runs with no project cache.',
    );
    expect(r.stderr).not.toContain('no project token: building locally');
    expect(c.calls()).toEqual([]);
    expect(b.bodies).toEqual([]);
    expect(s.calls()[0]?.args.join(' ')).not.toContain('cache');
  });
});
