// The broker as an operator runs it (`npm run broker`, a child process): SIGTERM drains. The listener stops
// accepting, an exchange in flight (its commit held up by a lock on state.db) is answered and committed, then the
// process exits 0.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LocalIssuer } from '../../test/support/issuer';
import { startIssuer } from '../../test/support/issuer';
import { runBroker } from './broker';
import { REPO_ROOT } from './settings';
import { SqliteStore } from './state';
import { runningBroker } from './store/data-dir-lock';
import { openSqlite } from './store/sqlite-driver';
import { logInto } from '../../test/support/log';
import { CLOCK_SKEW } from './verify';

const tsx = resolve(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const main = resolve(REPO_ROOT, 'oidc-broker', 'src', 'main.ts');
const PUBLIC_URL = 'https://broker.drain.test';

let dir: string;
let issuer: LocalIssuer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'broker-drain-'));
  issuer = await startIssuer();
  issuer.defaults.aud = PUBLIC_URL;
  writeFileSync(
    join(dir, 'broker.yml'),
    [
      `public_url: ${PUBLIC_URL}`,
      'issuers:',
      '  github-actions:',
      `    issuer: ${issuer.url}`,
      `    jwks_uri: ${issuer.url}/.well-known/jwks`,
      '    algorithms: [RS256]',
      'registry: { host: "localhost:5001", service: depot-cache }',
      'projects:',
      '  - id: web',
      '    rules:',
      '      - { id: web-main, provider: github-actions, repository: acme/web, repository_id: "123456", ref: refs/heads/main }',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await issuer.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `broker serve` on a free port; resolves with its URL once it listens. */
function serve(dataDir: string): Promise<{ proc: ChildProcess; url: string; output: () => string }> {
  const proc = spawn(
    tsx,
    [main, '--config', join(dir, 'broker.yml'), '--data-dir', dataDir, '--listen', '127.0.0.1:0'],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  return new Promise((resolveStart, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out);
      if (m?.[1]) resolveStart({ proc, url: m[1], output: () => out });
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    proc.once('exit', (code) =>
      reject(new Error(`the broker exited with ${code} before listening:\n${out}`)),
    );
  });
}

const exchange = (url: string, token: string) =>
  fetch(`${url}/auth/oidc/github-actions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });

describe('SIGTERM', () => {
  it('drains: stops accepting, answers the exchange in flight (committed), then exits 0', async () => {
    const dataDir = join(dir, 'data');
    const broker = await serve(dataDir);
    const exited = new Promise<number | null>((r) => broker.proc.once('exit', (code) => r(code)));
    // Warm up (JWKS fetched, keys loaded), so the exchange below waits only on the store.
    expect((await exchange(broker.url, await issuer.mint())).status).toBe(200);

    const token = await issuer.mint();
    const lock = openSqlite(join(dataDir, 'state.db'));
    lock.exec('BEGIN IMMEDIATE');
    lock.exec("INSERT INTO revocation (at, kind, value) VALUES (0, 'jti', 'lock-holder')");
    let released = false;
    try {
      const inFlight = exchange(broker.url, token);
      await new Promise((r) => setTimeout(r, 250));
      broker.proc.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 250));
      // The listener is closed, the process still runs: a new connection is refused.
      await expect(fetch(`${broker.url}/healthz`)).rejects.toThrow();
      expect(broker.proc.exitCode).toBeNull();
      lock.exec('ROLLBACK');
      released = true;
      const answer = await inFlight;
      expect(answer.status).toBe(200);
      expect(((await answer.json()) as { ok: boolean }).ok).toBe(true);
    } finally {
      if (!released) lock.exec('ROLLBACK');
      lock.close();
    }
    expect(await exited).toBe(0);
    expect(broker.output()).not.toContain(token);
    // The jti was committed before the answer: a restarted broker refuses the token.
    const state = new SqliteStore({ dataDir });
    try {
      const { jti, exp } = decodeJwt(token);
      expect(await state.useJti(issuer.url, String(jti), Number(exp) + CLOCK_SKEW)).toBe(false);
    } finally {
      await state.close();
    }
  });
});

describe('stop()', () => {
  it('is bounded when the state never closes (a database that hangs): it warns and stops without it', async () => {
    const dataDir = join(dir, 'data-hang');
    const real = new SqliteStore({ dataDir });
    // A store whose close never settles, as a pool whose server stopped answering.
    const hanging = Object.assign(Object.create(real) as SqliteStore, {
      close: () => new Promise<void>(() => undefined),
    });
    const lines: string[] = [];
    const log = logInto(lines);
    const running = await runBroker({
      configPath: join(dir, 'broker.yml'),
      dataDir,
      host: '127.0.0.1',
      port: 0,
      signals: false,
      store: hanging,
      log,
      closeMs: 300,
    });
    try {
      const stopped = await Promise.race([
        running.stop().then(() => 'stopped'),
        new Promise((r) => setTimeout(() => r('still waiting'), 5_000)),
      ]);
      expect(stopped).toBe('stopped');
      expect(lines.join('')).toContain('"event":"state_close_timeout"');
      // The data dir is free again: a restore or the next broker can take it.
      expect(runningBroker(dataDir)).toBeUndefined();
    } finally {
      await real.close();
    }
  });
});

describe('a broker still starting', () => {
  it('survives the SIGUSR2 of rotate-keys (it holds the data dir already) and rotates once it is up', async () => {
    const dataDir = join(dir, 'data-starting');
    const lines: string[] = [];
    const starting = runBroker({
      configPath: join(dir, 'broker.yml'),
      dataDir,
      host: '127.0.0.1',
      port: 0,
      log: logInto(lines),
    });
    // What rotate-keys does on finding the data dir held: signal the pid broker.pid names. Without a handler yet,
    // SIGUSR2's default action would end this process (the test run with it).
    expect(readFileSync(join(dataDir, 'broker.pid'), 'utf8')).toBe(`${process.pid}\n`);
    process.kill(process.pid, 'SIGUSR2');
    const running = await starting;
    try {
      await vi.waitFor(() => expect(lines.join('')).toContain('"event":"keys_rotated"'), { timeout: 5_000 });
      expect(lines.join('').indexOf('"event":"listening"')).toBeLessThan(
        lines.join('').indexOf('"event":"keys_rotated"'),
      );
    } finally {
      await running.stop();
    }
    expect(process.listenerCount('SIGUSR2')).toBe(0);
  });
});
