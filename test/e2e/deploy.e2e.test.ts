// The deployment of examples/deploy run for real: Debian's nginx with the example TLS front
// (nginx/depot-broker.conf, its ports and paths substituted, every directive kept) in front of two broker instances
// on one fresh PostgreSQL database (examples/deploy/broker.yml: trusted_proxies, store: postgres) and Debian's
// distribution registry configured by `registry-config`. The broker's public_url, the registry's token realm that
// BuildKit in the shared dockerd must reach, is nginx's plain-HTTP loopback copy of the broker server; the actions'
// exchange goes through its TLS listener, trusted with NODE_EXTRA_CA_CERTS (a CA this test makes; the system trust
// store is never touched). Between nginx and each instance a TCP hop (test/support/hop.ts) can cut an exchange
// after the broker answered, and stops listening when its instance is killed.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { prepareBundles } from '../support/bundles';
import { CutSwitch, startHop } from '../support/hop';
import type { Hop } from '../support/hop';
import { startIssuer } from '../support/issuer';
import type { LocalIssuer } from '../support/issuer';
import {
  directives,
  ensureNginx,
  EXAMPLE_CONF,
  locations,
  renderFront,
  startNginx,
  topBlocks,
} from '../support/nginx';
import type { RunningNginx } from '../support/nginx';
import { freePort } from '../support/ports';
import { serveRegistry } from '../support/registry-process';
import type { RegistryProcess } from '../support/registry-process';
import { freshDatabase } from '../support/postgres';
import type { TestDatabase } from '../support/postgres';
import { releaseInto } from '../support/release';
import { ROOT } from '../support/runner';
import { mintedSecretsIn, mintedTokenHashes } from '../support/secrets';
import type { Stack } from '../support/stack';
import { serveFolder } from '../support/static-server';
import type { StubServer } from '../support/stub-server';
import { testTls } from '../support/tls';
import { buildWorkflow, runSteps } from './scenarios';
import type { WorkflowRun } from './scenarios';
import { PROJECTS_YAML, pruneBuilder, pushClaims } from './world';
import type { World } from './world';

const DEPLOY = join(ROOT, 'examples', 'deploy');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const BROKER_MAIN = join(ROOT, 'oidc-broker', 'src', 'main.ts');
const run = Date.now().toString(36);
/** Where distribution's filesystem storage keeps the tags of the project cache repository cache/demo. */
const CACHE_TAGS = 'docker/registry/v2/repositories/cache/demo/_manifests/tags';

interface Instance {
  name: string;
  port: number;
  dataDir: string;
  proc: ChildProcess | undefined;
  log: string[];
}

let dir: string;
let db: TestDatabase;
let keySecret: string;
let issuer: LocalIssuer;
let configPath: string;
let caFile: string;
let tlsUrl: string;
let plainUrl: string;
let registryHost: string;
let registry: RegistryProcess | undefined;
let nginx: RunningNginx | undefined;
let release: StubServer | undefined;
let releaseDir: string;
let world: World;
const instances: Instance[] = [];
const hops: Hop[] = [];
const cut = new CutSwitch();
const runs: WorkflowRun[] = [];

function brokerEnv(): NodeJS.ProcessEnv {
  return { ...process.env, BROKER_DATABASE_URL: db.url, BROKER_KEY_SECRET: keySecret };
}

function brokerCli(args: string[]): string {
  const r = spawnSync(TSX, [BROKER_MAIN, ...args], { cwd: ROOT, encoding: 'utf8', env: brokerEnv() });
  if (r.status !== 0) throw new Error(`broker ${args[0]} failed (${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

async function waitUntil(what: string, probe: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not within ${ms / 1000} s`);
}

async function startInstance(i: Instance): Promise<void> {
  // Node itself with tsx's loader, not the tsx launcher: the launcher runs the broker in a child process, which a
  // SIGKILL of the launcher would leave running.
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      BROKER_MAIN,
      'serve',
      '--config',
      configPath,
      '--data-dir',
      i.dataDir,
      '--listen',
      `127.0.0.1:${i.port}`,
    ],
    { cwd: ROOT, env: brokerEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  proc.stdout.on('data', (d: Buffer) => i.log.push(d.toString()));
  proc.stderr.on('data', (d: Buffer) => i.log.push(d.toString()));
  i.proc = proc;
  const until = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`broker ${i.name} exited: ${i.log.join('').slice(-2000)}`);
    if ((await viaHttp(`http://127.0.0.1:${i.port}/healthz`).catch(() => undefined))?.status === 200) return;
    if (Date.now() > until) throw new Error(`broker ${i.name} answered no /healthz within 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function killInstance(i: Instance, signal: NodeJS.Signals): Promise<void> {
  const proc = i.proc;
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill(signal);
  await exited;
}

/**
 * A plain-HTTP request on a connection of its own (no pooled keep-alive connection that a broker killed or restarted
 * since may have closed).
 */
function viaHttp(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** broker_registry_tokens_total{outcome="ok"} read on the instance's own port (loopback may read /metrics). */
async function registryTokensOk(i: Instance): Promise<number> {
  const { body: text } = await viaHttp(`http://127.0.0.1:${i.port}/metrics`);
  const m = /^broker_registry_tokens_total\{outcome="ok"\} (\d+)/m.exec(text);
  return Number(m?.[1] ?? 0);
}

interface Answer {
  status: number;
  body: string;
}

/** A request through nginx's TLS listener, trusting the test's CA only; `localAddress` picks the client address. */
function viaTls(
  path: string,
  opts: { method?: string; body?: string; headers?: Record<string, string>; localAddress?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${tlsUrl}${path}`,
      {
        method: opts.method ?? 'GET',
        agent: false,
        ca: readFileSync(caFile, 'utf8'),
        headers: { ...(opts.body ? { 'content-type': 'application/json' } : {}), ...opts.headers },
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Exchanges a fresh CI token through the TLS front; returns the project token. */
async function exchangeViaTls(localAddress?: string): Promise<string> {
  const token = await issuer.mint();
  const a = await viaTls('/auth/oidc/github-actions', {
    method: 'POST',
    body: JSON.stringify({ token, project: 'demo' }),
    ...(localAddress ? { localAddress } : {}),
  });
  expect(a.status, a.body).toBe(200);
  return (JSON.parse(a.body) as { token: string }).token;
}

interface AuditRow {
  kind?: string;
  outcome: string;
  client?: string;
  jti?: string;
  tokenJti?: string;
  requestId?: string;
  at: number;
}

function audit(since: string): AuditRow[] {
  return brokerCli([
    'audit',
    '--config',
    configPath,
    '--data-dir',
    instances[0]?.dataDir ?? dir,
    '--since',
    since,
  ])
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as AuditRow);
}

function jtiOf(jwt: string): string {
  return (JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as { jti: string }).jti;
}

function jobEnv(): Record<string, string> {
  return { DEPOT_BROKER_URL: tlsUrl, NODE_EXTRA_CA_CERTS: caFile };
}

async function workflow(tag: string): Promise<WorkflowRun> {
  const r = await buildWorkflow(world, {
    tag: `${tag}-${run}`,
    platforms: 'linux/amd64',
    inputs: { 'build-args': `BUST=deploy-${run}` },
    env: jobEnv(),
  });
  runs.push(r);
  return r;
}

/** The example's broker server and its location blocks. */
function exampleBrokerServer() {
  const blocks = topBlocks(readFileSync(EXAMPLE_CONF, 'utf8'));
  const server = blocks.find((b) => b.head === 'server' && /server_name depot-broker\./.test(b.body));
  if (!server) throw new Error('the example has no depot-broker server block');
  return { blocks, server, locations: locations(server.body) };
}

beforeAll(async () => {
  ensureNginx();
  prepareBundles(['setup', 'build-push', 'cli']);
  dir = mkdtempSync(join(tmpdir(), 'depot-deploy-'));
  chmodSync(dir, 0o755);
  db = await freshDatabase();
  keySecret = randomBytes(32).toString('base64');
  issuer = await startIssuer();

  const ports = {
    brokers: [await freePort(), await freePort()] as [number, number],
    hops: [await freePort(), await freePort()],
    registry: await freePort(),
    tls: await freePort(),
    plainBroker: await freePort(),
    plainRegistry: await freePort(),
  };
  tlsUrl = `https://127.0.0.1:${ports.tls}`;
  plainUrl = `http://127.0.0.1:${ports.plainBroker}`;
  registryHost = `localhost:${ports.plainRegistry}`;

  // examples/deploy/broker.yml with this test's URLs, issuer, registry and projects; trusted_proxies and store as
  // the example has them. CI jobs ask for tokens with the TLS URL as audience (in production it is public_url).
  const example = parseYaml(readFileSync(join(DEPLOY, 'broker.yml'), 'utf8')) as Record<string, unknown>;
  const config = {
    ...example,
    public_url: plainUrl,
    audience: tlsUrl,
    issuers: {
      'github-actions': {
        issuer: issuer.url,
        jwks_uri: `${issuer.url}/.well-known/jwks`,
        algorithms: ['RS256'],
      },
    },
    registry: { host: registryHost, service: 'depot-cache' },
    projects: parseYaml(PROJECTS_YAML) as unknown,
  };
  configPath = join(dir, 'broker.yml');
  writeFileSync(configPath, stringifyYaml(config));
  Object.assign(issuer.defaults, pushClaims(), { aud: tlsUrl });

  for (const [n, name] of ['a', 'b'].entries()) {
    const i: Instance = {
      name,
      port: ports.brokers[n] as number,
      dataDir: join(dir, `data-${name}`),
      proc: undefined,
      log: [],
    };
    instances.push(i);
    // One at a time: the first creates the keys and the registry CA in the database, the second reads them.
    await startInstance(i);
    hops.push(await startHop(name, i.port, cut));
  }
  mintedTokenHashes(() =>
    instances.flatMap((i) =>
      [...i.log.join('').matchAll(/"tokenSha256":"([0-9a-f]{64})"/g)].map((m) => m[1] as string),
    ),
  );

  // The registry, configured as examples/deploy/README.md says: registry-config with a CA dir of its own.
  const registryConfig = join(dir, 'registry.yml');
  writeFileSync(
    registryConfig,
    brokerCli([
      'registry-config',
      '--config',
      configPath,
      '--data-dir',
      join(dir, 'registry-ca'),
      '--listen',
      `127.0.0.1:${ports.registry}`,
      '--storage',
      join(dir, 'registry'),
    ]),
  );
  registry = await serveRegistry(registryConfig, { url: `http://127.0.0.1:${ports.registry}` });

  const tls = await testTls();
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, tls.caPem);
  const tlsDir = join(dir, 'tls');
  mkdirSync(tlsDir, { mode: 0o700 });
  writeFileSync(join(tlsDir, 'cert.pem'), tls.certPem);
  writeFileSync(join(tlsDir, 'key.pem'), tls.keyPem, { mode: 0o600 });
  const nginxDir = join(dir, 'nginx');
  mkdirSync(nginxDir);
  const conf = renderFront(
    readFileSync(EXAMPLE_CONF, 'utf8'),
    {
      brokers: [hops[0]?.port ?? 0, hops[1]?.port ?? 0],
      registry: ports.registry,
      tls: ports.tls,
      plainBroker: ports.plainBroker,
      plainRegistry: ports.plainRegistry,
    },
    nginxDir,
    { cert: join(tlsDir, 'cert.pem'), key: join(tlsDir, 'key.pem') },
  );
  nginx = await startNginx(conf, nginxDir);
  await waitUntil('nginx', async () => (await viaHttp(`${plainUrl}/healthz`)).status === 200);

  releaseDir = mkdtempSync(join(tmpdir(), 'depot-release-'));
  releaseInto(releaseDir);
  release = await serveFolder(releaseDir);
  const manifest = JSON.parse(readFileSync(join(releaseDir, 'manifest.json'), 'utf8')) as { latest: string };
  // What scenarios.ts reads of a world: the issuer, the broker URL CI jobs use, the CLI release.
  world = {
    stack: { issuer, brokerUrl: tlsUrl } as unknown as Stack,
    release,
    releaseDir,
    version: manifest.latest,
    close: async () => undefined,
  };
});

afterAll(async () => {
  await nginx?.stop();
  for (const h of hops) await h.close();
  for (const i of instances) await killInstance(i, 'SIGTERM');
  await registry?.stop();
  await release?.close();
  await issuer?.stop();
  await db?.drop();
  for (const r of runs) r.job.cleanup();
  if (releaseDir) rmSync(releaseDir, { recursive: true, force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the example files are what this test runs', () => {
  it('nginx: X-Forwarded-For set, /metrics not proxied, non_idempotent on /v2/token only, both instances upstream', () => {
    const { blocks, server, locations: locs } = exampleBrokerServer();
    const upstream = blocks.find((b) => b.head === 'upstream depot_broker');
    expect(directives(upstream?.body ?? '').filter((d) => d.startsWith('server '))).toEqual([
      'server 127.0.0.1:8081 max_fails=3 fail_timeout=10s',
      'server 127.0.0.1:8082 max_fails=3 fail_timeout=10s',
    ]);
    const top = directives(server.body);
    expect(top).toContain('listen 443 ssl http2');
    expect(top).toContain('proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for');
    expect(top).toContain('proxy_next_upstream error timeout http_502 http_503');
    expect(locs.get('/metrics')).toEqual(['return 404']);
    expect(locs.get('= /v2/token')).toEqual([
      'proxy_next_upstream error timeout http_502 http_503 non_idempotent',
      'proxy_pass http://depot_broker',
    ]);
    expect(locs.get('/')).toEqual(['proxy_pass http://depot_broker']);
    // non_idempotent nowhere else in the file.
    const text = readFileSync(EXAMPLE_CONF, 'utf8').replace(/#[^\n]*/g, '');
    expect(text.match(/non_idempotent/g)).toHaveLength(1);
  });

  it('broker.yml trusts the nginx address and keeps its state in PostgreSQL; the units run the installed release', () => {
    const example = parseYaml(readFileSync(join(DEPLOY, 'broker.yml'), 'utf8')) as {
      trusted_proxies: string[];
      store: { postgres: { url_env: string } };
    };
    expect(example.trusted_proxies).toContain('127.0.0.1');
    expect(example.store.postgres.url_env).toBe('BROKER_DATABASE_URL');
    const check = spawnSync(TSX, [BROKER_MAIN, 'validate-config', join(DEPLOY, 'broker.yml')], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(check.status, check.stderr).toBe(0);
    for (const unit of ['depot-broker.service', 'depot-broker@.service']) {
      const text = readFileSync(join(DEPLOY, unit), 'utf8');
      expect(text).toMatch(
        /^ExecStart=\/opt\/depot-broker\/bin\/depot-broker serve --config \/etc\/depot-broker\/broker\.yml /m,
      );
      expect(text).toMatch(/^KillSignal=SIGTERM$/m);
      // Above the broker's 10 s drain.
      expect(Number(/^TimeoutStopSec=(\d+)s$/m.exec(text)?.[1])).toBeGreaterThan(10);
      expect(text).toMatch(/^EnvironmentFile=-?\/etc\/depot-broker\/broker\.env$/m);
    }
    expect(readFileSync(join(DEPLOY, 'depot-broker@.service'), 'utf8')).toMatch(/--listen 127\.0\.0\.1:%i$/m);
  });
});

describe('two broker instances on PostgreSQL behind the nginx TLS front', () => {
  it('(a) a workflow exchanges through TLS and builds with the project cache; registry tokens land on both instances', async () => {
    const before = await Promise.all(instances.map(registryTokensOk));
    pruneBuilder();
    const r = await workflow('deploy-a');
    expect(r.setup.exitCode, r.job.output()).toBe(0);
    expect(r.build.exitCode, r.job.output()).toBe(0);
    expect(r.build.outputs['project-id']).toBe('demo');
    const after = await Promise.all(instances.map(registryTokensOk));
    const landed = after.map((n, k) => n - (before[k] ?? 0));
    expect(landed[0], `registry tokens per instance: ${landed.join(', ')}`).toBeGreaterThan(0);
    expect(landed[1], `registry tokens per instance: ${landed.join(', ')}`).toBeGreaterThan(0);
    // The exchange came in on the TLS listener, the registry tokens on the plain-HTTP realm (nginx's access log).
    const log = nginx?.accessLog() ?? '';
    expect(log).toMatch(/"POST \/auth\/oidc\/github-actions HTTP\/[\d.]+" 200 port=\d+ scheme=https/);
    expect(log).toMatch(/"(GET|POST) \/v2\/token\S* HTTP\/[\d.]+" 200 port=\d+ scheme=http /);
    // The cache was exported through nginx to the registry: its manifest is tagged in the registry's storage.
    expect(r.job.output()).toContain('exporting cache to registry');
    const tags = join(dir, 'registry', CACHE_TAGS);
    expect(
      existsSync(tags) && readdirSync(tags).length > 0,
      `${r.job.output()}\n${(registry?.log() ?? '').slice(-3000)}`,
    ).toBe(true);
    expect(nginx?.accessLog()).toMatch(/"PUT \/v2\/cache\/demo\/manifests\/\S+ HTTP\/[\d.]+" 201 /);
  });

  it('the client address is the one nginx saw, behind trusted_proxies; a forged X-Forwarded-For does not move it', async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    // From 127.0.0.2: not a trusted proxy, so its own X-Forwarded-For is ignored and nginx's entry for it is believed.
    const token = await issuer.mint();
    const a = await viaTls('/auth/oidc/github-actions', {
      method: 'POST',
      body: JSON.stringify({ token, project: 'demo' }),
      headers: { 'x-forwarded-for': '203.0.113.9' },
      localAddress: '127.0.0.2',
    });
    expect(a.status, a.body).toBe(200);
    const jti = jtiOf(token);
    await waitUntil('the audit row', async () => audit(since).some((row) => row.jti === jti), 10_000);
    const row = audit(since).find((x) => x.jti === jti);
    expect(row?.client).toBe('127.0.0.2');
  });

  it('/metrics is not served through the front (TLS or plain, however spelled), only on each instance', async () => {
    for (const path of ['/metrics', '/metrics?x=1', '//metrics', '/%6Detrics', '/metrics/']) {
      const tls = await viaTls(path);
      expect(tls.status, path).toBe(404);
      expect(tls.body).not.toContain('broker_');
      const plain = await viaHttp(`${plainUrl}${path}`);
      expect(plain.status, path).toBe(404);
      expect(plain.body).not.toContain('broker_');
    }
    for (const i of instances) {
      const direct = await viaHttp(`http://127.0.0.1:${i.port}/metrics`);
      expect(direct.status).toBe(200);
      expect(direct.body).toContain('broker_exchanges_total');
    }
  });

  it('(b) one instance killed (SIGKILL) between two builds fails no build: the next imports the cache, every RUN step CACHED', async () => {
    const [a, b] = instances as [Instance, Instance];
    const projectToken = await exchangeViaTls();
    await killInstance(a, 'SIGKILL');
    await expect(viaHttp(`http://127.0.0.1:${a.port}/healthz`)).rejects.toThrow(/ECONNREFUSED/);
    // The hop in front of it refuses too from now on, as the killed instance's port does.
    await hops[0]?.down();
    // Requests between: exchanges and registry tokens, all answered (by b).
    for (let n = 0; n < 4; n++) {
      await exchangeViaTls();
      const t = await viaHttp(`${plainUrl}/v2/token?service=depot-cache&scope=repository:cache/demo:pull`, {
        authorization: `Basic ${Buffer.from(`depot:${projectToken}`).toString('base64')}`,
      });
      expect(t.status).toBe(200);
    }
    const before = await registryTokensOk(b);
    pruneBuilder();
    const r = await workflow('deploy-b');
    expect(r.build.exitCode, r.job.output()).toBe(0);
    expect(runSteps(r.job.output())).toMatchObject({ run: 0 });
    expect(runSteps(r.job.output()).cached).toBeGreaterThan(0);
    expect(await registryTokensOk(b)).toBeGreaterThan(before);
    // Back: the same port, data dir and database.
    await startInstance(a);
    await hops[0]?.up();
  });

  it('(c) an exchange cut after the broker answered is recovered by the action retrying with a fresh OIDC token: no replay, no token minted twice', async () => {
    // Audit rows carry whole seconds: start on a fresh one, so that (b)'s last exchange, a warm build (about a second)
    // before, is not counted with this test's two.
    await new Promise((done) => setTimeout(done, 1000 - (Date.now() % 1000) + 20));
    const since = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
    const mark = (nginx?.accessLog() ?? '').length;
    cut.armed = 1;
    const r = await workflow('deploy-c');
    expect(r.build.exitCode, r.job.output()).toBe(0);
    expect(cut.cuts).toHaveLength(1);
    const cutToken = (JSON.parse(cut.cuts[0]?.body ?? '{}') as { token: string }).token;
    const cutJti = jtiOf(cutToken);
    // nginx did not re-send the cut exchange to the other instance: one upstream, a 502 to the job.
    const log = (nginx?.accessLog() ?? '').slice(mark);
    const exchanges = log.split('\n').filter((l) => l.includes('"POST /auth/oidc/github-actions'));
    expect(exchanges.length, log).toBe(2);
    expect(exchanges[0]).toMatch(/" 502 .*upstream=127\.0\.0\.1:\d+ upstream_status=502$/);
    expect(exchanges[1]).toMatch(/" 200 /);
    // The audit: both exchanges minted, each from its own CI token (the cut one's answer was lost); nothing replayed.
    await waitUntil(
      'the audit rows',
      async () => audit(since).filter((row) => row.kind === 'exchange').length >= 2,
      10_000,
    );
    const rows = audit(since).filter((row) => row.kind === 'exchange');
    expect(rows.map((x) => x.outcome)).toEqual(['ok', 'ok']);
    expect(rows.map((x) => x.outcome)).not.toContain('replayed');
    expect(rows.map((x) => x.jti)).toContain(cutJti);
    expect(new Set(rows.map((x) => x.jti)).size).toBe(2);
    expect(new Set(rows.map((x) => x.tokenJti)).size).toBe(2);
  });

  it('no secret in any output: the jobs, both brokers, nginx, the registry', () => {
    const text = [
      ...runs.map((r) => r.job.output()),
      ...instances.map((i) => i.log.join('')),
      nginx?.accessLog() ?? '',
      nginx?.errorLog() ?? '',
      registry?.log() ?? '',
    ].join('\n');
    expect(text).not.toContain(keySecret);
    expect(text).not.toContain(Buffer.from(keySecret, 'base64').toString('hex'));
    expect(text).not.toContain(new URL(db.url).password);
    expect(mintedSecretsIn(text)).toEqual([]);
    for (const r of runs) expect(r.job.leakedSecrets()).toEqual([]);
  });
});
