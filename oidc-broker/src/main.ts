// `npm run broker [-- COMMAND] [flags]`: serve (default), validate-config F, audit, revoke, rotate-keys,
// rotate-key-secret, backup, restore, registry-config, cache;
// `--help` for the broker or any command prints its help on stdout (settings.ts). Every user error is one line naming what was wrong and what to do, and a non-zero exit; never a stack trace.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runBroker } from './broker';
import { cacheCommand } from './commands/cache';
import {
  backupCommand,
  commandConfig,
  HOLDING_COMMANDS,
  openCommandStore,
  restoreCommand,
  rotateKeySecretCommand,
  storeConfigOf,
  whileAlone,
  whileCommandHolds,
} from './commands/state';
import { ConfigProblems, loadConfig } from './config';
import { parseDuration } from './duration';
import { ConfigError, errorMessage } from './errors';
import { DEFAULT_KEY_POLICY, KeyStore } from './keys';
import { registryConfig } from './registry-config';
import type { Help, Settings } from './settings';
import { parseSettings } from './settings';
import { openStore } from './store';
import { reportAdopted } from './store/adopt';
import { settledHolder } from './store/data-dir-lock';

function fail(message: string): never {
  process.stderr.write(`broker: ${message}\n`);
  process.exit(1);
}

function load(file: string) {
  try {
    return loadConfig(file);
  } catch (err: unknown) {
    if (err instanceof ConfigProblems) fail(err.problems[0] ?? 'invalid config');
    throw err;
  }
}

async function serveCommand(s: Settings): Promise<void> {
  const config = load(s.config);
  void config;
  const running = await runBroker({
    configPath: s.config,
    dataDir: s.dataDir,
    host: s.listen.host,
    port: s.listen.port,
  });
  const shutdown = () => {
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

function validateCommand(s: Settings): void {
  const file = resolve(s.args[0] ?? s.flags.get('config') ?? s.config);
  try {
    const config = loadConfig(file);
    for (const w of config.warnings) process.stdout.write(`warning: ${w}\n`);
    const rules = config.projects.reduce((n, p) => n + p.rules.length, 0);
    process.stdout.write(
      `${file}: ok (${config.issuers.length} issuer(s), ${config.projects.length} project(s), ${rules} rule(s))\n`,
    );
  } catch (err: unknown) {
    if (err instanceof ConfigProblems) {
      for (const p of err.problems) process.stderr.write(`${p}\n`);
      process.exit(1);
    }
    throw err;
  }
}

function parseSince(value: string, flag = '--since'): number {
  const ago = parseDuration(value);
  if (ago !== undefined && !/^\d+$/.test(value)) return Math.floor(Date.now() / 1000) - ago;
  const t = Date.parse(value);
  if (Number.isNaN(t))
    fail(`${flag} "${value}" is neither a time (2026-11-23T10:00:00Z) nor a duration ago (1h)`);
  return Math.floor(t / 1000);
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

async function auditCommand(s: Settings): Promise<void> {
  const state = await openCommandStore(s);
  const sinceText = s.flags.get('since');
  const since = sinceText === undefined ? undefined : parseSince(sinceText);
  const repository = s.flags.get('repository');
  const requestId = s.flags.get('request');
  const rows: Array<{ at: number; line: Record<string, unknown> }> = (
    await state.queryAudit({
      ...(since !== undefined ? { since } : {}),
      ...(repository !== undefined ? { repository } : {}),
      ...(requestId !== undefined ? { requestId } : {}),
    })
  ).map((r) => ({ at: r.at, line: { ...r, at: iso(r.at) } }));
  // Revocations are no one repository's nor request's: listed unless the records are narrowed to one.
  if (repository === undefined && requestId === undefined) {
    for (const r of await state.revocations()) {
      if (since !== undefined && r.at < since) continue;
      rows.push({
        at: r.at,
        line: {
          at: iso(r.at),
          kind: 'revocation',
          revoked: r.kind,
          value: r.value,
          ...(r.before !== undefined ? { before: iso(r.before) } : {}),
        },
      });
    }
  }
  rows.sort((a, b) => a.at - b.at);
  for (const r of rows) process.stdout.write(`${JSON.stringify(r.line)}\n`);
  await state.close();
}

async function revokeCommand(s: Settings): Promise<void> {
  const named = (['jti', 'rule', 'project'] as const).filter((k) => s.flags.has(k));
  const kind = named[0];
  if (kind === undefined || named.length > 1) {
    fail(
      'revoke takes exactly one of --jti ID, --rule ID or --project ID (see npm run broker -- revoke --help)',
    );
  }
  const value = s.flags.get(kind) ?? '';
  const beforeText = s.flags.get('before');
  const now = Math.floor(Date.now() / 1000);
  const before =
    beforeText !== undefined ? parseSince(beforeText, '--before') : kind === 'jti' ? undefined : now + 1;
  const state = await openCommandStore(s);
  const r = await state.revoke(kind, value, before);
  await state.close();
  const which = kind === 'jti' ? `project token ${value}` : `every project token of ${kind} ${value}`;
  process.stdout.write(
    `revoked ${which}${r.before !== undefined ? ` issued before ${iso(r.before)}` : ''}: the registry token service refuses it (a running broker within 5 s)\n`,
  );
}

/** How long rotate-keys waits for a broker command under way on the data dir (revoke, audit) to finish. */
const ROTATE_WAIT_MS = 10_000;

async function rotateCommand(s: Settings): Promise<void> {
  const config = commandConfig(s);
  const policy = config
    ? { signerTtl: config.registrySignerTtl, keyRotation: config.keyRotation }
    : DEFAULT_KEY_POLICY;
  if (storeConfigOf(config).engine === 'postgres') {
    // Through the database: every instance hears of it (NOTIFY) and reloads the keys and the signer.
    const store = await openCommandStore(s, config);
    try {
      const keys = await KeyStore.open({ store, dataDir: s.dataDir }, policy);
      const r = await keys.rotate(policy);
      keys.close();
      process.stdout.write(
        `rotated in the database: ${r.current} signs now, ${r.next} is published as next, ${r.retired} retired; every instance follows within seconds\n`,
      );
    } finally {
      await store.close();
    }
    return;
  }
  if (!existsSync(join(s.dataDir, 'keys.json')))
    fail(`no broker keys in ${s.dataDir}: pass the broker's --data-dir`);
  // The key files are rewritten with the data dir held alone (whileAlone): a broker that starts meanwhile waits, then
  // loads the rotated keys.
  const end = Date.now() + ROTATE_WAIT_MS;
  for (;;) {
    const rotated = await whileAlone(s.dataDir, async () => {
      const keys = await KeyStore.open(s.dataDir, policy);
      return keys.rotate(policy);
    });
    if (rotated !== undefined) {
      const r = rotated.done;
      process.stdout.write(
        `rotated: ${r.current} signs now, ${r.next} is published as next, ${r.retired} retired\n`,
      );
      return;
    }
    // Held by another: a command or a restore is waited for (until the deadline); a broker is not.
    const holder = await settledHolder(s.dataDir, Math.max(0, end - Date.now()));
    if (holder === undefined) continue; // let go meanwhile: take it now
    if ('restore' in holder)
      fail(
        `a restore, or another rotate-keys, has held ${s.dataDir} alone for ${ROTATE_WAIT_MS / 1000} s: run rotate-keys again once it has finished`,
      );
    if ('command' in holder)
      fail(
        `a broker command (${HOLDING_COMMANDS}) has been under way on ${s.dataDir} for ${ROTATE_WAIT_MS / 1000} s: run rotate-keys again once it has finished`,
      );
    // The keys a running broker signs with are in its memory: it rotates them itself (SIGUSR2), or a restart would
    // undo ours.
    const { pid } = holder.broker;
    if (pid === undefined)
      fail(
        `a broker out of sight here holds ${s.dataDir} (in another container on the same volume?): send it SIGUSR2 where it runs (docker kill --signal USR2 CONTAINER) to rotate its signing keys`,
      );
    try {
      process.kill(pid, 'SIGUSR2');
      process.stdout.write(`asked the running broker (pid ${pid}) to rotate its signing keys\n`);
      return;
    } catch {
      // It stopped since: rotate the files ourselves.
    }
  }
}

async function registryConfigCommand(s: Settings): Promise<void> {
  const config = load(s.config);
  // The CA the store holds (with PostgreSQL, the one every instance signs under), its certificate in the data dir.
  // With SQLite, the data dir is held as a command holds it while the state is read (or created).
  const keys = await whileCommandHolds(s.dataDir, storeConfigOf(config), async () => {
    const store = await openStore(config, { dataDir: s.dataDir, upgrade: false, onAdopted: reportAdopted });
    try {
      return await KeyStore.open({ store, dataDir: s.dataDir });
    } finally {
      await store.close();
    }
  });
  const storage = resolve(s.flags.get('storage') ?? join(s.dataDir, 'registry'));
  const listen = s.flags.get('listen');
  process.stdout.write(
    registryConfig(config, { caCertPath: keys.caCertPath(), storage, ...(listen ? { listen } : {}) }),
  );
}

async function main(): Promise<void> {
  let s: Settings | Help;
  try {
    s = parseSettings(process.argv.slice(2), process.env);
  } catch (err: unknown) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  if ('help' in s) {
    process.stdout.write(s.help);
    return;
  }
  switch (s.command) {
    case 'validate-config':
      return validateCommand(s);
    case 'audit':
      return auditCommand(s);
    case 'revoke':
      return revokeCommand(s);
    case 'rotate-keys':
      return rotateCommand(s);
    case 'registry-config':
      return registryConfigCommand(s);
    case 'rotate-key-secret':
      return rotateKeySecretCommand(s);
    case 'backup':
      return backupCommand(s);
    case 'restore':
      return restoreCommand(s);
    case 'cache':
      return cacheCommand(s);
    default:
      return serveCommand(s);
  }
}

main().catch((err: unknown) => fail(errorMessage(err)));
