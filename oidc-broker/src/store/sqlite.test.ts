// The state file: versioned migrations from any earlier version without loss, and revocations that another process
// (`broker revoke`) writes and a running broker reads. Runs under Node 20 (better-sqlite3) and Node 24 (node:sqlite):
// `npm run test:store:node24`.
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DELETE_JTI,
  MIGRATIONS,
  PURGE_JTI,
  PURGE_RANGE_ROWS,
  REVOCATION_POLL_MS,
  SCHEMA_VERSION,
  SqliteStore,
  sqliteAdvice,
} from './sqlite';
import { defaultDriver, openSqlite } from './sqlite-driver';
import type { SqlValue } from './sqlite-driver';
import { StoreUnavailableError } from './types';
import { writeFirstReleaseState } from '../../../test/support/first-release-state';

const open = (d: string) => new SqliteStore({ dataDir: d });
const Database = function (file: string) {
  const db = openSqlite(file);
  return {
    exec: (sql: string) => db.exec(sql),
    pragma: (p: string) => db.exec(`PRAGMA ${p}`),
    close: () => db.close(),
  };
} as unknown as new (file: string) => { exec(sql: string): void; pragma(p: string): void; close(): void };

it(`opens with ${process.versions.node.startsWith('20.') ? 'better-sqlite3' : 'node:sqlite'} on Node ${process.version}`, async () => {
  expect(defaultDriver()).toBe(process.versions.node.startsWith('20.') ? 'better-sqlite3' : 'node:sqlite');
  const state = open(dir);
  expect(state.driver).toBe(defaultDriver());
  return state.close();
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'broker-state-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A data dir as the first broker release left it: the two tables, no user_version. */
const firstReleaseFile = () => writeFirstReleaseState(dir);

describe('migrations', () => {
  it('bring a first-release data dir to the current version, keeping its jtis and audit rows', async () => {
    firstReleaseFile();
    const state = open(dir);
    try {
      expect(await state.version()).toBe(SCHEMA_VERSION);
      expect(await state.useJti('https://issuer.test', 'jti-old', 4102444800)).toBe(false);
      expect(await state.queryAudit({})).toEqual([
        {
          at: 1700000000,
          provider: 'github-actions',
          issuer: 'github-actions',
          outcome: 'ok',
          project: 'web',
          repository: 'acme/web',
          tokenSha256: 'abc',
        },
      ]);
      await state.audit({
        at: 1,
        provider: 'p',
        issuer: 'i',
        outcome: 'ok',
        requestId: 'r-1',
        client: '127.0.0.2',
      });
      expect(await state.queryAudit({ requestId: 'r-1' })).toEqual([
        { at: 1, provider: 'p', issuer: 'i', outcome: 'ok', requestId: 'r-1', client: '127.0.0.2' },
      ]);
    } finally {
      await state.close();
    }
  });

  it('are applied once: reopening changes nothing', async () => {
    await open(dir).close();
    const state = open(dir);
    expect(await state.version()).toBe(SCHEMA_VERSION);
    await state.close();
  });

  it('are not applied by a broker command (upgrade: false): an older file is refused as it is; a new data dir is set up', async () => {
    firstReleaseFile();
    expect(() => new SqliteStore({ dataDir: dir, upgrade: false })).toThrow(
      `the broker state (schema version 0) is older than this release's (version ${SCHEMA_VERSION}), and a broker command does not upgrade it`,
    );
    const db = openSqlite(join(dir, 'state.db'));
    try {
      expect(db.prepare('PRAGMA user_version').get()).toEqual({ user_version: 0 });
      expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all()).toEqual([
        { name: 'audit' },
        { name: 'sqlite_sequence' },
        { name: 'used_jti' },
      ]);
    } finally {
      db.close();
    }
    // Once the broker of this release has opened it (and upgraded it), the command opens it.
    await open(dir).close();
    const command = new SqliteStore({ dataDir: dir, upgrade: false });
    expect(await command.useJti('https://issuer.test', 'jti-old', 4102444800)).toBe(false);
    await command.close();
    const fresh = mkdtempSync(join(tmpdir(), 'broker-state-'));
    try {
      const created = new SqliteStore({ dataDir: fresh, upgrade: false });
      expect(await created.version()).toBe(SCHEMA_VERSION);
      await created.close();
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });

  it('refuse a file written by a newer broker, in one line', async () => {
    const db = new Database(join(dir, 'state.db'));
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => open(dir)).toThrow(
      `the broker state (schema version ${SCHEMA_VERSION + 1}) was written by a newer broker than this one`,
    );
  });
});

describe('used jtis carry their batch (version 5)', () => {
  it('a broker of an earlier version still on the file can neither insert nor delete a used jti; those used before stay used', async () => {
    // Its undo deletes by issuer and jti alone, which could take a row another broker won with: its statements on
    // used jtis fail instead (its uses 503, nothing minted; its undo deletes nothing) until it is upgraded.
    firstReleaseFile();
    const state = open(dir);
    try {
      expect(await state.useJti('https://issuer.test', 'jti-new', 4102444800)).toBe(true);
      expect(await state.useJti('https://issuer.test', 'jti-old', 4102444800)).toBe(false);
      const older = openSqlite(join(dir, 'state.db'));
      try {
        for (const sql of [
          "INSERT INTO used_jti (issuer, jti, expires_at) VALUES ('https://issuer.test', 'jti-v4', 4102444800) ON CONFLICT DO NOTHING",
          "DELETE FROM used_jti WHERE issuer = 'https://issuer.test' AND jti = 'jti-new'",
        ])
          expect(() => older.prepare(sql).run()).toThrow(/no such table: used_jti/);
      } finally {
        older.close();
      }
      expect(await state.useJti('https://issuer.test', 'jti-new', 4102444800)).toBe(false);
      expect(await state.useJti('https://issuer.test', 'jti-v4', 4102444800)).toBe(true);
    } finally {
      await state.close();
    }
  });

  it('a file of the development builds that wrote version 5 as a column on used_jti opens, its jtis kept', async () => {
    firstReleaseFile();
    const db = openSqlite(join(dir, 'state.db'));
    for (const [v, sql] of MIGRATIONS.slice(1, 4).entries())
      db.exec(`${sql}; PRAGMA user_version = ${v + 2}`);
    db.exec('ALTER TABLE used_jti ADD COLUMN insert_id INTEGER; PRAGMA user_version = 5');
    db.close();
    const state = open(dir);
    try {
      expect(await state.useJti('https://issuer.test', 'jti-old', 4102444800)).toBe(false);
      expect(await state.useJti('https://issuer.test', 'jti-new', 4102444800)).toBe(true);
    } finally {
      await state.close();
    }
  });
});

describe('used jtis keyed by expiry (version 6)', () => {
  it('a version 5 file keeps its used jtis and their insert ids, now keyed by expiry first', async () => {
    firstReleaseFile();
    const db = openSqlite(join(dir, 'state.db'));
    for (const [v, sql] of MIGRATIONS.slice(1, 5).entries())
      db.exec(`${sql}; PRAGMA user_version = ${v + 2}`);
    db.exec(
      "INSERT INTO spent_jti (issuer, jti, expires_at, insert_id) VALUES ('https://issuer.test', 'jti-v5', 4102444860, 7)",
    );
    db.close();
    const state = open(dir);
    try {
      expect(await state.version()).toBe(6);
      // Used before the upgrade, with the same token's expiry: still a replay.
      expect(await state.useJti('https://issuer.test', 'jti-old', 4102444800)).toBe(false);
      expect(await state.useJti('https://issuer.test', 'jti-v5', 4102444860)).toBe(false);
      expect(await state.useJti('https://issuer.test', 'jti-new', 4102444800)).toBe(true);
    } finally {
      await state.close();
    }
    const after = openSqlite(join(dir, 'state.db'));
    try {
      expect(
        after
          .prepare("SELECT insert_id FROM spent_jti WHERE jti IN ('jti-old', 'jti-v5') ORDER BY jti")
          .all(),
      ).toEqual([{ insert_id: 0 }, { insert_id: 7 }]);
      // The key's columns, in order: expiry first, so a batch's uses are neighbours and the expired are the start.
      const pk = after.prepare("SELECT name FROM pragma_index_list('spent_jti') WHERE origin = 'pk'").get();
      const key = after
        .prepare('SELECT name FROM pragma_index_info(?) ORDER BY seqno')
        .all(String(pk?.name))
        .map((r) => r.name);
      expect(key).toEqual(['expires_at', 'issuer', 'jti']);
    } finally {
      after.close();
    }
  });
});

describe('a state that does not open', () => {
  const handles = () =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
      } catch {
        return false;
      }
    }).length;

  it('a statement that does not prepare: the error, and the file closed again', async () => {
    await open(dir).close();
    const db = openSqlite(join(dir, 'state.db'));
    db.exec('ALTER TABLE claim RENAME COLUMN checked TO looked');
    db.close();
    expect(handles()).toBe(0);
    for (let i = 0; i < 3; i++) expect(() => open(dir)).toThrow(/checked/);
    expect(handles()).toBe(0);
  });

  it('the advice follows what SQLite said', () => {
    const file = '/srv/broker/state.db';
    expect(
      [
        'database is locked',
        'database disk image is malformed',
        'database or disk is full',
        'disk I/O error',
        'attempt to write a readonly database',
        'unable to open database file',
      ].map((m) => sqliteAdvice(file, m)),
    ).toEqual([
      'another process holds its write lock (a broker on this data dir, a sqlite3 session): stop it, then try again',
      "it is damaged, or not a broker's state.db: restore a backup (npm run broker -- restore --from FILE)",
      'make room on the disk that holds /srv/broker',
      'make room on the disk that holds /srv/broker',
      'this user must be able to read and write it and its folder (/srv/broker)',
      'this user must be able to read and write it and its folder (/srv/broker)',
    ]);
  });

  it('not a database: names the file and what to check, in one line', () => {
    writeFileSync(join(dir, 'state.db'), 'x'.repeat(4096));
    expect(() => open(dir)).toThrow(
      new RegExp(
        `^the broker state ${join(dir, 'state.db')} could not be opened \\(.*not a database.*\\): it is damaged, or not a broker's state.db: restore a backup \\(npm run broker -- restore --from FILE\\)$`,
      ),
    );
    expect(handles()).toBe(0);
  });
});

/** A data dir as the release before fork-PR claims left it: schema version 2, with a revocation and audit rows. */
function version2File(): void {
  firstReleaseFile();
  const db = new Database(join(dir, 'state.db'));
  db.exec(`
    ALTER TABLE audit ADD COLUMN kind TEXT;
    ALTER TABLE audit ADD COLUMN request_id TEXT;
    ALTER TABLE audit ADD COLUMN client TEXT;
    ALTER TABLE audit ADD COLUMN sub TEXT;
    ALTER TABLE audit ADD COLUMN repository_id TEXT;
    ALTER TABLE audit ADD COLUMN sha TEXT;
    ALTER TABLE audit ADD COLUMN workflow_ref TEXT;
    ALTER TABLE audit ADD COLUMN job_workflow_ref TEXT;
    ALTER TABLE audit ADD COLUMN environment TEXT;
    ALTER TABLE audit ADD COLUMN actor TEXT;
    ALTER TABLE audit ADD COLUMN token_jti TEXT;
    ALTER TABLE audit ADD COLUMN requested TEXT;
    ALTER TABLE audit ADD COLUMN granted TEXT;
    CREATE INDEX audit_request ON audit (request_id);
    CREATE TABLE revocation (
      id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('jti', 'rule', 'project')), value TEXT NOT NULL, before INTEGER
    );
    INSERT INTO revocation (at, kind, value) VALUES (1700000001, 'project', 'kit');
    INSERT INTO audit (at, provider, issuer, outcome, kind, request_id, client)
      VALUES (1700000002, 'github-actions', 'github-actions', 'replayed', 'exchange', 'r-2', '10.0.0.1');
  `);
  db.pragma('user_version = 2');
  db.close();
}

const CLAIM = {
  idSha256: 'a'.repeat(64),
  challenge: 'challenge-0123456789ab',
  repository: 'acme/web',
  runId: 42,
  runAttempt: 1,
  pullRequest: 7,
  project: 'web',
  rule: 'web-main',
  createdAt: 1_000,
  expiresAt: 301_000,
};

describe('fork-PR claims', () => {
  it('a version 2 data dir gains the claims table and the audit columns, keeping what it had', async () => {
    version2File();
    const state = open(dir);
    try {
      expect(await state.version()).toBe(SCHEMA_VERSION);
      expect(SCHEMA_VERSION).toBe(6);
      expect(await state.revocations()).toMatchObject([{ kind: 'project', value: 'kit' }]);
      expect(await state.queryAudit({ requestId: 'r-2' })).toEqual([
        {
          at: 1700000002,
          provider: 'github-actions',
          issuer: 'github-actions',
          outcome: 'replayed',
          kind: 'exchange',
          requestId: 'r-2',
          client: '10.0.0.1',
        },
      ]);
      await state.createClaim(CLAIM);
      expect(await state.claim(CLAIM.idSha256)).toEqual(CLAIM);
      await state.audit({
        at: 2,
        provider: 'github-actions',
        issuer: 'github-actions',
        outcome: 'ok',
        kind: 'claim',
        requestId: 'r-3',
        pullRequest: '7',
        headRepository: 'stranger/web',
        headSha: 'b'.repeat(40),
        workflowPath: '.github/workflows/ci.yml',
        runAttempt: '1',
        claim: CLAIM.challenge,
      });
      expect((await state.queryAudit({ requestId: 'r-3' }))[0]).toMatchObject({
        pullRequest: '7',
        headRepository: 'stranger/web',
        claim: CLAIM.challenge,
      });
    } finally {
      await state.close();
    }
  });

  it('creation, refusal and the used mark are on disk at once (no flush, no close): one use, ever', async () => {
    const running = open(dir);
    await running.createClaim(CLAIM);
    await running.createClaim({ ...CLAIM, idSha256: 'b'.repeat(64) });
    // Another process sees them while the first is still running (nothing waits for the 5 ms batch).
    const other = open(dir);
    try {
      expect((await other.claim(CLAIM.idSha256))?.usedAt).toBeUndefined();
      expect(await running.useClaim(CLAIM.idSha256, 2_000)).toBe(true);
      expect((await other.claim(CLAIM.idSha256))?.usedAt).toBe(2_000);
      expect(await other.useClaim(CLAIM.idSha256, 3_000)).toBe(false);
      expect(await running.useClaim(CLAIM.idSha256, 3_000)).toBe(false);
      await running.refuseClaimWith('b'.repeat(64), 'not_a_fork', 'the head is the base');
      expect(await other.claim('b'.repeat(64))).toMatchObject({ refusal: 'not_a_fork' });
      // A refused claim is never used; an expired one neither.
      expect(await other.useClaim('b'.repeat(64), 3_000)).toBe(false);
      await other.createClaim({ ...CLAIM, idSha256: 'c'.repeat(64) });
      expect(await other.useClaim('c'.repeat(64), CLAIM.expiresAt)).toBe(false);
      expect(await other.purgeClaims(CLAIM.expiresAt + 1)).toBe(3);
      expect(await running.claim(CLAIM.idSha256)).toBeUndefined();
    } finally {
      await other.close();
      await running.close();
    }
  });
});

describe('revocations', () => {
  const token = { jti: 'tok-1', rule: 'web-main', project: 'web', issuedAt: 1000 };

  it('by jti, rule or project; `before` spares tokens issued after it', async () => {
    const state = open(dir);
    try {
      expect(await state.isRevoked(token)).toBeUndefined();
      await state.revoke('rule', 'web-main', 2000);
      expect(await state.isRevoked(token, Date.now() + REVOCATION_POLL_MS)).toMatchObject({ kind: 'rule' });
      expect(
        await state.isRevoked({ ...token, issuedAt: 2000 }, Date.now() + REVOCATION_POLL_MS),
      ).toBeUndefined();
      await state.revoke('jti', 'tok-2', undefined);
      expect(
        await state.isRevoked(
          { ...token, jti: 'tok-2', issuedAt: 9999 },
          Date.now() + 2 * REVOCATION_POLL_MS,
        ),
      ).toMatchObject({ kind: 'jti', value: 'tok-2' });
      await state.revoke('project', 'kit', undefined);
      expect(
        await state.isRevoked(
          { ...token, project: 'kit', issuedAt: 9999 },
          Date.now() + 3 * REVOCATION_POLL_MS,
        ),
      ).toMatchObject({ kind: 'project' });
      expect((await state.revocations()).map((r) => `${r.kind}:${r.value}`)).toEqual([
        'rule:web-main',
        'jti:tok-2',
        'project:kit',
      ]);
    } finally {
      await state.close();
    }
  });

  it('written by another process reach a running store within the poll interval, and survive a restart', async () => {
    const running = open(dir);
    const cli = open(dir);
    try {
      const t0 = Date.now();
      expect(await running.isRevoked(token, t0)).toBeUndefined();
      await cli.revoke('jti', 'tok-1', undefined);
      expect(await running.isRevoked(token, t0 + 1)).toBeUndefined(); // read at most every REVOCATION_POLL_MS
      expect(await running.isRevoked(token, t0 + REVOCATION_POLL_MS)).toMatchObject({ kind: 'jti' });
    } finally {
      await cli.close();
      await running.close();
    }
    const restarted = open(dir);
    expect(await restarted.isRevoked(token)).toMatchObject({ kind: 'jti', value: 'tok-1' });
    await restarted.close();
  });
});

describe('single use', () => {
  function lock(): { release(): void } {
    const db = openSqlite(join(dir, 'state.db'));
    db.exec('BEGIN IMMEDIATE');
    db.exec("INSERT INTO revocation (at, kind, value) VALUES (0, 'jti', 'lock-holder')");
    return {
      release() {
        db.exec('ROLLBACK');
        db.close();
      },
    };
  }

  it('a use resolves only once committed: another connection sees it at once', async () => {
    const state = new SqliteStore({ dataDir: dir });
    const other = new SqliteStore({ dataDir: dir });
    try {
      expect(await state.useJti('iss', 'j-1', 4102444800)).toBe(true);
      expect(await other.useJti('iss', 'j-1', 4102444800)).toBe(false);
    } finally {
      await other.close();
      await state.close();
    }
  });

  it('one jti from two stores on one file at once: exactly one wins', async () => {
    const a = new SqliteStore({ dataDir: dir });
    const b = new SqliteStore({ dataDir: dir });
    try {
      for (let i = 0; i < 20; i++) {
        const wins = await Promise.all([
          a.useJti('iss', `race-${i}`, 4102444800),
          b.useJti('iss', `race-${i}`, 4102444800),
          a.useJti('iss', `race-${i}`, 4102444800),
          b.useJti('iss', `race-${i}`, 4102444800),
        ]);
        expect(wins.filter(Boolean)).toHaveLength(1);
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a lock held by another connection: waits (without blocking the event loop) and commits once it is released', async () => {
    const state = new SqliteStore({ dataDir: dir });
    const held = lock();
    try {
      const use = state.useJti('iss', 'j-2', 4102444800);
      // The loop keeps turning while the write waits: no gap between ticks comes near a blocking busy_timeout
      // (1 s), whatever else loads the machine (a tick count would measure the load, not the store).
      const at: number[] = [];
      const tick = setInterval(() => at.push(Date.now()), 5);
      await new Promise((r) => setTimeout(r, 300));
      clearInterval(tick);
      const gaps = at.slice(1).map((t, i) => t - (at[i] as number));
      expect(at.length).toBeGreaterThan(2);
      expect(Math.max(...gaps)).toBeLessThan(500);
      held.release();
      expect(await use).toBe(true);
      expect(await state.useJti('iss', 'j-2', 4102444800)).toBe(false);
    } finally {
      await state.close();
    }
  });

  it('past the deadline: StoreUnavailableError, and the jti stays unused', async () => {
    const state = new SqliteStore({ dataDir: dir, writeDeadlineMs: 200 });
    const held = lock();
    try {
      const t0 = Date.now();
      await expect(state.useJti('iss', 'j-3', 4102444800)).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(Date.now() - t0).toBeLessThan(1_000);
      await expect(state.ready()).rejects.toThrow(/locked by another connection/);
    } finally {
      held.release();
    }
    await state.ready();
    expect(await state.useJti('iss', 'j-3', 4102444800)).toBe(true);
    expect(await state.useJti('iss', 'j-3', 4102444800)).toBe(false);
    await state.close();
  });
});

describe('purging expired jtis (housekeeping, each minute)', () => {
  /** Writes `rows` used jtis (`j-0`, `j-1`, ...) from another connection, in one transaction. */
  function writeUsed(rows: number, row: (i: number) => { issuer: string; expiresAt: number }): void {
    const db = openSqlite(join(dir, 'state.db'));
    try {
      const insert = db.prepare(
        'INSERT INTO spent_jti (issuer, jti, expires_at, insert_id) VALUES (?, ?, ?, 0)',
      );
      db.exec('BEGIN');
      for (let i = 0; i < rows; i++) {
        const { issuer, expiresAt } = row(i);
        insert.run(issuer, `j-${i}`, expiresAt);
      }
      db.exec('COMMIT');
    } finally {
      db.close();
    }
  }

  it('deletes the expired and only those, a key range at a time, the event loop turning between ranges', async () => {
    const state = open(dir);
    try {
      // 3.5 ranges of used jtis from two issuers, every third one expired (at one of 7 times: ranges end within a
      // time and across them).
      const rows = Math.round(PURGE_RANGE_ROWS * 3.5);
      writeUsed(rows, (i) => ({
        issuer: i % 2 ? 'https://a.test' : 'https://b.test',
        expiresAt: i % 3 === 0 ? 1_000 + (i % 7) : 4102444800,
      }));
      const expired = Math.ceil(rows / 3);
      let ticks = 0;
      const tick = setInterval(() => ticks++, 1);
      let purged: number;
      try {
        purged = await state.purgeExpired(2_000, 60);
      } finally {
        clearInterval(tick);
      }
      expect(purged).toBe(expired);
      // One DELETE over the table would have run without a turn of the event loop; a range at a time, timers ran.
      expect(ticks).toBeGreaterThan(0);
      const db = openSqlite(join(dir, 'state.db'));
      const left = db.prepare('SELECT count(*) AS n, min(expires_at) AS soonest FROM spent_jti').get();
      db.close();
      expect(left).toEqual({ n: rows - expired, soonest: 4102444800 });
      // Used jtis stay used, expired ones are gone: a replay of a live token is still refused.
      expect(await state.useJti('https://a.test', 'j-1', 4102444800)).toBe(false);
      expect(await state.purgeExpired(2_000, 60)).toBe(0);
    } finally {
      await state.close();
    }
  });

  it("reads only the expired rows it deletes: each statement searches the table's key, none scans the table", async () => {
    const state = open(dir);
    await state.close();
    const db = openSqlite(join(dir, 'state.db'));
    try {
      const plan = (sql: string, ...args: SqlValue[]) =>
        db
          .prepare(`EXPLAIN QUERY PLAN ${sql}`)
          .all(...args)
          .map((r) => String(r.detail));
      expect(plan(PURGE_JTI.rangeEnd, 2_000, PURGE_RANGE_ROWS - 1)).toEqual([
        'SEARCH spent_jti USING PRIMARY KEY (expires_at<?)',
      ]);
      // Bounded by the range's last key, not only by expiry (which would read every expired row for each range).
      expect(plan(PURGE_JTI.range, 1_000, 'https://a.test', 'j-1')).toEqual([
        'SEARCH spent_jti USING PRIMARY KEY ((expires_at,issuer,jti)<(?,?,?))',
      ]);
      expect(plan(PURGE_JTI.rest, 2_000)).toEqual(['SEARCH spent_jti USING PRIMARY KEY (expires_at<?)']);
      expect(plan(DELETE_JTI, 'https://a.test', 'j-1', 1_000, 7)).toEqual([
        'SEARCH spent_jti USING PRIMARY KEY (expires_at=? AND issuer=? AND jti=?)',
      ]);
    } finally {
      db.close();
    }
  });

  it('a purge the broker stops meanwhile ends quietly after its range (the next start purges the rest)', async () => {
    const state = open(dir);
    writeUsed(PURGE_RANGE_ROWS * 3, () => ({ issuer: 'https://a.test', expiresAt: 1_000 }));
    const purge = state.purgeExpired(2_000, 60);
    await state.close();
    const purged = await purge;
    expect(purged).toBeGreaterThan(0);
    expect(purged).toBeLessThan(PURGE_RANGE_ROWS * 3);
    const again = open(dir);
    try {
      expect(await again.purgeExpired(2_000, 60)).toBe(PURGE_RANGE_ROWS * 3 - purged);
    } finally {
      await again.close();
    }
  });
});

describe('what a move to PostgreSQL reads (store/adopt.ts)', () => {
  it('the audit trail a page at a time, oldest first, every row once; only the unexpired jtis; every claim', async () => {
    const state = open(dir);
    try {
      for (let i = 0; i < 5; i++) {
        await state.audit({
          at: 1000 + i,
          provider: 'github-actions',
          issuer: 'gh',
          outcome: 'ok',
          requestId: `r${i}`,
        });
      }
      expect(await state.useJti('gh', 'old', 100)).toBe(true);
      expect(await state.useJti('gh', 'live', 5000)).toBe(true);
      const pages = [...state.auditPages(2)];
      expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
      expect(pages.flat()).toEqual(await state.queryAudit({}));
      expect(pages.flat().map((r) => r.requestId)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
      expect(state.unexpiredJtis(4000)).toEqual([['gh', 'live', 5000]]);
      // Every claim, as claim() reads it: pending and used alike.
      const claim = {
        challenge: 'c',
        repository: 'o/r',
        runId: 1,
        runAttempt: 1,
        pullRequest: 2,
        project: 'p',
        rule: 'r',
      };
      await state.createClaim({ ...claim, idSha256: 'b', createdAt: 2, expiresAt: 9e12 });
      await state.createClaim({ ...claim, idSha256: 'a', createdAt: 1, expiresAt: 9e12 });
      expect(await state.useClaim('a', 5)).toBe(true);
      expect(state.claims()).toEqual([await state.claim('a'), await state.claim('b')]);
      expect(state.claims()[0]).toMatchObject({ idSha256: 'a', usedAt: 5 });
    } finally {
      await state.close();
    }
  });
});
