// Debian's docker-registry (distribution 2.8) serving a config file, for the tests that need a real registry: the
// token-auth cache registry of a stack or of several brokers, and a user's own htpasswd registry. Every one asks for
// auth, so it is ready when GET /v2/ answers 401. stop() ends it (SIGTERM, then SIGKILL after 5 s).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

export interface RegistryProcess {
  proc: ChildProcess;
  /** Everything it printed so far. */
  log(): string;
  stop(): Promise<void>;
}

export interface ServeOptions {
  /** Where it answers, e.g. http://localhost:5000. */
  url: string;
  /** Its environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Starts `docker-registry serve configPath` and resolves once it answers; a failed start says why, with its log. */
export async function serveRegistry(configPath: string, opts: ServeOptions): Promise<RegistryProcess> {
  const proc = spawn('docker-registry', ['serve', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
  });
  const out: string[] = [];
  let spawnError: Error | undefined;
  proc.stdout?.on('data', (d: Buffer) => out.push(d.toString()));
  proc.stderr?.on('data', (d: Buffer) => out.push(d.toString()));
  proc.on('error', (err) => (spawnError = err));
  const registry: RegistryProcess = { proc, log: () => out.join(''), stop: () => stop(proc) };
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const end = Date.now() + timeoutMs;
  const failed = (why: string) =>
    new Error(`docker-registry ${why} (scripts/engine.sh up installs it):\n${registry.log().slice(-2000)}`);
  while (Date.now() < end) {
    if (spawnError) throw failed(`did not start: ${spawnError.message}`);
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw failed(`exited with ${proc.exitCode ?? proc.signalCode} before it answered`);
    }
    const status = await fetch(`${opts.url}/v2/`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 401) return registry;
    await new Promise((r) => setTimeout(r, 100));
  }
  await registry.stop();
  throw failed(`did not answer 401 on ${opts.url}/v2/ within ${timeoutMs / 1000}s`);
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
