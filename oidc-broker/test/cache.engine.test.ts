// `broker cache usage|prune|reset` against the real engine and a real token-auth registry (Debian's docker-registry)
// whose token service is the real broker (test/support/stack.ts): two projects' caches built by `depot build` with
// project tokens, sized, pruned past max_age, garbage-collected in a read-only window, and reset.
//
// The stack starts the registry; this file then serves the same registry config on the same port itself (the
// stack's process stopped by its pid, found by its config path, which is this stack's own), so that it can restart
// the registry read-only for garbage collection as a deployment does (REGISTRY_STORAGE_MAINTENANCE_READONLY in its
// environment, README "Cache limits and pruning").
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachedSteps, depot, exec } from '../../cli/test/engine';
import type { Result } from '../../cli/test/engine';
import { freePort } from '../../test/support/ports';
import { digestOf } from '../../test/support/registry-client';
import { serveRegistry } from '../../test/support/registry-process';
import type { RegistryProcess } from '../../test/support/registry-process';
import type { Stack } from '../../test/support/stack';
import { startStack } from '../../test/support/stack';

const PROJECTS = `
- id: alpha
  cache: { max_age: 1h }
  rules:
    - { id: alpha-main, provider: github-actions, repository: acme/alpha, repository_id: "501", ref: "refs/heads/*" }
- id: beta
  rules:
    - { id: beta-main, provider: github-actions, repository: acme/beta, repository_id: "502", ref: "refs/heads/*" }
`;
const REPOSITORY_IDS = { alpha: '501', beta: '502' } as const;
type Project = keyof typeof REPOSITORY_IDS;
/** Steps no other run on this BuildKit shares. */
const RUN = `${process.pid}-${Date.now()}`;
/** Each build's own random megabyte: a layer no other tag holds, so its blob is freed when its tag goes. */
const DOCKERFILE = `FROM 127.0.0.1:5000/busybox:latest
ARG RUN_ID=
RUN echo "$RUN_ID" > /id && head -c 1048576 /dev/urandom > /random.bin
RUN echo "$RUN_ID two" > /two.txt
`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let stack: Stack;
let dir: string;
let registryConfig: string;
let storage: string;
let context: string;
let registry: RegistryProcess | undefined;
const secrets: string[] = [];

function findProcess(argv: string[]): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (cmd.length === argv.length && cmd.every((a, i) => a === argv[i])) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

async function until(what: string, probe: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not happen within ${ms / 1000}s:\n${(registry?.log() ?? '').slice(-2000)}`);
}

/** Serves the stack's registry config on its port; `readOnly`: in read-only maintenance mode. */
async function serveStackRegistry(readOnly: boolean): Promise<void> {
  const env = { ...process.env };
  if (readOnly) env.REGISTRY_STORAGE_MAINTENANCE_READONLY = '{enabled: true}';
  registry = await serveRegistry(registryConfig, { url: `http://${stack.registryHost}`, env });
}

async function stopRegistry(): Promise<void> {
  const r = registry;
  registry = undefined;
  await r?.stop();
}

async function token(project: Project): Promise<string> {
  const repository = `acme/${project}`;
  const ref = 'refs/heads/main';
  const t = await stack.projectToken(
    {
      repository,
      repository_id: REPOSITORY_IDS[project],
      repository_owner: 'acme',
      ref,
      event_name: 'push',
      workflow_ref: `${repository}/.github/workflows/ci.yml@${ref}`,
      job_workflow_ref: `${repository}/.github/workflows/ci.yml@${ref}`,
    },
    project,
  );
  secrets.push(t);
  return t;
}

/** A registry token from the broker's token service, asked for as a client logging in with a project token. */
async function registryToken(project: Project, scope: string): Promise<{ token: string; actions: string[] }> {
  const q = new URLSearchParams({ service: 'depot-cache', scope });
  const res = await fetch(`${stack.brokerUrl}/v2/token?${q}`, {
    headers: { authorization: `Basic ${Buffer.from(`depot:${await token(project)}`).toString('base64')}` },
  });
  expect(res.status).toBe(200);
  const t = ((await res.json()) as { token: string }).token;
  secrets.push(t);
  const access = decodeJwt(t).access as Array<{ name: string; actions: string[] }>;
  return { token: t, actions: access.flatMap((a) => a.actions) };
}

async function build(project: Project, key: string): Promise<Result> {
  const r = await depot(
    ['build', '--cache-key', key, '--build-arg', `RUN_ID=${RUN}-${project}-${key}`, context],
    {
      DEPOT_TOKEN: await token(project),
    },
  );
  expect(r.code, r.stderr).toBe(0);
  return r;
}

function cache(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = stack.brokerCli(['cache', ...args, '--config', stack.configPath, '--data-dir', stack.dataDir]);
  for (const s of secrets) expect(`${r.stdout}${r.stderr}`).not.toContain(s);
  expect(`${r.stdout}${r.stderr}`).not.toMatch(/eyJ[\w-]+\.eyJ/);
  return r;
}

interface Row {
  project: string;
  repository: string;
  tags: number;
  size: string;
  oldest: string;
  newest: string;
}

/** The rows of the `cache usage` table, by project. */
function usage(...args: string[]): Record<string, Row> {
  const r = cache('usage', ...args);
  expect(r.status, r.stderr).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^PROJECT\s+REPOSITORY\s+TAGS\s+SIZE\s+LIMITS/);
  const rows: Record<string, Row> = {};
  for (const line of lines.slice(1)) {
    const m = /^(\S+)\s+(\S+)\s+(\d+)\s+(\d+(?:\.\d)? [KMGT]?i?B)\s+.+?\s{2,}(\S+)\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`not a usage row: ${line}`);
    rows[m[1] as string] = {
      project: m[1] as string,
      repository: m[2] as string,
      tags: Number(m[3]),
      size: m[4] as string,
      oldest: m[5] as string,
      newest: m[6] as string,
    };
  }
  return rows;
}

function du(): number {
  const r = spawnSync('du', ['-sk', storage], { encoding: 'utf8' });
  return Number(r.stdout.split('\t')[0]) * 1024;
}

function blobFile(digest: string): string {
  const hex = digest.replace('sha256:', '');
  return join(storage, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

/** GET a manifest or blob with a registry token. */
async function get(path: string, bearer: string, accept = OCI_MANIFEST): Promise<Response> {
  return fetch(`http://${stack.registryHost}/v2/${path}`, {
    headers: { authorization: `Bearer ${bearer}`, accept },
  });
}

interface CacheManifest {
  config: { mediaType: string; digest: string; size: number };
  layers: Array<{ digest: string; size: number; annotations?: Record<string, string> }>;
}

/** The layer only this tag of alpha holds: the random megabyte of its build. */
let oldOnlyLayer = '';

beforeAll(async () => {
  stack = await startStack({ projects: PROJECTS });
  dir = dirname(stack.configPath);
  registryConfig = join(dir, 'registry.yml');
  storage = join(dir, 'registry');
  const pid = findProcess(['docker-registry', 'serve', registryConfig]);
  if (pid === undefined) throw new Error(`no docker-registry serving ${registryConfig}`);
  process.kill(pid, 'SIGTERM');
  await until(
    'the stack registry stopping',
    async () => findProcess(['docker-registry', 'serve', registryConfig]) === undefined,
  );
  await serveStackRegistry(false);
  context = mkdtempSync(join(tmpdir(), 'depot-cache-lifecycle-'));
  writeFileSync(join(context, 'Dockerfile'), DOCKERFILE);
});

afterAll(async () => {
  await stopRegistry();
  const logs = stack ? stack.brokerLog() : '';
  await stack?.stop();
  if (context) rmSync(context, { recursive: true, force: true });
  for (const s of secrets) expect(logs).not.toContain(s);
});

describe('cache usage', () => {
  it('reports both projects after their builds, each with a size', async () => {
    await build('alpha', 'old');
    await build('alpha', 'new');
    await build('beta', 'default');
    const rows = usage();
    expect(rows.alpha).toMatchObject({ repository: 'cache/alpha', tags: 2 });
    expect(rows.beta).toMatchObject({ repository: 'cache/beta', tags: 1 });
    for (const row of [rows.alpha, rows.beta]) expect(row?.size).toMatch(/^\d+\.\d (KiB|MiB)$/);
    // Two tags, two random megabytes: alpha holds more than beta's one.
    expect(parseFloat(rows.alpha?.size ?? '')).toBeGreaterThan(parseFloat(rows.beta?.size ?? ''));
    expect(Object.keys(usage('--project', 'beta'))).toEqual(['beta']);
  });

  it('says in one line what was wrong: an unknown project, a registry that does not answer', async () => {
    const unknown = cache('usage', '--project', 'gamma');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr.trim().split('\n')).toEqual([
      `broker: no project "gamma" in ${stack.configPath}: use one of alpha, beta`,
    ]);
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const down = cache('usage', '--registry', nowhere);
    expect(down.status).toBe(1);
    const lines = down.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`the cache registry at ${nowhere} does not answer`);
    expect(lines[0]).toContain('check --registry');
  });
});

describe('deletes', () => {
  it('a CI project token asking for delete on its own cache gets pull and push only, and the registry refuses its DELETE', async () => {
    const ci = await registryToken('alpha', 'repository:cache/alpha:pull,push,delete');
    expect(ci.actions.sort()).toEqual(['pull', 'push']);
    const head = await get('cache/alpha/manifests/old', ci.token);
    const digest = head.headers.get('docker-content-digest') ?? '';
    await head.body?.cancel();
    expect(digest).toMatch(/^sha256:/);
    const del = await fetch(`http://${stack.registryHost}/v2/cache/alpha/manifests/${digest}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ci.token}` },
    });
    await del.body?.cancel();
    expect(del.status).toBe(401);
    expect(usage('--project', 'alpha').alpha?.tags).toBe(2);
  });
});

describe('cache prune', () => {
  it('deletes the tag past max_age, and garbage collection in a read-only window frees its blobs', async () => {
    // Make alpha:old look built three hours ago, in the dates `cache usage` reads (BuildKit's cache config records'
    // createdAt and the layers' buildkit/createdat): the same cache, its dates moved back, pushed under the tag.
    const rw = await registryToken('alpha', 'repository:cache/alpha:pull,push');
    const oldDoc = (await (await get('cache/alpha/manifests/old', rw.token)).json()) as CacheManifest;
    const newDoc = (await (await get('cache/alpha/manifests/new', rw.token)).json()) as CacheManifest;
    expect(oldDoc.config.mediaType).toBe('application/vnd.buildkit.cacheconfig.v0');
    const newLayers = new Set(newDoc.layers.map((l) => l.digest));
    const only = oldDoc.layers.filter((l) => !newLayers.has(l.digest));
    const big = only.find((l) => l.size > 1_000_000);
    expect(big, 'alpha:old has a random megabyte of its own').toBeDefined();
    oldOnlyLayer = big?.digest ?? '';
    const back = (iso: string) => new Date(Date.parse(iso) - 3 * 3600_000).toISOString();
    const config = JSON.parse(
      await (await get(`cache/alpha/blobs/${oldDoc.config.digest}`, rw.token, '*/*')).text(),
    ) as { records: Array<{ layers?: Array<{ createdAt: string }> }> };
    for (const r of config.records) for (const l of r.layers ?? []) l.createdAt = back(l.createdAt);
    const configBytes = Buffer.from(JSON.stringify(config));
    const start = await fetch(`http://${stack.registryHost}/v2/cache/alpha/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${rw.token}` },
    });
    await start.body?.cancel();
    const upload = new URL(start.headers.get('location') ?? '', `http://${stack.registryHost}`);
    upload.searchParams.set('digest', digestOf(configBytes));
    const put = await fetch(upload, {
      method: 'PUT',
      headers: { authorization: `Bearer ${rw.token}`, 'content-type': 'application/octet-stream' },
      body: configBytes,
    });
    expect(put.status).toBe(201);
    oldDoc.config = { ...oldDoc.config, digest: digestOf(configBytes), size: configBytes.length };
    for (const l of oldDoc.layers) {
      const at = l.annotations?.['buildkit/createdat'];
      if (l.annotations && at) l.annotations['buildkit/createdat'] = back(at);
    }
    const tagged = await fetch(`http://${stack.registryHost}/v2/cache/alpha/manifests/old`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${rw.token}`, 'content-type': OCI_MANIFEST },
      body: JSON.stringify(oldDoc),
    });
    expect(tagged.status).toBe(201);
    const before = usage('--project', 'alpha').alpha;
    expect(before?.oldest).toBe('3h');
    expect(before?.newest).toMatch(/^\d+[sm]$/);

    const dry = cache('prune', '--dry-run');
    expect(dry.status, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(
      /alpha: would delete cache\/alpha:old \(sha256:[0-9a-f]{12}, built 3h ago: past max_age 1h\)/,
    );
    expect(dry.stdout).not.toContain('cache/alpha:new');
    expect(dry.stdout).not.toContain('cache/beta:default');
    expect(usage().alpha?.tags).toBe(2);

    // The registry accepts writes: the tag is deleted, garbage collection refused.
    const pruned = cache('prune', '--registry-config', registryConfig);
    expect(pruned.stdout, pruned.stderr).toMatch(/alpha: deleted cache\/alpha:old /);
    expect(pruned.stdout).toMatch(/beta: 0 manifest\(s\) deleted, 1 kept/);
    expect(pruned.status).toBe(1);
    expect(pruned.stderr.trim().split('\n')).toHaveLength(1);
    expect(pruned.stderr).toContain(
      `not collecting garbage: the cache registry at http://${stack.registryHost} accepts uploads`,
    );
    const rows = usage();
    expect(rows.alpha?.tags).toBe(1);
    expect(rows.beta?.tags).toBe(1);
    expect(existsSync(blobFile(oldOnlyLayer))).toBe(true);

    // The window: the registry serves read-only, the prune collects the garbage, the registry serves again.
    const stored = du();
    await stopRegistry();
    await serveStackRegistry(true);
    const gc = cache('prune', '--registry-config', registryConfig);
    expect(gc.status, gc.stderr).toBe(0);
    expect(gc.stdout).toMatch(
      /garbage collected \(.*registry\.yml\): \d+ blobs marked, \d+ blobs and \d+ manifests eligible for deletion/,
    );
    await stopRegistry();
    await serveStackRegistry(false);
    expect(existsSync(blobFile(oldOnlyLayer))).toBe(false);
    expect(du()).toBeLessThan(stored - 1_000_000);
    expect(usage().alpha?.tags).toBe(1);
  });
});

describe('cache reset', () => {
  it("empties one project and leaves the other's cache importable: a later build imports it, every step CACHED", async () => {
    const missing = cache('reset');
    expect(missing.status).toBe(1);
    expect(missing.stderr.trim()).toBe('broker: cache reset empties one project: name it with --project ID');

    const reset = cache('reset', '--project', 'alpha');
    expect(reset.status, reset.stderr).toBe(0);
    expect(reset.stdout).toMatch(/alpha: deleted cache\/alpha:new .*: reset\)/);
    expect(reset.stdout).toContain('their blobs are freed at the next garbage collection');
    expect(reset.stdout).not.toContain('beta');
    await stopRegistry();
    await serveStackRegistry(true);
    const gc = cache('prune', '--registry-config', registryConfig);
    expect(gc.status, gc.stderr).toBe(0);
    await stopRegistry();
    await serveStackRegistry(false);
    const rows = usage();
    expect(rows.alpha).toMatchObject({ tags: 0, size: '0 B' });
    expect(rows.beta?.tags).toBe(1);

    const pruneLocal = await exec('docker', ['buildx', 'prune', '-af']);
    expect(pruneLocal.code, pruneLocal.stderr).toBe(0);
    const again = await build('beta', 'default');
    const out = `${again.stdout}${again.stderr}`;
    expect(out).toContain(`importing cache manifest from ${stack.registryHost}/cache/beta:default`);
    expect(cachedSteps(out)).toHaveLength(2);
  });
});
