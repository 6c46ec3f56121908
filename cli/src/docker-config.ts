// A temporary DOCKER_CONFIG for one depot command: the user's own config.json (logins, credential helpers,
// contexts, builders, plugins all kept) plus the cache registry's credentials, and a cli-plugins folder in which
// docker-buildx is the real buildx plugin, never depot's own shim (configure-docker). The user's config is only
// read; the directory is 0700 and removed when the command ends, also on SIGINT/SIGTERM.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from './errors';

export function userConfigDir(env: NodeJS.ProcessEnv): string {
  return env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker');
}

export type DockerConfigJson = Record<string, unknown>;

export function readConfigJson(dir: string): DockerConfigJson {
  const file = join(dir, 'config.json');
  if (!existsSync(file)) return {};
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new UserError(`${file} is not valid JSON: fix or remove it (docker itself cannot read it either).`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new UserError(`${file} is not a JSON object: fix or remove it.`);
  }
  return json as DockerConfigJson;
}

export interface Credentials {
  host: string;
  username: string;
  password: string;
}

/** The credential helper depot writes for the cache host when the user's config has a `credsStore`. */
export const CACHE_HELPER = 'depot-cache';

/**
 * The user's config with `creds` added for their hosts (and any credential helper of the user's for those hosts
 * removed). docker reads `auths` only when no `credsStore` is set; with one, each host gets depot's own helper
 * (`credHelpers[host] = "depot-cache"`), which TempDockerConfig puts on buildx's PATH.
 */
export function mergeConfig(user: DockerConfigJson, creds: readonly Credentials[]): DockerConfigJson {
  const out: DockerConfigJson = { ...user };
  const auths = { ...(isObj(user.auths) ? user.auths : {}) };
  const helpers: Record<string, unknown> | undefined = isObj(user.credHelpers)
    ? { ...user.credHelpers }
    : undefined;
  const store = typeof user.credsStore === 'string' && user.credsStore !== '';
  for (const c of creds) {
    auths[c.host] = { auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') };
    if (helpers) delete helpers[c.host];
  }
  out.auths = auths;
  if (store && creds.length > 0) {
    const withOurs: Record<string, unknown> = { ...(helpers ?? {}) };
    for (const c of creds) withOurs[c.host] = CACHE_HELPER;
    out.credHelpers = withOurs;
  } else if (helpers) out.credHelpers = helpers;
  return out;
}

/** A docker credential helper (`get` only) answering from a 0600 file next to it. */
function helperScript(file: string): string {
  const q = `'${file.replace(/'/g, `'\\''`)}'`;
  return `#!/bin/sh\n# depot: the cache registry's credentials for one build (removed with this directory).\ncase "$1" in\n  get) cat ${q} ;;\n  list) echo '{}' ;;\n  *) exit 0 ;;\nesac\n`;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Where configure-docker records the real buildx plugin, inside the user's config dir. */
export const SHIM_STATE = 'depot-configure-docker.json';

export interface ShimState {
  /** The real docker-buildx plugin that the shim replaced. */
  buildx: string;
  /** config.json `aliases.builder` before install (absent when there was none). */
  previousBuilderAlias?: string;
}

export function readShimState(configDir: string): ShimState | undefined {
  const file = join(configDir, SHIM_STATE);
  if (!existsSync(file)) return undefined;
  try {
    const json: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (isObj(json) && typeof json.buildx === 'string') {
      const s: ShimState = { buildx: json.buildx };
      if (typeof json.previousBuilderAlias === 'string') s.previousBuilderAlias = json.previousBuilderAlias;
      return s;
    }
  } catch {
    // fall through: a broken state file is reported below
  }
  throw new UserError(
    `${file} is unreadable: run \`depot configure-docker --uninstall\` and then install again.`,
  );
}

export class TempDockerConfig {
  readonly dir: string;
  /** A folder to put first on buildx's PATH (depot's credential helper), when one was needed. */
  pathPrefix: string | undefined;
  private removed = false;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static create(opts: { env: NodeJS.ProcessEnv; creds: readonly Credentials[] }): TempDockerConfig {
    const userDir = userConfigDir(opts.env);
    const config = mergeConfig(readConfigJson(userDir), opts.creds);
    const dir = mkdtempSync(join(opts.env.RUNNER_TEMP || tmpdir(), 'depot-docker-config-'));
    const tmp = new TempDockerConfig(dir);
    try {
      writeFileSync(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
      const helped = isObj(config.credHelpers)
        ? opts.creds.filter((c) => (config.credHelpers as Record<string, unknown>)[c.host] === CACHE_HELPER)
        : [];
      const first = helped[0];
      if (first) {
        mkdirSync(join(dir, 'bin'));
        const secret = join(dir, 'cache-credentials.json');
        const answer = { ServerURL: first.host, Username: first.username, Secret: first.password };
        writeFileSync(secret, JSON.stringify(answer), { mode: 0o600 });
        writeFileSync(join(dir, 'bin', `docker-credential-${CACHE_HELPER}`), helperScript(secret), {
          mode: 0o700,
        });
        tmp.pathPrefix = join(dir, 'bin');
      }
      for (const sub of ['contexts', 'buildx']) {
        if (existsSync(join(userDir, sub))) symlinkSync(join(userDir, sub), join(dir, sub));
      }
      const shim = readShimState(userDir);
      const plugins = join(userDir, 'cli-plugins');
      if (existsSync(plugins) || shim) {
        mkdirSync(join(dir, 'cli-plugins'));
        if (existsSync(plugins)) {
          for (const name of readdirSync(plugins)) {
            if (shim && name === 'docker-buildx') continue;
            symlinkSync(join(plugins, name), join(dir, 'cli-plugins', name));
          }
        }
        if (shim) symlinkSync(shim.buildx, join(dir, 'cli-plugins', 'docker-buildx'));
      }
    } catch (err: unknown) {
      tmp.remove();
      throw err;
    }
    return tmp;
  }

  remove(): void {
    if (this.removed) return;
    this.removed = true;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
