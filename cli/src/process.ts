// Child processes as argv arrays: streamed to our stdio, SIGINT/SIGTERM forwarded, the exit status returned
// (128 + signal number when the child was killed). Cleanups registered here also run when we are interrupted.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { UserError } from './errors';
import { log, showCommand } from './log';

const cleanups: Array<() => void> = [];

export function onCleanup(fn: () => void): void {
  cleanups.push(fn);
}

export function runCleanups(): void {
  while (cleanups.length > 0) {
    const fn = cleanups.pop();
    try {
      fn?.();
    } catch {
      // best effort: a cleanup never hides the command's own result
    }
  }
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Capture stdout instead of streaming it. */
  capture?: boolean;
  /** Pass stdin through (default: ignore). */
  stdin?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
}

const forwarded: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
const children = new Set<ChildProcess>();
let interrupted: NodeJS.Signals | undefined;

function onSignal(signal: NodeJS.Signals): void {
  interrupted = signal;
  for (const child of children) child.kill(signal);
  if (children.size === 0) {
    runCleanups();
    process.exit(128 + (constants.signals[signal] ?? 0));
  }
}

export function installSignalHandlers(): void {
  for (const s of forwarded) process.on(s, onSignal);
}

export function wasInterrupted(): NodeJS.Signals | undefined {
  return interrupted;
}

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  log.debug(`running ${showCommand(cmd, args)}`);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: [opts.stdin ? 'inherit' : 'ignore', opts.capture ? 'pipe' : 'inherit', 'inherit'],
    });
    children.add(child);
    let stdout = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', (err: NodeJS.ErrnoException) => {
      children.delete(child);
      if (err.code === 'ENOENT') {
        reject(
          new UserError(
            `${cmd} is not installed or not on PATH: install Docker with buildx (scripts/engine.sh up does it on Debian).`,
          ),
        );
      } else reject(new UserError(`Cannot run ${cmd}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      children.delete(child);
      const status = code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1);
      resolvePromise({ code: status, stdout });
    });
  });
}
