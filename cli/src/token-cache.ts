// The project token a CI job got from the broker, kept for the rest of that job: `circleci run oidc get` and
// `buildkite-agent` mint a fresh CI token on every call, so a job that runs depot five times would otherwise make
// five exchanges. The key is the job id, the broker URL and the project (hashed into the file name); a token is
// reused until a minute before it expires. Directory: DEPOT_CACHE_DIR, else $XDG_CACHE_HOME/depot, else
// ~/.cache/depot (0700, files 0600). Expired and corrupt files are deleted; the cache never fails a build.
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { log } from './log';
import type { ProjectToken } from './token';
import { readProjectToken } from './token';

/** A cached token is used only while it has more than this left. */
export const REUSE_MARGIN_MS = 60_000;

const FILE = /^project-token-[0-9a-f]{64}\.json$/;

export interface TokenCacheKey {
  provider: string;
  jobId: string;
  brokerUrl: string;
  /** '' when no project was named (the broker picked one). */
  project: string;
}

export function tokenCacheDir(env: NodeJS.ProcessEnv): { dir: string; ours: boolean } {
  if (env.DEPOT_CACHE_DIR) return { dir: env.DEPOT_CACHE_DIR, ours: false };
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return { dir: join(base, 'depot'), ours: true };
}

export class TokenCache {
  constructor(
    readonly dir: string,
    /** The default location is depot's own folder: its mode is set to 0700 even when it exists. */
    private readonly ours: boolean,
    private readonly now: () => number,
  ) {}

  static of(env: NodeJS.ProcessEnv, now: () => number): TokenCache {
    const { dir, ours } = tokenCacheDir(env);
    return new TokenCache(dir, ours, now);
  }

  fileOf(key: TokenCacheKey): string {
    const hash = createHash('sha256')
      .update(JSON.stringify([key.provider, key.jobId, key.brokerUrl, key.project]))
      .digest('hex');
    return join(this.dir, `project-token-${hash}.json`);
  }

  /** The cached token for `key` while it has more than a minute left; expired and corrupt files are deleted. */
  read(key: TokenCacheKey): ProjectToken | undefined {
    this.sweep();
    const file = this.fileOf(key);
    const token = this.load(file);
    if (token) log.debug(`TokenCache.read: hit ${file}`);
    return token;
  }

  /** Keeps `raw` for `key` (0600, written whole then renamed); a failure is a warning, never an error. */
  write(key: TokenCacheKey, raw: string): void {
    const file = this.fileOf(key);
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      if (!existsSync(this.dir)) {
        mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        chmodSync(this.dir, 0o700);
      } else if (this.ours) chmodSync(this.dir, 0o700);
      writeFileSync(tmp, `${JSON.stringify({ token: raw })}\n`, { mode: 0o600, flag: 'w' });
      chmodSync(tmp, 0o600);
      renameSync(tmp, file);
    } catch (err: unknown) {
      remove(tmp);
      const why = err instanceof Error ? err.message : String(err);
      log.warn(`could not keep the project token for the rest of this job in ${this.dir} (${why}).`);
    }
  }

  /** Deletes every expired or corrupt token file of this cache (best effort). */
  sweep(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const name of names) if (FILE.test(name)) this.load(join(this.dir, name));
  }

  /** The token in `file` when usable; an unusable file of ours is removed. */
  private load(file: string): ProjectToken | undefined {
    let stat: ReturnType<typeof lstatSync>;
    try {
      stat = lstatSync(file);
    } catch {
      return undefined;
    }
    // Only a regular file of this user is trusted: never one somebody else could have planted.
    if (!stat.isFile() || (process.getuid && stat.uid !== process.getuid())) return undefined;
    let token: ProjectToken | undefined;
    try {
      const json: unknown = JSON.parse(readFileSync(file, 'utf8'));
      const raw =
        json !== null && typeof json === 'object' ? (json as Record<string, unknown>).token : undefined;
      if (typeof raw === 'string') token = readProjectToken(raw, new Date(this.now() + REUSE_MARGIN_MS));
    } catch {
      token = undefined;
    }
    if (!token) {
      log.debug(`TokenCache: removing ${file} (expired or unreadable)`);
      remove(file);
    }
    return token;
  }
}

function remove(file: string): void {
  try {
    rmSync(file, { force: true });
  } catch {
    // best effort: the cache never fails a build
  }
}
