// `depot bake`: docker buildx bake with the user's flags, files and targets unchanged, plus the project cache per
// target (key = target name), --save per target, --lint, and depot.build in the metadata file.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import semver from 'semver';
import { cacheExportAllowed } from './builder-probe';
import { checkFlagVersions } from './buildx';
import { cacheFlags, cacheKey, describeCache, writesCache } from './cache';
import { UserError } from './errors';
import type { DepotOptions } from './flags';
import { BUILDX_ENV_HELP, has, parseArgs, toWords, values } from './flags';
import { log, setDebug } from './log';
import { onCleanup, run } from './process';
import { Session } from './session';
import { BAKE_DEFINITION_ENV } from '../../shared/contract/bake';

export const BAKE_HELP = `Usage: depot bake [OPTIONS] [SOURCE] [TARGET...]

Build bake targets with docker buildx and the project's cache (one cache key per target). Every
\`docker buildx bake\` flag works unchanged; SOURCE may be a git or https URL of a remote bake definition.

depot options:
      --project ID          project id (default: DEPOT_PROJECT_ID, depot.json, the token's project)
      --token TOKEN         project token (default: DEPOT_TOKEN)
      --save                push each target to the project's saved builds as <build id>-<target>
      --save-tag TAG        also save each target as <TAG>-<target> (repeatable)
      --build-platform P    where to build each platform: dynamic, linux/amd64 or linux/arm64
      --cache-key KEY       the project cache to read and write (default: each target's name). When the bake
                            builds one target, KEY is its cache; with several, each target's is <KEY>-<target>,
                            so they stay apart. Characters other than letters, digits, "_", "." and "-"
                            become "-"; at most 128 are kept
      --lint                run buildx's build checks before the build
      --lint-fail-on L      error (default), warn, info or none: which findings stop the build
      --sbom-dir DIR        generate SBOMs (attached to the images; see depot build for files)
      --debug               print the commands depot runs (secrets redacted)
  -h, --help                this help

${BUILDX_ENV_HELP}`;

export function isRemoteSource(word: string): boolean {
  return /^(https?:\/\/|git:\/\/|ssh:\/\/|git@)/.test(word);
}

export interface BakeTarget {
  name: string;
  tags: string[];
  outputs: unknown[];
}

export function parsePrint(stdout: string): BakeTarget[] {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    throw new UserError('`docker buildx bake --print` did not print JSON: check the bake file.');
  }
  const targets =
    json !== null && typeof json === 'object' ? (json as Record<string, unknown>).target : undefined;
  if (targets === null || typeof targets !== 'object') return [];
  return Object.entries(targets as Record<string, unknown>).map(([name, t]) => {
    const rec = t !== null && typeof t === 'object' ? (t as Record<string, unknown>) : {};
    return {
      name,
      tags: Array.isArray(rec.tags) ? rec.tags.filter((x): x is string => typeof x === 'string') : [],
      outputs: Array.isArray(rec.output) ? (rec.output as unknown[]) : [],
    };
  });
}

/** The `bake --print` JSON the bake action wrote for this very bake (BAKE_DEFINITION_ENV). */
export function readDefinitionFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new UserError(
      `${BAKE_DEFINITION_ENV} names ${file}, which cannot be read: unset it to let depot bake read the definition itself.`,
    );
  }
}

export interface BakeSets {
  /** The project cache per target, for the build itself. */
  cache: string[];
  /** The cache import only, for a save-only second pass. */
  cacheFrom: string[];
  /** What --save adds: each target's image output to the saved-builds repository (and no tags of its own). */
  save: string[];
  /** Save in a second, cached pass: a target has its own tags or outputs, or the user pushes or loads. */
  savePass: boolean;
}

/** The `--set` flags that add the project cache and --save to each target. */
export function bakeSets(opts: {
  targets: readonly BakeTarget[];
  session: Pick<Session, 'token' | 'buildID'> & { savedRepository(): string };
  depot: DepotOptions;
  append: boolean;
  /** The user pushes or loads (--push, --load). */
  routed?: boolean;
  /** False when the builder cannot export cache (the docker driver on the classic image store): no cache-to. */
  cacheExport?: boolean;
}): BakeSets {
  const op = opts.append ? '+=' : '=';
  const out: BakeSets = { cache: [], cacheFrom: [], save: [], savePass: opts.routed ?? false };
  for (const t of opts.targets) {
    const key = cacheKey(t.name, opts.depot.cacheKey, opts.targets.length > 1);
    const cache = cacheFlags(opts.session.token, key, opts.cacheExport ?? true);
    if (cache.cacheFrom) {
      out.cache.push('--set', `${t.name}.cache-from${op}${cache.cacheFrom}`);
      out.cacheFrom.push('--set', `${t.name}.cache-from${op}${cache.cacheFrom}`);
    }
    if (cache.cacheTo) out.cache.push('--set', `${t.name}.cache-to${op}${cache.cacheTo}`);
    if (opts.depot.save) {
      if (t.tags.length > 0 || t.outputs.length > 0) out.savePass = true;
      if (t.tags.length > 0) out.save.push('--set', `${t.name}.tags=`);
      const repo = opts.session.savedRepository();
      const names = [opts.session.buildID, ...opts.depot.saveTags].map((tag) => `${repo}:${tag}-${t.name}`);
      out.save.push('--set', `${t.name}.output=type=image,"name=${names.join(',')}",push=true`);
    }
  }
  return out;
}

export async function bake(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { depot, buildx: flags, positional } = parseArgs('bake', argv);
  setDebug(depot.debug);
  if (depot.help) {
    process.stdout.write(BAKE_HELP);
    return 0;
  }
  const firstFile = values(flags, 'file')[0];
  const remote = positional[0] !== undefined && isRemoteSource(positional[0]);
  const session = await Session.open({
    env,
    probe: true,
    ...(depot.token !== undefined ? { tokenFlag: depot.token } : {}),
    ...(depot.project !== undefined ? { projectFlag: depot.project } : {}),
    ...(!remote ? { searchFrom: firstFile ? dirname(resolve(firstFile)) : process.cwd() } : {}),
  });
  if (depot.save) session.requireSave();
  const version = await session.buildxVersion();
  checkFlagVersions('bake', version, flags, depot.lint ? [{ name: '--lint', since: '0.16.0' }] : []);
  if (has(flags, 'print') || has(flags, 'list') || values(flags, 'call').some((c) => c !== 'build')) {
    const res = await run('docker', ['buildx', 'bake', ...toWords(flags), ...positional], {
      env: session.env,
    });
    return res.exitCode;
  }
  if (session.token) log.info(describeCache(session.token));
  else log.warn(session.note ?? describeCache(undefined));
  log.info(`build ID ${session.buildID}${session.project ? `, project ${session.project}` : ''}`);
  if (depot.buildPlatform) {
    log.info(
      `--build-platform ${depot.buildPlatform}: this builder is a single local BuildKit, so every platform is built on this machine (${process.arch}; others under QEMU emulation).`,
    );
  }
  const definition = flags.filter((f) => ['file', 'set', 'var', 'allow'].includes(f.name));
  // The targets (from `bake --print`) are needed only to add per-target cache or save settings.
  let targets: BakeTarget[] = [];
  const cached = session.token?.cache && !session.token.isolated;
  if (cached || depot.save) {
    // The bake action has read the definition already and hands it over: `--print` runs once per step.
    const given = env[BAKE_DEFINITION_ENV];
    if (given) {
      targets = parsePrint(readDefinitionFile(given));
    } else {
      const printed = await run(
        'docker',
        ['buildx', 'bake', ...toWords(definition), '--print', ...positional],
        {
          env: session.env,
          capture: true,
        },
      );
      if (printed.exitCode !== 0) return printed.exitCode;
      targets = parsePrint(printed.stdout);
    }
  }
  const append = !version || semver.gte(version, '0.17.0');
  if (!append && session.token?.cache) {
    log.warn(
      `buildx ${version} cannot append to a target's cache settings: the project cache replaces the bake file's cache-from/cache-to.`,
    );
  }
  // Asked once per CI job (builder-probe.ts), only when this bake would write the project cache.
  const cacheExport = writesCache(session.token)
    ? await cacheExportAllowed(session.env, values(flags, 'builder').at(-1))
    : true;
  const sets = bakeSets({
    targets,
    session,
    depot,
    append,
    routed: has(flags, 'push') || has(flags, 'load'),
    cacheExport,
  });

  if (depot.lint) {
    const check = await run(
      'docker',
      ['buildx', 'bake', ...toWords(definition), '--call', 'check', ...positional],
      {
        env: session.env,
      },
    );
    if (check.exitCode !== 0) {
      const stops = depot.lintFailOn !== 'none' && depot.lintFailOn !== 'error';
      log.info(
        `lint: the build checks found problems (see above)${stops ? '' : `; --lint-fail-on ${depot.lintFailOn} lets the build go on`}`,
      );
      if (stops) {
        log.error(
          `lint found warnings at or above --lint-fail-on ${depot.lintFailOn}: fix them, or set --lint-fail-on to a higher level.`,
        );
        return 1;
      }
    } else log.info('lint: no findings');
  }

  const tmp = mkdtempSync(join(env.RUNNER_TEMP || tmpdir(), 'depot-bake-'));
  onCleanup(() => rmSync(tmp, { recursive: true, force: true }));
  const metadataFile = values(flags, 'metadata-file').at(-1) ?? join(tmp, 'metadata.json');
  const extra = [...sets.cache, ...(sets.savePass ? [] : sets.save)];
  if (!has(flags, 'metadata-file')) extra.push('--metadata-file', metadataFile);
  if (depot.sbomDir && !has(flags, 'sbom')) extra.push('--sbom=true');
  const res = await run('docker', ['buildx', 'bake', ...toWords(flags), ...extra, ...positional], {
    env: session.env,
  });
  // A failed bake still names its build id and project in the metadata file, for the action's outputs.
  if (res.exitCode !== 0) {
    session.addBuildInfo(metadataFile);
    return res.exitCode;
  }
  if (depot.save && sets.savePass) {
    log.info(`saving the targets to ${session.savedRepository()} (a second pass, from the cache just built)`);
    // The user's own tags and outputs stay out of this pass: it pushes to the saved-builds repository only.
    const kept = flags.filter(
      (f) =>
        ['file', 'set', 'var', 'allow', 'builder', 'progress', 'provenance', 'sbom'].includes(f.name) &&
        !(f.name === 'set' && /^[^=]*\.(tags|output)\+?=/.test(f.value ?? '')),
    );
    const saved = await run(
      'docker',
      ['buildx', 'bake', ...toWords(kept), ...sets.cacheFrom, ...sets.save, ...positional],
      {
        env: session.env,
      },
    );
    if (saved.exitCode !== 0) {
      log.error(
        `the bake succeeded but saving it to ${session.savedRepository()} failed (exit ${saved.exitCode}).`,
      );
      session.addBuildInfo(metadataFile);
      return saved.exitCode;
    }
  }
  session.addBuildInfo(metadataFile);
  if (depot.save)
    for (const t of targets)
      log.info(`saved ${t.name} as ${session.savedRepository()}:${session.buildID}-${t.name}`);
  if (depot.sbomDir)
    log.warn('depot bake attaches SBOMs to the images; --sbom-dir files are written by depot build only.');
  return 0;
}
