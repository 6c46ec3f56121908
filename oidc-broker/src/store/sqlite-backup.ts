// `broker backup` and `broker restore` for the SQLite store. A backup is one SQLite file: a consistent copy of
// state.db (used jtis, audit, revocations, fork-PR claims; SqliteStore.copyTo, taken while a broker runs) plus a
// table `broker_backup` holding the data dir's key files (signing keys, registry CA and signer, DataDirKeys) and a
// format marker. Restore puts both back, so a broker started on the restored data dir publishes the same keys,
// signs under the same CA and refuses the jtis used before the backup. The file holds private keys: mode 0600.
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
  readCertificate,
  SCHEMA_VERSION,
  SqliteStore,
  STATE_FILE,
  writeAtomic,
} from './sqlite';

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
export async function backupSqlite(dataDir: string, out: string): Promise<{ files: string[] }> {
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
    const store = new SqliteStore({ dataDir });
    try {
      await store.copyTo(tmp);
    } finally {
      await store.close();
    }
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

/** A data dir's files a restore replaces: its state (with the WAL that belongs to it) and its key files. */
const REPLACED = [STATE_FILE, `${STATE_FILE}-wal`, `${STATE_FILE}-shm`, ...KEY_FILES];

export interface Restored {
  meta: BackupMeta;
  /** The key files the backup held, now in the data dir. */
  files: string[];
  /** Where the data dir's own state and key files were moved (relative to it), if it had any. */
  keptIn: string | undefined;
}

/** The SHA-256 fingerprint of a certificate (PEM), as openssl prints it. */
function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/**
 * Puts a backup back into `dataDir`: state.db and the key files it holds (those it does not hold are not left
 * behind). What the data dir had is moved into a folder `pre-restore-<time>` in it, never deleted. A backup under
 * another registry CA than the data dir's is refused unless `force`: the registry trusts the data dir's CA, so it
 * would refuse every registry token of the restored broker (a backup of another broker, or of another data dir).
 */
export function restoreSqlite(from: string, dataDir: string, opts: { force?: boolean } = {}): Restored {
  if (!existsSync(from)) throw new Error(`${from} does not exist: pass the file backup --out wrote`);
  const notBackup = `${from} is not a broker backup (one made by npm run broker -- backup --out FILE)`;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tmp = join(dataDir, `${STATE_FILE}.restore.${process.pid}.tmp`);
  writeFileSync(tmp, '', { mode: 0o600 });
  try {
    copyFileSync(from, tmp);
    chmodSync(tmp, 0o600); // copyFileSync gives it the backup's mode
    let meta: BackupMeta;
    const files = new Map<string, string>();
    let db: SqlDatabase;
    try {
      db = openSqlite(tmp);
    } catch {
      throw new Error(notBackup);
    }
    try {
      let rows: Array<{ name: string; content: string }>;
      try {
        rows = db.prepare('SELECT name, content FROM broker_backup').all() as typeof rows;
      } catch {
        throw new Error(notBackup);
      }
      const m = rows.find((r) => r.name === META);
      try {
        meta = JSON.parse(m?.content ?? 'null') as BackupMeta;
      } catch {
        throw new Error(notBackup);
      }
      if (meta?.format !== BACKUP_FORMAT) throw new Error(notBackup);
      if (meta.version !== 1 || meta.schema > SCHEMA_VERSION)
        throw new Error(
          `${from} was written by a newer broker (state schema ${meta.schema}, this broker ${SCHEMA_VERSION}): restore it with that broker`,
        );
      for (const r of rows)
        if ((KEY_FILES as readonly string[]).includes(r.name)) files.set(r.name, r.content);
      db.exec('DROP TABLE broker_backup');
      db.exec('PRAGMA journal_mode = WAL');
    } finally {
      db.close();
    }
    const ownCa = readCertificate(dataDir);
    const backupCa = files.get(CA_CERT_FILE);
    if (
      !opts.force &&
      ownCa !== undefined &&
      backupCa !== undefined &&
      fingerprint(ownCa) !== fingerprint(backupCa)
    )
      throw new Error(
        `${from} is a backup under another registry CA (SHA-256 ${fingerprint(backupCa)}) than the one in ${dataDir} (${fingerprint(ownCa)}), which the registry trusts: restored, this broker's registry tokens would be refused until the registry's rootcertbundle is replaced. Check --from and --data-dir; to restore it all the same, add --force (what the data dir has is kept in a pre-restore folder in it)`,
      );
    // The data dir's own files go aside, the old WAL with its state (it must not be replayed into the restored file).
    const present = REPLACED.filter((name) => existsSync(join(dataDir, name)));
    let keptIn: string | undefined;
    if (present.length > 0) {
      keptIn = `pre-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      mkdirSync(join(dataDir, keptIn), { mode: 0o700 });
      for (const name of present) renameSync(join(dataDir, name), join(dataDir, keptIn, name));
    }
    renameSync(tmp, join(dataDir, STATE_FILE));
    for (const [name, content] of files) writeAtomic(join(dataDir, name), content);
    return { meta, files: [...files.keys()], keptIn };
  } finally {
    rmSync(tmp, { force: true });
  }
}

function userVersion(db: SqlDatabase): number {
  return Number(db.prepare('PRAGMA user_version').get()?.user_version ?? 0);
}
