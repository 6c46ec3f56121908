// Running a process, for the actions and the CLI alike: an argv array (never a shell), SIGINT/SIGTERM forwarded to
// every live child, and the exit status (128 + N when the child was killed by signal N). Output either reaches our
// terminal untouched (`output: 'inherit'`, so BuildKit's progress stays a TTY's) or passes through us (`'pipe'`):
// streamed to our stdout/stderr unless `silent`, stdout kept for parsing, stderr's last line kept for a one-line
// failure. A command that is not installed is a CommandNotFound, which each caller turns into its own message.
import { spawn } from 'node:child_process';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { constants } from 'node:os';

export interface ExecOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * 'pipe' (default): stdout and stderr pass through us to `stdout`/`stderr` and their tails are kept.
   * 'inherit': the child writes straight to our stdout and stderr; only a captured stdout is piped.
   */
  output?: 'pipe' | 'inherit';
  /** The child's stdin: ours ('inherit', the default) or none ('ignore'). */
  stdin?: 'inherit' | 'ignore';
  /** Where piped output goes while it streams (default: this process's stdout/stderr). */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Keep the whole stdout (for commands whose output is parsed); otherwise only the tail is kept. */
  captureStdout?: boolean;
  /** Do not echo piped output (for probes such as `docker buildx version`, and parsed stdout). */
  silent?: boolean;
}

export interface ExecResult {
  exitCode: number;
  /** The signal that ended the child, if any. */
  signal?: NodeJS.Signals;
  /** The whole stdout with `captureStdout`, else its tail when piped, else ''. */
  stdout: string;
  /** The last non-empty line the child wrote to stderr ('' when none, or when stderr was inherited). */
  lastStderrLine: string;
}

/** The command is not installed (ENOENT): callers turn it into a message saying how to install it. */
export class CommandNotFound extends Error {
  override readonly name = 'CommandNotFound';
  constructor(readonly command: string) {
    super(`${command}: command not found`);
  }
}

const TAIL_BYTES = 64 * 1024;
const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
const live = new Set<ChildProcess>();

function forward(signal: NodeJS.Signals): void {
  for (const child of live) child.kill(signal);
}

/** Our SIGINT/SIGTERM listeners exist only while a child runs, so with none the default (or the caller's) applies. */
function track(child: ChildProcess): void {
  if (live.size === 0) for (const s of FORWARDED) process.on(s, forward);
  live.add(child);
}

function untrack(child: ChildProcess): void {
  if (!live.delete(child)) return;
  if (live.size === 0) for (const s of FORWARDED) process.off(s, forward);
}

/** How many children started by `exec` are still running (a signal now reaches them). */
export function liveChildren(): number {
  return live.size;
}

/** The shell's exit status for a process ended by `signal`: 128 + its number. */
export function signalExitStatus(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

export function exec(command: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const inherit = opts.output === 'inherit';
    const stdio: StdioOptions = [
      opts.stdin ?? 'inherit',
      inherit && !opts.captureStdout ? 'inherit' : 'pipe',
      inherit ? 'inherit' : 'pipe',
    ];
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio });
    track(child);
    let stdout = '';
    let stderrTail = '';
    const out = opts.stdout ?? process.stdout;
    const err = opts.stderr ?? process.stderr;
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      if (!opts.silent) out.write(chunk);
      stdout = opts.captureStdout ? stdout + chunk : (stdout + chunk).slice(-TAIL_BYTES);
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      if (!opts.silent) err.write(chunk);
      stderrTail = (stderrTail + chunk).slice(-TAIL_BYTES);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      untrack(child);
      reject(e.code === 'ENOENT' ? new CommandNotFound(command) : e);
    });
    child.on('close', (code, signal) => {
      untrack(child);
      const result: ExecResult = {
        exitCode: code ?? (signal ? signalExitStatus(signal) : 1),
        stdout,
        lastStderrLine: lastLine(stderrTail),
      };
      if (signal) result.signal = signal;
      resolve(result);
    });
  });
}

export function lastLine(text: string): string {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return lines[lines.length - 1] ?? '';
}
