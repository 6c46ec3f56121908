// Another process holding a broker's data dir (oidc-broker/src/store/data-dir-lock.ts) as a broker, a broker command
// or a restore does: the holder that restore, rotate-keys and the commands meet in use, started from the sources with
// tsx. In another process because the locks are POSIX record locks, and because a command's wait for a lock is
// synchronous: a timer in the test's own process could not end a hold the test is waiting on.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');
const tsx = resolve(ROOT, 'node_modules', '.bin', 'tsx');
const lockModule = resolve(ROOT, 'oidc-broker', 'src', 'store', 'data-dir-lock.ts');

export interface HolderProcess {
  /** The pid of the node process that holds the lock (tsx runs it as a child of its own). */
  pid: number;
  /** Resolves once the process has ended (killed, or at the end of its `forMs`). */
  ended: Promise<void>;
  /** SIGKILL, as an OOM kill or `docker kill` would; resolves once it is gone. */
  kill(): Promise<void>;
}

/**
 * A process that holds `dataDir` as a broker (holdDataDir), a broker command (`as` 'command': holdDataDirForCommand)
 * or a restore ('restore': takeDataDir) does, until killed, or for `forMs` and then lets go by ending; resolves once it
 * holds it.
 */
export async function holdElsewhere(
  dataDir: string,
  as: 'broker' | 'command' | 'restore' = 'broker',
  forMs?: number,
): Promise<HolderProcess> {
  const hold = { broker: 'holdDataDir', command: 'holdDataDirForCommand', restore: 'takeDataDir' }[as];
  const args = as === 'restore' ? '' : ", 1000, ''";
  const then =
    forMs === undefined ? 'setInterval(() => {}, 1e6)' : `setTimeout(() => process.exit(0), ${forMs})`;
  const script = `import { ${hold} } from ${JSON.stringify(lockModule)}; if (!${hold}(${JSON.stringify(dataDir)}${args})) process.exit(3); console.log('held', process.pid); ${then};`;
  const child = spawn(tsx, ['--eval', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ended = new Promise<void>((done) => child.once('exit', () => done()));
  const pid = await new Promise<number>((held, failed) => {
    child.stdout.on('data', (b: Buffer) => {
      const m = /held (\d+)/.exec(b.toString());
      if (m) held(Number(m[1]));
    });
    child.once('exit', (code) => failed(new Error(`the holder exited with ${code}`)));
  });
  return {
    pid,
    ended,
    async kill() {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone (its forMs was up)
      }
      await ended;
    },
  };
}
