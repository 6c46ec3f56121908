// A broker moved from SQLite to PostgreSQL keeps what its data dir held. On the first start on a database that holds
// no keys and no registry CA, openStore hands the data dir's state to the database (PostgresStore.adopt, once, under
// a lock): the signing keys, so project tokens already minted still verify; the registry CA and signer, so the
// registry's rootcertbundle (the data dir's registry-ca.pem) stays the CA every instance signs under and the
// registry needs no new config; the revocations, so a revoked token stays revoked; the used jtis of tokens that
// have not expired, so a CI token exchanged before the move is still refused after it; and the audit trail, so
// `npm run broker -- audit` still finds what happened before; and the fork-PR claims, so a fork's build waiting on
// one goes on across the move, and a used one stays used.
// Nothing is removed from the data dir (state.db is opened only when it exists, and brought to the current
// schema as a SQLite start would; a broker command, which passes `upgrade` false, refuses an older state.db
// instead, as it does on SQLite: a broker of the earlier release may still run on it). A data dir with SQLite state meeting a database that already has keys or a CA is
// not taken over: the database's keys and CA are in force, and the broker warns when the two CAs differ (keys.ts
// then keeps the data dir's own CA certificate as registry-ca.sqlite.pem, beside its key).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PostgresStore } from './postgres';
import {
  CA_CERT_SET_ASIDE,
  CA_KEY_FILE,
  DataDirKeys,
  KEYS_FILE,
  pairsWithCaKey,
  readCertificate,
  SqliteStore,
  STATE_FILE,
} from './sqlite';
import type { DataDirState } from './types';

/** What was taken over, for the broker's log line; or why a data dir with SQLite state was not. */
export type Adopted =
  | {
      adopted: true;
      dataDir: string;
      signingKeys: number;
      registryCa: boolean;
      revocations: number;
      jtis: number;
      claims: number;
      auditRows: number;
    }
  | {
      adopted: false;
      dataDir: string;
      otherCa: true;
      /** Where the data dir's own CA certificate is kept (keys.ts sets it aside beside its key). */
      ownCaKeptAs?: string;
    };

/** Whether `dataDir` holds a SQLite broker's state (a PostgreSQL broker writes only registry-ca.pem there). */
function holdsSqliteState(dataDir: string): boolean {
  return [STATE_FILE, KEYS_FILE, CA_KEY_FILE].some((f) => existsSync(join(dataDir, f)));
}

/**
 * What a move to PostgreSQL takes over from a SQLite data dir; `sqlite` is its state.db opened (undefined when the
 * data dir has none), which must stay open while the audit pages are read.
 */
async function readDataDir(
  dataDir: string,
  sqlite: SqliteStore | undefined,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<DataDirState> {
  const files = new DataDirKeys(dataDir);
  return {
    signingKeys: await files.signingKeys(),
    registryCa: await files.registryCa(),
    registrySigner: await files.registrySigner(),
    revocations: sqlite ? await sqlite.revocations() : [],
    jtis: sqlite ? sqlite.unexpiredJtis(nowSeconds) : [],
    claims: sqlite ? sqlite.claims() : [],
    auditPages: () => (sqlite ? sqlite.auditPages(1000) : []),
  };
}

/**
 * Hands a SQLite data dir's state to an empty PostgreSQL database. Undefined when the data dir holds none, or the
 * database has keys or a CA already (another instance started first, or this one did before) and the data dir's CA
 * is the database's; `adopted: false` when the data dir's CA is another one, which the broker will not use.
 */
export async function adoptDataDir(
  store: PostgresStore,
  dataDir: string,
  upgrade = true,
): Promise<Adopted | undefined> {
  if (!holdsSqliteState(dataDir)) return undefined;
  const leftAside = async (): Promise<Adopted | undefined> => {
    // The certificate alone: once the database's CA is written over it, it no longer pairs with the key beside it.
    const own = readCertificate(dataDir);
    if (own === undefined || own === (await store.registryCa())?.certPem) return undefined;
    const kept = pairsWithCaKey(dataDir, own);
    return {
      adopted: false,
      dataDir,
      otherCa: true,
      ...(kept ? { ownCaKeptAs: join(dataDir, CA_CERT_SET_ASIDE) } : {}),
    };
  };
  // The usual start, once taken over: the database has its state, and state.db is not read again.
  if (await store.holdsKeys()) return leftAside();
  const sqlite = existsSync(join(dataDir, STATE_FILE)) ? new SqliteStore({ dataDir, upgrade }) : undefined;
  try {
    const state = await readDataDir(dataDir, sqlite);
    const carried = await store.adopt(state);
    if (!carried) return leftAside(); // another instance took over first
    return {
      adopted: true,
      dataDir,
      signingKeys: state.signingKeys.length,
      registryCa: state.registryCa !== undefined,
      revocations: state.revocations.length,
      jtis: state.jtis.length,
      claims: state.claims.length,
      auditRows: carried.auditRows,
    };
  } finally {
    await sqlite?.close();
  }
}

/** One sentence on what was taken over, or on a data dir left aside (the broker's log line, a command's stderr). */
export function describeAdopted(a: Adopted): string {
  if (!a.adopted) {
    return (
      `${a.dataDir} holds a SQLite broker's state, but the PostgreSQL database has keys and a registry CA already: ` +
      `the database's are in force, not the data dir's, and ${a.dataDir}/registry-ca.pem now holds the database's CA: ` +
      'restart a registry that reads it as its rootcertbundle' +
      (a.ownCaKeptAs ? ` (the data dir's own CA certificate is kept as ${a.ownCaKeptAs})` : '')
    );
  }
  return (
    `took over ${a.dataDir}'s state into PostgreSQL: ${a.signingKeys} signing key(s), ` +
    `${a.registryCa ? 'the registry CA (registry-ca.pem stays the registry rootcertbundle)' : 'no registry CA'}, ` +
    `${a.revocations} revocation(s), ${a.jtis} used jti(s) not yet expired, ${a.claims} fork-PR claim(s), ` +
    `${a.auditRows} audit row(s)`
  );
}

/** For the operator's commands: the sentence on stderr. */
export function reportAdopted(a: Adopted): void {
  process.stderr.write(`${describeAdopted(a)}\n`);
}
