// The PostgreSQL store when the database or the network fails around it (scripts/postgres.sh; never skipped): the
// undos owed for uses answered 503 (kept until done, ending the backend of an unanswered use first, awaited by
// close()), close() bounded and once, a database URL pg cannot use, and the migration lock held by another session.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, refusal, testDatabaseUrl, usedRows } from '../../../test/support/postgres';
import { until } from '../../../test/support/wait';
import type { TestDatabase } from '../../../test/support/postgres';
import { StoreUnavailableError } from './types';
import { openPostgresStore, PostgresStore } from './postgres';
import type { PostgresStoreOptions } from './postgres';

const open: PostgresStore[] = [];
const dbs: TestDatabase[] = [];
const proxies: Proxy[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether `p` settles within `ms`: 'resolved', 'rejected: <message>' or 'pending'. */
function within(p: Promise<unknown>, ms: number): Promise<string> {
  return Promise.race([
    p.then(
      () => 'resolved',
      (e: unknown) => `rejected: ${(e as Error).message}`,
    ),
    sleep(ms).then(() => 'pending'),
  ]);
}

async function database(): Promise<TestDatabase> {
  const db = await freshDatabase();
  dbs.push(db);
  return db;
}

async function store(
  url: string,
  opts: Partial<PostgresStoreOptions> = {},
): Promise<{ s: PostgresStore; reports: string[] }> {
  const reports: string[] = [];
  const s = await PostgresStore.open({
    url,
    keySecret: randomBytes(32),
    dataDir: '/nonexistent',
    onError: (e) => reports.push((e as Error).message),
    ...opts,
  });
  open.push(s);
  return { s, reports };
}

afterEach(async () => {
  // Bounded: a store that never closes (the failure under test) must not hold the next test.
  await within(Promise.all(open.splice(0).map((s) => s.close())), 10_000);
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await Promise.all(dbs.splice(0).map((d) => d.drop()));
});

beforeAll(async () => {
  await testDatabaseUrl();
});

/** The store's pooled connections waiting on a lock now. */
async function lockWaiters(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'depot-oidc-broker' AND wait_event_type = 'Lock'`,
    );
    return r.rows[0]?.n ?? -1;
  } finally {
    await c.end();
  }
}

/** Another transaction's uncommitted insert of `jti`: a use of it waits on that row until `release`. */
async function holdingLock(url: string, jti: string) {
  const raw = new pg.Client({ connectionString: url });
  raw.on('error', () => undefined); // ended by the database's drop if a test fails while it holds the lock
  await raw.connect();
  await raw.query('BEGIN');
  await raw.query("INSERT INTO used_jti (issuer, jti, expires_at) VALUES ('https://iss', $1, 9000000000)", [
    jti,
  ]);
  return {
    release: async (how: 'COMMIT' | 'ROLLBACK') => {
      await raw.query(how);
      await raw.end();
    },
  };
}

type Spoil =
  /** The bytes reach the server, then the client's connection is reset (the server's socket closes 50 ms later). */
  | 'cutAfterForward'
  /** The bytes never reach the server; both sockets are reset. */
  | 'cutBeforeForward'
  /** As cutAfterForward, and at that moment the database becomes unreachable (down(true)), until down(false). */
  | 'cutAfterForwardThenDown';

interface Proxy {
  url: string;
  /** The next `times` client->server chunks matching `match` are spoiled. */
  arm(match: (d: Buffer) => boolean, how: Spoil, times?: number): void;
  /** Every connection reset and new ones refused (the database unreachable) until down(false). */
  down(on: boolean): void;
  /** Nothing passes either way, and no FIN or RST either (a partition). */
  partition(): void;
  seen(): number;
  close(): Promise<void>;
}

/** A TCP proxy in front of the server of `url` that can cut connections, refuse them or black-hole them. */
async function proxy(url: string): Promise<Proxy> {
  const target = new URL(url);
  let armed: { match: (d: Buffer) => boolean; how: Spoil; times: number } | undefined;
  let refusing = false;
  let blackhole = false;
  let seen = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (d: Buffer) => {
      if (blackhole) return;
      if (armed && armed.times > 0 && armed.match(d)) {
        seen++;
        armed.times--;
        if (armed.how === 'cutBeforeForward') {
          client.destroy();
          upstream.destroy();
          return;
        }
        const how = armed.how;
        upstream.write(d, () => {
          client.destroy();
          setTimeout(() => upstream.destroy(), 50);
          if (how === 'cutAfterForwardThenDown') {
            refusing = true;
            for (const s of sockets) if (s !== upstream) s.destroy();
          }
        });
        return;
      }
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (!blackhole && !client.destroyed) client.write(d);
    });
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      a.on('error', () => undefined);
      a.on('close', () => {
        sockets.delete(a);
        if (!blackhole && a === upstream) b.destroy();
        // A client gone: its server connection follows, unless the bytes on their way are held (cutAfterForward
        // closes it itself, 50 ms later).
        if (!blackhole && a === client) setTimeout(() => b.destroy(), 50);
      });
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String((server.address() as net.AddressInfo).port);
  const p: Proxy = {
    url: proxied.toString(),
    arm(match, how, times = 1) {
      armed = { match, how, times };
    },
    down(on) {
      refusing = on;
      if (on) for (const s of sockets) s.destroy();
    },
    partition() {
      blackhole = true;
    },
    seen: () => seen,
    close: () =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
  proxies.push(p);
  return p;
}

const has = (s: string) => (d: Buffer) => d.includes(s);

/**
 * A use answered 503 while its insert waited on another transaction's row lock, that insert then committing late (so
 * its undo is due), and the undo's first try cut before it reached the server.
 */
async function undoTryCut(jti: string) {
  const db = await database();
  const px = await proxy(db.url);
  const { s, reports } = await store(px.url, { writeDeadlineMs: 300 });
  const held = await holdingLock(db.url, jti);
  expect(await refusal(s.useJti('https://iss', jti, 9e9))).toBeInstanceOf(StoreUnavailableError);
  px.arm(has('broker-unuse-jtis'), 'cutBeforeForward');
  await held.release('ROLLBACK');
  await until(3_000, async () => px.seen() === 1);
  return { db, px, s, reports };
}

describe('undos owed for uses answered 503', () => {
  it('an unanswered use still waiting on a row lock when its connection is lost: its backend is ended, so the insert never commits later and the token retried wins', async () => {
    const db = await database();
    const px = await proxy(db.url);
    // A deadline long enough that the server's statement_timeout (2.5 s) cannot be what ends the waiting insert.
    const { s } = await store(px.url, { writeDeadlineMs: 2_000 });
    const { s: other } = await store(db.url);
    // Another transaction holds the same key (another use of the token, about to fail); this instance's insert
    // reaches the server and waits on it; then the client's connection is reset (a NAT, a load balancer).
    const held = await holdingLock(db.url, 'waiting');
    px.arm(has('broker-use-jtis'), 'cutAfterForward');
    expect(await refusal(s.useJti('https://iss', 'waiting', 9e9))).toBeInstanceOf(StoreUnavailableError);
    // The undo ends that backend while the lock is still held (a DELETE alone would find nothing: the insert is
    // still waiting, and commits once the lock goes).
    await until(1_000, async () => (await lockWaiters(db.url)) === 0);
    await held.release('ROLLBACK'); // the waiting insert would commit now, had its backend not been ended
    await sleep(1_500);
    expect(await usedRows(db.url, 'waiting')).toBe(0);
    expect(await other.useJti('https://iss', 'waiting', 9e9)).toBe(true);
    expect(await s.useJti('https://iss', 'waiting', 9e9)).toBe(false);
  });

  it('an undo owed through an outage longer than its old five tries is done once the database is back', async () => {
    const db = await database();
    const px = await proxy(db.url);
    const { s } = await store(px.url, { writeDeadlineMs: 1_000 });
    const { s: other } = await store(db.url);
    // The insert commits, the connection drops, and the database stays unreachable for 7 s (a failover).
    px.arm(has('broker-use-jtis'), 'cutAfterForwardThenDown');
    expect(await refusal(s.useJti('https://iss', 'failover', 9e9))).toBeInstanceOf(StoreUnavailableError);
    await sleep(7_000);
    expect(await usedRows(db.url, 'failover')).toBe(1);
    px.down(false);
    await until(8_000, async () => (await usedRows(db.url, 'failover')) === 0);
    expect(await other.useJti('https://iss', 'failover', 9e9)).toBe(true);
  }, 30_000);

  it('an outage under load owes undos only for the uses sent before it, and pays every one once the database is back', async () => {
    // What the owed undos can grow to: a use whose statement never left (queued, or its connection refused) owes
    // nothing, so an outage adds none however many uses come during it; only those sent as it began are owed.
    const db = await database();
    const px = await proxy(db.url);
    const { s, reports } = await store(px.url, { writeDeadlineMs: 1_000 });
    const { s: other } = await store(db.url);
    expect(await s.useJti('https://iss', 'warm', 9e9)).toBe(true);
    // The first statement of used jtis reaches the server and commits; then every connection is reset and new ones
    // are refused (a failover).
    px.arm(has('broker-use-jtis'), 'cutAfterForwardThenDown');
    const before = Array.from({ length: 100 }, (_, i) => `before-${i}`);
    for (const e of await Promise.all(before.map((j) => refusal(s.useJti('https://iss', j, 9e9)))))
      expect(e).toBeInstanceOf(StoreUnavailableError);
    const owed = s.stats().owedJtis;
    expect(owed).toBeGreaterThan(0);
    expect(owed).toBeLessThanOrEqual(before.length);
    // Three more waves during the outage: refused, and not one more undo owed.
    const during: string[] = [];
    for (let wave = 0; wave < 3; wave++) {
      const jtis = Array.from({ length: 100 }, (_, i) => `during-${wave}-${i}`);
      during.push(...jtis);
      for (const e of await Promise.all(jtis.map((j) => refusal(s.useJti('https://iss', j, 9e9)))))
        expect(e).toBeInstanceOf(StoreUnavailableError);
      expect(s.stats().owedJtis).toBe(owed);
    }
    px.down(false);
    await until(15_000, async () => s.stats().owedJtis === 0);
    // Nothing of it stays used: each token's retry wins (here through another instance), once.
    for (const j of [...before, ...during]) expect(await other.useJti('https://iss', j, 9e9)).toBe(true);
    expect(reports.filter((r) => r.startsWith('gave up'))).toEqual([]);
  }, 40_000);

  it('close() right after an undo try failed: the undo is tried again and done before the pool ends', async () => {
    // The undo's first try is cut before it reaches the server (a blip), then the store is closed (a SIGTERM).
    const { db, s, reports } = await undoTryCut('closing');
    expect(await usedRows(db.url, 'closing')).toBe(1);
    await s.close();
    expect(await usedRows(db.url, 'closing')).toBe(0);
    expect(reports).toEqual([]);
  });

  it('an undo that cannot be done before close() ends is given up within its bound, and reported by issuer, jti and insert id (never the password)', async () => {
    const { db, px, s, reports } = await undoTryCut('given-up');
    px.down(true);
    const start = Date.now();
    expect(await within(s.close(), 10_000)).toBe('resolved');
    expect(Date.now() - start).toBeLessThan(7_000);
    const report = reports.find((r) => r.startsWith('gave up undoing'));
    expect(report).toMatch(/issuer https:\/\/iss, jti given-up, insert id [0-9a-f-]{36} may stay used/);
    expect(report).not.toContain(new URL(db.url).password);
  });
});

describe('close()', () => {
  it('a second close() resolves only once the pool has ended', async () => {
    const db = await database();
    const { s } = await store(db.url);
    const st = s as unknown as { closed: boolean; pool: { ended: boolean } };
    const first = s.close();
    while (!st.closed) await sleep(0);
    await s.close();
    expect(st.pool.ended).toBe(true);
    await first;
  });

  it('with the network cut (no FIN, no RST) and a transaction in flight: bounded, the connections cut', async () => {
    const db = await database();
    const px = await proxy(db.url);
    const { s } = await store(px.url, { writeDeadlineMs: 1_000 });
    expect(await s.useJti('https://iss', 'warm', 9e9)).toBe(true);
    await sleep(200);
    px.partition();
    const purge = s.purgeExpired(Math.floor(Date.now() / 1000), 0).catch((e: unknown) => e);
    await sleep(100);
    const start = Date.now();
    expect(await within(s.close(), 12_000)).toBe('resolved');
    expect(Date.now() - start).toBeLessThan(8_000);
    expect(await purge).toBeInstanceOf(Error);
  }, 30_000);
});

describe('a database URL pg cannot use', () => {
  it('a port that is not a number from 1 to 65535 (?port=abc): refused at once, naming the variable, never the URL', async () => {
    const base = new URL(await testDatabaseUrl());
    const env = { BROKER_KEY_SECRET: randomBytes(32).toString('base64') };
    for (const bad of ['?port=abc', '?port=0', '?port=70000']) {
      const url = `${base.toString()}${bad}`;
      const out = await within(
        openPostgresStore('MY_DB_URL', { ...env, MY_DB_URL: url }, { dataDir: '/nonexistent' }),
        3_000,
      );
      expect(out).toBe(
        "rejected: MY_DB_URL: the database URL's port (or its ?port= parameter) is not a number from 1 to 65535",
      );
    }
    // A parameter pg cannot use as it connects (a file it cannot read): refused before any connection, in pg's words.
    const url = `${base.toString()}?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem`;
    const out = await within(
      PostgresStore.open({ url, keySecret: randomBytes(32), dataDir: '/nonexistent' }),
      3_000,
    );
    expect(out).toMatch(/^rejected: the database URL cannot be used: ENOENT/);
    expect(out).not.toContain(base.password);
  });
});

describe('the migration lock held by another session', () => {
  it('open() says it waits for another instance, and fails with a clear error past its limit', async () => {
    const db = await database();
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [0x6465706f746d6967n.toString()]);
      const reports: string[] = [];
      const opening = PostgresStore.open({
        url: db.url,
        keySecret: randomBytes(32),
        dataDir: '/nonexistent',
        onError: (e) => reports.push((e as Error).message),
        migrationLockWaitMs: 1_500,
      });
      const out = await within(opening, 6_000);
      expect(out).toMatch(/held the broker's migration lock .* is another broker instance stuck migrating/);
      expect(reports).toHaveLength(1);
      expect(reports[0]).toMatch(/waiting for another instance's migration/);
      expect(reports[0]).not.toContain(new URL(db.url).password);
      // Released: the next open migrates.
      await holder.query('SELECT pg_advisory_unlock($1)', [0x6465706f746d6967n.toString()]);
      const { s } = await store(db.url);
      expect(await s.version()).toBeGreaterThan(0);
    } finally {
      await holder.end();
    }
  });
});
