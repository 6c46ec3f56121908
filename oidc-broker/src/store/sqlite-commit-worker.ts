// The SQLite group commit off the event loop: a worker_threads worker holding its own connection to state.db runs
// each batch (BEGIN IMMEDIATE, the used jtis' INSERT ... ON CONFLICT DO NOTHING, the audit rows, COMMIT with its
// fsync) and answers which jtis inserted, one batch after the other in the order they came; the caller may send the
// next before the first is answered (it then waits in the worker's queue). A batch whose deadline passed while it
// waited there is answered as failed without an attempt.
//
// The worker retries a locked file itself (a short busy_timeout, then a nap of retryMs) until just before the batch's
// deadline, and gives up with everything rolled back; a batch still short of its COMMIT at that point is rolled back
// too (no fsync is spent on it). Should the worker not answer by the deadline (a write the disk does not answer), the
// batch's uses fail then (StoreUnavailableError); a worker that dies, or is still silent after a grace, is replaced at
// once (one that dies before it has opened the file is not replaced until the next batch, so a file it can never open
// costs one try per batch, not a loop); what a batch it was committing then may have landed is deleted again by the
// next worker (the batch's flag, below). A batch whose COMMIT ends after its deadline has had its uses failed, so its
// jtis are owed: deleted again first thing in the worker's next transaction, or in one of their own (not fsynced: a
// lost delete leaves a jti used, the safe side) once no message waits; its audit rows stay, and their writes resolve
// (`written`). While commits are slow (SLOW_COMMIT_MS) the store sends one batch at a time. openStore starts the first
// worker and waits until it has opened the file (start()), so a broker's first exchange does not spend its deadline on
// the thread's start. The worker is unref'd except while a batch is in flight: it never keeps the process alive. Its
// code is plain JavaScript evaluated in the worker (no loader, no bundler entry): node:sqlite through
// process.getBuiltinModule, better-sqlite3 from the path the main thread resolved.
import { randomInt } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../worker-heap';
import type { SqliteDriver, SqlValue } from './sqlite-driver';
import { StoreUnavailableError } from './types';

const SOURCE = String.raw`
const { parentPort, workerData: w } = require('node:worker_threads');
let db;
if (w.driver === 'node:sqlite') db = new (process.getBuiltinModule('node:sqlite').DatabaseSync)(w.file);
else db = new (require(w.betterSqlite3))(w.file);
db.exec('PRAGMA busy_timeout = ' + w.busyTimeoutMs);
db.exec('PRAGMA synchronous = ' + w.synchronous);
const insertJti = db.prepare(w.insertJti);
const insertAudit = db.prepare(w.insertAudit);
const deleteJti = db.prepare(w.deleteJti);
// Set (and notified) by the main thread when it lets go of this thread (close(), or a replacement): every wait below
// is on this word, so it ends at once, and no further attempt starts; the thread then closes by itself once it is
// back from the SQLite call it is in. It is never terminate()d: that cannot stop a native call, and the call's way
// back into a JavaScript being torn down aborted the whole process under better-sqlite3 (sqlite-worker.test).
const stop = w.stop;
let closing = false;
let stallMs = 0;
let lingerMs = 0;
let failCommit = false;
// Used jtis, [issuer, jti, expires_at, insert id], whose uses were answered as failed but which are, or may be, on
// disk (a batch that committed after its deadline, a COMMIT that failed otherwise than on a lock): nothing was minted
// for them, and they are deleted again first thing in the next transaction (no fsync of their own while batches come;
// a retry of the same token in that batch finds its jti deleted before its insert), or in one of their own once no
// message waits.
// A new worker starts with those its predecessor left unpaid (the main thread keeps the list).
let owed = w.owed;
let paying = false;
parentPort.postMessage({ ready: true });
payLater();
function isBusy(e) {
  if (!e) return false;
  if (e.code === 'SQLITE_BUSY' || e.code === 'SQLITE_LOCKED' || e.code === 'SQLITE_BUSY_SNAPSHOT') return true;
  if (typeof e.errcode === 'number' && (e.errcode & 0xff) >= 5 && (e.errcode & 0xff) <= 6) return true;
  return typeof e.message === 'string' && /database (table )?is locked/.test(e.message);
}
const PAST = new Error('its deadline passed before it could commit');
const GIVEN_UP = new Error('the main thread gave up on it (its deadline passed) before it could commit');
// work() in one write transaction, after the owed deletes, rolled back when it fails or its deadline passes before
// COMMIT (no fsync is spent on a batch whose waiters are failed); a locked file is tried again every retryMs until
// the deadline. A batch's flag (shared with the main thread) is swung from 0 to 1 just before its COMMIT, after its
// won bits are written there: should the main thread have swung it to 2 first (it gave up on this worker: replaced,
// dead or closing), the batch is rolled back; once it is 1, the main thread reads from the bits what the COMMIT may
// land, so that the next worker deletes it again should the answer never come (a worker cut off in its COMMIT). A
// COMMIT that fails on a lock wrote nothing (the transaction is rolled back): the worker swings the flag back from 1
// to 0 and tries again, unless the main thread gave up meanwhile (3). One that fails otherwise (an I/O error) may
// have left the batch in the WAL: it is not tried again; the flag stays 1, the worker owes what the batch inserted
// (deleted in its next transaction) and the batch is answered failed and uncertain, so the main thread owes it too.
// Every delete names the batch's insert id: only that batch's row goes, never the same jti inserted since by another
// broker on the file. Gives { value, ms, paid } (ms: from BEGIN to the end of COMMIT; paid: the owed jtis it deleted)
// or { failed, busy, uncertain }; an error other than a lock or the deadline is reported once (the main thread logs
// it).
function transaction(deadline, work, batch) {
  const flag = batch && batch.flag;
  let reported = false;
  for (;;) {
    // Given up on by the main thread while it waited for a lock, or the thread is about to be ended: no further
    // attempt.
    if (flag && Atomics.load(flag, 0) !== 0) return { failed: GIVEN_UP.message, busy: false };
    if (Atomics.load(stop, 0) !== 0) return { failed: 'the commit worker is being closed', busy: false };
    try {
      db.exec('BEGIN IMMEDIATE');
      const began = Date.now();
      let value;
      let committing = false;
      const paid = owed.length;
      try {
        for (const j of owed) deleteJti.run(...j);
        value = work();
        if (Date.now() > deadline) throw PAST;
        if (flag) {
          for (let i = 0; i < value.length; i++) flag[i + 1] = value[i] ? 1 : 0;
          if (Atomics.compareExchange(flag, 0, 0, 1) !== 0) throw GIVEN_UP;
          committing = true;
        }
        if (stallMs > 0) Atomics.wait(stop, 0, 0, stallMs); // a test: a COMMIT slow to reach the disk
        stallMs = 0;
        if (failCommit) {
          failCommit = false; // a test: a COMMIT that fails with an error other than a lock
          throw new Error('disk I/O error (a test)');
        }
        db.exec('COMMIT');
      } catch (e) {
        try { db.exec('ROLLBACK'); } catch {}
        if (committing && !isBusy(e)) {
          oweWon(batch, value);
          const message = String((e && e.message) || e);
          parentPort.postMessage({ report: message });
          return { failed: message, busy: false, uncertain: true };
        }
        if (committing && Atomics.compareExchange(flag, 0, 1, 0) !== 1) throw GIVEN_UP;
        throw e;
      }
      const done = paid > 0 ? owed.slice(0, paid) : undefined;
      if (paid > 0) owed = owed.slice(paid);
      // A test: the worker is slow to answer after its COMMIT landed (cut off there, it never tells what it owes).
      if (lingerMs > 0) Atomics.wait(stop, 0, 0, lingerMs);
      lingerMs = 0;
      return { value, ms: Date.now() - began, paid: done };
    } catch (e) {
      if (e === PAST || e === GIVEN_UP) return { failed: e.message, busy: false };
      const busy = isBusy(e);
      const message = String((e && e.message) || e);
      if (!busy && !reported) {
        reported = true;
        parentPort.postMessage({ report: message });
      }
      if (Date.now() + w.retryMs > deadline) return { failed: message, busy };
      Atomics.wait(stop, 0, 0, w.retryMs);
    }
  }
}
// What a batch inserted (won), owed: deleted again, by its insert id, first thing in the next transaction.
function oweWon(m, won) {
  for (let i = 0; i < m.jtis.length; i++) if (won[i]) owed.push([...m.jtis[i], m.insertId]);
}
// The owed deletes in a transaction of their own, once the messages waiting now are handled.
function payLater() {
  if (paying || owed.length === 0) return;
  paying = true;
  setImmediate(() => {
    paying = false;
    payOwed(w.deadlineMs);
  });
}
// Not synchronous: a delete lost to a power cut leaves its jti used, the safe side (a replay is refused, nothing is
// minted), so it need not wait for an fsync, nor make the next batch wait for one.
// At close (quiet), what is left is the store's to delete and to report.
function payOwed(ms, quiet) {
  if (owed.length === 0 || closing) return;
  db.exec('PRAGMA synchronous = OFF');
  let r;
  try {
    r = transaction(Date.now() + ms, () => undefined);
  } finally {
    db.exec('PRAGMA synchronous = ' + w.synchronous);
  }
  if (r.paid) parentPort.postMessage({ paid: r.paid });
  if (r.failed !== undefined && !quiet && Atomics.load(stop, 0) === 0)
    parentPort.postMessage({ report: owed.length + ' used jti(s) whose uses were answered as failed are not deleted again yet (the next write tries again; nothing was minted for them, and until then a replay of those tokens is refused): ' + r.failed });
}
parentPort.on('message', (m) => {
  if (m.type === 'close') {
    // Within the 700 ms close() waits before it lets the thread go (letGo() sets 'stop'): a file locked by
    // another broker ends this try first; what is left, the store deletes on its own connection.
    payOwed(500, true);
    closing = true;
    db.close();
    parentPort.close();
    return;
  }
  handle(m);
  payLater();
});
function handle(m) {
  if (m.type === 'crash') throw new Error('the commit worker was told to crash (a test)');
  if (m.type === 'hang') {
    Atomics.wait(stop, 0, 0, m.ms); // a test: stuck as on a disk that does not answer
    return;
  }
  if (m.type === 'fail') {
    failCommit = true;
    return;
  }
  if (m.type === 'busy') {
    // A test: SQLite's own wait for a lock (inside the driver's native call, where no JavaScript runs) set to m.ms.
    db.exec('PRAGMA busy_timeout = ' + m.ms);
    return;
  }
  if (m.type === 'stall') {
    // A test: the next COMMIT is slow, as on a disk slow to write (or, 'after', lands and then waits to be told).
    if (m.after) lingerMs = m.ms;
    else stallMs = m.ms;
    return;
  }
  if (m.type === 'undo') {
    for (const j of m.jtis) owed.push(j);
    return;
  }
  if (Atomics.load(m.flag, 0) !== 0) {
    // Given up on by the main thread (closing, or replacing this worker) while it waited here: not even begun.
    parentPort.postMessage({ id: m.id, failed: GIVEN_UP.message, busy: false });
    return;
  }
  if (Date.now() > m.deadline) {
    parentPort.postMessage({ id: m.id, failed: 'its deadline passed before the commit began', busy: false });
    return;
  }
  const r = transaction(m.deadline, () => {
    const won = m.jtis.map((j) => Number(insertJti.run(j[0], j[1], j[2], m.insertId).changes) === 1);
    for (const a of m.audits) insertAudit.run(...a);
    return won;
  }, m);
  if (r.failed !== undefined) {
    parentPort.postMessage({ id: m.id, failed: r.failed, busy: r.busy, uncertain: r.uncertain });
    return;
  }
  if (Date.now() > m.deadline) {
    // Its COMMIT ended after the deadline: answered as failed (its audit rows stay written), its jtis owed.
    oweWon(m, r.value);
    parentPort.postMessage({ id: m.id, failed: 'it committed after its deadline (its used jtis are deleted again)', busy: false, late: true, ms: r.ms, paid: r.paid });
    return;
  }
  parentPort.postMessage({ id: m.id, won: r.value, ms: r.ms, paid: r.paid });
}
`;

export interface CommitWorkerOptions {
  file: string;
  driver: SqliteDriver;
  synchronous: string;
  busyTimeoutMs: number;
  retryMs: number;
  /** The write deadline, for messages and for the owed deletes' transaction of their own. */
  deadlineMs: number;
  /** How long past a batch's deadline the worker may take to answer before it is given up on and replaced. */
  graceMs: number;
  /** How long before a batch's deadline the worker gives up on it (default WORKER_EARLY_MS; a test sets it below 0). */
  earlyMs?: number;
  /** Inserts one used jti: (issuer, jti, expires_at, insert_id), ON CONFLICT DO NOTHING. */
  insertJti: string;
  insertAudit: string;
  /**
   * Deletes one used jti (issuer, jti, insert_id) if the batch of that insert id wrote it: the undo of a use answered
   * as failed that may have committed.
   */
  deleteJti: string;
  /** A failure other than a lock, once per batch. */
  onError(err: unknown): void;
}

export interface CommitBatch {
  jtis: [issuer: string, jti: string, expiresAt: number][];
  /** Positional rows, in the order of the insertAudit statement's parameters. */
  audits: SqlValue[][];
  /** Date.now() after which no further attempt starts. */
  deadline: number;
}

interface Answer {
  /** The worker has opened the file and prepared its statements (its first message). */
  ready?: true;
  id?: number;
  won?: boolean[];
  /** A failure to log (onError), whatever batch it concerns. */
  report?: string;
  failed?: string;
  busy?: boolean;
  /** Failed because its COMMIT ended after the deadline: its audit rows are written (its jtis deleted again). */
  late?: boolean;
  /** A committed batch's transaction, from BEGIN to the end of COMMIT, in milliseconds. */
  ms?: number;
  /** Owed jtis it deleted (in a batch's transaction, or in one of their own: then with no id). */
  paid?: OwedJti[];
  /** Failed in its COMMIT with an error other than a lock: what it inserted may be on disk (the worker owes it). */
  uncertain?: boolean;
}

/** A used jti whose use was answered as failed and which may be on disk: deleted again if its batch wrote it. */
export type OwedJti = [issuer: string, jti: string, expiresAt: number, insertId: number];

/**
 * A commit that takes this long or more makes the store send one batch at a time (CommitWorker.slow): a second batch
 * would wait a whole commit in the worker's queue, which on a disk that slow pushes its oldest write past the
 * deadline (every fsync made to take 450 ms, 20 uses a second: 23 of 159 won with two in flight, 113 with one).
 */
const SLOW_COMMIT_MS = 50;

/** A batch's two outcomes. */
export interface CommitOutcome {
  /** Its uses: which jtis it inserted; settles by the deadline, rejected when not committed by then. */
  won: Promise<boolean[]>;
  /** Whether it is on disk, whenever the worker says so (a late commit too): what its audit rows wait for. */
  written: Promise<void>;
}

interface InFlight {
  id: number;
  resolve(won: boolean[]): void;
  reject(err: unknown): void;
  /** Settles `written`: on disk (also late), or not. */
  wrote(ok: true | Error): void;
  /** Fails the waiters at the batch's deadline when the worker has not answered by then. */
  overdue: NodeJS.Timeout;
  /** Replaces the worker when it has not answered by the deadline plus the grace. */
  watchdog: NodeJS.Timeout;
  /** Its uses were failed at the deadline (overdue): a later answer settles only `written`. */
  late: boolean;
  /** The batch's used jtis, so that those a late answer says were inserted can be undone. */
  jtis: CommitBatch['jtis'];
  /** Written with each of its rows (spent_jti.insert_id): an undo deletes a row only if this batch wrote it. */
  insertId: number;
  /**
   * Shared with the worker: [0] is 0 until the worker is about to COMMIT (1) or this thread has given up on the batch
   * with its worker (2: replaced, dead or closing), whichever swings it first (compareExchange); at 1, [1 + i] says
   * whether the batch inserted jtis[i]. A COMMIT that fails on a lock swings it back to 0 before the worker tries
   * again; given up on while committing, it is 3 (givenUpInCommit).
   */
  flag: Int32Array;
}

/**
 * The worker gives up on a batch this long before its deadline, so that its own answer (a failure with its reason: a
 * lock, an I/O error) reaches this thread before the deadline's timer fails the waiters with a vaguer one.
 */
const WORKER_EARLY_MS = 50;

export class CommitWorker {
  private worker: Worker | undefined;
  /** Sent and not answered, by id: the worker answers them in the order they were sent. */
  private readonly inFlight = new Map<number, InFlight>();
  private nextId = 1;
  /** Workers started so far (a test reads it). */
  started = 0;
  /** Settles once the current worker has opened the file (start()). */
  private ready: Promise<void> | undefined;
  /** close() waits for the last answer: told when nothing is in flight any more. */
  private idle: (() => void) | undefined;
  private closing = false;
  /** The worker close() is ending: what it says it paid (or could not) still counts. */
  private closed: Worker | undefined;
  /** The current worker's stop word (shared): set when the worker is let go (letGo()), by close() or a replacement. */
  private stop = new Int32Array(new SharedArrayBuffer(4));
  /** The last commit took SLOW_COMMIT_MS or more: the store then sends one batch at a time. */
  slow = false;
  /**
   * Used jtis whose uses were failed but which may be on disk (a batch that committed late, or that was committing
   * when its worker was given up on), until a worker says it deleted them: a new worker starts by deleting those its
   * predecessor left, and close() has them deleted. By issuer, jti and insert id (owedKey).
   */
  private readonly owed = new Map<string, OwedJti>();

  constructor(private readonly opts: CommitWorkerOptions) {}

  /**
   * Commits one batch, after those sent before it. Settles by the batch's deadline whatever the worker does: a worker
   * that has not answered by then (stuck in a write the disk does not answer) fails the batch with
   * StoreUnavailableError at the deadline, and is replaced if it is still silent after the grace. The worker gives up
   * WORKER_EARLY_MS before the deadline: it rolls back a batch still short of its COMMIT then, and one whose COMMIT
   * ends past it is answered as failed (its audit rows are written: `written` resolves) with its jtis deleted again
   * in the worker's next transaction. A success that was on its way as the deadline struck has its jtis sent back to
   * be deleted the same way (an 'undo' message). Either way a failed use leaves its jti unused: nothing was minted
   * for it.
   */
  commit(batch: CommitBatch): CommitOutcome {
    const worker = this.ensure();
    const id = this.nextId++;
    let wrote: (ok: true | Error) => void = () => undefined;
    const written = new Promise<void>((resolve, reject) => {
      wrote = (ok) => (ok === true ? resolve() : reject(ok));
    });
    written.catch(() => undefined); // a caller with no audit rows does not wait for it
    const flag = new Int32Array(new SharedArrayBuffer(4 * (1 + batch.jtis.length)));
    const insertId = randomInt(1, 2 ** 48 - 1); // 0 marks the rows from before insert ids
    const won = new Promise<boolean[]>((resolve, reject) => {
      const due = Math.max(0, batch.deadline - Date.now());
      const f: InFlight = {
        id,
        resolve,
        reject,
        wrote,
        late: false,
        jtis: batch.jtis,
        insertId,
        flag,
        overdue: setTimeout(() => {
          f.late = true;
          reject(this.unavailable('the commit worker did not answer by then'));
        }, due),
        watchdog: setTimeout(
          () => this.failAll('did not answer in time: replaced', true),
          due + this.opts.graceMs,
        ),
      };
      this.inFlight.set(id, f);
      worker.ref();
      const early = this.opts.earlyMs ?? WORKER_EARLY_MS;
      worker.postMessage({
        id,
        jtis: batch.jtis,
        audits: batch.audits,
        deadline: batch.deadline - early,
        insertId,
        flag,
      });
    });
    return { won, written };
  }

  private unavailable(why: string): StoreUnavailableError {
    return new StoreUnavailableError(
      `the broker state (${this.opts.file}) did not commit within ${this.opts.deadlineMs} ms: ${why}`,
      1,
    );
  }

  /**
   * Starts the worker now and resolves once it has opened the file, so that the first batch does not spend its
   * deadline on the thread's start (on a loaded host that alone can take longer than the deadline). Rejects with
   * StoreUnavailableError, naming the file and the worker's own error, when the worker dies before it is ready (the
   * file cannot be opened there); once it has exited, a later batch or start() tries a new one.
   */
  async start(): Promise<void> {
    const worker = this.ensure();
    worker.ref();
    try {
      await this.ready;
    } catch (err: unknown) {
      const why = err instanceof Error ? err.message : String(err);
      const message = `the broker state's commit worker could not open ${this.opts.file}: ${why}`;
      throw new StoreUnavailableError(message, 1, { cause: err });
    } finally {
      if (this.inFlight.size === 0) worker.unref();
    }
  }

  /** Test hook: the worker throws, as a crash would. */
  crash(): void {
    this.worker?.postMessage({ type: 'crash' });
  }

  /** Test hook: the worker blocks for `ms` before it reads its next message, as on a disk that does not answer. */
  hang(ms: number): void {
    this.worker?.postMessage({ type: 'hang', ms });
  }

  /**
   * Test hook: the worker's next batch blocks for `ms` inside its transaction, before COMMIT; with `after`, once its
   * COMMIT has landed, before it answers (a worker cut off there has written the batch and told nothing).
   */
  stall(ms: number, after = false): void {
    this.worker?.postMessage({ type: 'stall', ms, after });
  }

  /** Test hook: the worker's next COMMIT fails with an error other than a lock (as an I/O error would), not run. */
  failCommit(): void {
    this.worker?.postMessage({ type: 'fail' });
  }

  /**
   * Test hook: the worker's SQLite busy_timeout becomes `ms`, so that on a file another connection has locked it waits
   * inside the driver's native call (where no JavaScript runs and its stop word is not seen) rather than in its naps.
   */
  busyTimeout(ms: number): void {
    this.worker?.postMessage({ type: 'busy', ms });
  }

  /** Used jtis that may be on disk although their uses were failed, not yet deleted again (the store's stats()). */
  get owing(): number {
    return this.owed.size;
  }

  /**
   * What is still owed once close() is done with the worker (let go while closing, or it could not delete it): the
   * caller deletes that on its own connection. Empties the list.
   */
  takeOwed(): OwedJti[] {
    const owed = [...this.owed.values()];
    this.owed.clear();
    return owed;
  }

  /** Ends the worker after its batch (the caller waits for the batch first); resolves once the thread is gone. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.closing = true;
    // An answer still to come (a batch whose waiters were failed at the deadline) is let in first, for at most the
    // grace, so that what a late success inserted goes back to be deleted before the worker closes (it pays what it
    // owes first); then no timer of this worker's is left to keep the process alive.
    if (this.inFlight.size > 0)
      await new Promise<void>((resolve) => {
        const cut = setTimeout(resolve, this.opts.graceMs);
        this.idle = () => {
          clearTimeout(cut);
          resolve();
        };
      });
    this.idle = undefined;
    this.failAll('was closed', false);
    if (this.worker !== worker) return; // replaced meanwhile (let go; no new one starts while closing)
    this.worker = undefined;
    this.closed = worker;
    const stop = this.stop;
    await new Promise<void>((resolve) => {
      // Let go after 700 ms (letGo(): its nap ends, no attempt starts, so it closes at once), no longer waited for after
      // a second (also when it died meanwhile and emits no 'exit' again): one still in a SQLite call closes by itself
      // when the call comes back.
      const stopping = setTimeout(() => letGo(worker, stop), 700);
      const cut = setTimeout(resolve, 1_000);
      worker.once('exit', () => {
        clearTimeout(stopping);
        clearTimeout(cut);
        resolve();
      });
      // What it may not know it owes (a batch that was committing when it was failed): paid before it closes.
      if (this.owed.size > 0) worker.postMessage({ type: 'undo', jtis: [...this.owed.values()] });
      worker.postMessage({ type: 'close' });
    });
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const o = this.opts;
    const stop = new Int32Array(new SharedArrayBuffer(4));
    this.stop = stop;
    const worker = startWorker(SOURCE, {
      eval: true,
      name: 'broker commit',
      // Plain CommonJS: none of the process's flags (a loader, --input-type=module) apply to it.
      execArgv: [],
      workerData: {
        file: o.file,
        driver: o.driver,
        betterSqlite3:
          o.driver === 'better-sqlite3'
            ? createRequire(import.meta.url).resolve('better-sqlite3')
            : undefined,
        synchronous: o.synchronous,
        busyTimeoutMs: o.busyTimeoutMs,
        retryMs: o.retryMs,
        insertJti: o.insertJti,
        insertAudit: o.insertAudit,
        deleteJti: o.deleteJti,
        deadlineMs: o.deadlineMs,
        owed: [...this.owed.values()],
        stop,
      },
    });
    this.started++;
    worker.unref();
    let isReady: () => void = () => undefined;
    let notReady: (err: Error) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      isReady = resolve;
      notReady = reject;
    });
    this.ready.catch(() => undefined); // only start() waits for it
    let opened = false;
    worker.on('message', (a: Answer) => {
      if (a.ready) {
        opened = true;
        isReady();
      } else this.answer(worker, a);
    });
    // An uncaught error ends the thread ('exit' follows): it is forgotten at once, so that a batch or start() from
    // now on goes to a new worker rather than to the dying one.
    worker.on('error', (err: unknown) => {
      notReady(err instanceof Error ? err : new Error(String(err)));
      this.opts.onError(err);
      this.forget(worker, `failed: ${err instanceof Error ? err.message : String(err)}`, opened);
    });
    worker.on('exit', (code) => {
      notReady(new Error(`the commit worker exited (code ${code}) before it opened ${this.opts.file}`));
      this.forget(worker, `exited (code ${code})`, opened);
    });
    this.worker = worker;
    return worker;
  }

  /**
   * A worker that died: its batches in flight fail. One replaced (or closed) before had its batches failed then;
   * those in flight now are another's. A worker that had opened the file is replaced at once, so the next batch
   * does not wait for a thread's start; one that never opened it is not (it would fail the same way, over and over):
   * the next batch or start() tries again.
   */
  private forget(worker: Worker, what: string, opened: boolean): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.failAll(what, false);
    if (opened) this.replace();
  }

  /** Starts a new worker now. Should it fail, its 'error' has reported why (onError); the next batch tries again. */
  private replace(): void {
    if (this.closing) return;
    this.start().catch(() => undefined);
  }

  private answer(worker: Worker, a: Answer): void {
    // A worker being closed answers no batch; it tells what it paid before it closes (or why it could not).
    if (this.worker !== worker && this.closed !== worker) return;
    if (a.report !== undefined) {
      this.opts.onError(new Error(a.report));
      return;
    }
    // Forgotten before the batch's own jtis are settled: a retry of one that this batch paid and won again is
    // answered 200 only once it is off the list (no later worker may delete it then).
    if (a.paid) for (const j of a.paid) this.owed.delete(owedKey(j));
    if (this.worker !== worker) return;
    const f = a.id === undefined ? undefined : this.inFlight.get(a.id);
    if (!f) return;
    clearTimeout(f.overdue);
    clearTimeout(f.watchdog);
    this.inFlight.delete(f.id);
    if (a.ms !== undefined) this.slow = a.ms >= SLOW_COMMIT_MS;
    if (a.won && f.late) {
      // Its uses were failed at the deadline (overdue): what it inserted goes back to be deleted.
      const undo = inserted(f);
      this.owe(undo);
      if (undo.length > 0) worker.postMessage({ type: 'undo', jtis: undo });
      f.wrote(true);
    } else if (a.won) {
      f.resolve(a.won);
      f.wrote(true);
    } else {
      // Committed late, or its COMMIT failed in a way that may have landed: the worker owes what it inserted (deleted
      // in its next transaction), and so does this thread until the worker says it paid.
      if (a.late || a.uncertain) this.owe(inserted(f));
      const why = a.busy ? 'the database is locked by another connection' : (a.failed ?? 'failed');
      const err = this.unavailable(why);
      f.reject(err);
      f.wrote(a.late === true ? true : err);
    }
    if (this.inFlight.size === 0) {
      worker.unref();
      this.idle?.();
    }
  }

  /**
   * Fails every batch in flight (the worker answers them in order, so none can be answered once one is not); with
   * `replace`, a new worker takes over at once and the old one is let go (letGo()): it closes by itself once it is back
   * from the call it is in (a write the disk does not answer), and answers nothing more.
   */
  private failAll(what: string, replace: boolean): void {
    for (const f of this.inFlight.values()) {
      clearTimeout(f.overdue);
      clearTimeout(f.watchdog);
      // A batch short of its COMMIT is rolled back when the worker gets there (if it ever does); one already
      // committing may land without a word: what it inserted is deleted again by the next worker (or at close).
      if (givenUpInCommit(f.flag)) this.owe(inserted(f));
      const err = new StoreUnavailableError(`the broker state's commit worker ${what}`, 1);
      f.reject(err);
      f.wrote(err);
    }
    this.inFlight.clear();
    this.idle?.();
    const worker = this.worker;
    if (replace && worker) {
      this.worker = undefined;
      letGo(worker, this.stop);
      worker.postMessage({ type: 'close' });
      this.replace();
    }
  }

  private owe(jtis: OwedJti[]): void {
    for (const j of jtis) this.owed.set(owedKey(j), j);
  }
}

/**
 * Lets go of a worker without terminate(): its stop word is set and notified (its waits end, no attempt starts) and
 * it is unref'd. terminate() cannot stop a native call either; it ends the thread when the call comes back, and under
 * better-sqlite3 (12.11.1, Node 20) a call that comes back with an error then aborted the whole process ("FATAL ERROR:
 * v8::ToLocalChecked Empty MaybeLocal" in Database::ThrowSqliteError; sqlite-worker.test), every exchange with it.
 */
function letGo(worker: Worker, stop: Int32Array): void {
  Atomics.store(stop, 0, 1);
  Atomics.notify(stop, 0);
  worker.unref();
}

/** By issuer, jti and insert id: a batch's paid debt is never a later batch's debt on the same jti. */
function owedKey([issuer, jti, , insertId]: OwedJti): string {
  return `${issuer}\n${jti}\n${insertId}`;
}

/**
 * Gives up on a batch: 0 -> 2 when its worker has not reached its COMMIT (it rolls back there), 1 -> 3 when it is
 * committing (true: what it inserted may land). The worker swings 1 back to 0 when its COMMIT fails on a lock and it
 * tries again, so a 1 seen here may turn to 0 before the second swing: then it is tried from 0 again.
 */
function givenUpInCommit(flag: Int32Array): boolean {
  for (;;) {
    const was = Atomics.compareExchange(flag, 0, 0, 2);
    if (was !== 1) return false; // 0: given up before its COMMIT; 2 or 3: given up before
    if (Atomics.compareExchange(flag, 0, 1, 3) === 1) return true;
  }
}

/** The jtis a batch inserted, as the worker wrote them into its flag before its COMMIT. */
function inserted(f: InFlight): OwedJti[] {
  const out: OwedJti[] = [];
  for (let i = 0; i < f.jtis.length; i++) {
    const j = f.jtis[i];
    if (j && f.flag[i + 1] === 1) out.push([...j, f.insertId]);
  }
  return out;
}
