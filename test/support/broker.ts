// A broker serving on a real socket for in-process tests: `config` (broker.yml's text) in a temp dir, 127.0.0.1 on a
// free port, no signal handlers, nothing logged; stop() drains it and removes the dir.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { RunningBroker } from '../../oidc-broker/src/broker';
import { runBroker } from '../../oidc-broker/src/broker';

export async function startQuietBroker(config: string, prefix: string): Promise<RunningBroker> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(dir, 'broker.yml'), config);
  try {
    const running = await runBroker({
      configPath: join(dir, 'broker.yml'),
      dataDir: join(dir, 'data'),
      host: '127.0.0.1',
      port: 0,
      signals: false,
      log: pino({ level: 'silent' }),
    });
    return {
      ...running,
      async stop() {
        try {
          await running.stop();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err: unknown) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
