// `broker backup` and `broker restore` for the SQLite store. A backup is one SQLite file: a consistent copy of
// state.db (used jtis, audit, revocations, fork-PR claims; VACUUM INTO on a connection of its own, taken while a
// broker runs, the file copied at the schema it has) plus a table `broker_backup` holding the data dir's key files
// (signing keys, registry CA and signer, DataDirKeys) and a format marker. Restore puts both back, so a broker
// started on the restored data dir publishes the same keys, signs under the same CA and refuses the jtis used before
// the backup; what the data dir's own state recorded since (used jtis, revocations, fork-PR claims) is carried into
// the restored state when that state can still be read, so a restore never makes a revoked token or a used CI token
// good again. The file holds private keys: mode 0600.
import { X509Certificate } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { openSqlite } from './sqlite-driver';
import type { SqlDatabase } from './sqlite-driver';
import {
  CA_CERT_FILE,
  KEY_FILES,
  migrate,
  openFailed,
  readCertificate,
  refuseNewerSchema,
  rollback,
  SCHEMA_VERSION,
  sqliteAdvice,
  sqliteTrouble,
  STATE_FILE,
  userVersion,
} from './sqlite';
import { CLAIM_FIELDS, column } from './types';
import { errorMessage } from '../errors';

export const BACKUP_FORMAT = 'depot-broker-backup';
const META = '@meta';

export interface BackupMeta {
  format: typeof BACKUP_FORMAT;
  version: 1;
  /** The state's schema version (PRAGMA user_version) when it was copied. */
  schema: number;
  /** Seconds since the epoch. */
  createdAt: number;
}

/** Writes a backup of the data dir's state and key files to `out`, which must not exist. */
export function backupSqlite(dataDir: string, out: string): { files: string[] } {
  if (existsSync(out)) throw new Error(`${out} exists: backup never overwrites a file, choose another --out`);
  if (!existsSync(dirname(out)))
    throw new Error(`the folder of ${out} does not exist: create it, or choose another --out`);
  if (!existsSync(join(dataDir, STATE_FILE)))
    throw new Error(`no broker state in ${dataDir}: pass the broker's --data-dir (or BROKER_DATA_DIR)`);
  // Written beside `out` under another name, then linked into place: `out` appears complete or not at all, and a
  // file that appeared meanwhile is never replaced.
  const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.tmp`);
  writeFileSync(tmp, '', { mode: 0o600, flag: 'wx' });
  try {
    copyState(join(dataDir, STATE_FILE), tmp, out);
    const files: string[] = [];
    const db = openSqlite(tmp);
    try {
      db.exec('CREATE TABLE broker_backup (name TEXT PRIMARY KEY, content TEXT NOT NULL)');
      const insert = db.prepare('INSERT INTO broker_backup (name, content) VALUES (?, ?)');
      const meta: BackupMeta = {
        format: BACKUP_FORMAT,
        version: 1,
        schema: userVersion(db),
        createdAt: Math.floor(Date.now() / 1000),
      };
      insert.run(META, JSON.stringify(meta));
      for (const name of KEY_FILES) {
        const file = join(dataDir, name);
        if (!existsSync(file)) continue;
        insert.run(name, readFileSync(file, 'utf8'));
        files.push(name);
      }
    } finally {
      db.close();
    }
    try {
      linkSync(tmp, out);
    } catch (err: unknown) {
      if ((err as { code?: unknown }).code === 'EEXIST')
        throw new Error(`${out} exists: backup never overwrites a file, choose another --out`);
      throw err;
    }
    return { files };
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * A consistent copy of the state file into `to` (empty): VACUUM INTO, one read snapshot, while a broker on the file
 * goes on writing (in WAL mode readers and writers do not wait for each other). On a connection of its own that never
 * migrates: a backup taken before an upgrade leaves the running broker's file at its schema, and restores into the
 * release it came from.
 */
function copyState(file: string, to: string, out: string): void {
  let db: SqlDatabase;
  try {
    db = openSqlite(file);
    try {
      db.exec('PRAGMA busy_timeout = 5000');
      refuseNewerSchema(db);
    } catch (err: unknown) {
      db.close();
      throw err;
    }
  } catch (err: unknown) {
    throw openFailed(file, err);
  }
  try {
    db.prepare('VACUUM INTO ?').run(to);
  } catch (err: unknown) {
    const why = errorMessage(err);
    // Where it failed to write (the room left by --out) or to read (the state: damaged, locked).
    const advice =
      sqliteTrouble(why) === 'full'
        ? `make room in ${dirname(out)}, or choose another --out`
        : sqliteAdvice(file, why);
    throw new Error(`could not copy ${file} for ${out} (${why}): ${advice}`, { cause: err });
  } finally {
    db.close();
  }
}

/** A data dir's files a restore replaces: its state (with the WAL that belongs to it) and its key files. */
const REPLACED = [STATE_FILE, `${STATE_FILE}-wal`, `${STATE_FILE}-shm`, ...KEY_FILES];

/** What the data dir's own state recorded that the backup lacks, carried into the restored state. */
export interface Carried {
  /** Used CI token jtis not yet expired. */
  jtis: number;
  /** Revocations (kept for ever). */
  revocations: number;
  /** Fork-PR claims, new or since checked, refused or redeemed. */
  claims: number;
}

export interface Restored {
  meta: BackupMeta;
  /** The key files the backup held, now in the data dir. */
  files: string[];
  /** Where the data dir's own state and key files were moved (relative to it), if it had any. */
  keptIn: string | undefined;
  /** What was carried over from the data dir's own state (undefined: it had none, or it could not be read). */
  carried: Carried | undefined;
  /** Why the data dir's own state could not be read to carry it over (undefined: it could, or it had none). */
  notCarried: string | undefined;
}

/** The SHA-256 fingerprint of a certificate (PEM), as openssl prints it; `damaged` when it is not one. */
function fingerprint(pem: string, damaged: string): string {
  try {
    return new X509Certificate(pem).fingerprint256;
  } catch {
    throw new Error(damaged);
  }
}

/**
 * Puts a backup back into `dataDir`: state.db and the key files it holds (those it does not hold are not left
 * behind). What the data dir had is moved into a folder `pre-restore-<time>` in it, never deleted. A backup under
 * another registry CA than the data dir's is refused unless `force`: the registry trusts the data dir's CA, so it
 * would refuse every registry token of the restored broker (a backup of another broker, or of another data dir).
 * What the data dir's own state recorded since the backup and the restore must not undo (used jtis, revocations,
 * fork-PR claims) is carried into the restored state first; its audit rows stay in the kept state. Every new file is
 * written before anything is moved, so only renames can fail half-way.
 */
export function restoreSqlite(from: string, dataDir: string, opts: { force?: boolean } = {}): Restored {
  if (!existsSync(from)) throw new Error(`${from} does not exist: pass the file backup --out wrote`);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tmp = join(dataDir, `${STATE_FILE}.restore.${process.pid}.tmp`);
  const staged = new Map<string, string>();
  writeFileSync(tmp, '', { mode: 0o600 });
  try {
    copyFileSync(from, tmp);
    chmodSync(tmp, 0o600); // copyFileSync gives it the backup's mode
    const own = join(dataDir, STATE_FILE);
    let meta: BackupMeta;
    let files: Map<string, string>;
    let carried: Carried | undefined;
    let notCarried: string | undefined;
    let db: SqlDatabase;
    try {
      db = openSqlite(tmp);
    } catch {
      throw new Error(notBackup(from));
    }
    try {
      ({ meta, files } = readBackup(db, from));
      const force = opts.force === true;
      const sameBroker = checkCa(from, dataDir, files, force);
      db.exec('PRAGMA journal_mode = WAL');
      migrate(db);
      if (existsSync(own)) {
        try {
          carried = carryOver(db, own, sameBroker);
        } catch (err: unknown) {
          notCarried = errorMessage(err);
          if (!force)
            throw new Error(
              `the state in ${dataDir} cannot be read (${notCarried}), so what it recorded since the backup cannot be carried over: CI tokens spent since (in their last minutes) and project tokens revoked since would be good again. To restore all the same, add --force, then revoke again what was revoked since (npm run broker -- revoke); nothing was changed`,
            );
        }
      }
    } finally {
      db.close();
    }
    for (const [name, content] of files) {
      const file = join(dataDir, `${name}.restore.${process.pid}.tmp`);
      writeFileSync(file, content, { mode: 0o600 });
      staged.set(name, file);
    }
    // The data dir's own files go aside, the old WAL with its state (it must not be replayed into the restored file).
    const present = REPLACED.filter((name) => existsSync(join(dataDir, name)));
    let keptIn: string | undefined;
    try {
      if (present.length > 0) {
        keptIn = `pre-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
        mkdirSync(join(dataDir, keptIn), { mode: 0o700 });
        for (const name of present) renameSync(join(dataDir, name), join(dataDir, keptIn, name));
      }
      renameSync(tmp, own);
      for (const [name, file] of staged) renameSync(file, join(dataDir, name));
    } catch (err: unknown) {
      const why = errorMessage(err);
      const kept = keptIn ? `: what the data dir had is in ${join(dataDir, keptIn)}` : '';
      throw new Error(
        `the restore into ${dataDir} stopped half-way (${why})${kept}; fix the cause and restore again`,
        {
          cause: err,
        },
      );
    }
    return { meta, files: [...files.keys()], keptIn, carried, notCarried };
  } finally {
    for (const file of [tmp, `${tmp}-wal`, `${tmp}-shm`, ...staged.values()]) rmSync(file, { force: true });
  }
}

function notBackup(from: string): string {
  return `${from} is not a broker backup (one made by npm run broker -- backup --out FILE)`;
}

/** The backup's marker and key files, once its file is known whole (PRAGMA quick_check); drops its table. */
function readBackup(db: SqlDatabase, from: string): { meta: BackupMeta; files: Map<string, string> } {
  const damaged = (why: string) =>
    new Error(`${from} is damaged (${why}): nothing was changed; restore another backup of this data dir`);
  let rows: Array<{ name: string; content: string }>;
  try {
    rows = db.prepare('SELECT name, content FROM broker_backup').all() as typeof rows;
  } catch (err: unknown) {
    const why = errorMessage(err);
    // A file SQLite does not take for a database at all is no backup; one it takes for a damaged one is damaged.
    throw /malformed|corrupt/i.test(why) ? damaged(why) : new Error(notBackup(from));
  }
  let meta: BackupMeta;
  try {
    meta = JSON.parse(rows.find((r) => r.name === META)?.content ?? 'null') as BackupMeta;
  } catch {
    throw new Error(notBackup(from));
  }
  if (meta?.format !== BACKUP_FORMAT) throw new Error(notBackup(from));
  if (meta.version !== 1 || meta.schema > SCHEMA_VERSION)
    throw new Error(
      `${from} was written by a newer broker (state schema ${meta.schema}, this broker ${SCHEMA_VERSION}): restore it with that broker`,
    );
  let check: string;
  try {
    check = db
      .prepare('PRAGMA quick_check')
      .all()
      .map((r) => String(r.quick_check))
      .join('; ');
  } catch (err: unknown) {
    check = errorMessage(err);
  }
  if (check !== 'ok') throw damaged(check.length > 300 ? `${check.slice(0, 300)}...` : check);
  const files = new Map<string, string>();
  for (const r of rows) if ((KEY_FILES as readonly string[]).includes(r.name)) files.set(r.name, r.content);
  db.exec('DROP TABLE broker_backup');
  return { meta, files };
}

/**
 * Refuses a backup under another registry CA than the data dir's, unless forced. Whether the backup is this data
 * dir's broker's, as far as the CAs tell: false only for another CA's backup restored with `force` (then only the used
 * jtis are carried over: a CI token's jti is spent whichever broker saw it, but this data dir's revocations and claims
 * name its own projects and runs).
 */
function checkCa(from: string, dataDir: string, files: Map<string, string>, force: boolean): boolean {
  const ownCa = readCertificate(dataDir);
  const backupCa = files.get(CA_CERT_FILE);
  if (ownCa === undefined || backupCa === undefined) return true;
  let theirs: string;
  let mine: string;
  try {
    theirs = fingerprint(
      backupCa,
      `${from} holds a ${CA_CERT_FILE} that is not a certificate: it is damaged; restore another backup of this data dir`,
    );
    mine = fingerprint(
      ownCa,
      `the ${CA_CERT_FILE} in ${dataDir} is not a certificate (damaged?): to put the backup's back, add --force (what the data dir has is kept in a pre-restore folder in it)`,
    );
  } catch (err: unknown) {
    if (force) return true; // a damaged CA tells nothing of whose the backup is
    throw err;
  }
  if (mine === theirs) return true;
  if (force) return false;
  throw new Error(
    `${from} is a backup under another registry CA (SHA-256 ${theirs}) than the one in ${dataDir} (${mine}), which the registry trusts: restored, this broker's registry tokens would be refused until the registry's rootcertbundle is replaced. Check --from and --data-dir; to restore it all the same, add --force (what the data dir has is kept in a pre-restore folder in it)`,
  );
}

/**
 * Copies into the restored state (`db`, at the current schema) what the data dir's own state file `own` recorded
 * that the backup lacks and that a restore must not undo: used jtis not yet expired (a CI token spent after the
 * backup stays spent), revocations (a token revoked after it stays revoked), fork-PR claims (one redeemed stays
 * redeemed). In one transaction; throws when `own` cannot be read (damaged, a newer broker's), and then nothing is
 * carried.
 */
function carryOver(db: SqlDatabase, own: string, sameBroker: boolean): Carried {
  db.prepare('ATTACH DATABASE ? AS own').run(own);
  try {
    const version = Number(db.prepare('PRAGMA own.user_version').get()?.user_version ?? 0);
    if (version > SCHEMA_VERSION)
      throw new Error(
        `it was written by a newer broker (state schema ${version}, this broker ${SCHEMA_VERSION})`,
      );
    const tables = new Set(
      db
        .prepare("SELECT name FROM own.sqlite_master WHERE type = 'table'")
        .all()
        .map((r) => String(r.name)),
    );
    const now = Math.floor(Date.now() / 1000);
    const run = (sql: string, ...params: number[]) => db.prepare(sql).run(...params).changes;
    // Deferred: the writes lock the restored copy only; the own state is only read (a WAL reader waits for no writer,
    // such as a `revoke` under way: BEGIN IMMEDIATE would take its write lock too, and fail on it).
    db.exec('BEGIN');
    try {
      const carried: Carried = { jtis: 0, revocations: 0, claims: 0 };
      for (const table of ['spent_jti', 'used_jti'].filter((t) => tables.has(t)))
        carried.jtis += run(
          `INSERT OR IGNORE INTO main.spent_jti (issuer, jti, expires_at, insert_id)
           SELECT issuer, jti, expires_at, 0 FROM own.${table} WHERE expires_at >= ?`,
          now,
        );
      // Another broker's backup (forced): its revocations and claims are its own, and this data dir's are not its.
      if (!sameBroker) {
        tables.delete('revocation');
        tables.delete('claim');
      }
      if (tables.has('revocation'))
        carried.revocations = run(
          `INSERT INTO main.revocation (at, kind, value, before)
           SELECT at, kind, value, before FROM own.revocation AS o
           WHERE NOT EXISTS (SELECT 1 FROM main.revocation AS m
                             WHERE m.kind = o.kind AND m.value = o.value AND m.before IS o.before)
           ORDER BY o.id`,
        );
      if (tables.has('claim')) {
        const columns = CLAIM_FIELDS.map(column).join(', ');
        carried.claims =
          run(
            `INSERT OR IGNORE INTO main.claim (${columns}) SELECT ${columns} FROM own.claim WHERE expires_at >= ?`,
            now * 1000, // a claim's times are in milliseconds
          ) +
          run(
            `UPDATE main.claim AS m SET checked = coalesce(m.checked, o.checked), refusal = coalesce(m.refusal, o.refusal),
               refusal_message = coalesce(m.refusal_message, o.refusal_message), used_at = coalesce(m.used_at, o.used_at)
             FROM own.claim AS o
             WHERE o.id_sha256 = m.id_sha256 AND ((m.checked IS NULL AND o.checked IS NOT NULL)
               OR (m.refusal IS NULL AND o.refusal IS NOT NULL) OR (m.used_at IS NULL AND o.used_at IS NOT NULL))`,
          );
      }
      db.exec('COMMIT');
      return carried;
    } catch (err: unknown) {
      rollback(db);
      throw err;
    }
  } finally {
    db.exec('DETACH DATABASE own');
  }
}
