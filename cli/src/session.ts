// What every build-like command sets up before buildx runs: the project token (--token > DEPOT_TOKEN > the one
// cached for this CI job > the CI's OIDC token exchanged at DEPOT_BROKER_URL > none), its claims, the project, the
// build id, the cache probe and the temporary DOCKER_CONFIG, in that order, so every refusal comes before anything
// starts.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { buildxVersion } from './buildx';
import { probeCache } from './cache';
import { tokenFromCi } from './ci-token';
import type { CiTokenDeps } from './ci-token';
import { readShimState, TempDockerConfig, userConfigDir } from './docker-config';
import { UserError } from './errors';
import { addSecret, log } from './log';
import { onCleanup } from './process';
import { resolveProject } from './project';
import type { ProjectToken } from './token';
import { readProjectToken } from './token';
import { savedBuildsRepository } from '../../shared/contract/project';
import { exec } from '../../shared/exec';
import { readDockerFacts } from '../../shared/contract/docker-facts';
import { traced } from '../../shared/trace';
import { CACHE_PROBED_ENV, probedMark } from '../../shared/cache-probe';

/** Set in buildx's env by depot: a depot shim reached again from inside a depot build is a loop. */
export const SHIM_GUARD = 'DEPOT_INSIDE_BUILD';

export interface SessionOptions {
  env: NodeJS.ProcessEnv;
  tokenFlag?: string;
  projectFlag?: string;
  searchFrom?: string;
  /** Probe the cache registry (build, bake); pull and push only need credentials. */
  probe?: boolean;
  /** The seam tests replace: processes (circleci, buildkite-agent), the broker's HTTP, the clock. */
  deps?: Partial<SessionDeps>;
}

export type SessionDeps = CiTokenDeps;

export function defaultSessionDeps(): SessionDeps {
  return {
    exec,
    fetch: globalThis.fetch,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: Date.now,
  };
}

export class Session {
  readonly buildID = newBuildID();
  private version: string | undefined | null = null;

  private constructor(
    readonly token: ProjectToken | undefined,
    readonly project: string | undefined,
    /** buildx's env: the temp DOCKER_CONFIG and the loop guard; no DEPOT_TOKEN, no DEPOT_OIDC_TOKEN. */
    readonly env: NodeJS.ProcessEnv,
    /** With no token: the one line that says why, when it is more than "none was given". */
    readonly note?: string,
  ) {}

  static async open(opts: SessionOptions): Promise<Session> {
    const raw = opts.tokenFlag ?? opts.env.DEPOT_TOKEN;
    const choose = (token?: ProjectToken) =>
      resolveProject({
        ...(opts.projectFlag !== undefined ? { flag: opts.projectFlag } : {}),
        env: opts.env,
        ...(opts.searchFrom !== undefined ? { searchFrom: opts.searchFrom } : {}),
        ...(token ? { token } : {}),
      });
    let token: ProjectToken | undefined;
    let note: string | undefined;
    if (raw !== undefined && raw.trim() !== '') {
      addSecret(raw.trim());
      token = readProjectToken(raw);
    } else {
      const deps = { ...defaultSessionDeps(), ...opts.deps };
      const named = choose().id;
      const found = await traced('token from CI', () =>
        tokenFromCi({ env: opts.env, ...(named ? { project: named } : {}) }, deps),
      );
      if (found.kind === 'token') token = found.token;
      else note = found.note;
    }
    const project = choose(token);
    // build-push and bake probe with the token they hand over and say so (shared/cache-probe.ts): no second probe.
    const probed = token !== undefined && opts.env[CACHE_PROBED_ENV] === probedMark(token.raw);
    if (opts.probe && token?.cache && !probed) await traced('cache probe', () => probeCache(token));
    const env: NodeJS.ProcessEnv = { ...opts.env, [SHIM_GUARD]: '1' };
    delete env.DEPOT_TOKEN;
    delete env.DEPOT_OIDC_TOKEN;
    const creds =
      token?.cache && !token.isolated
        ? [{ host: token.cache.host, username: 'depot', password: token.raw }]
        : [];
    if (creds.length > 0 || readShimState(userConfigDir(opts.env))) {
      const tmp = TempDockerConfig.create({ env: opts.env, creds });
      onCleanup(() => tmp.remove());
      env.DOCKER_CONFIG = tmp.dir;
      if (tmp.pathPrefix) env.PATH = `${tmp.pathPrefix}:${env.PATH ?? ''}`;
    }
    return new Session(token, project.id, env, note);
  }

  /** The installed buildx's version: the one the action handed over (docker-facts.ts), else `docker buildx version`. */
  async buildxVersion(): Promise<string | undefined> {
    if (this.version === null) {
      const handed = readDockerFacts(this.env)?.buildx;
      this.version = handed ?? (await traced('buildx version', () => buildxVersion(this.env)));
    }
    return this.version;
  }

  /** Refuses `--save` before anything runs when this token cannot push a saved build. */
  requireSave(): void {
    if (this.token?.isolated) {
      throw new UserError(
        'This build is isolated (its project token is isolated): isolated builds cannot --save.',
      );
    }
    if (!this.token?.scopes.has('cache:write')) {
      throw new UserError(
        this.token
          ? '--save needs a project token with cache:write (this token cannot push to the project).'
          : '--save needs a project token: set DEPOT_TOKEN (or --token).',
      );
    }
  }

  /** The saved-builds repository of this project in the cache registry. */
  savedRepository(): string {
    if (!this.token?.cache || !this.project) {
      throw new UserError(
        'Saved builds need a project token with a cache registry: set DEPOT_TOKEN (or --token).',
      );
    }
    return `${this.token.cache.host}/${savedBuildsRepository(this.project)}`;
  }

  /** `depot.build` added to the metadata file buildx wrote (or a new file when buildx wrote none). */
  addBuildInfo(file: string): void {
    let json: Record<string, unknown> = {};
    if (existsSync(file)) {
      try {
        const parsed: unknown = JSON.parse(readFileSync(file, 'utf8') || '{}');
        if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
          json = parsed as Record<string, unknown>;
      } catch {
        log.warn(`${file} is not JSON: writing depot.build into a fresh metadata file.`);
      }
    }
    json['depot.build'] = {
      buildID: this.buildID,
      projectID: this.project ?? '',
      isolated: this.token?.isolated ?? false,
    };
    writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  }
}

/** 20 lowercase base-32 characters: a valid image tag, unguessable. */
export function newBuildID(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return [...randomBytes(20)].map((b) => alphabet[b % 32]).join('');
}
