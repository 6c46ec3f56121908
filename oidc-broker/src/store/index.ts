// Opens the store the config chose (`store:` in broker.yml, config-schema.ts storeConfig): the embedded SQLite file
// in the data directory by default, or PostgreSQL, whose URL and key secret come from the environment.
import type { StoreConfig } from '../config-schema';
import { openPostgresStore } from './postgres';
import { SqliteStore } from './sqlite';
import type { Store, StoreOptions } from './types';

export type { Store, StoreOptions } from './types';

export interface OpenStoreOptions extends StoreOptions {
  /** Where the database URL and BROKER_KEY_SECRET are read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** The store of `config` (a StoreConfig, or anything carrying one as `store`), opened and migrated. */
export async function openStore(
  config: StoreConfig | { store?: StoreConfig | undefined },
  opts: OpenStoreOptions,
): Promise<Store> {
  const chosen: StoreConfig = 'engine' in config ? config : (config.store ?? { engine: 'sqlite' });
  const { env = process.env, ...common } = opts;
  switch (chosen.engine) {
    case 'sqlite': {
      const store = new SqliteStore(common);
      // The commit worker is started before the broker takes requests: its start is not the first exchange's wait.
      try {
        await store.commitWorker.start();
      } catch (err: unknown) {
        await store.close();
        throw err;
      }
      return store;
    }
    case 'postgres':
      return openPostgresStore(chosen.urlEnv, env, common);
    default: {
      const impossible: never = chosen;
      throw new Error(`unknown store engine ${JSON.stringify(impossible)}`);
    }
  }
}
