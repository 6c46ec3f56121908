// Whether a broker runs on a data dir, told by a lock rather than by a process's name. A running broker holds a
// shared lock on <data dir>/broker.lock for as long as it runs; `restore` takes it exclusively for as long as it
// replaces the state, and `rotate-key` asks whether it is held. The lock is SQLite's (a read transaction held open
// on an empty database file: POSIX record locks underneath), so it needs no other dependency, it is released by the
// kernel when the process dies however it dies (a broker killed with SIGKILL leaves no stale lock, as it leaves a
// stale broker.pid), and it is seen by every process on the host that opens the same file, whatever the process is
// called and whichever pid namespace (container) it runs in: a released image's broker runs as `node
// .../index.js serve`, which no command-line test would recognise. Several brokers may hold it at once (the store is
// safe for that); only `restore` needs it alone. A broker command on the state (revoke, audit, cache, registry-config,
// rotate-keys) holds broker.lock as a broker does, and command.lock beside it from before to after, so that
// `rotate-keys` and `restore` tell a command under way, which is done within moments, from a broker, which broker.pid
// may not name (one out of sight).
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { openSqlite } from './sqlite-driver';
import type { SqlDatabase } from './sqlite-driver';
import { errorMessage } from '../errors';

export const LOCK_FILE = 'broker.lock';
export const PID_FILE = 'broker.pid';
export const COMMAND_LOCK_FILE = 'command.lock';

/** How long a starting broker waits for a restore in progress to finish. */
const START_WAIT_MS = 10_000;

export interface DataDirLock {
  release(): void;
}

function isBusy(err: unknown): boolean {
  const e = err as { code?: unknown; errcode?: unknown; message?: unknown };
  return (
    e.code === 'SQLITE_BUSY' ||
    e.errcode === 5 ||
    (typeof e.message === 'string' && /database is locked/.test(e.message))
  );
}

function open(dataDir: string, waitMs: number, name = LOCK_FILE): SqlDatabase {
  const file = join(dataDir, name);
  let db: SqlDatabase;
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    db = openSqlite(file);
  } catch (err: unknown) {
    // SQLite's own words ("unable to open database file") name no file: a data dir this user cannot write.
    const why = errorMessage(err);
    throw new Error(
      `cannot open ${file} (${why}): the data dir must be a folder this user can write (--data-dir or BROKER_DATA_DIR)`,
      { cause: err },
    );
  }
  db.exec(`PRAGMA busy_timeout = ${waitMs}`);
  return db;
}

/**
 * The connections holding a data dir, kept here until released: a connection the garbage collector took would be
 * closed, and its lock gone, with the broker still running (seen: a holder that dropped its handle lost the lock).
 */
const HELD = new Set<SqlDatabase>();

function held(db: SqlDatabase): DataDirLock {
  let released = false;
  HELD.add(db);
  return {
    release() {
      if (released) return;
      released = true;
      HELD.delete(db);
      try {
        db.exec('ROLLBACK');
      } finally {
        db.close();
      }
    },
  };
}

/**
 * A broker's hold on its data dir, until release() or the process's end. Waits a few seconds for a restore in
 * progress, then refuses to start rather than run on a state being replaced.
 */
export function holdDataDir(
  dataDir: string,
  waitMs = START_WAIT_MS,
  then = 'start the broker once it has finished',
): DataDirLock {
  try {
    return shared(dataDir, waitMs, LOCK_FILE);
  } catch (err: unknown) {
    if (isBusy(err))
      throw new Error(`a restore is replacing the state in ${dataDir} (it holds ${LOCK_FILE}): ${then}`, {
        cause: err,
      });
    throw err;
  }
}

/** A shared hold on `name` in the data dir (a read transaction), waiting up to `waitMs` for an exclusive holder. */
function shared(dataDir: string, waitMs: number, name: string): DataDirLock {
  const db = open(dataDir, waitMs, name);
  try {
    db.exec('BEGIN');
    db.prepare('SELECT count(*) FROM sqlite_master').get();
  } catch (err: unknown) {
    db.close();
    throw err;
  }
  return held(db);
}

/**
 * A broker command's hold on the data dir (revoke, audit, cache, ...): as a broker's (holdDataDir), with command.lock
 * held from before it to after it, so that a holder of broker.lock is known for a command while it runs
 * (dataDirHolder).
 */
export function holdDataDirForCommand(dataDir: string, waitMs: number, then: string): DataDirLock {
  // Only a probe's moment (dataDirHolder) ever holds command.lock alone: a short wait covers it.
  const mark = shared(dataDir, 1_000, COMMAND_LOCK_FILE);
  let lock: DataDirLock;
  try {
    lock = holdDataDir(dataDir, waitMs, then);
  } catch (err: unknown) {
    mark.release();
    throw err;
  }
  return {
    release() {
      try {
        lock.release();
      } finally {
        mark.release();
      }
    },
  };
}

/** The data dir alone (for `restore`), or undefined when a broker holds it. */
export function takeDataDir(dataDir: string): DataDirLock | undefined {
  return alone(dataDir, LOCK_FILE);
}

/** `name` in the data dir held exclusively, or undefined when another holds it. */
function alone(dataDir: string, name: string): DataDirLock | undefined {
  const db = open(dataDir, 0, name);
  try {
    db.exec('BEGIN EXCLUSIVE');
  } catch (err: unknown) {
    db.close();
    if (isBusy(err)) return undefined;
    throw err;
  }
  return held(db);
}

/** Whether another process holds `name` in the data dir (a file that does not exist is held by none). */
function heldByOthers(dataDir: string, name: string): boolean {
  if (!existsSync(join(dataDir, name))) return false;
  const probe = alone(dataDir, name);
  probe?.release();
  return probe === undefined;
}

/** What is known of the broker that runs on a data dir. */
export interface RunningBrokerInfo {
  /**
   * Its pid, when broker.pid names a process of this host's view that has broker.lock open; undefined when the
   * holder is out of sight (another container on the same volume, another user's process).
   */
  pid: number | undefined;
}

/** The broker running on `dataDir` (one holds broker.lock), else undefined. */
export function runningBroker(dataDir: string): RunningBrokerInfo | undefined {
  if (!existsSync(join(dataDir, LOCK_FILE))) return undefined; // no broker has run here since it has one
  const probe = takeDataDir(dataDir);
  if (probe !== undefined) {
    probe.release();
    return undefined;
  }
  return { pid: lockHolderPid(dataDir) };
}

/**
 * Who holds a data dir: a broker (with its pid when broker.pid names it), broker commands and maybe a broker, or a
 * restore (it holds the data dir alone).
 */
export type DataDirHolder = { broker: RunningBrokerInfo } | { command: true } | { restore: true };

/** Whether a restore holds the data dir alone now: a shared hold, which any number of brokers allow, is refused. */
function restoring(dataDir: string): boolean {
  try {
    shared(dataDir, 0, LOCK_FILE).release();
    return false;
  } catch (err: unknown) {
    if (isBusy(err)) return true;
    throw err;
  }
}

/**
 * Who holds `dataDir` now, or undefined when nothing does. A restore is told by its hold alone; a broker that
 * broker.pid names is named; else a holder of command.lock is a command under way (a broker out of sight may hold the
 * data dir beside it: known once the commands are done); else the holder is a broker out of sight. A command holds
 * command.lock from before it takes broker.lock to after it lets go, so "no command, then broker.lock held, then
 * still no command" is a broker, unless a command began and ended in the microseconds between the two looks.
 */
export function dataDirHolder(dataDir: string): DataDirHolder | undefined {
  const running = runningBroker(dataDir);
  if (running === undefined) return undefined;
  if (restoring(dataDir)) return { restore: true };
  if (running.pid !== undefined) return { broker: running };
  if (heldByOthers(dataDir, COMMAND_LOCK_FILE)) return { command: true };
  if (!heldByOthers(dataDir, LOCK_FILE)) return undefined;
  if (heldByOthers(dataDir, COMMAND_LOCK_FILE)) return { command: true };
  return { broker: { pid: undefined } };
}

/**
 * Who holds `dataDir` once the broker commands (done within moments) and the restore under way there have had
 * `waitMs` to finish: a broker, still a command or a restore (past the wait), or undefined when nothing does.
 */
export async function settledHolder(dataDir: string, waitMs: number): Promise<DataDirHolder | undefined> {
  const end = Date.now() + waitMs;
  let holder = dataDirHolder(dataDir);
  while (holder !== undefined && !('broker' in holder) && Date.now() < end) {
    await new Promise((done) => setTimeout(done, 100));
    holder = dataDirHolder(dataDir);
  }
  return holder;
}

/** broker.pid's pid, if that process has this data dir's broker.lock open (a pid file can be stale or foreign). */
function lockHolderPid(dataDir: string): number | undefined {
  let pid: number;
  let lock: string;
  try {
    pid = Number(readFileSync(join(dataDir, PID_FILE), 'utf8').trim());
    lock = realpathSync(join(dataDir, LOCK_FILE));
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === lock) return pid;
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // no such process here, or not ours to look into
  }
  return undefined;
}
