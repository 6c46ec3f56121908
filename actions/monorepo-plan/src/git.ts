// The git the planner needs, run in the checkout: what changed between two commits (renames seen), whether one is
// an ancestor of the other, and deepening a shallow checkout until the event's base is reachable.
import * as core from '@actions/core';
import { CommandNotFound, exec } from '../../../shared/exec';
import { UserError } from '../../../shared/errors';

export interface Change {
  /** A (added), M, D, R (renamed), C (copied), T (type changed). */
  status: string;
  /** The path now (the new path of a rename). */
  path: string;
  /** The path before a rename or copy. */
  from?: string;
}

export interface GitResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/** Depths a shallow checkout is fetched to, in turn, while the base is out of reach. */
export const DEEPEN_STEPS = [10, 50, 250, 1000];

export class Git {
  constructor(
    readonly cwd: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async run(args: string[]): Promise<GitResult> {
    core.debug(`Git.run: git ${args.join(' ')}`);
    try {
      const r = await exec('git', args, {
        cwd: this.cwd,
        // Never prompt for credentials: a fetch the checkout cannot make fails at once.
        env: { ...this.env, GIT_TERMINAL_PROMPT: '0' },
        stdin: 'ignore',
        captureStdout: true,
        silent: true,
      });
      return { ok: r.exitCode === 0, stdout: r.stdout, stderr: redact(r.lastStderrLine) };
    } catch (err: unknown) {
      if (err instanceof CommandNotFound) {
        throw new UserError('git is not installed: the planner needs it to see what changed (install git).');
      }
      throw err;
    }
  }

  async revParse(rev: string): Promise<string | undefined> {
    const r = await this.run(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]);
    return r.ok ? r.stdout.trim() : undefined;
  }

  async hasCommit(sha: string): Promise<boolean> {
    return (await this.run(['cat-file', '-e', `${sha}^{commit}`])).ok;
  }

  async isShallow(): Promise<boolean> {
    const r = await this.run(['rev-parse', '--is-shallow-repository']);
    return r.stdout.trim() === 'true';
  }

  async mergeBase(a: string, b: string): Promise<string | undefined> {
    const r = await this.run(['merge-base', a, b]);
    return r.ok ? r.stdout.trim() : undefined;
  }

  async isAncestor(a: string, b: string): Promise<boolean> {
    return (await this.run(['merge-base', '--is-ancestor', a, b])).ok;
  }

  /** Fetches commits by sha from origin, `depth` deep (a shallow clone), or their whole history. */
  async fetch(shas: string[], depth?: number): Promise<GitResult> {
    const args = ['fetch', '--no-tags', '--quiet', '--no-write-fetch-head'];
    if (depth !== undefined) args.push(`--depth=${depth}`);
    return this.run([...args, 'origin', ...shas]);
  }

  /**
   * Makes `base` and the merge base of `base` and `head` reachable, fetching a shallow checkout deeper step by step
   * (DEEPEN_STEPS). Returns why it could not, or undefined when it could.
   */
  async reach(base: string, head: string, needMergeBase: boolean): Promise<string | undefined> {
    const ready = async () =>
      (await this.hasCommit(base)) && (!needMergeBase || (await this.mergeBase(base, head)) !== undefined);
    if (await ready()) return undefined;
    if (!(await this.isShallow())) {
      // A full clone without the base: fetch it (a force-pushed-away commit, a base branch not fetched).
      const r = await this.fetch([base]);
      if (await ready()) return undefined;
      return r.ok ? 'it shares no history with HEAD' : `git fetch failed: ${r.stderr || 'no message'}`;
    }
    // A fetch --depth shorter than the history already here would cut it: start deeper than that.
    const have = Number((await this.run(['rev-list', '--count', 'HEAD'])).stdout.trim()) || 0;
    let last = '';
    for (const depth of DEEPEN_STEPS.filter((d) => d > have)) {
      core.info(`Fetching ${depth} commits of ${short(base)} and ${short(head)} to reach the base`);
      const r = await this.fetch([base, head], depth);
      if (!r.ok) last = r.stderr;
      if (await ready()) return undefined;
    }
    if (last) return `git fetch failed: ${last}`;
    return `not within ${DEEPEN_STEPS[DEEPEN_STEPS.length - 1] ?? 0} commits of the shallow checkout`;
  }

  /** `git diff --name-status -M` between two commits; `threeDot` diffs from their merge base (base...head). */
  async diff(base: string, head: string, threeDot: boolean): Promise<Change[]> {
    const range = threeDot ? [`${base}...${head}`] : [base, head];
    const r = await this.run(['diff', '--name-status', '-M', '-z', '--no-color', ...range, '--']);
    if (!r.ok) throw new Error(`git diff ${range.join(' ')} failed: ${r.stderr}`);
    return parseNameStatus(r.stdout);
  }
}

/** `git diff --name-status -z` output: `STATUS\0path\0`, or `R100\0old\0new\0` for renames and copies. */
export function parseNameStatus(out: string): Change[] {
  const parts = out.split('\0');
  const changes: Change[] = [];
  for (let i = 0; i < parts.length;) {
    const status = parts[i++] ?? '';
    if (status === '') continue;
    const letter = status.charAt(0);
    if (letter === 'R' || letter === 'C') {
      const from = parts[i++] ?? '';
      const path = parts[i++] ?? '';
      changes.push({ status: letter, path, from });
    } else {
      changes.push({ status: letter, path: parts[i++] ?? '' });
    }
  }
  return changes;
}

/** A git message as it may be shown: the credentials of any `scheme://user:token@host` URL in it removed. */
export function redact(text: string): string {
  return text.replace(/(\/\/)[^/@\s]+@/g, '$1***@');
}

export function short(sha: string): string {
  return sha.slice(0, 7);
}
