// Issuer + the real broker (a child process: `npm run broker`'s entry with its own config file and temp data dir)
// + a token-auth cache registry (`npm run broker -- registry-config`, then `docker-registry serve`), all on free
// loopback ports. Besides the GitHub issuer (entry github-actions) a stack may start more local issuers, one issuer
// entry each (e.g. circleci at http://127.0.0.1:PORT/org/<uuid>: ci-providers.ts has their shapes). stop() stops
// them all and removes the temp dirs.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { GithubClaims, IssuerOptions, LocalIssuer } from './issuer';
import { startIssuer } from './issuer';
import { freePort } from './ports';
import { serveRegistry } from './registry-process';
import type { RegistryProcess } from './registry-process';
import { mintedProjectToken, mintedTokenHashes } from './secrets';

const ROOT = resolve(import.meta.dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const BROKER_MAIN = join(ROOT, 'oidc-broker', 'src', 'main.ts');

/** One more issuer entry of the broker, served by a local issuer of its own. */
export interface StackIssuer {
  /** The entry's provider (default: its key). */
  provider?: string;
  /** The local issuer's path, claims and sub (ci-providers.ts). */
  options: IssuerOptions;
  /** The entry's `audience` (default: the broker's, its public URL). */
  audience?: string;
}

export interface StackOptions {
  /**
   * YAML of the `projects:` list (its items), may use ${ISSUER} for the GitHub issuer's URL and ${ISSUER:<key>} for
   * that of the entry <key> of `issuers`.
   */
  projects: string;
  /** More `projects:` items, after `projects` (same placeholders). */
  extraProjects?: string;
  /** More issuer entries, by key (e.g. circleci, gitlab, buildkite), each with its own local issuer. */
  issuers?: Record<string, StackIssuer>;
  tokenTtl?: string;
  /** The broker's `github:` section (the fork-PR claim flow asks this API; default https://api.github.com). */
  github?: { apiUrl: string; tokenEnv?: string };
  /** Extra env for the broker process and its CLI (e.g. BROKER_GITHUB_TOKEN). */
  brokerEnv?: Record<string, string>;
}

export interface Stack {
  issuer: LocalIssuer;
  /** The local issuers of StackOptions.issuers, by entry key. */
  issuers: Record<string, LocalIssuer>;
  /** http://127.0.0.1:PORT */
  brokerUrl: string;
  /** localhost:PORT (never 127.0.0.1: ENGINE.md) */
  registryHost: string;
  configPath: string;
  dataDir: string;
  /** Exchanges a freshly minted CI token; throws an Error with `code` (the broker's) on refusal. */
  projectToken(claims?: Partial<GithubClaims>, project?: string): Promise<string>;
  /**
   * Exchanges a freshly minted token of the issuer entry `key` (of StackOptions.issuers) at its provider's
   * /auth/oidc/<provider>; throws a BrokerRefusal on refusal.
   */
  exchange(key: string, claims?: Record<string, unknown>, project?: string): Promise<string>;
  brokerLog(): string;
  registryLog(): string;
  /** Stops the broker and starts it again on the same port, config and data dir. */
  restartBroker(): Promise<void>;
  /** Runs `npm run broker -- ARGS` (the broker's own CLI) and returns its output. */
  brokerCli(args: string[]): { status: number; stdout: string; stderr: string };
  stop(): Promise<void>;
}

export class BrokerRefusal extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(`broker refused (${status} ${code}): ${message}`);
  }
}

interface Child {
  proc: ChildProcess;
  log: string[];
}

function startChild(cmd: string, args: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(cmd, args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const child: Child = { proc, log: [] };
  proc.stdout?.on('data', (d: Buffer) => child.log.push(d.toString()));
  proc.stderr?.on('data', (d: Buffer) => child.log.push(d.toString()));
  return child;
}

async function stopChild(child: Child | undefined): Promise<void> {
  if (!child || child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.proc.once('exit', () => r()));
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function waitFor(
  what: string,
  child: Child,
  probe: () => Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.proc.exitCode !== null) {
      throw new Error(
        `${what} exited with ${child.proc.exitCode} before it was ready:\n${child.log.join('').slice(-2000)}`,
      );
    }
    try {
      if (await probe()) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} was not ready within ${timeoutMs / 1000}s:\n${child.log.join('').slice(-2000)}`);
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const which = spawnSync('sh', ['-c', 'command -v docker-registry'], { encoding: 'utf8' });
  if (which.status !== 0) {
    throw new Error(
      'docker-registry is not on PATH: run `scripts/engine.sh up` (or `apt-get install -y --no-install-recommends docker-registry`) first',
    );
  }
  const issuer = await startIssuer();
  const issuers: Record<string, LocalIssuer> = {};
  try {
    for (const [key, entry] of Object.entries(opts.issuers ?? {}))
      issuers[key] = await startIssuer(entry.options);
  } catch (err: unknown) {
    await Promise.all([issuer, ...Object.values(issuers)].map((i) => i.stop()));
    throw err;
  }
  const dir = mkdtempSync(join(tmpdir(), 'depot-stack-'));
  const dataDir = join(dir, 'broker-data');
  const configPath = join(dir, 'broker.yml');
  const brokerPort = await freePort();
  const registryPort = await freePort();
  const brokerUrl = `http://127.0.0.1:${brokerPort}`;
  const registryHost = `localhost:${registryPort}`;
  issuer.defaults.aud = brokerUrl;
  for (const [key, entry] of Object.entries(opts.issuers ?? {})) {
    (issuers[key] as LocalIssuer).defaults.aud = entry.audience ?? brokerUrl;
  }
  const placeholders = (yaml: string) =>
    yaml.replace(/\$\{ISSUER(?::([a-z0-9_-]+))?\}/g, (whole, key: string | undefined) => {
      if (key === undefined) return issuer.url;
      const named = issuers[key];
      if (!named)
        throw new Error(`the projects YAML names \${ISSUER:${key}}, but the stack has no issuer ${key}`);
      return named.url;
    });
  const extraIssuers = Object.entries(opts.issuers ?? {}).flatMap(([key, entry]) => {
    const url = (issuers[key] as LocalIssuer).url;
    return [
      `  ${key}:`,
      `    provider: ${entry.provider ?? key}`,
      `    issuer: "${url}"`,
      `    jwks_uri: "${url}/.well-known/jwks"`,
      '    algorithms: [RS256]',
      ...(entry.audience !== undefined ? [`    audience: "${entry.audience}"`] : []),
    ];
  });

  const config = [
    `public_url: ${brokerUrl}`,
    `token_ttl: ${opts.tokenTtl ?? '15m'}`,
    'issuers:',
    '  github-actions:',
    '    provider: github-actions',
    `    issuer: ${issuer.url}`,
    `    jwks_uri: ${issuer.url}/.well-known/jwks`,
    '    algorithms: [RS256]',
    ...extraIssuers,
    `registry: { host: "${registryHost}", service: depot-cache }`,
    `github: { api_url: "${opts.github?.apiUrl ?? 'https://api.github.com'}", token_env: ${opts.github?.tokenEnv ?? 'BROKER_GITHUB_TOKEN'} }`,
    'rate_limit: { per_address: 0, failures_per_address: 0 }',
    'projects:',
    placeholders(opts.projects),
    ...(opts.extraProjects !== undefined ? [placeholders(opts.extraProjects)] : []),
    '',
  ].join('\n');
  writeFileSync(configPath, config);

  const cli = (args: string[]) => {
    const r = spawnSync(TSX, [BROKER_MAIN, ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, ...opts.brokerEnv },
    });
    return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  };
  let broker: Child | undefined;
  let registry: RegistryProcess | undefined;
  const brokerLogs: string[] = [];
  // The broker logs the SHA-256 of every project token it mints (`tokenSha256`): the runner harness's leak check
  // finds those tokens in a step's output by it (secrets.ts), masked or not.
  mintedTokenHashes(() =>
    [...brokerLogs.join('').matchAll(/"tokenSha256":"([0-9a-f]{64})"/g)].map((m) => m[1] as string),
  );

  const startBroker = async () => {
    broker = startChild(
      TSX,
      [BROKER_MAIN, '--config', configPath, '--data-dir', dataDir, '--listen', `127.0.0.1:${brokerPort}`],
      opts.brokerEnv,
    );
    const b = broker;
    b.log = brokerLogs;
    await waitFor('the broker', b, async () => (await fetch(`${brokerUrl}/healthz`)).ok);
  };

  const stop = async () => {
    await registry?.stop();
    await stopChild(broker);
    await issuer.stop();
    for (const i of Object.values(issuers)) await i.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const rc = cli([
      'registry-config',
      '--config',
      configPath,
      '--data-dir',
      dataDir,
      '--listen',
      `127.0.0.1:${registryPort}`,
      '--storage',
      join(dir, 'registry'),
    ]);
    if (rc.status !== 0) throw new Error(`registry-config failed: ${rc.stderr.trim()}`);
    const registryConfigPath = join(dir, 'registry.yml');
    writeFileSync(registryConfigPath, rc.stdout);
    await startBroker();
    registry = await serveRegistry(registryConfigPath, { url: `http://${registryHost}` });
  } catch (err: unknown) {
    await stop();
    throw err;
  }

  const exchange = async (
    provider: string,
    from: LocalIssuer,
    claims: Record<string, unknown>,
    project: string | undefined,
  ): Promise<string> => {
    const token = await from.mint(claims);
    const res = await fetch(`${brokerUrl}/auth/oidc/${provider}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(project === undefined ? { token } : { token, project }),
    });
    const body = (await res.json()) as {
      ok: boolean;
      token?: string;
      error?: { code: string; message: string };
    };
    if (!body.ok || !body.token) {
      throw new BrokerRefusal(
        body.error?.code ?? `http_${res.status}`,
        body.error?.message ?? '',
        res.status,
      );
    }
    mintedProjectToken(body.token);
    return body.token;
  };

  return {
    issuer,
    issuers,
    brokerUrl,
    registryHost,
    configPath,
    dataDir,
    projectToken: (claims = {}, project) => exchange('github-actions', issuer, claims, project),
    exchange(key, claims = {}, project) {
      const named = issuers[key];
      if (!named) throw new Error(`the stack has no issuer ${key}`);
      return exchange(opts.issuers?.[key]?.provider ?? key, named, claims, project);
    },
    brokerLog: () => brokerLogs.join(''),
    registryLog: () => registry?.log() ?? '',
    async restartBroker() {
      await stopChild(broker);
      await startBroker();
    },
    brokerCli: cli,
    stop,
  };
}
