// The SQLite group commit's worker thread (sqlite-commit-worker.ts): a crash, or a worker that stops answering, fails
// its batches with StoreUnavailableError (nothing hangs, the jti stays unused) and the next batch runs on a new
// worker; batches and audit rows commit through it; it never keeps the process alive. Runs under Node 20
// (better-sqlite3) and Node 24 (node:sqlite) like sqlite.test.ts.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { expectEndsOnItsOwn } from '../../../test/support/alone';
import { until } from '../../../test/support/wait';
import { openStore } from './index';
import { DELETE_JTI, INSERT_JTI, SqliteStore } from './sqlite';
import { CommitWorker } from './sqlite-commit-worker';
import type { CommitOutcome, CommitWorkerOptions } from './sqlite-commit-worker';
import { defaultDriver, openSqlite } from './sqlite-driver';
import type { SqlDatabase, SqlValue } from './sqlite-driver';
import { StoreUnavailableError } from './types';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'broker-sqlite-worker-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

it('openStore starts the commit worker and waits until it has opened the file: the first use does not pay its start', async () => {
  // On a loaded host a worker's start (60-80 ms here when idle) took longer than the 1 s deadline: a broker's first
  // exchange failed with state_unavailable in a CI run. Now the worker is up before the broker takes requests.
  const state = await openStore({ engine: 'sqlite' }, { dataDir: dir });
  try {
    expect((state as SqliteStore).commitWorker.started).toBe(1);
    expect(await state.useJti('iss', 'first', 4102444800)).toBe(true);
    expect(await state.useJti('iss', 'first', 4102444800)).toBe(false);
    expect((state as SqliteStore).commitWorker.started).toBe(1);
  } finally {
    await state.close();
  }
});

it('a worker that dies before it has opened the file: start() rejects with the file and the cause, and a later start tries again', async () => {
  // openStore awaits start() and refuses to open the store when it rejects (the broker then does not start). Here
  // only the worker's open fails: its directory does not exist yet (the main thread has opened nothing here).
  const file = join(dir, 'not-yet', 'state.db');
  const errors: unknown[] = [];
  const worker = testWorker(file, { deadlineMs: 1_000, onError: (err) => errors.push(err) });
  try {
    const failed = worker.start();
    await expect(failed).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(failed).rejects.toThrow(`the broker state's commit worker could not open ${file}: `);
    expect(errors).toHaveLength(1);
    // Not replaced by itself: a file the worker cannot open would fail each new one the same way.
    await new Promise((done) => setTimeout(done, 100));
    expect(worker.started).toBe(1);
    // Once the file is there (an operator fixed it), the next start opens it on a new worker, which commits.
    mkdirSync(join(dir, 'not-yet'));
    const db = openSqlite(file);
    db.exec(
      'CREATE TABLE spent_jti (issuer TEXT, jti TEXT, expires_at INTEGER, insert_id INTEGER, PRIMARY KEY (expires_at, issuer, jti))',
    );
    db.exec('CREATE TABLE audit (at INTEGER)');
    db.close();
    await worker.start();
    expect(worker.started).toBe(2);
    expect(
      await worker.commit({
        jtis: [['iss', 'after', 4102444800]],
        audits: [[1]],
        deadline: Date.now() + 1_000,
      }).won,
    ).toEqual([true]);
  } finally {
    await worker.close();
  }
});

it('a worker crash fails its batch with StoreUnavailableError; the jti stays unused and a new worker commits it', async () => {
  const state = new SqliteStore({ dataDir: dir });
  try {
    expect(await state.useJti('iss', 'before', 4102444800)).toBe(true);
    expect(state.commitWorker.started).toBe(1);
    state.commitWorker.crash();
    const uses = [
      state.useJti('iss', 'c-1', 4102444800),
      state.useJti('iss', 'c-2', 4102444800),
      state.useJti('iss', 'c-1', 4102444800),
    ];
    for (const use of uses) await expect(use).rejects.toBeInstanceOf(StoreUnavailableError);
    // The replacement is started then, not by the next batch, which so does not wait for a thread's start.
    expect(state.commitWorker.started).toBe(2);
    const db = openSqlite(join(dir, 'state.db'));
    expect(db.prepare("SELECT count(*) AS n FROM spent_jti WHERE jti IN ('c-1', 'c-2')").get()?.n).toBe(0);
    db.close();
    expect(await state.useJti('iss', 'c-1', 4102444800)).toBe(true);
    expect(await state.useJti('iss', 'c-1', 4102444800)).toBe(false);
    expect(state.commitWorker.started).toBe(2);
  } finally {
    await state.close();
  }
});

it('a worker that does not answer fails its batches at the deadline, and is replaced after the grace', async () => {
  const state = await shortDeadline();
  try {
    expect(await state.useJti('iss', 'before', 4102444800)).toBe(true);
    state.commitWorker.hang(60_000);
    const started = Date.now();
    const uses = [state.useJti('iss', 'h-1', 4102444800), state.useJti('iss', 'h-2', 4102444800)];
    for (const use of uses) {
      await expect(use).rejects.toThrow(
        /did not commit within 200 ms: the commit worker did not answer by then/,
      );
      await expect(use).rejects.toBeInstanceOf(StoreUnavailableError);
    }
    // Failed at the deadline (200 ms), not at the deadline plus the grace (1 s) as before: an exchange's 503 comes
    // within its write deadline even when the disk does not answer.
    expect(Date.now() - started).toBeLessThan(900);
    // The stuck thread is replaced after the grace; the next use commits on the new one.
    await until(5_000, () => state.commitWorker.started === 2);
    expect(await answer(state, 'h-1')).toBe(true);
    const db = openSqlite(join(dir, 'state.db'));
    expect(db.prepare("SELECT jti FROM spent_jti WHERE jti LIKE 'h-%' ORDER BY jti").all()).toEqual([
      { jti: 'h-1' },
    ]);
    db.close();
  } finally {
    await state.close();
  }
});

it('a batch that commits after its deadline: its uses failed at the deadline, and its jtis are deleted again, so they stay unused', async () => {
  const state = await shortDeadline();
  try {
    expect(await state.useJti('iss', 'before', 4102444800)).toBe(true);
    // The next batch sits 600 ms inside its transaction (its INSERT done), then commits: past its deadline, within
    // the grace, so the worker is not replaced.
    state.commitWorker.stall(600);
    const started = Date.now();
    await expect(state.useJti('iss', 's-1', 4102444800)).rejects.toThrow(
      /did not commit within 200 ms: the commit worker did not answer by then/,
    );
    expect(Date.now() - started).toBeLessThan(550);
    // Nothing was minted for s-1 (its use failed), so the late commit must not leave it used: once the worker has
    // answered, the jti is deleted again and the same token's next try wins (as the 503's Retry-After promises).
    // (A try while the stalled batch is still in the worker fails at its own deadline: not yet.)
    await until(5_000, () => state.useJti('iss', 's-1', 4102444800));
    expect(await answer(state, 's-1')).toBe(false);
    expect(state.commitWorker.started).toBe(1);
  } finally {
    await state.close();
  }
});

it.each([
  ['after its COMMIT landed, before it said so', true],
  ['inside its transaction, holding the write lock', false],
])(
  'a worker given up on %s: the next one deletes what the batch inserted, and only that',
  async (_, after) => {
    // Seen in a CI run on a loaded host: a COMMIT that outlasted the deadline and the grace, its worker replaced in the
    // middle; the batch landed, what it owed was lost with the worker, and the token's retry was refused as a replay
    // although its use had been answered 503 (nothing minted). Let go inside its transaction, the worker ends it and
    // closes its connection, so the write lock is released for the next one.
    const state = await shortDeadline();
    try {
      expect(await state.useJti('iss', 'spent', 4102444800)).toBe(true);
      // The next batch sits silent (committed, or not yet) far past the deadline and the grace (1 s).
      state.commitWorker.stall(10_000, after);
      const uses = [state.useJti('iss', 'cut-1', 4102444800), state.useJti('iss', 'spent', 4102444800)];
      for (const use of uses) await expect(use).rejects.toBeInstanceOf(StoreUnavailableError);
      await until(5_000, () => state.commitWorker.started === 2);
      await until(5_000, () => state.commitWorker.owing === 0);
      // The batch's own jti is unused again: its retry wins once. The replay of a jti used before stays refused: the
      // batch did not insert it, so the new worker left it alone.
      expect(await answer(state, 'cut-1')).toBe(true);
      expect(await answer(state, 'cut-1')).toBe(false);
      expect(await answer(state, 'spent')).toBe(false);
    } finally {
      await state.close();
    }
  },
);

it('closed while a worker sits silent after its COMMIT: what the batch inserted is deleted on the store connection', async () => {
  // close() waits for the worker (the grace, then a second after 'close'), then ends it: a worker that never comes back
  // from its COMMIT cannot delete what it owes, so the store does, before it closes the file.
  const errors: unknown[] = [];
  const state = new SqliteStore({ dataDir: dir, writeDeadlineMs: 200, onError: (err) => errors.push(err) });
  let closed = false;
  try {
    await state.commitWorker.start();
    expect(await state.useJti('iss', 'spent', 4102444800)).toBe(true);
    state.commitWorker.stall(10_000, true);
    const uses = [state.useJti('iss', 'cut-1', 4102444800), state.useJti('iss', 'spent', 4102444800)];
    for (const use of uses) await expect(use).rejects.toBeInstanceOf(StoreUnavailableError);
    await state.close();
    closed = true;
    const db = openSqlite(join(dir, 'state.db'));
    // The worker let go wakes now and closes its connection, the file's last, which checkpoints the WAL under an
    // exclusive lock: this reader waits for it as any reader would (without, 1 run in 10-15 read 'database is locked').
    db.exec('PRAGMA busy_timeout = 2000');
    expect(rows(db, 'cut-1')).toBe(0);
    expect(rows(db, 'spent')).toBe(1);
    db.close();
    expect(errors).toEqual([]);
  } finally {
    if (!closed) await state.close();
  }
});

it('batches the main thread gave up on with their worker are rolled back, not committed behind its back', () =>
  // The worker is closed while stuck (longer than close() waits for it: the grace, 1 s) with a batch in its queue:
  // that batch's uses were failed, so it must not land when the worker gets to it.
  onLateWorker(async (db, worker) => {
    worker.hang(1_500);
    const queued = use(worker, 'queued', 5_000);
    const failed = expect(queued.won).rejects.toThrow(/commit worker was closed/);
    await worker.close();
    await failed;
    expect(rows(db, 'queued')).toBe(0);
  }));

it('an answer that was on its way when the deadline struck: the batch fails, and its jtis are deleted from the main thread', () => {
  // The worker's own deadline is normally a little before the main thread's, so a commit that ends late is undone in
  // the worker. Here it is 300 ms after it (lateAnswers()): the worker commits after the main thread has failed the
  // batch, and answers that it won.
  const errors: unknown[] = [];
  return onLateWorker(
    async (db, worker) => {
      worker.stall(400);
      const late = use(worker, 'late', 200, [[1]]);
      await expect(late.won).rejects.toThrow(
        /did not commit within 200 ms: the commit worker did not answer by then/,
      );
      expect(rows(db, 'late')).toBe(0); // not committed yet: the worker is in its stall
      // It commits at about 400 ms (its audit row is then written: `written` resolves); the main thread then sends
      // the undo, which deletes the jti.
      await late.written;
      expect(db.prepare('SELECT count(*) AS n FROM audit').get()?.n).toBe(1);
      await until(5_000, () => rows(db, 'late') === 0);
      expect(await use(worker, 'late', 200).won).toEqual([true]);
      expect(errors).toEqual([]);
    },
    { onError: (err) => errors.push(err) },
  );
});

it('a COMMIT that fails on a lock is tried again, and the batch wins once the lock is released', () => {
  // With a rollback journal, COMMIT needs the file's exclusive lock: a reader's transaction makes it fail with
  // SQLITE_BUSY after the worker's busy_timeout (5 ms), the batch already marked as committing. Its next try must
  // not take that mark for the main thread's giving up (it did in one version: the batch failed at once).
  const errors: unknown[] = [];
  return onLateWorker(
    async (db, worker) => {
      db.exec('BEGIN');
      db.prepare('SELECT count(*) AS n FROM spent_jti').get(); // a shared lock, until COMMIT below
      const started = Date.now();
      const batch = use(worker, 'busy');
      await new Promise((done) => setTimeout(done, 150));
      db.exec('COMMIT');
      expect(await batch.won).toEqual([true]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      expect(rows(db, 'busy')).toBe(1);
      expect(worker.owing).toBe(0);
      expect(errors).toEqual([]);
    },
    { onError: (err) => errors.push(err), rollbackJournal: true },
  );
});

it('a COMMIT that fails while another broker on the file uses the same jti: the retry leaves that row alone, and loses', () =>
  // Several brokers may share the file. The batch's COMMIT fails on a reader's lock (its insert rolled back: nothing
  // of it is on disk); before its next try another connection inserts the same jti and commits: its use was answered
  // 200 there. The worker's next try must find the jti used. In one version the worker owed the jti after the failed
  // COMMIT and the next try deleted the other broker's row and won too: the token minted twice.
  onLateWorker(
    async (db, worker) => {
      const other = openSqlite(join(dir, 'state.db'));
      try {
        other.exec('PRAGMA busy_timeout = 2000');
        db.exec('BEGIN');
        db.prepare('SELECT count(*) AS n FROM spent_jti').get(); // a shared lock, until COMMIT below
        const batch = use(worker, 'shared', 1_500);
        await new Promise((done) => setTimeout(done, 100));
        other.exec('BEGIN IMMEDIATE');
        const insert = other.prepare(
          "INSERT INTO spent_jti (issuer, jti, expires_at, insert_id) VALUES ('iss', 'shared', 4102444800, 7) ON CONFLICT DO NOTHING",
        );
        expect(Number(insert.run().changes)).toBe(1);
        db.exec('COMMIT');
        other.exec('COMMIT');
        expect(await batch.won).toEqual([false]);
        expect(db.prepare("SELECT insert_id FROM spent_jti WHERE jti = 'shared'").get()?.insert_id).toBe(7);
        await until(5_000, () => worker.owing === 0);
      } finally {
        other.close();
      }
    },
    { rollbackJournal: true },
  ));

it('a COMMIT that fails with an I/O error: the batch fails, what it inserted is owed, and the undo spares a row another broker wrote since', () => {
  // Such a COMMIT may have left the batch in the WAL, so it is not tried again and its jtis are deleted again; the
  // delete names the batch's insert id, so the same jti used since by another broker on the file (its row, its 200)
  // stays used.
  const errors: unknown[] = [];
  return onLateWorker(
    async (db, worker) => {
      worker.failCommit();
      const failed = use(worker, 'io');
      // Then the worker sits still (no payment yet) while the other broker inserts the same jti.
      worker.hang(400);
      await expect(failed.won).rejects.toThrow(/did not commit within 200 ms: disk I\/O error \(a test\)/);
      expect(worker.owing).toBe(1);
      expect(String(errors[0])).toMatch(/disk I\/O error \(a test\)/);
      db.prepare(
        "INSERT INTO spent_jti (issuer, jti, expires_at, insert_id) VALUES ('iss', 'io', 4102444800, 7)",
      ).run();
      // The worker pays what it owes once it moves again (or first thing in the next batch): the row of insert id 7
      // is not the failed batch's.
      expect(await use(worker, 'next').won).toEqual([true]);
      await until(5_000, () => worker.owing === 0);
      expect(db.prepare("SELECT insert_id FROM spent_jti WHERE jti = 'io'").get()?.insert_id).toBe(7);
      expect(await use(worker, 'io').won).toEqual([false]);
    },
    { onError: (err) => errors.push(err), rollbackJournal: true },
  );
});

it('a worker stuck inside a SQLite call (waiting on a lock) is replaced, and the process lives on', async () => {
  // The watchdog used to end a silent worker with terminate(), which cannot stop a native call: the thread ended once
  // the call came back, into a JavaScript being torn down, and under better-sqlite3 12.11.1 (Node 20) a call that came
  // back with an error aborted the whole process ("FATAL ERROR: v8::ToLocalChecked Empty MaybeLocal" in
  // Database::ThrowSqliteError), the broker with every exchange in it. Now it lets the worker go (letGo()). Both ways
  // back are tried: the call gets the lock (it returns a value) and the call gives up on it (it throws SQLITE_BUSY).
  const { file, db } = workerFile();
  const errors: unknown[] = [];
  const worker = testWorker(file, { graceMs: 100, onError: (err) => errors.push(err) });
  try {
    await worker.start();
    for (let i = 0; i < 6; i++) {
      const gotLock = i % 2 === 0;
      db.exec('BEGIN IMMEDIATE');
      // Its next BEGIN IMMEDIATE waits for the lock inside SQLite for up to 5 s, or 500 ms.
      worker.busyTimeout(gotLock ? 5_000 : 500);
      const started = Date.now();
      const stuck = use(worker, `stuck-${i}`, 200);
      await expect(stuck.won).rejects.toThrow(
        /did not commit within 200 ms: the commit worker did not answer/,
      );
      // Replaced at the deadline and the grace (300 ms), while the old thread still waits in SQLite.
      await until(5_000, () => worker.started === i + 2);
      if (!gotLock) await new Promise((done) => setTimeout(done, Math.max(0, 700 - (Date.now() - started))));
      db.exec('COMMIT');
      // The old thread's call comes back (with the lock, or with SQLITE_BUSY) and the thread ends: the process goes
      // on, and the new worker commits the use that failed (nothing was minted for it: its jti is unused). 5 s: the
      // new worker's start and the old one's hold on the lock both count against it, and a loaded host is slow at both.
      expect(await use(worker, `stuck-${i}`, 5_000).won).toEqual([true]);
    }
    expect(rows(db, 'stuck-5')).toBe(1);
    expect(errors.filter((err) => !/locked|busy/i.test(String(err)))).toEqual([]);
  } finally {
    await worker.close();
    db.close();
  }
});

it('closed right after the deadline failed a batch whose success is still to come: close() lets it in and its jti is deleted', () =>
  onLateWorker(async (db, worker) => {
    worker.stall(400);
    const late = use(worker, 'late', 200);
    await expect(late.won).rejects.toBeInstanceOf(StoreUnavailableError);
    const started = Date.now();
    await worker.close();
    expect(Date.now() - started).toBeLessThan(1_500);
    // Without the wait the success was ignored once closing began, and its jti stayed used.
    expect(rows(db, 'late')).toBe(0);
  }));

it('a late batch: its audit rows are written and their writes resolve; closed right after, the worker still deletes its jti', async () => {
  const state = await shortDeadline();
  let closed = false;
  try {
    expect(await state.useJti('iss', 'before', 4102444800)).toBe(true);
    state.commitWorker.stall(500);
    const use = state.useJti('iss', 'late-1', 4102444800);
    const audit = state.audit({
      at: 1,
      provider: 'github-actions',
      issuer: 'iss',
      outcome: 'ok',
      requestId: 'rides',
    });
    await expect(use).rejects.toBeInstanceOf(StoreUnavailableError);
    // The audit row rode in the late batch: it is on disk, so its write is not reported as lost.
    await expect(audit).resolves.toBeUndefined();
    const started = Date.now();
    await state.close();
    closed = true;
    // The worker found its COMMIT late and owed the jti's delete; closing, it paid it first.
    expect(Date.now() - started).toBeLessThan(1_500);
    const db = openSqlite(join(dir, 'state.db'));
    expect(rows(db, 'late-1')).toBe(0);
    expect(db.prepare("SELECT count(*) AS n FROM audit WHERE request_id = 'rides'").get()?.n).toBe(1);
    db.close();
  } finally {
    if (!closed) await state.close();
  }
});

it('a slow commit makes the store send one batch at a time; a quick one, two again', async () => {
  // With two in flight on a slow disk the second batch waits a whole commit in the worker's queue: with a 450 ms
  // fsync that failed nine uses in ten against the 1 s deadline (one at a time: three in ten).
  // Whether a real commit is quick is up to the disk: in a CI run, with packages being installed beside it, commits
  // took 50 ms and more for a while, so the test waits for a quick one rather than taking the next for one.
  const state = new SqliteStore({ dataDir: dir });
  try {
    await state.commitWorker.start();
    expect(state.commitWorker.slow).toBe(false);
    state.commitWorker.stall(80);
    expect(await answer(state, 'slow')).toBe(true);
    expect(state.commitWorker.slow).toBe(true);
    const won: boolean[] = [];
    await until(20_000, async () => {
      won.push(await answer(state, `quick-${won.length}`));
      return !state.commitWorker.slow;
    });
    expect(won.every(Boolean)).toBe(true);
  } finally {
    await state.close();
  }
});

it('many uses and audit rows at once: every one committed before it resolves, each jti won exactly once', async () => {
  const state = new SqliteStore({ dataDir: dir });
  try {
    const uses = Array.from({ length: 300 }, (_, i) => state.useJti('iss', `m-${i % 200}`, 4102444800));
    const audits = Array.from({ length: 50 }, (_, i) =>
      state.audit({ at: 1, provider: 'github-actions', issuer: 'iss', outcome: 'ok', requestId: `a-${i}` }),
    );
    const won = await Promise.all(uses);
    await Promise.all(audits);
    expect(won.filter(Boolean)).toHaveLength(200);
    const db = openSqlite(join(dir, 'state.db'));
    expect(db.prepare('SELECT count(*) AS n FROM spent_jti').get()?.n).toBe(200);
    expect(db.prepare('SELECT count(*) AS n FROM audit').get()?.n).toBe(50);
    db.close();
  } finally {
    await state.close();
  }
});

it('a jti claimed again while its batch is with the worker waits for that batch: a replay if it commits, its failure if it fails', async () => {
  // The store keeps the claims of each batch in flight, not only of the batch being gathered: a second claim that
  // went into the next batch instead would win the jti once the first batch failed (an answer the first claim never got).
  const state = await shortDeadline();
  const sent = () => new Promise((done) => setImmediate(done)); // the turn's batch has gone to the worker
  try {
    const first = state.useJti('iss', 'twice', 4102444800);
    await sent();
    const again = state.useJti('iss', 'twice', 4102444800);
    expect(await first).toBe(true);
    expect(await again).toBe(false);

    state.commitWorker.failCommit();
    const failing = state.useJti('iss', 'failed', 4102444800);
    await sent();
    const meanwhile = state.useJti('iss', 'failed', 4102444800);
    await expect(failing).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(meanwhile).rejects.toBeInstanceOf(StoreUnavailableError);
    // Settled, the claim is forgotten: the jti was never used, so the next try (the action's retry) wins it.
    expect(await answer(state, 'failed')).toBe(true);
    expect(await state.useJti('iss', 'failed', 4102444800)).toBe(false);
  } finally {
    await state.close();
  }
});

it('closed twice at once (a drain and a signal): both resolve once the worker is gone and the file closed', async () => {
  const errors: unknown[] = [];
  const state = new SqliteStore({ dataDir: dir, onError: (err) => errors.push(err) });
  await state.commitWorker.start();
  expect(await state.useJti('iss', 'twice', 4102444800)).toBe(true);
  await Promise.all([state.close(), state.close()]);
  await state.close();
  expect(errors).toEqual([]);
});

it('the worker never keeps the process alive, closed or not', () => {
  const store = resolve(import.meta.dirname, 'sqlite.ts');
  const code = `
    const { SqliteStore } = await import(${JSON.stringify(store)});
    const a = new SqliteStore({ dataDir: ${JSON.stringify(join(dir, 'a'))} });
    if ((await a.useJti('iss', 'x', 4102444800)) !== true) process.exit(2);
    const b = new SqliteStore({ dataDir: ${JSON.stringify(join(dir, 'b'))} });
    if ((await b.useJti('iss', 'x', 4102444800)) !== true) process.exit(3);
    await b.close();
    console.log('done');
  `;
  expectEndsOnItsOwn(code);
});

/**
 * A store whose writes have 200 ms, its worker started first as openStore does: the first use does not pay the
 * thread's start, which on a loaded host took longer than that in one run (its use failed, not the test's point).
 */
async function shortDeadline(): Promise<SqliteStore> {
  const state = new SqliteStore({ dataDir: dir, writeDeadlineMs: 200 });
  await state.commitWorker.start();
  return state;
}

/**
 * One use of `jti` (issuer 'iss') that is answered: tried again while it fails with StoreUnavailableError (as the
 * actions retry a 503), for up to 5 s. On a loaded host a commit can outlast a test's 200 ms deadline; that try's jti
 * stays unused, so what the answer says is the same.
 */
async function answer(state: SqliteStore, jti: string): Promise<boolean> {
  const end = Date.now() + 5_000;
  for (;;) {
    try {
      return await state.useJti('iss', jti, 4102444800);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || Date.now() > end) throw err;
      await new Promise((done) => setTimeout(done, 50));
    }
  }
}

/**
 * A commit worker on a fresh file (WAL, as the store has it: the test's reads never wait for the worker's
 * transaction) whose own deadline is 300 ms after the main thread's 200 ms one: its answer is a success on its way
 * past the main thread's deadline, as an answer delayed on its way would be. With `rollbackJournal`, the file has a
 * rollback journal and the worker gives up a little before the main thread, as in the store.
 */
function lateAnswers(
  onError: (err: unknown) => void,
  rollbackJournal = false,
): {
  db: SqlDatabase;
  worker: CommitWorker;
} {
  const { file, db } = workerFile(rollbackJournal);
  const worker = testWorker(file, { earlyMs: rollbackJournal ? 50 : -300, onError });
  return { db, worker };
}

/**
 * A fresh state.db with the two tables the commit worker writes (WAL, as the store has it, so the test's reads never
 * wait for the worker's transaction; or a rollback journal), and the test's own connection to it, which waits up to
 * 1 s for a lock.
 */
function workerFile(rollbackJournal = false): { file: string; db: SqlDatabase } {
  const file = join(dir, 'state.db');
  const db = openSqlite(file);
  db.exec(`PRAGMA journal_mode = ${rollbackJournal ? 'DELETE' : 'WAL'}`);
  db.exec('PRAGMA busy_timeout = 1000');
  db.exec(
    'CREATE TABLE spent_jti (issuer TEXT, jti TEXT, expires_at INTEGER, insert_id INTEGER, PRIMARY KEY (expires_at, issuer, jti))',
  );
  db.exec('CREATE TABLE audit (at INTEGER)');
  return { file, db };
}

/** A commit worker on `file` (not started): a 200 ms deadline and a 1 s grace unless `opts` says otherwise. */
function testWorker(file: string, opts: Partial<CommitWorkerOptions> = {}): CommitWorker {
  return new CommitWorker({
    file,
    driver: defaultDriver(),
    synchronous: 'FULL',
    busyTimeoutMs: 5,
    retryMs: 5,
    deadlineMs: 200,
    graceMs: 1_000,
    insertJti: INSERT_JTI,
    insertAudit: 'INSERT INTO audit (at) VALUES (?)',
    deleteJti: DELETE_JTI,
    onError: () => undefined,
    ...opts,
  });
}

/**
 * Runs `body` with a started lateAnswers() worker and the test's own connection to its file; closes both after, also
 * when the body closed the worker itself.
 */
async function onLateWorker(
  body: (db: SqlDatabase, worker: CommitWorker) => Promise<void>,
  opts: { onError?: (err: unknown) => void; rollbackJournal?: boolean } = {},
): Promise<void> {
  const { db, worker } = lateAnswers(opts.onError ?? (() => undefined), opts.rollbackJournal);
  try {
    await worker.start();
    await body(db, worker);
  } finally {
    await worker.close();
    db.close();
  }
}

/** One use of `jti` (issuer 'iss') with a deadline `ms` from now, and its audit rows. */
function use(worker: CommitWorker, jti: string, ms = 1_000, audits: SqlValue[][] = []): CommitOutcome {
  return worker.commit({ jtis: [['iss', jti, 4102444800]], audits, deadline: Date.now() + ms });
}

/** How many used-jti rows `jti` has on disk (0 or 1). */
function rows(db: SqlDatabase, jti: string): unknown {
  return db.prepare('SELECT count(*) AS n FROM spent_jti WHERE jti = ?').get(jti)?.n;
}
