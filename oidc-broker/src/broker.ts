// Assembles a running broker: config, keys, state, issuer key sets, metrics, the HTTP app; reloads the config on
// SIGHUP and on file change (a bad new file keeps the old one), rotates keys on SIGUSR2; stop() drains (the listener
// stops accepting, the requests in flight finish and their writes commit, then the state closes).
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import pino from 'pino';
import type { Logger } from 'pino';
import { createHttp } from './app';
import type { BrokerHttp } from './app';
import type { BrokerConfig } from './config';
import { ConfigProblems, loadConfig, parseConfig } from './config';
import type { BrokerDeps } from './exchange';
import { CLAIM_KEEP_MS, createForkDeps, forgetPacing } from './fork-claim';
import type { GitHubOptions } from './github';
import { DEFAULT_GITHUB_OPTIONS, githubTokenWarning } from './github';
import { KeyStore } from './keys';
import type { KeyPolicy } from './keys';
import { Metrics } from './metrics';
import type { Store } from './state';
import { openStore } from './store';
import { describeAdopted } from './store/adopt';
import { holdDataDir, PID_FILE } from './store/data-dir-lock';
import { purgeAuditBefore, UnverifiedAudit } from './store/audit-bounds';
import type { JwksOptions } from './verify';
import { CLOCK_SKEW, DEFAULT_JWKS_OPTIONS, IssuerKeys } from './verify';

/** How long stop() waits for the requests in flight before it closes their connections. */
export const DRAIN_MS = 10_000;
/** How long a stopping broker waits for its state to close once the requests are drained. */
export const CLOSE_MS = 5_000;

/** The config file, compiled, and the SHA-256 (hex) of the text it was compiled from (what /readyz shows). */
function loadWithDigest(file: string): { config: BrokerConfig; digest: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { config: loadConfig(file), digest: '' }; // loadConfig throws the one-line ConfigProblems
  }
  return { config: parseConfig(text, file), digest: createHash('sha256').update(text).digest('hex') };
}

function keyPolicy(config: BrokerConfig): KeyPolicy {
  return { signerTtl: config.registrySignerTtl, keyRotation: config.keyRotation };
}

export interface BrokerOptions {
  configPath: string;
  dataDir: string;
  log?: Logger;
  jwks?: Partial<JwksOptions>;
  /** The fork-PR claim flow's GitHub requests (timeouts, retry delay). */
  github?: Partial<GitHubOptions>;
  /** Where the GitHub token variable is read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Milliseconds since the epoch for claim lifetimes and pacing (default Date.now; tests inject one). */
  now?: () => number;
  /** The state store (default: SQLite in dataDir); the broker closes it. */
  store?: Store;
  /** A state write's deadline in milliseconds (default and at most 1 s). */
  writeDeadlineMs?: number;
}

export interface Broker {
  deps: BrokerDeps;
  /** hono's app (in-process requests) and the node:http listener a server runs. */
  app: BrokerHttp['app'];
  listener: BrokerHttp['listener'];
  /** Reloads the config file; false (and the old config stays) when the new one is bad. */
  reload(): boolean;
  rotate(): Promise<void>;
  close(): Promise<void>;
}

export async function createBroker(opts: BrokerOptions): Promise<Broker> {
  const log = opts.log ?? pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
  const loaded = loadWithDigest(opts.configPath);
  let config: BrokerConfig = loaded.config;
  let configDigest = loaded.digest;
  const state: Store =
    opts.store ??
    (await openStore(config, {
      dataDir: opts.dataDir,
      onError: (err: unknown) => log.error({ err }, 'state write failed; retrying until its deadline'),
      onAdopted: (a) =>
        a.adopted
          ? log.info({ event: 'data_dir_adopted', ...a }, describeAdopted(a))
          : log.warn({ event: 'data_dir_not_adopted', ...a }, describeAdopted(a)),
      ...(opts.writeDeadlineMs !== undefined ? { writeDeadlineMs: opts.writeDeadlineMs } : {}),
      ...(opts.env ? { env: opts.env } : {}),
    }));
  let keys: KeyStore;
  try {
    keys = await KeyStore.open({ store: state, dataDir: opts.dataDir }, keyPolicy(config), (err) =>
      log.error(
        { err, event: 'keys_reload_failed' },
        'keys changed elsewhere could not be reloaded; retrying',
      ),
    );
  } catch (err: unknown) {
    await state.close();
    throw err;
  }
  const metrics = new Metrics(() => state.stats());
  const issuerKeys = new IssuerKeys(
    { ...DEFAULT_JWKS_OPTIONS, ...opts.jwks },
    {
      onFetch: (issuer, ok) => {
        metrics.jwksFetches.inc({ issuer });
        if (!ok) metrics.jwksErrors.inc({ issuer });
      },
    },
  );
  const env = opts.env ?? process.env;
  const fork = createForkDeps(env, { ...DEFAULT_GITHUB_OPTIONS, ...opts.github }, log, opts.now);
  let sharedCountWarned = 0;
  const unverifiedAudit = new UnverifiedAudit(
    () => config.auditUnverifiedPerMinute,
    (rec) => state.audit(rec).catch((err: unknown) => log.error({ err }, 'audit record not written')),
    Date.now,
    state.admitUnverified?.bind(state),
    (err: unknown) => {
      // Once a minute at most: with the database down every refusal of a flood would say it.
      const now = Date.now();
      if (now - sharedCountWarned < 60_000) return;
      sharedCountWarned = now;
      log.warn(
        { err },
        'the shared count of unverified refusals did not answer; audited on this instance alone (said once a minute)',
      );
    },
  );
  const deps: BrokerDeps = {
    config: () => config,
    configDigest: () => configDigest,
    keys,
    issuerKeys,
    state,
    metrics,
    log,
    fork,
    unverifiedAudit,
  };
  const warnGitHub = (c: BrokerConfig) => {
    const warning = githubTokenWarning(c, env);
    if (warning) log.warn({ event: 'config_warning' }, warning);
  };
  warnGitHub(config);
  const { app, listener } = createHttp(deps);

  const housekeeping = setInterval(() => {
    void (async () => {
      await state.purgeExpired(Math.floor(Date.now() / 1000), CLOCK_SKEW);
      await state.purgeClaims(fork.now() - CLAIM_KEEP_MS);
      forgetPacing(fork, fork.now());
      const done = await keys.maintain(keyPolicy(config));
      if (done.rotated)
        log.info({ event: 'keys_rotated', reason: 'key_rotation' }, 'signing keys rotated on schedule');
      if (done.renewedSigner) log.info({ event: 'registry_signer_renewed' }, 'registry signer renewed');
      // audit_retention: batches of short deletes (audit-bounds.ts).
      const purged = await purgeAuditBefore(state, Math.floor(Date.now() / 1000) - config.auditRetention);
      if (purged > 0)
        log.info({ event: 'audit_purged', rows: purged }, 'audit rows past audit_retention deleted');
    })().catch((err: unknown) => log.warn({ err }, 'housekeeping failed'));
  }, 60_000);
  housekeeping.unref();

  return {
    deps,
    app,
    listener,
    reload() {
      try {
        const { config: next, digest } = loadWithDigest(opts.configPath);
        // The store is opened once, at start: a reload that changed it would report (/readyz's configDigest) a
        // config that is not the one in force.
        if (storeKey(next.store) !== storeKey(config.store))
          throw new ConfigProblems([
            `store: changed from ${storeKey(config.store)} to ${storeKey(next.store)}: the store is chosen at start, restart the broker to change it`,
          ]);
        config = next;
        configDigest = digest;
        issuerKeys.retain(next);
        for (const w of next.warnings) log.warn({ event: 'config_warning' }, w);
        warnGitHub(next);
        log.info(
          { event: 'config_reloaded', config: opts.configPath, projects: next.projects.length },
          'config reloaded',
        );
        return true;
      } catch (err: unknown) {
        const problems = err instanceof ConfigProblems ? err.problems : [String(err)];
        log.error(
          { event: 'config_rejected', problems },
          `config not reloaded, keeping the previous one: ${problems[0] ?? ''}`,
        );
        return false;
      }
    },
    async rotate() {
      const r = await keys.rotate(keyPolicy(config));
      log.info({ event: 'keys_rotated', ...r }, 'signing keys rotated');
    },
    async close() {
      clearInterval(housekeeping);
      // The minute's count of unverified refusals not audited one by one, before the state closes (with the shared
      // count's answers still to come: each waits at most the write deadline).
      await unverifiedAudit.drain();
      keys.close();
      await state.close();
    },
  };
}

/** A store section as a reload compares and names it (absent: SQLite in the data dir); never a URL. */
function storeKey(store: BrokerConfig['store']): string {
  return store?.engine === 'postgres' ? `postgres with url_env ${store.urlEnv}` : 'sqlite';
}

export interface RunningBroker {
  broker: Broker;
  server: Server;
  url: string;
  /** Drains: stops accepting, lets the requests in flight finish (at most drainMs), closes the state. */
  stop(): Promise<void>;
}

/** Starts the broker on host:port with reload on SIGHUP/file change and rotation on SIGUSR2. */
export async function runBroker(
  opts: BrokerOptions & { host: string; port: number; signals?: boolean; drainMs?: number; closeMs?: number },
): Promise<RunningBroker> {
  // Asynchronous writes: under load, log lines written while one write is in flight go out together.
  const log =
    opts.log ??
    pino(
      { base: undefined, timestamp: pino.stdTimeFunctions.isoTime },
      pino.destination({ dest: 1, sync: false }),
    );
  // Held while it runs: `restore` will not replace the state under it, and `rotate-key` finds it (data-dir-lock.ts).
  const lock = holdDataDir(opts.dataDir);
  // From now on `rotate-keys` sees this process hold the data dir and may signal it (broker.pid may still name this
  // pid from before a crash, as a container's restart often reuses it): SIGUSR2's default action would end a broker
  // still starting, so its rotation waits until the broker is up.
  const pidFile = join(opts.dataDir, PID_FILE);
  let rotateWhenUp = false;
  const onEarlyUsr2 = () => {
    rotateWhenUp = true;
  };
  if (opts.signals !== false) process.on('SIGUSR2', onEarlyUsr2);
  let broker: Broker;
  let server: Server;
  try {
    writeFileSync(pidFile, `${process.pid}\n`);
    broker = await createBroker({ ...opts, log });
    server = await listen(broker, opts.port, opts.host).catch(async (err: unknown) => {
      await broker.close();
      throw err;
    });
  } catch (err: unknown) {
    process.off('SIGUSR2', onEarlyUsr2);
    lock.release();
    throw err;
  }
  const config = broker.deps.config();
  for (const w of config.warnings) log.warn({ event: 'config_warning' }, w);

  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${host}:${port}`;
  log.info(
    {
      event: 'listening',
      url,
      config: opts.configPath,
      dataDir: opts.dataDir,
      projects: config.projects.length,
    },
    `broker listening on ${url} with config ${opts.configPath}`,
  );

  // Reload on change of the file (editors and `mv` replace it, so watch its directory).
  let lastText = readFileSync(opts.configPath, 'utf8');
  let timer: NodeJS.Timeout | undefined;
  const maybeReload = (why: string) => {
    let text: string;
    try {
      text = readFileSync(opts.configPath, 'utf8');
    } catch {
      log.error(
        { event: 'config_rejected' },
        `config file ${opts.configPath} is unreadable, keeping the previous one`,
      );
      return;
    }
    if (why === 'change' && text === lastText) return;
    if (broker.reload()) lastText = text;
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(opts.configPath), (_event, file) => {
      if (file !== null && file !== basename(opts.configPath)) return;
      clearTimeout(timer);
      timer = setTimeout(() => maybeReload('change'), 150);
    });
  } catch (err: unknown) {
    log.warn({ err }, 'cannot watch the config file: reload with SIGHUP');
  }
  const onHup = () => maybeReload('signal');
  const onUsr2 = () => {
    broker.rotate().catch((err: unknown) => log.error({ err }, 'key rotation failed'));
  };
  if (opts.signals !== false) {
    process.on('SIGHUP', onHup);
    process.on('SIGUSR2', onUsr2);
    process.off('SIGUSR2', onEarlyUsr2);
    if (rotateWhenUp) onUsr2();
  }

  return {
    broker,
    server,
    url,
    async stop() {
      process.off('SIGHUP', onHup);
      process.off('SIGUSR2', onUsr2);
      watcher?.close();
      clearTimeout(timer);
      await drain(server, opts.drainMs ?? DRAIN_MS, log);
      // Every answer has gone out; what the store still holds is at most audit rows and writes whose callers were
      // already told state_unavailable. A database that hangs (stopped, cut off) must not hold the exit for ever.
      const closing = broker.close();
      let closeTimer: NodeJS.Timeout | undefined;
      const closed = await Promise.race([
        closing.then(() => true),
        new Promise<false>((r) => (closeTimer = setTimeout(() => r(false), opts.closeMs ?? CLOSE_MS))),
      ]);
      clearTimeout(closeTimer);
      if (!closed) {
        closing.catch(() => undefined);
        log.warn(
          { event: 'state_close_timeout' },
          `the state did not close within ${(opts.closeMs ?? CLOSE_MS) / 1000} s: stopping without it`,
        );
      }
      rmSync(pidFile, { force: true });
      lock.release();
      log.flush();
    },
  };
}

function listen(broker: Broker, port: number, host: string): Promise<Server> {
  return new Promise<Server>((resolveServer, reject) => {
    const s = createServer(broker.listener());
    // Read each peer address as the connection is accepted: Node keeps it once read, so a request whose client has
    // already closed the socket is still known by its address (app.ts UNKNOWN_PEER otherwise).
    s.on('connection', (socket) => void socket.remoteAddress);
    s.once('error', reject);
    s.listen(port, host, () => resolveServer(s));
  });
}

/**
 * Stops accepting connections, closes idle keep-alive connections as they become idle, and waits for the requests in
 * flight to be answered; past `ms` the remaining connections are cut.
 */
async function drain(server: Server, ms: number, log: Logger): Promise<void> {
  const http = server as Server & { closeIdleConnections?: () => void; closeAllConnections?: () => void };
  const closed = new Promise<void>((r) => server.close(() => r()));
  http.closeIdleConnections?.();
  const idle = setInterval(() => http.closeIdleConnections?.(), 25);
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    closed.then(() => true),
    new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), ms);
    }),
  ]);
  clearInterval(idle);
  clearTimeout(timer);
  if (!drained) {
    log.warn(
      { event: 'drain_timeout', ms },
      `requests still in flight after ${ms} ms: closing their connections`,
    );
    http.closeAllConnections?.();
    await closed;
  }
}
