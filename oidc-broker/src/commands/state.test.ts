// The real broker (`npm run broker`'s entry, a child process, SQLite) with the operator's commands beside it:
// `backup` while it runs, `restore` refused while it runs, wipe, restore, and a token used before the backup is still
// refused as replayed; a revocation by the CLI in force in the running broker within 5 s; a flood of unverified
// refusals (exchanges, registry logins, fork-PR claims and claim exchanges) from 40 loopback addresses audited within
// the cap plus one aggregate row a minute whose count adds up, while every refusal of a verified token is audited;
// registry-config, cache and rotate-keys hold the data dir as revoke and audit do, and wait for a restore under way.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIssuer } from '../../../test/support/issuer';
import type { LocalIssuer } from '../../../test/support/issuer';
import { requestFrom } from '../../../test/support/http';
import { freePort } from '../../../test/support/ports';
import { parseSettings, REPO_ROOT } from '../settings';
import type { Settings } from '../settings';
import { DEFAULT_KEY_POLICY, KeyStore } from '../keys';
import { SCHEMA_VERSION, SqliteStore } from '../store/sqlite';
import { dataDirHolder, holdDataDir, holdDataDirForCommand, takeDataDir } from '../store/data-dir-lock';
import { openCommandStore, whileAlone, whileCommandHolds, whyRestoreCannot } from './state';
import { CLAIM_EXCHANGE_PATH, CLAIM_PATH } from '../../../shared/contract/fork-claim';
import { SUPPRESSED_KIND } from '../store/audit-bounds';
import { holdElsewhere } from '../../../test/support/data-dir-holder';
import { userVersion, writeFirstReleaseState } from '../../../test/support/first-release-state';

const tsx = resolve(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const main = resolve(REPO_ROOT, 'oidc-broker', 'src', 'main.ts');
const CAP = 20;

let dir: string;
let dataDir: string;
let configPath: string;
let issuer: LocalIssuer;
let port: number;
let child: ChildProcess | undefined;
let log = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'broker-care-'));
  dataDir = join(dir, 'data');
  configPath = join(dir, 'broker.yml');
  issuer = await startIssuer();
  port = await freePort();
  issuer.defaults.aud = `http://127.0.0.1:${port}`;
  writeFileSync(
    configPath,
    `public_url: http://127.0.0.1:${port}
issuers:
  github-actions:
    issuer: ${issuer.url}
    jwks_uri: ${issuer.url}/.well-known/jwks
rate_limit: { per_address: 0, failures_per_address: 0, registry_failures_per_address: 0, claims_per_address: 0, claims_per_run: 0 }
audit_unverified_per_minute: ${CAP}
projects:
  - id: web
    rules:
      - { id: web-main, provider: github-actions, repository: acme/web, repository_id: "123456", ref: refs/heads/main }
`,
  );
});

afterAll(async () => {
  await stopBroker();
  await issuer?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function cli(...args: string[]) {
  return cliOn(dataDir, ...args);
}

/** The broker's CLI with `args` on the data dir `data`. */
function cliOn(data: string, ...args: string[]) {
  const r = spawnSync(tsx, [main, ...args, '--config', configPath, '--data-dir', data], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function startBroker(): Promise<void> {
  const proc = spawn(
    tsx,
    [main, '--config', configPath, '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child = proc;
  proc.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const end = Date.now() + 30_000;
  while (Date.now() < end) {
    if (proc.exitCode !== null) throw new Error(`the broker exited (${proc.exitCode}): ${log.slice(-1000)}`);
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the broker did not answer within 30 s: ${log.slice(-1000)}`);
}

async function stopBroker(): Promise<void> {
  const proc = child;
  child = undefined;
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  proc.kill('SIGTERM');
  expect(await exited).toBe(0);
}

/** A request from `localAddress` (a loopback address of the 127.0.0.0/8 range): its status and refusal code. */
async function call(
  method: string,
  path: string,
  opts: { body?: string; headers?: Record<string, string>; localAddress?: string } = {},
): Promise<{ status: number; code: string | undefined }> {
  const res = await requestFrom(`http://127.0.0.1:${port}${path}`, {
    method,
    localAddress: opts.localAddress ?? '127.0.0.1',
    body: opts.body,
    headers: opts.headers,
  });
  const parsed = JSON.parse(res.body) as { error?: { code?: string } };
  return { status: res.status, code: parsed.error?.code };
}

/** POST an exchange from `localAddress`. */
function exchange(token: string, localAddress = '127.0.0.1') {
  return call('POST', '/auth/oidc/github-actions', {
    body: JSON.stringify({ token, project: 'web' }),
    localAddress,
  });
}

async function jwks(): Promise<unknown> {
  return (await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`)).json();
}

function auditRows(): Array<Record<string, unknown>> {
  const r = cli('audit');
  expect(r.stderr).toBe('');
  return r.stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('backup and restore around a running broker', () => {
  it('a token used before the backup is still refused after wipe and restore; restore refuses a running broker', async () => {
    await startBroker();
    const used = await issuer.mint();
    expect(await exchange(used)).toEqual({ status: 200, code: undefined });
    const keysBefore = await jwks();
    const out = join(dir, 'broker.backup');

    const backup = cli('backup', '--out', out);
    expect(backup.stderr).toBe('');
    expect(backup.status).toBe(0);
    expect(backup.stdout).toContain(`to ${out}`);
    expect(backup.stdout).toContain('keys.json');

    const refused = cli('restore', '--from', out);
    expect(refused.status).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/^broker: a broker \(pid \d+\) runs on .*: stop it first/);
    // The lock, not the pid file, tells: a broker whose broker.pid names no process here (one in another container
    // on the same volume; a released broker's command line never names oidc-broker) is refused all the same.
    const pidFile = join(dataDir, 'broker.pid');
    const pid = readFileSync(pidFile, 'utf8');
    writeFileSync(pidFile, '1\n');
    const hidden = cli('restore', '--from', out);
    writeFileSync(pidFile, pid);
    expect([hidden.status, hidden.stderr.trim()]).toEqual([
      1,
      `broker: a broker runs on ${dataDir} (a process out of sight here holds its broker.lock: another container on the same volume?): stop it first (restore replaces the state under it), then restore and start it again`,
    ]);
    const again = cli('backup', '--out', out);
    expect([again.status, again.stderr.trim()]).toEqual([
      1,
      `broker: ${out} exists: backup never overwrites a file, choose another --out`,
    ]);

    // Used after the backup, then the backup restored over the state that recorded it: carried over, still used.
    const usedAfter = await issuer.mint();
    expect(await exchange(usedAfter)).toEqual({ status: 200, code: undefined });
    await stopBroker();
    const over = cli('restore', '--from', out);
    expect([over.status, over.stderr]).toEqual([0, '']);
    expect(over.stdout).toMatch(
      /\ncarried over from the state the data dir had: 1 used CI token\(s\), 0 revocation\(s\) and 0 fork-PR claim\(s\) the backup did not have, so the restore makes no spent or revoked token good again; the audit rows written since the backup stay in .*\/pre-restore-[^/]+\/state\.db\n$/,
    );
    await startBroker();
    expect(await exchange(usedAfter)).toEqual({ status: 401, code: 'replayed' });
    await stopBroker();

    rmSync(dataDir, { recursive: true, force: true });
    const junk = join(dir, 'junk');
    writeFileSync(junk, 'x'.repeat(200));
    expect(cli('restore', '--from', junk).stderr.trim()).toBe(
      `broker: ${junk} is not a broker backup (one made by npm run broker -- backup --out FILE)`,
    );
    const restored = cli('restore', '--from', out);
    expect(restored.stderr).toBe('');
    expect(restored.status).toBe(0);
    expect(restored.stdout).toMatch(/^restored state\.db and keys\.json, registry-ca\.pem/);

    await startBroker();
    expect(await exchange(used)).toEqual({ status: 401, code: 'replayed' });
    expect(await jwks()).toEqual(keysBefore);
    expect((await exchange(await issuer.mint())).status).toBe(200);
  }, 120_000);
});

describe('a command on the state, beside a restore', () => {
  it('holds the data dir until it closes the store: a restore meanwhile is refused (the revocation cannot land in a file set aside)', async () => {
    const data = join(dir, 'data-command');
    await new SqliteStore({ dataDir: data }).close();
    const settings = parseSettings(['revoke', '--config', configPath, '--data-dir', data], {}) as Settings;
    const state = await openCommandStore(settings);
    expect(takeDataDir(data)).toBeUndefined();
    await state.revoke('project', 'web', undefined);
    await state.close();
    const alone = takeDataDir(data);
    expect(alone).toBeDefined();
    // And the other way round: a command started during a restore waits for it, then says what to do.
    try {
      await expect(openCommandStore(settings)).rejects.toThrow(
        `a restore is replacing the state in ${data} (it holds broker.lock): run this command again once it has finished`,
      );
    } finally {
      alone?.release();
    }
  }, 20_000);
});

describe("a newer release's commands on an older broker's state", () => {
  it('revoke, audit and cache refuse to upgrade it (a broker of the earlier release may run on it) and say what to do; once the broker of this release has opened it, they run', async () => {
    const data = join(dir, 'data-older');
    mkdirSync(data, { recursive: true });
    // The state as the first broker release left it (two tables, no schema version), and its keys.
    writeFirstReleaseState(data);
    (await KeyStore.open(data)).close();
    const version = () => userVersion(data);
    for (const args of [['revoke', '--project', 'web'], ['audit'], ['cache', 'usage']]) {
      const r = cliOn(data, ...args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).not.toBe(0);
      expect(r.stderr).toContain(
        `the broker state (schema version 0) is older than this release's (version ${SCHEMA_VERSION}), and a broker command does not upgrade it`,
      );
      expect(r.stderr).toContain("start this release's broker on it first");
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r.stdout).toBe('');
      expect(version()).toEqual({ user_version: 0 });
    }
    // The broker of this release upgrades it as it starts; the commands then run on it.
    await new SqliteStore({ dataDir: data }).close();
    const audit = cliOn(data, 'audit');
    expect(audit.status, audit.stderr).toBe(0);
    expect(audit.stdout).toContain('"repository":"acme/web"');
    const revoke = cliOn(data, 'revoke', '--project', 'web');
    expect(revoke.status, revoke.stderr).toBe(0);
  }, 60_000);
});

describe('the other commands on a SQLite state, beside a restore', () => {
  it('whileCommandHolds holds the data dir as a command while its work runs, after a restore under way', async () => {
    const data = join(dir, 'data-while');
    await new SqliteStore({ dataDir: data }).close();
    const restore = await holdElsewhere(data, 'restore', 1_000);
    const started = Date.now();
    const seen = await whileCommandHolds(data, { engine: 'sqlite' }, async () => {
      await new Promise((r) => setTimeout(r, 20));
      return { waited: Date.now() - started, holder: dataDirHolder(data), restore: takeDataDir(data) };
    });
    expect(seen).toEqual({ waited: expect.any(Number), holder: { command: true }, restore: undefined });
    expect(seen.waited).toBeGreaterThanOrEqual(500);
    expect(dataDirHolder(data)).toBeUndefined();
    await restore.ended;
  }, 20_000);

  it('registry-config, cache and a second restore during a restore: wait for it or say what to do; rotate-keys waits for it and rotates', async () => {
    const data = join(dir, 'data-during-restore');
    const store = new SqliteStore({ dataDir: data });
    (await KeyStore.open({ store, dataDir: data })).close();
    await store.close();
    // What restore says depends on who holds the data dir when it looks, after its own try failed: one that has let go
    // by then (nothing holds it now) is said as such.
    const letGo = join(dir, 'data-let-go');
    holdDataDir(letGo, 50).release();
    expect(whyRestoreCannot(letGo)).toBe(
      `${letGo} was held a moment ago, by a broker or a broker command that has just let go: run restore again`,
    );
    const restoring = takeDataDir(data);
    const message = `a restore is replacing the state in ${data} (it holds broker.lock): run this command again once it has finished`;
    try {
      for (const args of [['registry-config'], ['cache', 'usage', '--registry', 'http://127.0.0.1:9']]) {
        const r = cliOn(data, ...args);
        expect([args[0], r.status, r.stderr.trim(), r.stdout]).toEqual([
          args[0],
          1,
          `broker: ${message}`,
          '',
        ]);
      }
      // A second restore meanwhile is told of the first, not of a broker.
      const second = cliOn(data, 'restore', '--from', join(dir, 'no-such-backup'));
      expect([second.status, second.stderr.trim()]).toEqual([
        1,
        `broker: another restore, or a rotate-keys, holds ${data} alone: let it finish, then run restore again (after a restore, only to restore a different backup)`,
      ]);
    } finally {
      restoring?.release();
    }
    // A restore in another process that is done 3 s later: rotate-keys waits for it (it used to take the restore's
    // hold for a broker out of sight and refuse), then rotates the files.
    const keys = () => readFileSync(join(data, 'keys.json'), 'utf8');
    const before = keys();
    const restore = await holdElsewhere(data, 'restore', 3_000);
    const started = Date.now();
    const r = cliOn(data, 'rotate-keys');
    expect([r.status, r.stderr, r.stdout]).toEqual([0, '', expect.stringMatching(/^rotated: /)]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    expect(keys()).not.toBe(before);
    await restore.ended;
  }, 60_000);
});

describe('rotate-keys on the key files', () => {
  it('rewrites them holding the data dir alone: a broker that starts meanwhile waits for the rotated keys; beside a broker it rotates nothing', async () => {
    const data = join(dir, 'data-alone');
    (await KeyStore.open(data)).close();
    const kids = () =>
      (
        JSON.parse(readFileSync(join(data, 'keys.json'), 'utf8')) as {
          keys: { kid: string; state: string }[];
        }
      ).keys
        .map((k) => `${k.state} ${k.kid}`)
        .sort();
    const before = kids();
    const rotated = await whileAlone(data, async () => {
      // A broker starting now waits for the rotation (here: past its wait, it says so); restore is told who holds it.
      expect(() => holdDataDir(data, 50)).toThrow(`a restore is replacing the state in ${data}`);
      expect(whyRestoreCannot(data)).toBe(
        `another restore, or a rotate-keys, holds ${data} alone: let it finish, then run restore again (after a restore, only to restore a different backup)`,
      );
      return (await KeyStore.open(data)).rotate(DEFAULT_KEY_POLICY);
    });
    expect(rotated?.done.current).toBeDefined();
    const after = kids();
    expect(after).not.toEqual(before);
    expect(after).toContain(`current ${rotated?.done.current}`);
    // Then the broker starts, on the rotated files.
    const broker = holdDataDir(data, 50);
    try {
      let ran = false;
      expect(
        await whileAlone(data, async () => {
          ran = true;
        }),
      ).toBeUndefined();
      expect(ran).toBe(false);
      expect(kids()).toEqual(after);
    } finally {
      broker.release();
    }
  });
});

describe('rotate-keys and restore beside a holder out of sight, and beside a command', () => {
  it('a broker out of sight (broker.pid does not name it): no rotation, and the signal to send; a command under way: restore says to wait for it', async () => {
    const data = join(dir, 'data-rotate');
    const rotate = () => {
      const r = cliOn(data, 'rotate-keys');
      return [r.status, r.stderr.trim(), r.stdout] as const;
    };
    const keys = () => readFileSync(join(data, 'keys.json'), 'utf8');
    (await KeyStore.open(data)).close();
    const before = keys();
    const broker = holdDataDir(data, 50);
    try {
      expect(rotate()).toEqual([
        1,
        `broker: a broker out of sight here holds ${data} (in another container on the same volume?): send it SIGUSR2 where it runs (docker kill --signal USR2 CONTAINER) to rotate its signing keys`,
        '',
      ]);
      expect(keys()).toBe(before);
    } finally {
      broker.release();
    }
    const command = holdDataDirForCommand(data, 50, 'run it again');
    try {
      const restore = cliOn(data, 'restore', '--from', join(dir, 'no-such-backup'));
      expect([restore.status, restore.stderr.trim()]).toEqual([
        1,
        `broker: a broker command (revoke, audit, cache, registry-config) is under way on ${data}: run restore again once it has finished`,
      ]);
    } finally {
      command.release();
    }
    expect(rotate()).toEqual([0, '', expect.stringMatching(/^rotated: /)]);
    expect(keys()).not.toBe(before);
  }, 60_000);
});

describe('revoke beside a running broker', () => {
  it('a revocation written by the CLI is in force in the running broker within 5 s (its revocation poll)', async () => {
    if (!child) await startBroker();
    const res = await fetch(`http://127.0.0.1:${port}/auth/oidc/github-actions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: await issuer.mint(), project: 'web' }),
    });
    const { token } = (await res.json()) as { token: string };
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
      jti: string;
    };
    const login = async () =>
      (
        await fetch(`http://127.0.0.1:${port}/v2/token?service=depot-cache&scope=repository:cache/web:pull`, {
          headers: { authorization: `Basic ${Buffer.from(`depot:${token}`).toString('base64')}` },
        })
      ).status;
    expect(await login()).toBe(200);
    const revoked = cli('revoke', '--jti', claims.jti);
    expect([revoked.status, revoked.stderr]).toEqual([0, '']);
    const start = Date.now();
    const statuses: Array<[number, number]> = [];
    let status = await login();
    while (status === 200 && Date.now() - start < 5_000) {
      statuses.push([Date.now() - start, status]);
      await new Promise((r) => setTimeout(r, 200));
      status = await login();
    }
    expect(status, `logins after the revoke (ms, status): ${JSON.stringify(statuses)}`).toBe(401);
  }, 60_000);
});

describe('the audit of a flood of unverified tokens', () => {
  it(`stays within ${CAP} rows a minute plus one aggregate row whose count adds up; verified refusals are all audited`, async () => {
    if (!child) await startBroker();
    const valid = await issuer.mint();
    const [h, p, s] = valid.split('.') as [string, string, string];
    const forged = `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    const addresses = Array.from({ length: 40 }, (_, i) => `127.0.0.${10 + i}`);
    let sent = 0;
    // Beside the exchanges, the other endpoints anyone can reach without proving anything: a registry login with a
    // forged project token, a fork-PR claim no project covers, a claim exchange with an id no claim has.
    const login = {
      headers: { authorization: `Basic ${Buffer.from(`depot:${forged}`).toString('base64')}` },
    };
    const claim = JSON.stringify({ repository: 'someone/else', runId: 1, runAttempt: 1, pullRequest: 1 });
    const unknownClaim = JSON.stringify({ claimId: 'c'.repeat(22) });
    await Promise.all(
      addresses.map(async (localAddress) => {
        for (const token of ['not-a-jwt', forged, 'a.b.c']) {
          const r = await exchange(token, localAddress);
          expect(r.status).toBe(401);
          sent++;
        }
        const refusals = [
          [await call('GET', '/v2/token?service=depot-cache', { ...login, localAddress }), 401],
          [await call('POST', CLAIM_PATH, { body: claim, localAddress }), 403],
          [await call('POST', CLAIM_EXCHANGE_PATH, { body: unknownClaim, localAddress }), 404],
        ] as const;
        for (const [r, status] of refusals) {
          expect(r.status, JSON.stringify(r)).toBe(status);
          sent++;
        }
      }),
    );
    // A valid token that no rule allows: verified, so audited every time.
    for (let i = 0; i < 3; i++)
      expect(await exchange(await issuer.mint({ repository: 'acme/other' }), '127.0.0.5')).toMatchObject({
        status: 403,
      });
    await stopBroker(); // the aggregate row of the minute is written at shutdown

    const rows = auditRows();
    const unverified = rows.filter(
      (r) =>
        (r.kind === 'exchange' && ['malformed_token', 'bad_signature'].includes(String(r.outcome))) ||
        (r.kind === 'registry_token' && r.outcome === 'unauthorized') ||
        (r.kind === 'claim' && r.outcome === 'no_project') ||
        (r.kind === 'claim_exchange' && r.outcome === 'unknown_claim'),
    );
    const aggregates = rows.filter((r) => r.kind === SUPPRESSED_KIND);
    const minuteOf = (r: Record<string, unknown>) => Math.floor(Date.parse(String(r.at)) / 60_000);
    const perMinute = new Map<number, number>();
    const perAddressMinute = new Set<string>();
    for (const r of unverified) {
      perMinute.set(minuteOf(r), (perMinute.get(minuteOf(r)) ?? 0) + 1);
      const key = `${minuteOf(r)} ${String(r.client)}`;
      expect(perAddressMinute.has(key), `two rows for ${key}`).toBe(false);
      perAddressMinute.add(key);
    }
    for (const n of perMinute.values()) expect(n).toBeLessThanOrEqual(CAP);
    // The flood may straddle a minute: at most one aggregate row per minute, and every refusal counted once.
    expect(new Set(aggregates.map(minuteOf)).size).toBe(aggregates.length);
    expect(aggregates.length).toBeGreaterThan(0);
    expect(aggregates.length).toBeLessThanOrEqual(2);
    const suppressed = aggregates.reduce((n, r) => n + Number(r.suppressed), 0);
    expect(unverified.length + suppressed).toBe(sent);
    expect(sent).toBe(240);
    expect(rows.filter((r) => r.outcome === 'no_trust_relationship')).toHaveLength(3);
  }, 120_000);
});
