// Opens the store the config chose (`store:` in broker.yml, config-schema.ts storeConfig): the embedded SQLite file
// in the data directory by default, or PostgreSQL, whose URL and key secret come from the environment.
import type { StoreConfig } from '../config-schema';
import { adoptDataDir } from './adopt';
import type { Adopted } from './adopt';
import { openPostgresStore } from './postgres';
import { SqliteStore } from './sqlite';
import type { Store, StoreOptions } from './types';

export type { Store, StoreOptions } from './types';

export interface OpenStoreOptions extends StoreOptions {
  /** Where the database URL and BROKER_KEY_SECRET are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Hears what a PostgreSQL store took over from a SQLite data dir on its first start, or why not (store/adopt.ts). */
  onAdopted?: (what: Adopted) => void;
}

/** The store of `config` (a StoreConfig, or anything carrying one as `store`), opened and migrated. */
export async function openStore(
  config: StoreConfig | { store?: StoreConfig | undefined },
  opts: OpenStoreOptions,
): Promise<Store> {
  const chosen: StoreConfig = 'engine' in config ? config : (config.store ?? { engine: 'sqlite' });
  const { env = process.env, onAdopted, ...common } = opts;
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
    case 'postgres': {
      const store = await openPostgresStore(chosen.urlEnv, env, common);
      try {
        const adopted = await adoptDataDir(store, common.dataDir, common.upgrade !== false);
        if (adopted) onAdopted?.(adopted);
      } catch (err: unknown) {
        await store.close();
        throw err;
      }
      return store;
    }
    default: {
      const impossible: never = chosen;
      throw new Error(`unknown store engine ${JSON.stringify(impossible)}`);
    }
  }
}
