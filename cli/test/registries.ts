// A registry with htpasswd auth for the CLI's engine tests (a user's own `docker login`): Debian's docker-registry
// (distribution 2.8) on 127.0.0.1 on a free port. stop() ends it.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { freePort } from '../../test/support/ports';
import { serveRegistry } from '../../test/support/registry-process';
import type { RegistryProcess } from '../../test/support/registry-process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Registry {
  host: string;
  log(): string;
  stop(): Promise<void>;
}

async function startRegistry(dir: string, port: number, auth: string): Promise<RegistryProcess> {
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`,
  );
  return serveRegistry(config, { url: `http://127.0.0.1:${port}`, timeoutMs: 10_000 });
}

/** A registry with htpasswd auth: pushing needs the user's own `docker login`. */
export async function startLoginRegistry(user: string, password: string): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), 'depot-login-registry-'));
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'htpasswd'), execFileSync('htpasswd', ['-Bbn', user, password]));
  const port = await freePort();
  const registry = await startRegistry(
    dir,
    port,
    `auth:\n  htpasswd:\n    realm: depot-test\n    path: ${join(dir, 'htpasswd')}\n`,
  );
  return { host: `127.0.0.1:${port}`, log: () => registry.log(), stop: () => registry.stop() };
}
