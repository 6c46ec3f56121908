// dropDatabase()'s fallback, on the tests' real PostgreSQL: a backend of a role the broker role is not a member of
// (here the superuser, through `scripts/postgres.sh psql` on the server's socket) sits in the database,
// so DROP ... WITH (FORCE) is refused (42501) and the plain DROP must wait until that backend has gone.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { freshDatabase, testDatabaseUrl } from './postgres';

const SCRIPT = resolve(import.meta.dirname, '..', '..', 'scripts', 'postgres.sh');

async function query<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  args: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, args)).rows;
  } finally {
    await c.end();
  }
}

describe('dropDatabase', () => {
  it('drops a database a superuser session is still in, once that session ends', async () => {
    const base = await testDatabaseUrl();
    const db = await freshDatabase();
    // The superuser's session: in the database for 1.5 s, then gone.
    const psql = spawn('bash', [SCRIPT, 'psql', '-d', db.name], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    psql.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => psql.on('close', resolve));
    psql.stdin.end('SELECT pg_sleep(1.5);\n');
    try {
      // Wait until the session is in the database, as the broker role sees it.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const rows = await query<{ n: string }>(
          base,
          "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND usename = 'postgres'",
          [db.name],
        );
        if (rows[0]?.n !== '0') break;
        if (Date.now() > deadline) throw new Error(`the superuser session never appeared: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      // FORCE as the broker role is refused for that backend: the case the fallback is for.
      await expect(query(base, `DROP DATABASE ${db.name} WITH (FORCE)`)).rejects.toMatchObject({
        code: '42501',
      });

      const started = Date.now();
      await db.drop();
      const waited = Date.now() - started;
      const left = await query(base, 'SELECT 1 FROM pg_database WHERE datname = $1', [db.name]);
      expect(left).toEqual([]);
      // It waited for the session rather than ending it: psql ran its query to the end.
      expect(waited).toBeGreaterThan(200);
      expect(await exited).toBe(0);
    } finally {
      psql.kill();
      await exited;
    }
  });
});
