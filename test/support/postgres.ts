// The tests' PostgreSQL (scripts/postgres.sh): its URL (from `npm test`, or started here when a test file runs on
// its own: never a skip), a fresh database per test, and stopping and starting the server mid-test. Processes
// are started with async spawn only: the HTTP servers under test live in this process.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net, { connect } from 'node:net';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { freePort } from './ports';

const root = resolve(import.meta.dirname, '..', '..');

/** Runs scripts/postgres.sh `command`; resolves with its stdout, rejects with its stderr's last lines. */
export function postgresScript(
  command: 'up' | 'down' | 'status' | 'url',
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  return new Promise((ok, fail) => {
    const child = spawn('bash', [resolve(root, 'scripts', 'postgres.sh'), command], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => {
      if (code === 0) ok(out.trim());
      else
        fail(
          new Error(
            `scripts/postgres.sh ${command} failed (${code}): ${err.trim().split('\n').slice(-3).join(' | ')}`,
          ),
        );
    });
  });
}

let cached: string | undefined;

/** The URL of the `broker` database: BROKER_TEST_DATABASE_URL (npm test), else `scripts/postgres.sh up`. */
export async function testDatabaseUrl(): Promise<string> {
  cached ??= process.env.BROKER_TEST_DATABASE_URL || (await postgresScript('up'));
  if (!cached.startsWith('postgres://')) throw new Error('scripts/postgres.sh up printed no postgres:// URL');
  return cached;
}

/** The same server, another database. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A new empty database owned by the broker role (dropped by `drop`). */
export async function freshDatabase(): Promise<TestDatabase> {
  const base = await testDatabaseUrl();
  const name = `broker_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    url: withDatabase(base, name),
    name,
    drop: () => dropDatabase(base, name),
  };
}

/**
 * Drops database `name` on the server at `base`, ending the connections a test left open (WITH (FORCE)). As a
 * non-superuser, FORCE refuses to end a backend whose role we are not a member of: an autovacuum worker busy in the
 * database, or a backend still starting up (a clean-clone run failed a teardown so; the server had just logged a
 * connection ended mid-handshake). Then a plain DROP, which stops autovacuum workers itself, retried while such a
 * backend is still exiting (55006, object in use).
 */
export async function dropDatabase(base: string, name: string): Promise<void> {
  const c = new pg.Client({ connectionString: base });
  await c.connect();
  try {
    try {
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      return;
    } catch (err: unknown) {
      if ((err as { code?: string }).code !== '42501') throw err;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name}`);
        return;
      } catch (err: unknown) {
        if ((err as { code?: string }).code !== '55006' || attempt >= 25) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    await c.end();
  }
}

export interface PrivateServer {
  /** The URL of its `broker` database. */
  url: string;
  /** Stops it (scripts/postgres.sh down: by pid, fast shutdown). */
  stop(): Promise<void>;
  /** Starts it again. */
  start(): Promise<void>;
  /** Stops it and removes its cluster. */
  destroy(): Promise<void>;
}

/**
 * A PostgreSQL server of the test's own (scripts/postgres.sh with its own state dir and a free port), for tests that
 * stop the database mid-run: stopping the shared one would break whatever else runs against it at the time (another
 * test run on this machine). About 2 s to create.
 */
export async function privateServer(): Promise<PrivateServer> {
  // Under the engine's state dir, not TMPDIR: the postgres user must reach the cluster (a mkdtemp dir is 0700 root).
  const state = join(
    process.env.DEPOT_ENGINE_STATE ?? '/var/lib/depot-engine',
    'postgres-private',
    randomBytes(6).toString('hex'),
  );
  mkdirSync(state, { recursive: true, mode: 0o755 });
  const env = { ...process.env, DEPOT_ENGINE_STATE: state, DEPOT_POSTGRES_PORT: String(await freePort()) };
  const url = await postgresScript('up', env);
  return {
    url,
    stop: async () => void (await postgresScript('down', env)),
    start: async () => void (await postgresScript('up', env)),
    destroy: async () => {
      await postgresScript('down', env);
      rmSync(state, { recursive: true, force: true });
    },
  };
}

/** A fresh BROKER_KEY_SECRET value. */
export function keySecret(): string {
  return randomBytes(32).toString('base64');
}

export interface Bouncer {
  /** `url` with PgBouncer's port: the same role, password and database, through PgBouncer. */
  url: string;
  /** Its log so far. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * PgBouncer (bookworm's, installed by scripts/postgres.sh) in front of the server of `url`, in session mode (what a
 * broker needs: LISTEN, advisory locks and prepared statements live in a session) unless `mode` says another (to
 * see the broker refuse it), with PgBouncer's defaults
 * otherwise: startup parameters it does not track are refused. Runs as the postgres user (it refuses root), its
 * files under the engine's state dir.
 */
export async function pgbouncer(
  url: string,
  mode: 'session' | 'transaction' | 'statement' = 'session',
): Promise<Bouncer> {
  const target = new URL(url);
  const dir = join(
    process.env.DEPOT_ENGINE_STATE ?? '/var/lib/depot-engine',
    'pgbouncer',
    randomBytes(6).toString('hex'),
  );
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const port = await freePort();
  const user = decodeURIComponent(target.username);
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  writeFileSync(join(dir, 'userlist.txt'), `${quote(user)} ${quote(decodeURIComponent(target.password))}\n`, {
    mode: 0o600,
  });
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    `[databases]
* = host=${target.hostname} port=${target.port || '5432'}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = ${join(dir, 'userlist.txt')}
pool_mode = ${mode}
logfile = ${join(dir, 'pgbouncer.log')}
pidfile = ${join(dir, 'pgbouncer.pid')}
`,
  );
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  for (const f of ['', 'userlist.txt', 'pgbouncer.ini']) chownSync(join(dir, f), uid, gid);
  const child = spawn('/usr/sbin/pgbouncer', [join(dir, 'pgbouncer.ini')], { uid, gid, stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const log = () => {
    try {
      return readFileSync(join(dir, 'pgbouncer.log'), 'utf8');
    } catch {
      return '';
    }
  };
  // Listening once a connection is accepted.
  for (let i = 0; ; i++) {
    if (child.exitCode !== null)
      throw new Error(`pgbouncer exited (${child.exitCode}): ${log().slice(-500)}`);
    const up = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => (s.end(), r(true)));
      s.on('error', () => r(false));
    });
    if (up) break;
    if (i > 100) throw new Error(`pgbouncer did not listen on ${port}: ${log().slice(-500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const through = new URL(url);
  through.port = String(port);
  return {
    url: through.toString(),
    log,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGINT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** How spoilingProxy() spoils an answer (its comment says each). */
export type Spoiled = 'cut' | 'dropped' | 'abandoned';

/**
 * A TCP proxy in front of the server of `url` that spoils the answers to chosen statements: once armed, the next
 * `times` connections that send bytes matching `match` (a statement's text, or its prepared name) get their answers
 * after that `cut` (both sockets closed as the answer comes: the statement ran and committed, the client hears only
 * a lost connection), `dropped` (never forwarded: the client waits for an answer that never comes) or `abandoned`
 * (the server's side closed as the answer comes, the client's left open and silent: the client waits in vain while
 * the server, or a pooler in front of it, has seen it go). `seen` counts every match, armed or not.
 */
export async function spoilingProxy(url: string) {
  const target = new URL(url);
  let armed: { match: (d: Buffer) => boolean; how: Spoiled; times: number } | undefined;
  let seen = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    let spoiled: Spoiled | undefined;
    client.on('data', (d: Buffer) => {
      if (armed?.match(d)) {
        seen++;
        if (armed.times > 0 && spoiled === undefined) {
          armed.times--;
          spoiled = armed.how;
        }
      }
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (spoiled === 'cut') {
        client.destroy();
        upstream.destroy();
      } else if (spoiled === 'abandoned') upstream.destroy();
      else if (spoiled === undefined) client.write(d);
    });
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      a.on('error', () => b.destroy());
      a.on('close', () => {
        if (!(a === upstream && spoiled === 'abandoned')) b.destroy();
        sockets.delete(a);
      });
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String((server.address() as net.AddressInfo).port);
  return {
    url: proxied.toString(),
    arm(match: (d: Buffer) => boolean, how: Spoiled, times = 1) {
      armed = { match, how, times };
    },
    seen: () => seen,
    close: () =>
      new Promise<void>((ok) => {
        for (const sock of sockets) sock.destroy();
        server.close(() => ok());
      }),
  };
}

/** The error a promise rejects with (a resolved promise fails the test). */
export function refusal(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
}

/** How many used_jti rows hold `jti`, read on a connection of its own. */
export async function usedRows(url: string, jti: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query('SELECT 1 FROM used_jti WHERE jti = $1', [jti])).rowCount ?? 0;
  } finally {
    await c.end();
  }
}
