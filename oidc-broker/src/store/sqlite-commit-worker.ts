// The SQLite group commit off the event loop: a worker_threads worker holding its own connection to state.db runs
// each batch (BEGIN IMMEDIATE, the used jtis' INSERT ... ON CONFLICT DO NOTHING, the audit rows, COMMIT with its
// fsync) and answers which jtis inserted, one batch after the other in the order they came; the caller may send the
// next before the first is answered (it then waits in the worker's queue). A batch whose deadline passed while it
// waited there is answered as failed without an attempt.
//
// The worker retries a locked file itself (a short busy_timeout, then a nap of retryMs) until just before the batch's
// deadline, and gives up with everything rolled back: a batch answered as failed has nothing on disk. Should the worker
// not answer by the deadline, the batch fails then (StoreUnavailableError), and the jtis of an answer that comes after
// all are deleted again; should it die, or still not answer after a grace, a new worker starts at once (one that dies
// before it has opened the file is not replaced until the next batch, so a file it can never open costs one try per
// batch, not a loop). openStore starts the first worker and waits until it has opened the file (start()), so a broker's
// first exchange does not spend its deadline on the thread's start. The worker is unref'd except while a batch is in
// flight: it never keeps the process alive. Its code is plain JavaScript evaluated in the worker (no loader, no bundler
// entry): node:sqlite through process.getBuiltinModule, better-sqlite3 from the path the main thread resolved.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
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
const nap = new Int32Array(new SharedArrayBuffer(4));
let stallMs = 0;
parentPort.postMessage({ ready: true });
function isBusy(e) {
  if (!e) return false;
  if (e.code === 'SQLITE_BUSY' || e.code === 'SQLITE_LOCKED' || e.code === 'SQLITE_BUSY_SNAPSHOT') return true;
  if (typeof e.errcode === 'number' && (e.errcode & 0xff) >= 5 && (e.errcode & 0xff) <= 6) return true;
  return typeof e.message === 'string' && /database (table )?is locked/.test(e.message);
}
// work() in one write transaction, rolled back when it fails; a locked file is tried again every retryMs until the
// deadline. Gives { value } or { failed, busy }; an error other than a lock is reported once (the main thread logs it).
function transaction(id, deadline, work) {
  let reported = false;
  for (;;) {
    try {
      db.exec('BEGIN IMMEDIATE');
      let value;
      try {
        value = work();
        db.exec('COMMIT');
      } catch (e) {
        try { db.exec('ROLLBACK'); } catch {}
        throw e;
      }
      return { value };
    } catch (e) {
      const busy = isBusy(e);
      const message = String((e && e.message) || e);
      if (!busy && !reported) {
        reported = true;
        parentPort.postMessage({ id, report: message });
      }
      if (Date.now() + w.retryMs > deadline) return { failed: message, busy };
      Atomics.wait(nap, 0, 0, w.retryMs);
    }
  }
}
const deleting = (jtis) => () => {
  for (const j of jtis) deleteJti.run(j[0], j[1]);
  return [];
};
parentPort.on('message', (m) => {
  if (m.type === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  if (m.type === 'crash') throw new Error('the commit worker was told to crash (a test)');
  if (m.type === 'hang') {
    Atomics.wait(nap, 0, 0, m.ms); // a test: stuck as on a disk that does not answer
    return;
  }
  if (m.type === 'stall') {
    stallMs = m.ms; // a test: the next batch is slow to commit, as on a disk slow to write
    return;
  }
  if (Date.now() > m.deadline) {
    parentPort.postMessage({ id: m.id, failed: 'its deadline passed before the commit began', busy: false });
    return;
  }
  const r = transaction(m.id, m.deadline, m.undo ? deleting(m.undo) : () => {
    const won = m.jtis.map((j) => Number(insertJti.run(j[0], j[1], j[2]).changes) === 1);
    for (const a of m.audits) insertAudit.run(...a);
    if (stallMs > 0) Atomics.wait(nap, 0, 0, stallMs);
    stallMs = 0;
    return won;
  });
  if (r.failed !== undefined) {
    parentPort.postMessage({ id: m.id, failed: r.failed, busy: r.busy });
    return;
  }
  if (!m.undo && Date.now() > m.deadline) {
    // Committed after its deadline: the main thread answers its waiters as failed (nothing is minted for them), so
    // the jtis it inserted are deleted again now, before anything queued behind it (a retry of the same token) runs.
    const late = m.jtis.filter((_, i) => r.value[i]);
    const u = late.length > 0 ? transaction(m.id, Date.now() + w.deadlineMs, deleting(late)) : {};
    let failed = 'it committed after its deadline (its used jtis deleted again)';
    if (u.failed !== undefined) {
      failed = 'it committed after its deadline, and deleting its used jtis again failed: ' + u.failed;
      parentPort.postMessage({ id: m.id, report: late.length + ' used jti(s) that committed after their deadline stay used (nothing was minted for them; a replay of those tokens is refused): ' + u.failed });
    }
    parentPort.postMessage({ id: m.id, failed, busy: false });
    return;
  }
  parentPort.postMessage({ id: m.id, won: r.value });
});
`;

export interface CommitWorkerOptions {
  file: string;
  driver: SqliteDriver;
  synchronous: string;
  busyTimeoutMs: number;
  retryMs: number;
  /** The write deadline, for messages and for the undo of jtis that committed late. */
  deadlineMs: number;
  /** How long past a batch's deadline the worker may take to answer before it is given up on and replaced. */
  graceMs: number;
  /** How long before a batch's deadline the worker gives up on it (default WORKER_EARLY_MS; a test sets it below 0). */
  earlyMs?: number;
  insertJti: string;
  insertAudit: string;
  /** Deletes one used jti (issuer, jti): the undo of a use that committed after its waiters were told it failed. */
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
  id: number;
  won?: boolean[];
  report?: string;
  failed?: string;
  busy?: boolean;
}

interface InFlight {
  id: number;
  resolve(won: boolean[]): void;
  reject(err: unknown): void;
  /** Fails the waiters at the batch's deadline when the worker has not answered by then. */
  overdue: NodeJS.Timeout;
  /** Replaces the worker when it has not answered by the deadline plus the grace. */
  watchdog: NodeJS.Timeout;
  /** The waiters were failed at the deadline (overdue): a later answer settles nothing. */
  late: boolean;
  /** The batch's used jtis (issuer, jti), so that those a late answer says were inserted can be undone. */
  jtis: [issuer: string, jti: string][];
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

  constructor(private readonly opts: CommitWorkerOptions) {}

  /**
   * Commits one batch, after those sent before it. Settles by the batch's deadline whatever the worker does: a worker
   * that has not answered by then (stuck in a write the disk does not answer) fails the batch with
   * StoreUnavailableError at the deadline, and is replaced if it is still silent after the grace. A batch whose
   * COMMIT ends past the worker's deadline (WORKER_EARLY_MS before this one) is failed by the worker, which deletes
   * its jtis again before its next message; one whose answer was on its way when the deadline struck has them
   * deleted from here (undo()). Either way they stay unused, as a failed use promises (nothing was minted for them).
   */
  commit(batch: CommitBatch): Promise<boolean[]> {
    const jtis = batch.jtis.map(([issuer, jti]): [string, string] => [issuer, jti]);
    return this.send(
      {
        jtis: batch.jtis,
        audits: batch.audits,
        deadline: batch.deadline - (this.opts.earlyMs ?? WORKER_EARLY_MS),
      },
      batch.deadline,
      jtis,
    );
  }

  /** The undo of used jtis an answer that came after its deadline inserted: one transaction, like a batch, after
   * those already sent (a retry of the same token sent meanwhile is answered as replayed). Failures go to onError. */
  private undo(jtis: [issuer: string, jti: string][]): void {
    const deadline = Date.now() + this.opts.deadlineMs;
    this.send(
      { undo: jtis, deadline: deadline - (this.opts.earlyMs ?? WORKER_EARLY_MS) },
      deadline,
      [],
    ).catch((err: unknown) => {
      const why = err instanceof Error ? err.message : String(err);
      this.opts.onError(
        new Error(
          `${jtis.length} used jti(s) committed after their exchanges were answered 503 could not be deleted again, so they stay used (a replay of those tokens is refused; nothing was minted for them): ${why}`,
        ),
      );
    });
  }

  private send(message: object, deadline: number, jtis: [string, string][]): Promise<boolean[]> {
    const worker = this.ensure();
    const id = this.nextId++;
    return new Promise<boolean[]>((resolve, reject) => {
      const due = Math.max(0, deadline - Date.now());
      const f: InFlight = {
        id,
        resolve,
        reject,
        late: false,
        jtis,
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
      worker.postMessage({ id, ...message });
    });
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

  /** Test hook: the worker's next batch blocks for `ms` inside its transaction, before COMMIT. */
  stall(ms: number): void {
    this.worker?.postMessage({ type: 'stall', ms });
  }

  /** Ends the worker after its batch (the caller waits for the batch first); resolves once the thread is gone. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    await new Promise<void>((resolve) => {
      // Cut after a second (also when it died meanwhile and emits no 'exit' again).
      const cut = setTimeout(() => void worker.terminate().finally(resolve), 1_000);
      worker.once('exit', () => {
        clearTimeout(cut);
        resolve();
      });
      worker.postMessage({ type: 'close' });
    });
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const o = this.opts;
    const worker = new Worker(SOURCE, {
      eval: true,
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
    this.start().catch(() => undefined);
  }

  private answer(worker: Worker, a: Answer): void {
    const f = this.inFlight.get(a.id);
    if (!f || this.worker !== worker) return;
    if (a.report !== undefined) {
      this.opts.onError(new Error(a.report));
      return;
    }
    clearTimeout(f.overdue);
    clearTimeout(f.watchdog);
    this.inFlight.delete(a.id);
    if (f.late) {
      const won = a.won;
      const inserted = won ? f.jtis.filter((_, i) => won[i] === true) : [];
      if (inserted.length > 0) this.undo(inserted);
    } else if (a.won) f.resolve(a.won);
    else
      f.reject(
        this.unavailable(a.busy ? 'the database is locked by another connection' : (a.failed ?? 'failed')),
      );
    if (this.inFlight.size === 0) worker.unref();
  }

  /** Fails every batch in flight (the worker answers them in order, so none can be answered once one is not); with
   * `terminate`, the worker is replaced. */
  private failAll(what: string, terminate: boolean): void {
    for (const f of this.inFlight.values()) {
      clearTimeout(f.overdue);
      clearTimeout(f.watchdog);
      f.reject(new StoreUnavailableError(`the broker state's commit worker ${what}`, 1));
    }
    this.inFlight.clear();
    const worker = this.worker;
    if (terminate && worker) {
      this.worker = undefined;
      void worker.terminate();
      this.replace();
    }
  }
}
