// For the tests: real git repositories made from examples/monorepo. A template (a bare `origin` that serves any
// sha, as github.com does, and a working clone on main with one commit of the example) is copied per test.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { exec } from '../../../shared/exec';

export const EXAMPLE = resolve(import.meta.dirname, '../../../examples/monorepo');
export const IMAGES = ['services/api', 'services/web', 'services/worker'];

/** git with no user or system config, and a fixed identity. */
export const GIT_ENV: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
};

/** Runs git (async: some tests serve HTTP from the same process) and returns its trimmed stdout. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const r = await exec('git', args, {
    cwd,
    env: GIT_ENV,
    captureStdout: true,
    silent: true,
    stdin: 'ignore',
  });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(' ')}: ${r.lastStderrLine}`);
  return r.stdout.trim();
}

/** Writes (or, for null, deletes) files, commits everything, and returns the new sha. */
export async function commit(
  cwd: string,
  files: Record<string, string | null>,
  message = 'change',
): Promise<string> {
  for (const [path, content] of Object.entries(files)) {
    const file = join(cwd, path);
    if (content === null) await rm(file, { recursive: true, force: true });
    else {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, content);
    }
  }
  await git(cwd, 'add', '-A');
  await git(cwd, 'commit', '-q', '-m', message);
  return git(cwd, 'rev-parse', 'HEAD');
}

export interface Repo {
  /** The bare repository clones fetch from. */
  origin: string;
  /** A full working clone, on main, where the tests commit. */
  work: string;
  /** The directory holding both (and any further clones). */
  dir: string;
  /** The example's commit. */
  first: string;
}

export class RepoFactory {
  readonly root = mkdtempSync(join(tmpdir(), 'monorepo-plan-'));
  private template: Promise<string> | undefined;
  private n = 0;

  private makeTemplate(): Promise<string> {
    this.template ??= (async () => {
      const template = join(this.root, 'template');
      const work = join(template, 'work');
      cpSync(EXAMPLE, work, { recursive: true });
      await git(work, 'init', '-q', '-b', 'main');
      await commit(work, {}, 'examples/monorepo');
      await git(template, 'clone', '-q', '--bare', work, 'origin.git');
      await git(join(template, 'origin.git'), 'config', 'uploadpack.allowAnySHA1InWant', 'true');
      await git(work, 'remote', 'add', 'origin', join(template, 'origin.git'));
      await git(work, 'fetch', '-q', 'origin');
      return template;
    })();
    return this.template;
  }

  async repo(): Promise<Repo> {
    const template = await this.makeTemplate();
    const dir = join(this.root, `repo-${++this.n}`);
    cpSync(template, dir, { recursive: true });
    const work = join(dir, 'work');
    const origin = join(dir, 'origin.git');
    await git(work, 'remote', 'set-url', 'origin', origin);
    return { origin, work, dir, first: await git(work, 'rev-parse', 'HEAD') };
  }

  /** A file path beside the repositories (event payloads). */
  file(name: string): string {
    return join(this.root, `${++this.n}-${name}`);
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
