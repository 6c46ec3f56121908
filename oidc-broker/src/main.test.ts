// `npm run broker -- revoke` and `audit`, run as an operator runs them, against a real data dir.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './settings';
import { SqliteStore } from './state';

const tsx = resolve(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const main = resolve(REPO_ROOT, 'oidc-broker', 'src', 'main.ts');
let dir: string;

function broker(...args: string[]) {
  const r = spawnSync(tsx, [main, ...args, '--data-dir', dir], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lines(stdout: string): Record<string, unknown>[] {
  return stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'broker-main-'));
  const state = new SqliteStore({ dataDir: dir });
  await state.audit({
    at: 1000,
    kind: 'exchange',
    provider: 'github-actions',
    issuer: 'gh',
    outcome: 'ok',
    requestId: 'req-a',
    project: 'web',
    rule: 'web-main',
    tokenJti: 'tok-1',
  });
  await state.audit({
    at: 1001,
    kind: 'exchange',
    provider: 'github-actions',
    issuer: 'gh',
    outcome: 'no_trust_relationship',
    requestId: 'req-b',
    message: 'the closest rule, web-main (project web, broker.yml:9), wants ref',
  });
  await state.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('broker revoke', () => {
  it('records a revocation that audit lists, and a running store honours', async () => {
    const r = broker('revoke', '--jti', 'tok-1');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      'revoked project token tok-1: the registry token service refuses it (a running broker within 5 s)\n',
    );
    const byRule = broker('revoke', '--rule', 'web-main', '--before', '2026-11-23T10:00:00Z');
    expect(byRule.stdout).toMatch(
      /^revoked every project token of rule web-main issued before 2026-11-23T10:00:00.000Z/,
    );
    const state = new SqliteStore({ dataDir: dir });
    expect(
      await state.isRevoked({ jti: 'tok-1', project: 'web', rule: 'web-main', issuedAt: 1 << 30 }),
    ).toMatchObject({
      kind: 'jti',
    });
    await state.close();
    const listed = lines(broker('audit').stdout).filter((l) => l.kind === 'revocation');
    expect(listed).toEqual([
      expect.objectContaining({ revoked: 'jti', value: 'tok-1' }),
      expect.objectContaining({ revoked: 'rule', value: 'web-main', before: '2026-11-23T10:00:00.000Z' }),
    ]);
  });

  it.each([
    [[], 'revoke takes exactly one of --jti ID, --rule ID or --project ID'],
    [['--jti', 'a', '--rule', 'b'], 'revoke takes exactly one of --jti ID, --rule ID or --project ID'],
    [['--rule', 'web-main', '--before', 'soon'], '--before "soon" is neither a time'],
  ])('refuses %j in one line', (args, message) => {
    const r = broker('revoke', ...args);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(message);
  });
});

describe('broker audit --request', () => {
  it("finds one request's records, with the detail the caller was not told", () => {
    const rows = lines(broker('audit', '--request', 'req-b').stdout);
    expect(rows).toEqual([
      expect.objectContaining({
        requestId: 'req-b',
        outcome: 'no_trust_relationship',
        message: 'the closest rule, web-main (project web, broker.yml:9), wants ref',
      }),
    ]);
  });
});
