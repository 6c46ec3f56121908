// A registry with htpasswd auth for the CLI's engine tests (a user's own `docker login`): Debian's docker-registry
// (distribution 2.8) on 127.0.0.1 on a free port. stop() ends it.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { freePort } from '../../test/support/ports';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Registry {
  host: string;
  log(): string;
  stop(): Promise<void>;
}

async function startRegistry(
  dir: string,
  port: number,
  auth: string,
): Promise<ChildProcess & { out: () => string }> {
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`,
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then(
      () => true,
      () => false,
    );
    if (ok) return Object.assign(child, { out: () => out });
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`docker-registry did not start on ${port}: ${out}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (child.exitCode !== null) return r();
    child.on('close', () => r());
    child.kill('SIGTERM');
  });
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
  return { host: `127.0.0.1:${port}`, log: () => registry.out(), stop: () => stopChild(registry) };
}
