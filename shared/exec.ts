// Running a process: argv array, output streamed live, SIGINT/SIGTERM forwarded, the tail kept for messages.
import { spawn } from 'node:child_process';

export interface ExecOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Where output goes while it streams (default: this process's stdout/stderr). */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Keep the whole stdout (for commands whose output is parsed); otherwise only the tail is kept. */
  captureStdout?: boolean;
  /** Do not echo output (for probes such as `docker buildx version`). */
  silent?: boolean;
}

export interface ExecResult {
  exitCode: number;
  /** The signal that ended the child, if any. */
  signal?: NodeJS.Signals;
  stdout: string;
  /** The last non-empty line the child wrote to stderr (or '' when none). */
  lastStderrLine: string;
}

/** The command is not installed (ENOENT): callers turn it into a message saying how to install it. */
export class CommandNotFound extends Error {
  constructor(readonly command: string) {
    super(`${command}: command not found`);
  }
}

const TAIL_BYTES = 64 * 1024;

export function exec(command: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['inherit', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderrTail = '';
    const out = opts.stdout ?? process.stdout;
    const err = opts.stderr ?? process.stderr;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (!opts.silent) out.write(chunk);
      stdout = opts.captureStdout ? stdout + chunk : (stdout + chunk).slice(-TAIL_BYTES);
    });
    child.stderr.on('data', (chunk: string) => {
      if (!opts.silent) err.write(chunk);
      stderrTail = (stderrTail + chunk).slice(-TAIL_BYTES);
    });
    const forward = (signal: NodeJS.Signals) => () => {
      child.kill(signal);
    };
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    const detach = () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    };
    child.on('error', (e: NodeJS.ErrnoException) => {
      detach();
      reject(e.code === 'ENOENT' ? new CommandNotFound(command) : e);
    });
    child.on('close', (code, signal) => {
      detach();
      const result: ExecResult = {
        exitCode: code ?? (signal ? 128 + signalNumber(signal) : 1),
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

function signalNumber(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : signal === 'SIGKILL' ? 9 : 1;
}
