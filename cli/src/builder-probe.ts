// Whether the builder can export the project cache. The `docker` buildx driver exports cache only when the daemon
// uses the containerd image store; on the classic store (GitHub's hosted runners unless a workflow changes it)
// `--cache-to` fails the build with "Cache export is not supported for the docker driver". So before adding
// `--cache-to` we read the builder's driver (`docker buildx inspect`) and, for the docker driver, the daemon's
// image store (`docker info`: the containerd store reports DriverStatus `driver-type io.containerd.snapshotter.v1`).
//
// The answer is kept for the rest of the CI job in one small file, so a job's second `depot build` does not ask
// again: in $RUNNER_TEMP/depot on GitHub Actions (the runner empties RUNNER_TEMP around every job, so the file
// lives exactly one job), else in depot's cache dir (token-cache.ts) under the CI's job id, swept after a day.
// With no CI job (a developer's machine) nothing is kept: the daemon may be reconfigured at any time. The key is
// the job, DOCKER_HOST, the docker context, the builder asked for (--builder, BUILDX_BUILDER), buildx's choice of
// builder (the name in its `current` file, and its instances) and the daemon socket's inode and mtime, so a
// builder created or selected later in the job (docker/setup-buildx-action), or a dockerd restarted onto the
// containerd store, is asked about afresh. A probe that fails decides nothing (the flags stay as they were) and
// is not kept. The warning is printed by every command whose cache export it drops, once per command.
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
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  CONTAINERD_SNAPSHOTTER,
  INFO_FORMAT,
  parseBuilderInspect,
  parseImageStore,
} from '../../shared/buildx-version';
import type { ImageStore } from '../../shared/contract/docker-facts';
import { DOCKER_FACTS_ENV, readDockerFacts } from '../../shared/contract/docker-facts';
import { CommandNotFound, exec as sharedExec } from '../../shared/exec';
import type { ExecOptions, ExecResult } from '../../shared/exec';
import { detectCi } from './ci';
import { log, showCommand } from './log';
import { tokenCacheDir } from './token-cache';

export type { ImageStore };
export { CONTAINERD_SNAPSHOTTER, INFO_FORMAT, parseImageStore };

export interface BuilderFacts {
  /** The builder's name as buildx reports it. */
  name: string;
  /** Its driver: docker, docker-container, kubernetes, remote ... */
  driver: string;
  /** The daemon's image store, read for the docker driver only. */
  store?: ImageStore;
}

/** Kept answers older than this are deleted (outside RUNNER_TEMP, which the runner empties itself). */
export const MAX_AGE_MS = 24 * 60 * 60 * 1000;

const FILE = /^builder-[0-9a-f]{64}\.json$/;
/** The builder's name, driver and first node's endpoint from `docker buildx inspect`. */
export function parseInspect(
  stdout: string,
): { name: string; driver: string; endpoint?: string } | undefined {
  const { name, driver, nodes } = parseBuilderInspect(stdout);
  if (!name || !driver) return undefined;
  const endpoint = nodes[0]?.endpoint;
  return { name, driver, ...(endpoint ? { endpoint } : {}) };
}

/** False only for the docker driver on the classic image store: it cannot export cache. */
export function exportsCache(facts: BuilderFacts | undefined): boolean {
  return !(facts?.driver === 'docker' && facts.store === 'classic');
}

/** The one warning for a build whose cache export is dropped: what happened and the two fixes. */
export function classicStoreWarning(facts: BuilderFacts): string {
  return (
    `the builder "${facts.name}" uses the docker driver on Docker's classic image store, which cannot export cache: ` +
    'this build reads the project cache but does not write it. To write it, add docker/setup-buildx-action ' +
    'before this step, or turn on the containerd image store (/etc/docker/daemon.json: ' +
    '{"features":{"containerd-snapshotter":true}}, then restart dockerd).'
  );
}

export type ProbeExec = (command: string, args: readonly string[], opts: ExecOptions) => Promise<ExecResult>;

export interface ProbeDeps {
  exec: ProbeExec;
  now: () => number;
}

const defaultDeps: ProbeDeps = { exec: sharedExec, now: Date.now };

/** Where answers are kept for this job, and the job's id; undefined outside a CI job. */
export function probeCacheDir(env: NodeJS.ProcessEnv): { dir: string; job: string } | undefined {
  if (env.GITHUB_ACTIONS === 'true' && env.RUNNER_TEMP) {
    const job = [env.GITHUB_RUN_ID, env.GITHUB_RUN_ATTEMPT, env.GITHUB_JOB].map((p) => p ?? '').join('/');
    return { dir: join(env.RUNNER_TEMP, 'depot'), job: `github/${job}` };
  }
  const ci = detectCi(env);
  if (!ci?.jobId) return undefined;
  return { dir: tokenCacheDir(env).dir, job: `${ci.provider}/${ci.jobId}` };
}

/**
 * The builder `docker buildx use` selected, from buildx's `current` file: its Name and Global only, since buildx
 * rewrites the file's Key (the endpoint) on every command, also for other daemons.
 */
function selected(current: string): string {
  try {
    const json: unknown = JSON.parse(current || '{}');
    if (json === null || typeof json !== 'object') return '';
    const { Name, Global } = json as Record<string, unknown>;
    return JSON.stringify([Name ?? '', Global ?? false]);
  } catch {
    return current;
  }
}

/** What identifies the daemon and builder a build will use, without asking docker. */
export function probeKey(env: NodeJS.ProcessEnv, job: string, builder: string | undefined): string {
  const configDir = env.DOCKER_CONFIG || join(env.HOME ?? '', '.docker');
  const read = (file: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  let context = env.DOCKER_CONTEXT ?? '';
  if (!context) {
    try {
      const json: unknown = JSON.parse(read(join(configDir, 'config.json')) || '{}');
      const current =
        json !== null && typeof json === 'object' ? (json as Record<string, unknown>).currentContext : '';
      context = typeof current === 'string' ? current : '';
    } catch {
      context = '';
    }
  }
  const host = env.DOCKER_HOST ?? '';
  const socket = host.startsWith('unix://')
    ? host.slice('unix://'.length)
    : !host && (!context || context === 'default')
      ? '/var/run/docker.sock'
      : '';
  let daemon = '';
  if (socket) {
    try {
      const st = statSync(socket);
      daemon = `${st.ino}:${st.mtimeMs}`;
    } catch {
      daemon = 'absent';
    }
  }
  const instancesDir = join(configDir, 'buildx', 'instances');
  let instances: string[] = [];
  try {
    instances = readdirSync(instancesDir)
      .sort()
      .map((n) => {
        try {
          return `${n}:${statSync(join(instancesDir, n)).mtimeMs}`;
        } catch {
          return n;
        }
      });
  } catch {
    instances = [];
  }
  return createHash('sha256')
    .update(
      JSON.stringify([
        job,
        host,
        context,
        builder ?? env.BUILDX_BUILDER ?? '',
        selected(read(join(configDir, 'buildx', 'current'))),
        instances,
        daemon,
      ]),
    )
    .digest('hex');
}

/**
 * The builder's facts the action handed over (shared/contract/docker-facts.ts), when they are about the builder this
 * build uses (`--builder`, else buildx's choice, which BUILDX_BUILDER sets for both) and complete: a docker driver's
 * facts need its image store.
 */
export function handedFacts(env: NodeJS.ProcessEnv, builder: string | undefined): BuilderFacts | undefined {
  const b = readDockerFacts(env)?.builder;
  if (!b || b.asked !== (builder ?? '')) return undefined;
  if (b.driver === 'docker' && !b.store) return undefined;
  return { name: b.name, driver: b.driver, ...(b.store ? { store: b.store } : {}) };
}

/** Reads (and keeps, for the job) what the builder of this build is. */
export class BuilderProbe {
  private readonly deps: ProbeDeps;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    deps: Partial<ProbeDeps> = {},
  ) {
    this.deps = { ...defaultDeps, ...deps };
  }

  /** The builder's facts: from this job's kept answer, else asked of docker; undefined when docker cannot tell. */
  async facts(builder?: string): Promise<BuilderFacts | undefined> {
    const handed = handedFacts(this.env, builder);
    if (handed) {
      log.debug(`BuilderProbe.facts: from the action (${DOCKER_FACTS_ENV}): ${JSON.stringify(handed)}`);
      return handed;
    }
    const where = probeCacheDir(this.env);
    const file = where
      ? join(where.dir, `builder-${probeKey(this.env, where.job, builder)}.json`)
      : undefined;
    if (where && file) {
      this.sweep(where.dir);
      const kept = this.load(file);
      if (kept) {
        log.debug(`BuilderProbe.facts: kept for this job in ${file}: ${JSON.stringify(kept)}`);
        return kept;
      }
    }
    const facts = await this.ask(builder);
    if (facts && where && file) this.keep(where.dir, file, facts);
    return facts;
  }

  private async run(args: readonly string[]): Promise<ExecResult | undefined> {
    log.debug(`running ${showCommand('docker', args)}`);
    try {
      const res = await this.deps.exec('docker', args, {
        env: this.env,
        output: 'pipe',
        stdin: 'ignore',
        captureStdout: true,
        silent: true,
      });
      if (res.exitCode !== 0) {
        log.debug(
          `BuilderProbe: docker ${args[0]} ${args[1] ?? ''} exited ${res.exitCode}: ${res.lastStderrLine}`,
        );
        return undefined;
      }
      return res;
    } catch (err: unknown) {
      if (!(err instanceof CommandNotFound)) throw err;
      return undefined;
    }
  }

  private async ask(builder?: string): Promise<BuilderFacts | undefined> {
    const inspected = await this.run(['buildx', 'inspect', ...(builder ? ['--builder', builder] : [])]);
    const parsed = inspected ? parseInspect(inspected.stdout) : undefined;
    if (!parsed) return undefined;
    const facts: BuilderFacts = { name: parsed.name, driver: parsed.driver };
    if (parsed.driver !== 'docker') return facts;
    // The docker driver's node is a docker context: "default" (DOCKER_HOST, else the current context) or a name.
    const endpoint = parsed.endpoint;
    const context =
      endpoint && endpoint !== 'default' && !endpoint.includes('://') ? ['--context', endpoint] : [];
    const info = await this.run([...context, 'info', '--format', INFO_FORMAT]);
    const store = info ? parseImageStore(info.stdout) : undefined;
    if (!store) return undefined;
    return { ...facts, store };
  }

  /** A kept answer when the file is a regular file of this user holding one; otherwise nothing. */
  private load(file: string): BuilderFacts | undefined {
    try {
      const st = lstatSync(file);
      if (!st.isFile() || (process.getuid && st.uid !== process.getuid())) return undefined;
      const json: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (json === null || typeof json !== 'object') return undefined;
      const { name, driver, store } = json as Record<string, unknown>;
      if (typeof name !== 'string' || typeof driver !== 'string') return undefined;
      if (store !== undefined && store !== 'containerd' && store !== 'classic') return undefined;
      return { name, driver, ...(store ? { store } : {}) };
    } catch {
      return undefined;
    }
  }

  /** Written whole then renamed, 0600; a failure is a debug line: the next build asks again. */
  private keep(dir: string, file: string, facts: BuilderFacts): void {
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(tmp, `${JSON.stringify({ ...facts, at: this.deps.now() })}\n`, { mode: 0o600 });
      chmodSync(tmp, 0o600);
      renameSync(tmp, file);
    } catch (err: unknown) {
      rmSync(tmp, { force: true });
      log.debug(`BuilderProbe: could not keep the builder's facts in ${dir}: ${String(err)}`);
    }
  }

  /** Deletes kept answers older than a day (best effort). */
  private sweep(dir: string): void {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => FILE.test(n));
    } catch {
      return;
    }
    for (const name of names) {
      try {
        const st = lstatSync(join(dir, name));
        if (st.isFile() && this.deps.now() - st.mtimeMs > MAX_AGE_MS)
          rmSync(join(dir, name), { force: true });
      } catch {
        // best effort: keeping answers never fails a build
      }
    }
  }
}

/**
 * Whether this build may add `--cache-to` for the project cache: asks (once per job) about the builder `builder`
 * (or buildx's current one) and, when it is the docker driver on the classic image store, warns once and says no.
 */
export async function cacheExportAllowed(
  env: NodeJS.ProcessEnv,
  builder: string | undefined,
  deps: Partial<ProbeDeps> = {},
): Promise<boolean> {
  const facts = await new BuilderProbe(env, deps).facts(builder);
  if (exportsCache(facts)) return true;
  log.warn(classicStoreWarning(facts as BuilderFacts));
  return false;
}
