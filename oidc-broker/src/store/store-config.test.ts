// `store:` in broker.yml: absent is SQLite; `postgres:` names the env variable of the database URL.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config';
import { BrokerFileSchema, storeConfig, StoreSchema } from '../config-schema';

describe('store config', () => {
  it('absent: SQLite; postgres: the URL env variable, BROKER_DATABASE_URL by default', () => {
    expect(storeConfig(undefined)).toEqual({ engine: 'sqlite' });
    expect(storeConfig(StoreSchema.parse({ postgres: {} }))).toEqual({
      engine: 'postgres',
      urlEnv: 'BROKER_DATABASE_URL',
    });
    expect(storeConfig(StoreSchema.parse({ postgres: { url_env: 'DB_URL' } }))).toEqual({
      engine: 'postgres',
      urlEnv: 'DB_URL',
    });
  });

  it.each([
    [
      { postgres: { url_env: 'postgres://u:p@h/db' } },
      'must be the name of an environment variable (e.g. BROKER_DATABASE_URL), not the URL itself',
    ],
    [{ postgres: { url: 'postgres://u:p@h/db' } }, 'unknown key (allowed here: url_env)'],
    [{ sqlite: {} }, 'unknown key (allowed here: postgres)'],
    [{}, 'is required: a mapping {url_env}'],
  ])('refuses %j: %s', (store, message) => {
    const r = BrokerFileSchema.safeParse({
      public_url: 'https://broker.example',
      issuers: { 'github-actions': { issuer: 'https://token.actions.githubusercontent.com' } },
      store,
    });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message)).toContain(message);
    expect(JSON.stringify(r.error?.issues)).not.toContain('u:p@');
  });

  it('loadConfig carries it as config.store', () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-config-'));
    try {
      const head = `public_url: https://broker.example
issuers:
  github-actions: { issuer: https://token.actions.githubusercontent.com }
`;
      writeFileSync(join(dir, 'a.yml'), head);
      expect(loadConfig(join(dir, 'a.yml')).store).toEqual({ engine: 'sqlite' });
      writeFileSync(join(dir, 'b.yml'), `${head}store: { postgres: { url_env: DB_URL } }\n`);
      expect(loadConfig(join(dir, 'b.yml')).store).toEqual({ engine: 'postgres', urlEnv: 'DB_URL' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
