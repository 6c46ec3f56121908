// The CLI's layer over shared/exec (which spawns, forwards SIGINT/SIGTERM and computes 128 + signal): children
// write straight to the user's terminal, a missing command is one line saying what to install, and cleanups
// registered here run however the command ends, also when a signal arrives while no child is running.
import { CommandNotFound, exec, liveChildren, signalExitStatus } from '../../shared/exec';
import type { ExecResult } from '../../shared/exec';
import { errorMessage, UserError } from './errors';
import { log, showCommand } from './log';

export const INSTALL_DOCKER = 'install Docker Engine with the buildx plugin (docker-buildx)';

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

let interrupted: NodeJS.Signals | undefined;

/** A signal while a child runs reaches the child (shared/exec forwards it); with none, clean up and exit. */
function onSignal(signal: NodeJS.Signals): void {
  interrupted = signal;
  if (liveChildren() === 0) {
    runCleanups();
    process.exit(signalExitStatus(signal));
  }
}

export function installSignalHandlers(): void {
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, onSignal);
}

export function wasInterrupted(): NodeJS.Signals | undefined {
  return interrupted;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Capture stdout for parsing instead of showing it (stderr still reaches the terminal). */
  capture?: boolean;
  /** Pass stdin through (default: none). */
  stdin?: boolean;
  /** The one line for a command that is not installed (default: install Docker Engine with buildx). */
  notFound?: string;
}

export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  log.debug(`running ${showCommand(cmd, args)}`);
  try {
    return await exec(cmd, args, {
      output: 'inherit',
      stdin: opts.stdin ? 'inherit' : 'ignore',
      ...(opts.capture ? { captureStdout: true, silent: true } : {}),
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
  } catch (err: unknown) {
    if (err instanceof CommandNotFound) {
      throw new UserError(opts.notFound ?? `${cmd} is not installed or not on PATH: ${INSTALL_DOCKER}.`);
    }
    throw new UserError(`Cannot run ${cmd}: ${errorMessage(err)}`);
  }
}
