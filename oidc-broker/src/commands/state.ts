// `broker backup`, `broker restore` and `broker rotate-key-secret`: the state's care (issue 25), and what the
// commands that read or write the state share: the store the config names (SQLite in the data dir, or PostgreSQL),
// and whether a broker runs on a data dir.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { StoreConfig } from '../config-schema';
import { ConfigProblems, loadConfig } from '../config';
import type { BrokerConfig } from '../config';
import { ConfigError, errorMessage } from '../errors';
import type { Settings } from '../settings';
import { openStore } from '../store';
import { reportAdopted } from '../store/adopt';
import {
  DEFAULT_URL_ENV,
  KEY_SECRET_ENV,
  parseKeySecret,
  PostgresStore,
  PREVIOUS_KEY_SECRETS_ENV,
} from '../store/postgres';
import { SqliteStore, STATE_FILE } from '../store/sqlite';
import { backupSqlite, restoreSqlite } from '../store/sqlite-backup';
import { dataDirHolder, holdDataDirForCommand, LOCK_FILE, takeDataDir } from '../store/data-dir-lock';
import type { DataDirLock } from '../store/data-dir-lock';
import type { Store } from '../store/types';

/** The env variable rotate-key-secret reads the new secret from. */
export const NEW_KEY_SECRET_ENV = 'BROKER_KEY_SECRET_NEW';

/**
 * The config the command names (--config, BROKER_CONFIG, else the default file), or undefined when none was named
 * and the default file does not exist (then the state is SQLite in the data dir, as it always was).
 */
export function commandConfig(s: Settings): BrokerConfig | undefined {
  const named = s.flags.has('config') || (process.env.BROKER_CONFIG ?? '') !== '';
  if (!named && !existsSync(s.config)) return undefined;
  try {
    return loadConfig(s.config);
  } catch (err: unknown) {
    if (err instanceof ConfigProblems) throw new ConfigError(err.problems[0] ?? 'invalid config');
    throw err;
  }
}

/** The store the config chose. */
export function storeConfigOf(config: BrokerConfig | undefined): StoreConfig {
  return config?.store ?? { engine: 'sqlite' };
}

/** How long a command waits for a restore in progress on its data dir. */
const COMMAND_WAIT_MS = 5_000;

/** The broker commands that hold a SQLite data dir while they run, as messages name them. */
export const HOLDING_COMMANDS = 'revoke, audit, cache, registry-config';

/** The data dir held as a broker command holds it (data-dir-lock.ts), after waiting for a restore in progress. */
function holdForCommand(dataDir: string): DataDirLock {
  try {
    return holdDataDirForCommand(dataDir, COMMAND_WAIT_MS, 'run this command again once it has finished');
  } catch (err: unknown) {
    throw new ConfigError(errorMessage(err));
  }
}

/**
 * Opens the state the config names; a SQLite data dir without state is an error, not a new empty state. A SQLite
 * state is held as a broker holds it (data-dir-lock.ts) until the store is closed: a restore cannot move the file
 * under the command (a revocation written into the file set aside would be lost while the command said "revoked"),
 * and the command waits for a restore in progress.
 */
export async function openCommandStore(s: Settings, config = commandConfig(s)): Promise<Store> {
  if (storeConfigOf(config).engine === 'sqlite') {
    if (!existsSync(join(s.dataDir, STATE_FILE)))
      throw new ConfigError(
        `no broker state in ${s.dataDir}: pass the broker's --data-dir (or BROKER_DATA_DIR)`,
      );
    const lock = holdForCommand(s.dataDir);
    try {
      return new SqliteStore({ dataDir: s.dataDir, upgrade: false, heldUntilClosed: lock });
    } catch (err: unknown) {
      lock.release();
      throw err;
    }
  }
  return openStore(storeConfigOf(config), { dataDir: s.dataDir, upgrade: false, onAdopted: reportAdopted });
}

/**
 * `work` with a SQLite data dir held as a broker command holds it (a restore in progress is waited for, and none can
 * start meanwhile): for the commands that read or write the state in the data dir other than through
 * openCommandStore (registry-config, which may create it; cache). With PostgreSQL the
 * data dir holds no state, and `work` runs as it is.
 */
export async function whileCommandHolds<T>(
  dataDir: string,
  store: StoreConfig,
  work: () => Promise<T>,
): Promise<T> {
  if (store.engine !== 'sqlite') return work();
  const lock = holdForCommand(dataDir);
  try {
    return await work();
  } finally {
    lock.release();
  }
}

/**
 * `work` with a SQLite data dir held alone, as restore holds it, or undefined when another holds it (a broker, a
 * command, a restore): for rotate-keys, so that a broker starting meanwhile waits for the key files to be rewritten
 * and then loads them, rather than read them half rotated, or start between a look for a running broker and the
 * rotation and keep the keys it read.
 */
export async function whileAlone<T>(
  dataDir: string,
  work: () => Promise<T>,
): Promise<{ done: T } | undefined> {
  const alone = takeDataDir(dataDir);
  if (alone === undefined) return undefined;
  try {
    return { done: await work() };
  } finally {
    alone.release();
  }
}

/**
 * Why restore could not take the data dir: a broker, a broker command or another restore holds it, or held it a moment
 * ago (it let go between restore's try and this look).
 */
export function whyRestoreCannot(dataDir: string): string {
  const holder = dataDirHolder(dataDir);
  if (holder === undefined)
    return `${dataDir} was held a moment ago, by a broker or a broker command that has just let go: run restore again`;
  if ('restore' in holder)
    return `another restore, or a rotate-keys, holds ${dataDir} alone: let it finish, then run restore again (after a restore, only to restore a different backup)`;
  if ('command' in holder)
    return `a broker command (${HOLDING_COMMANDS}) is under way on ${dataDir}: run restore again once it has finished`;
  const pid = holder.broker.pid;
  const who =
    pid === undefined
      ? `a broker runs on ${dataDir} (a process out of sight here holds its ${LOCK_FILE}: another container on the same volume?)`
      : `a broker (pid ${pid}) runs on ${dataDir}`;
  return `${who}: stop it first (restore replaces the state under it), then restore and start it again`;
}

function postgresUrlEnv(store: StoreConfig): string {
  return store.engine === 'postgres' ? store.urlEnv : DEFAULT_URL_ENV;
}

export async function backupCommand(s: Settings): Promise<void> {
  const out = s.flags.get('out');
  if (out === undefined)
    throw new ConfigError(
      'backup needs --out FILE: where to write the backup (see npm run broker -- backup --help)',
    );
  const store = storeConfigOf(commandConfig(s));
  if (store.engine === 'postgres')
    throw new ConfigError(
      `the state is in PostgreSQL: back it up with pg_dump (pg_dump --format=custom "$${postgresUrlEnv(store)}" > FILE), which also holds the keys, encrypted under ${KEY_SECRET_ENV}: keep that secret apart from the dump`,
    );
  const { files } = backupSqlite(s.dataDir, out);
  process.stdout.write(
    `backed up the state of ${s.dataDir} (${STATE_FILE}${files.length ? ` and ${files.join(', ')}` : ''}) to ${out}: it holds private keys, keep it as safe as the data dir\n`,
  );
}

export async function restoreCommand(s: Settings): Promise<void> {
  const from = s.flags.get('from');
  if (from === undefined)
    throw new ConfigError(
      'restore needs --from FILE: the file backup --out wrote (see npm run broker -- restore --help)',
    );
  const store = storeConfigOf(commandConfig(s));
  if (store.engine === 'postgres')
    throw new ConfigError(
      `the state is in PostgreSQL: restore a pg_dump with pg_restore --clean --dbname "$${postgresUrlEnv(store)}" FILE, with every broker instance stopped`,
    );
  // Alone on the data dir for the whole restore: a broker that starts meanwhile waits, then refuses.
  const lock = takeDataDir(s.dataDir);
  if (lock === undefined) throw new ConfigError(whyRestoreCannot(s.dataDir));
  let restored: ReturnType<typeof restoreSqlite>;
  try {
    restored = restoreSqlite(from, s.dataDir, { force: s.flags.has('force') });
  } finally {
    lock.release();
  }
  const { meta, files, keptIn, carried, notCarried } = restored;
  const kept = keptIn ? ` (what it had is kept in ${join(s.dataDir, keptIn)})` : '';
  process.stdout.write(
    `restored ${STATE_FILE}${files.length ? ` and ${files.join(', ')}` : ''} into ${s.dataDir}${kept} from the backup of ${new Date(meta.createdAt * 1000).toISOString()}: start the broker\n`,
  );
  const keptState = keptIn ? join(s.dataDir, keptIn, STATE_FILE) : STATE_FILE;
  if (carried)
    process.stdout.write(
      `carried over from the state the data dir had: ${carried.jtis} used CI token(s), ${carried.revocations} revocation(s) and ${carried.claims} fork-PR claim(s) the backup did not have, so the restore makes no spent or revoked token good again; the audit rows written since the backup stay in ${keptState}\n`,
    );
  if (notCarried)
    process.stderr.write(
      `warning: the state the data dir had could not be read (${notCarried}), so nothing recorded since the backup was carried over: revoke again what was revoked since (npm run broker -- revoke); it is kept in ${keptState}\n`,
    );
}

export async function rotateKeySecretCommand(s: Settings): Promise<void> {
  const config = commandConfig(s);
  const chosen = storeConfigOf(config);
  if (chosen.engine !== 'postgres')
    throw new ConfigError(
      'rotate-key-secret applies to the PostgreSQL store only: with SQLite the private keys are files in the data dir (mode 0600), not encrypted with a secret',
    );
  const raw = process.env[NEW_KEY_SECRET_ENV];
  if (raw === undefined || raw.trim() === '')
    throw new ConfigError(
      `${NEW_KEY_SECRET_ENV} is not set: the new secret to re-encrypt the stored keys under (openssl rand -base64 32)`,
    );
  const next = parseKeySecret(raw, NEW_KEY_SECRET_ENV);
  const current = process.env[KEY_SECRET_ENV];
  // The same secret as the one in force: the rollout's last step. Every key an instance still on the old secret
  // sealed meanwhile (a rotation, a signer renewal) is sealed again under the secret in force.
  const finishing = current !== undefined && current.trim() !== '' && parseKeySecret(current).equals(next);
  const store = await openStore(chosen, { dataDir: s.dataDir, upgrade: false, onAdopted: reportAdopted });
  let done: { keys: number; underOther: number };
  try {
    if (!(store instanceof PostgresStore)) throw new Error('the PostgreSQL store did not open as one');
    done = await store.rotateKeySecret(next);
  } finally {
    await store.close();
  }
  if (finishing) {
    process.stdout.write(
      done.underOther === 0
        ? `every private key (${done.keys}) opens with ${KEY_SECRET_ENV} alone: remove ${PREVIOUS_KEY_SECRETS_ENV} from every instance\n`
        : `re-encrypted under ${KEY_SECRET_ENV} the ${done.underOther} private key(s) (of ${done.keys}) still under an older secret, sealed by an instance that ran it: every key now opens with ${KEY_SECRET_ENV} alone. Once every instance runs ${KEY_SECRET_ENV}, remove ${PREVIOUS_KEY_SECRETS_ENV} (run this again first if one was still running the old secret)\n`,
    );
    return;
  }
  process.stdout.write(
    `re-encrypted ${done.keys} private key(s) under ${NEW_KEY_SECRET_ENV}. Next, on every instance: set ${KEY_SECRET_ENV} to that new secret and ` +
      `${PREVIOUS_KEY_SECRETS_ENV} to the old one, and restart the instances one by one. Once all run the new secret, run this again with ` +
      `${NEW_KEY_SECRET_ENV} = ${KEY_SECRET_ENV} (it re-encrypts what an instance on the old secret sealed meanwhile), then remove ${PREVIOUS_KEY_SECRETS_ENV}\n`,
  );
}
