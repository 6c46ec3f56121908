// One broker instance of `npm run bench:broker`, a process of its own as a deployment runs it: what `npm run broker`
// (src/main.ts serve) does, with the store the config's `store:` chose opened through openStore (SQLite in the data
// dir, or PostgreSQL from store.postgres.url_env and BROKER_KEY_SECRET), handed to runBroker. SIGTERM drains.
// Same flags as the broker: --config F --data-dir D --listen HOST:PORT.
//
// BENCH_PROBE=1 (the bench's --profile) loads probe.ts: timing counters around WebCrypto, JSON, the store and each
// HTTP request, and a CPU profiler, driven over the IPC channel the bench opened ({probe: 'take'},
// {probe: 'profile-start'}, {probe: 'profile-stop', file}). Without it nothing is wrapped.
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { parse } from 'yaml';
import { runBroker } from '../src/broker';
import { storeConfig } from '../src/config-schema';
import type { StoreFile } from '../src/config-schema';
import { openStore } from '../src/store/index';
import { parseSettings } from '../src/settings';

async function main(): Promise<void> {
  const s = parseSettings(process.argv.slice(2), process.env);
  if ('help' in s) throw new Error('bench instance: no help here; run npm run broker -- --help');
  const file = parse(readFileSync(s.config, 'utf8')) as { store?: StoreFile } | null;
  const probe = process.env.BENCH_PROBE === '1' ? new (await import('./probe')).Probe() : undefined;
  probe?.installGlobal();
  const store = await openStore(storeConfig(file?.store), {
    dataDir: s.dataDir,
    env: process.env,
    onError: (err: unknown) =>
      process.stderr.write(`store: ${err instanceof Error ? err.message : String(err)}\n`),
  });
  if (probe) probe.installStore(store);
  const running = await runBroker({
    configPath: s.config,
    dataDir: s.dataDir,
    host: s.listen.host,
    port: s.listen.port,
    store,
  });
  if (probe) {
    probe.installServer(running.server as Server);
    const { Session } = await import('node:inspector/promises');
    const { writeFileSync } = await import('node:fs');
    const session = new Session();
    session.connect();
    process.on('message', (m: { probe?: string; file?: string }) => {
      void (async () => {
        if (m.probe === 'take') process.send?.({ timing: probe.take() });
        if (m.probe === 'profile-start') {
          await session.post('Profiler.enable');
          await session.post('Profiler.setSamplingInterval', { interval: 200 });
          await session.post('Profiler.start');
          process.send?.({ started: true });
        }
        if (m.probe === 'profile-stop' && m.file) {
          const { profile } = await session.post('Profiler.stop');
          writeFileSync(m.file, JSON.stringify(profile));
          process.send?.({ profile: m.file });
        }
      })();
    });
  }
  const shutdown = () => {
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench instance: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
