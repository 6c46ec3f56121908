// One thin adapter over the two SQLite drivers: Node's own `node:sqlite` where the running Node has it (24), and
// better-sqlite3 otherwise (Node 20, which package.json still admits). The store uses only what both do alike:
// exec, prepared statements with positional or `@name` parameters (an object), run/get/all, close.
import { createRequire } from 'node:module';

export type SqliteDriver = 'node:sqlite' | 'better-sqlite3';
export type SqlValue = string | number | null;
export type SqlParams = SqlValue[] | [Record<string, SqlValue>];
export type SqlRow = Record<string, unknown>;

export interface SqlStatement {
  run(...params: SqlParams): { changes: number };
  get(...params: SqlParams): SqlRow | undefined;
  all(...params: SqlParams): SqlRow[];
}

export interface SqlDatabase {
  readonly driver: SqliteDriver;
  exec(sql: string): void;
  prepare(sql: string): SqlStatement;
  close(): void;
}

interface NodeSqliteModule {
  DatabaseSync: new (file: string) => {
    exec(sql: string): void;
    prepare(sql: string): {
      run(...p: unknown[]): { changes: number | bigint };
      get(...p: unknown[]): SqlRow | undefined;
      all(...p: unknown[]): SqlRow[];
    };
    close(): void;
  };
}

type BetterSqlite3 = new (file: string) => {
  exec(sql: string): void;
  prepare(sql: string): {
    run(...p: unknown[]): { changes: number };
    get(...p: unknown[]): unknown;
    all(...p: unknown[]): unknown[];
  };
  close(): void;
};

/** `node:sqlite` when this Node has it, else undefined (Node 20). */
function nodeSqlite(): NodeSqliteModule | undefined {
  const get = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  try {
    return get?.call(process, 'node:sqlite') as NodeSqliteModule | undefined;
  } catch {
    return undefined;
  }
}

/** The driver this Node uses by default. */
export function defaultDriver(): SqliteDriver {
  return nodeSqlite() ? 'node:sqlite' : 'better-sqlite3';
}

export function openSqlite(file: string, driver: SqliteDriver = defaultDriver()): SqlDatabase {
  if (driver === 'node:sqlite') {
    const mod = nodeSqlite();
    if (!mod) throw new Error(`node:sqlite is not available in Node.js ${process.version}`);
    const db = new mod.DatabaseSync(file);
    return {
      driver,
      exec: (sql) => db.exec(sql),
      prepare(sql) {
        const s = db.prepare(sql);
        return {
          run: (...p) => ({ changes: Number(s.run(...p).changes) }),
          get: (...p) => s.get(...p),
          all: (...p) => s.all(...p),
        };
      },
      close: () => db.close(),
    };
  }
  const Database = createRequire(import.meta.url)('better-sqlite3') as BetterSqlite3;
  let db: InstanceType<BetterSqlite3>;
  try {
    db = new Database(file);
  } catch (err: unknown) {
    // A native module built for the Node that ran `npm ci`: under another Node it cannot load.
    if ((err as { code?: unknown }).code === 'ERR_DLOPEN_FAILED') {
      throw new Error(
        `better-sqlite3 was built for another Node.js than this one (${process.version}): remove node_modules/.bin/node ` +
          'if npm put one there, or run `npm rebuild better-sqlite3` with this node.',
        { cause: err },
      );
    }
    throw err;
  }
  return {
    driver,
    exec: (sql) => db.exec(sql),
    prepare(sql) {
      const s = db.prepare(sql);
      return {
        run: (...p) => ({ changes: s.run(...p).changes }),
        get: (...p) => s.get(...p) as SqlRow | undefined,
        all: (...p) => s.all(...p) as SqlRow[],
      };
    },
    close: () => db.close(),
  };
}

/** SQLITE_BUSY or SQLITE_LOCKED, from either driver: another connection holds the lock. */
export function isBusy(err: unknown): boolean {
  const e = err as { code?: unknown; errcode?: unknown; message?: unknown };
  if (e.code === 'SQLITE_BUSY' || e.code === 'SQLITE_LOCKED' || e.code === 'SQLITE_BUSY_SNAPSHOT')
    return true;
  if (typeof e.errcode === 'number' && [5, 6].includes(e.errcode & 0xff)) return true;
  return typeof e.message === 'string' && /database (table )?is locked/.test(e.message);
}
