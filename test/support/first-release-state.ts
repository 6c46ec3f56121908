// A broker data dir's state.db as the first broker release left it: the two tables, no schema version (PRAGMA
// user_version 0), one used jti and one audit row. The migrations (store/sqlite.ts) bring it up to date without loss;
// a broker command (StoreOptions.upgrade false) refuses it as it is. userVersion() reads the schema version a state.db
// is at.
import { join } from 'node:path';
import { openSqlite } from '../../oidc-broker/src/store/sqlite-driver';

/** Writes `dataDir`/state.db as the first release wrote it (the folder must exist). */
export function writeFirstReleaseState(dataDir: string): void {
  const db = openSqlite(join(dataDir, 'state.db'));
  try {
    db.exec(`
      CREATE TABLE used_jti (
        issuer TEXT NOT NULL, jti TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (issuer, jti)
      ) WITHOUT ROWID;
      CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, provider TEXT NOT NULL, issuer TEXT NOT NULL,
        outcome TEXT NOT NULL, project TEXT, rule TEXT, field TEXT, repository TEXT, ref TEXT, event TEXT,
        run_id TEXT, jti TEXT, token_sha256 TEXT, message TEXT
      );
      INSERT INTO used_jti VALUES ('https://issuer.test', 'jti-old', 4102444800);
      INSERT INTO audit (at, provider, issuer, outcome, project, repository, token_sha256)
        VALUES (1700000000, 'github-actions', 'github-actions', 'ok', 'web', 'acme/web', 'abc');
    `);
  } finally {
    db.close();
  }
}

/** The schema version `dataDir`/state.db is at, as SQLite gives it: `{ user_version: N }`. */
export function userVersion(dataDir: string): unknown {
  const db = openSqlite(join(dataDir, 'state.db'));
  try {
    return db.prepare('PRAGMA user_version').get();
  } finally {
    db.close();
  }
}
