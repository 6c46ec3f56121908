// Whether a broker runs on a data dir (data-dir-lock.ts), as `restore` and `rotate-key` ask it; the modes of the
// state's files; what a restore does with the state it replaces, and with a backup of another broker. The holder is
// another process, as in use (test/support/data-dir-holder.ts). Runs under Node 20 (better-sqlite3) and Node 24
// (node:sqlite): `vitest run oidc-broker/src/store/sqlite`.
import { X509Certificate } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { holdElsewhere } from '../../../test/support/data-dir-holder';
import type { HolderProcess } from '../../../test/support/data-dir-holder';
import { KeyStore } from '../keys';
import {
  dataDirHolder,
  holdDataDir,
  holdDataDirForCommand,
  settledHolder,
  PID_FILE,
  runningBroker,
  takeDataDir,
} from './data-dir-lock';
import { SqliteStore, STATE_FILE } from './sqlite';
import { backupSqlite, restoreSqlite } from './sqlite-backup';

let dir: string;
let holder: HolderProcess | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'broker-lock-'));
});
afterEach(async () => {
  if (holder) await holder.kill();
  holder = undefined;
  rmSync(dir, { recursive: true, force: true });
});

describe('a broker on a data dir', () => {
  it('is seen by its lock, whatever its pid file says, and is gone when its process dies however it dies', async () => {
    const data = join(dir, 'data');
    expect(runningBroker(data)).toBeUndefined();
    holder = await holdElsewhere(data);

    // broker.pid names it: the pid is given (it has broker.lock open).
    writeFileSync(join(data, PID_FILE), `${holder.pid}\n`);
    expect(runningBroker(data)).toEqual({ pid: holder.pid });
    // A pid file that names another process (a broker in another container, a stale file), or none at all: a broker
    // still runs, its pid unknown here.
    writeFileSync(join(data, PID_FILE), `${process.pid}\n`);
    expect(runningBroker(data)).toEqual({ pid: undefined });
    rmSync(join(data, PID_FILE));
    expect(runningBroker(data)).toEqual({ pid: undefined });
    expect(takeDataDir(data)).toBeUndefined();

    // Killed outright: the kernel drops its lock, and a stale pid file does not make it run.
    writeFileSync(join(data, PID_FILE), `${holder.pid}\n`);
    await holder.kill();
    holder = undefined;
    expect(runningBroker(data)).toBeUndefined();
    const alone = takeDataDir(data);
    expect(alone).toBeDefined();
    alone?.release();
  }, 30_000);

  it('is held until released, whatever the garbage collector does (a holder may drop its handle)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const data = join(dir, 'data');
    holdDataDir(data, 50);
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(runningBroker(data)).toEqual({ pid: undefined });
  });

  it('does not start while a restore holds the data dir, and starts once it has finished', () => {
    const data = join(dir, 'data');
    const restoring = takeDataDir(data);
    expect(restoring).toBeDefined();
    expect(() => holdDataDir(data, 50)).toThrow(
      `a restore is replacing the state in ${data} (it holds broker.lock): start the broker once it has finished`,
    );
    restoring?.release();
    const broker = holdDataDir(data, 50);
    expect(takeDataDir(data)).toBeUndefined();
    broker.release();
  });

  it('a data dir that cannot be made or written: one line naming the file and what to pass', () => {
    writeFileSync(join(dir, 'a-file'), '');
    const data = join(dir, 'a-file', 'data');
    expect(() => holdDataDir(data)).toThrow(
      new RegExp(
        `^cannot open ${join(data, 'broker.lock')} \\(ENOTDIR: .*\\): the data dir must be a folder this user can write \\(--data-dir or BROKER_DATA_DIR\\)$`,
      ),
    );
  });

  it('tells a broker command under way from a broker: rotate-keys waits for a command, not for a broker', async () => {
    const data = join(dir, 'data');
    const command = () => holdDataDirForCommand(data, 50, 'run it again');
    // A command (revoke, audit) that is done 500 ms later: waited for, and then nothing holds the data dir.
    const first = command();
    expect(dataDirHolder(data)).toEqual({ command: true });
    let started = Date.now();
    setTimeout(() => first.release(), 500);
    expect(await settledHolder(data, 5_000)).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    // One still under way past the wait is reported as a command.
    const slow = command();
    try {
      expect(await settledHolder(data, 300)).toEqual({ command: true });
    } finally {
      slow.release();
    }
    // A holder that is no command and that broker.pid does not name: a broker out of sight, said at once.
    const outOfSight = holdDataDir(data, 50);
    try {
      started = Date.now();
      expect(await settledHolder(data, 5_000)).toEqual({ broker: { pid: undefined } });
      expect(Date.now() - started).toBeLessThan(2_000);
      // Beside a command: known for a broker once the command is done.
      const beside = command();
      expect(dataDirHolder(data)).toEqual({ command: true });
      started = Date.now();
      setTimeout(() => beside.release(), 500);
      expect(await settledHolder(data, 5_000)).toEqual({ broker: { pid: undefined } });
      expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    } finally {
      outOfSight.release();
    }
    // A command in another process (a revoke run beside rotate-keys) is one too.
    const elsewhere = await holdElsewhere(data, 'command');
    try {
      expect(dataDirHolder(data)).toEqual({ command: true });
    } finally {
      await elsewhere.kill();
    }
    expect(dataDirHolder(data)).toBeUndefined();
    // A broker that broker.pid names, in another process, is named at once (to be signalled), command or not.
    holder = await holdElsewhere(data);
    writeFileSync(join(data, PID_FILE), `${holder.pid}\n`);
    const alongside = command();
    try {
      started = Date.now();
      expect(await settledHolder(data, 5_000)).toEqual({ broker: { pid: holder.pid } });
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      alongside.release();
    }
  }, 30_000);

  it('a command started during a restore waits for it, then says what to do, and holds nothing after', () => {
    const data = join(dir, 'data');
    const restoring = takeDataDir(data);
    try {
      expect(() => holdDataDirForCommand(data, 50, 'run this command again once it has finished')).toThrow(
        `a restore is replacing the state in ${data} (it holds broker.lock): run this command again once it has finished`,
      );
      expect(dataDirHolder(data)).toEqual({ restore: true }); // the restore's own hold, not a broker's
    } finally {
      restoring?.release();
    }
    expect(dataDirHolder(data)).toBeUndefined();
  });

  it('tells a restore from a broker out of sight: rotate-keys waits for a restore, as for a command', async () => {
    const data = join(dir, 'data');
    holdDataDir(data, 50).release(); // the lock file, as any broker that ran here leaves it
    holder = await holdElsewhere(data, 'restore');
    writeFileSync(join(data, PID_FILE), `${process.pid}\n`); // a pid file naming a process without the lock
    expect(dataDirHolder(data)).toEqual({ restore: true });
    let started = Date.now();
    expect(await settledHolder(data, 300)).toEqual({ restore: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    // Done 500 ms later: waited for, and then nothing holds the data dir.
    const restore = holder;
    setTimeout(() => void restore.kill(), 500);
    started = Date.now();
    expect(await settledHolder(data, 5_000)).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    // A broker (this process, which broker.pid names now that it holds the lock) is still a broker.
    const broker = holdDataDir(data, 50);
    try {
      expect(dataDirHolder(data)).toEqual({ broker: { pid: process.pid } });
    } finally {
      broker.release();
    }
  }, 30_000);

  it('several brokers may hold it at once; restore only alone', () => {
    const data = join(dir, 'data');
    const one = holdDataDir(data, 50);
    const two = holdDataDir(data, 50);
    one.release();
    expect(takeDataDir(data)).toBeUndefined();
    two.release();
    const alone = takeDataDir(data);
    expect(alone).toBeDefined();
    alone?.release();
  });
});

describe("the state's file modes", () => {
  it('state.db and its WAL are 0600 in a data dir that existed, whatever the umask, and after a restore', async () => {
    const data = join(dir, 'data');
    mkdirSync(data, { mode: 0o755 });
    const before = process.umask(0o022);
    try {
      const state = new SqliteStore({ dataDir: data });
      await state.useJti('gh', 'a-jti', Math.floor(Date.now() / 1000) + 600);
      for (const f of [STATE_FILE, `${STATE_FILE}-wal`])
        expect((statSync(join(data, f)).mode & 0o777).toString(8), f).toBe('600');
      const out = join(dir, 'backup');
      backupSqlite(data, out);
      await state.close();
      // A backup copied about with a looser mode still restores to a state only its owner reads.
      chmodSync(out, 0o644);
      rmSync(data, { recursive: true });
      mkdirSync(data, { mode: 0o755 });
      restoreSqlite(out, data);
      expect((statSync(join(data, STATE_FILE)).mode & 0o777).toString(8)).toBe('600');
    } finally {
      process.umask(before);
    }
  });
});

describe('restore over a data dir that has a state', () => {
  // The tokens' expiry: a replay is the same token, so it comes with the same one.
  const expires = Math.floor(Date.now() / 1000) + 600;

  async function brokerState(data: string, jti: string): Promise<void> {
    await KeyStore.open(data);
    const state = new SqliteStore({ dataDir: data });
    await state.useJti('gh', jti, expires);
    await state.close();
  }

  it("keeps what the data dir had in a pre-restore folder; refuses another CA's backup unless forced", async () => {
    const mine = join(dir, 'mine');
    const other = join(dir, 'other');
    await brokerState(mine, 'mine-before');
    await brokerState(other, 'other');
    const myBackup = join(dir, 'mine.backup');
    const theirBackup = join(dir, 'other.backup');
    backupSqlite(mine, myBackup);
    backupSqlite(other, theirBackup);
    const state = new SqliteStore({ dataDir: mine });
    await state.useJti('gh', 'mine-after', expires);
    await state.close();
    const ownCa = readFileSync(join(mine, 'registry-ca.pem'), 'utf8');
    const fp = (pem: string) => new X509Certificate(pem).fingerprint256;

    // Another broker's backup (a wrong --from or --data-dir): refused, the data dir untouched.
    const theirCa = readFileSync(join(other, 'registry-ca.pem'), 'utf8');
    expect(() => restoreSqlite(theirBackup, mine)).toThrow(
      `${theirBackup} is a backup under another registry CA (SHA-256 ${fp(theirCa)}) than the one in ${mine} (${fp(ownCa)}), which the registry trusts: restored, this broker's registry tokens would be refused until the registry's rootcertbundle is replaced. Check --from and --data-dir; to restore it all the same, add --force (what the data dir has is kept in a pre-restore folder in it)`,
    );
    expect(readdirSync(mine).filter((f) => f.startsWith('pre-restore-'))).toEqual([]);
    expect(readFileSync(join(mine, 'registry-ca.pem'), 'utf8')).toBe(ownCa);

    // Its own backup: restored; the state it replaced (with the jti used after the backup) is kept, not deleted.
    const restored = restoreSqlite(myBackup, mine);
    expect(restored.keptIn).toMatch(/^pre-restore-\d{4}-\d\d-\d\dT/);
    const kept = join(mine, restored.keptIn ?? '');
    expect(readdirSync(kept).sort()).toEqual(
      expect.arrayContaining(['keys.json', 'registry-ca.pem', 'state.db']),
    );
    const back = new SqliteStore({ dataDir: mine });
    const aside = new SqliteStore({ dataDir: kept });
    try {
      expect(await back.useJti('gh', 'mine-before', expires)).toBe(false);
      // Used after the backup: carried over from the state it replaced, so still used.
      expect(restored.carried?.jtis).toBe(1);
      expect(await back.useJti('gh', 'mine-after', expires)).toBe(false);
      expect(await aside.useJti('gh', 'mine-after', expires)).toBe(false);
    } finally {
      await back.close();
      await aside.close();
    }

    // Forced: the other CA's backup goes in, and this data dir's CA is kept aside with its key. Of this data dir's
    // state only the used jtis go with it: its revocations name its own projects, not the other broker's.
    const revoking = new SqliteStore({ dataDir: mine });
    await revoking.revoke('project', 'web', undefined);
    await revoking.close();
    const forced = restoreSqlite(theirBackup, mine, { force: true });
    expect(forced.carried).toEqual({ jtis: 2, revocations: 0, claims: 0 });
    const theirsNow = new SqliteStore({ dataDir: mine });
    try {
      expect(await theirsNow.revocations()).toEqual([]);
      expect(await theirsNow.useJti('gh', 'mine-after', expires)).toBe(false);
    } finally {
      await theirsNow.close();
    }
    expect(readFileSync(join(mine, 'registry-ca.pem'), 'utf8')).toBe(theirCa);
    const keptNow = join(mine, forced.keptIn ?? '');
    expect(readFileSync(join(keptNow, 'registry-ca.pem'), 'utf8')).toBe(ownCa);
    expect(readdirSync(keptNow)).toContain('registry-ca-key.pem');

    // The data dir's CA damaged (the kind of loss a restore is for): the refusal says what to do, nothing moves.
    writeFileSync(join(mine, 'registry-ca.pem'), 'not a certificate\n');
    const before = readdirSync(mine).sort();
    expect(() => restoreSqlite(myBackup, mine)).toThrow(
      `the registry-ca.pem in ${mine} is not a certificate (damaged?): to put the backup's back, add --force (what the data dir has is kept in a pre-restore folder in it)`,
    );
    expect(readdirSync(mine).sort()).toEqual(before);
    restoreSqlite(myBackup, mine, { force: true });
    expect(readFileSync(join(mine, 'registry-ca.pem'), 'utf8')).toBe(ownCa);
  });
});
