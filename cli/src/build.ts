// `depot build`: docker buildx build with the user's flags unchanged, plus the project cache, --save, --lint,
// --build-platform, --sbom-dir and depot.build in the metadata file. Exit status: buildx's.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cacheExportAllowed } from './builder-probe';
import { checkFlagVersions } from './buildx';
import { cacheFlags, cacheKey, describeCache, writesCache } from './cache';
import { UserError } from './errors';
import type { BuildxFlag, DepotOptions } from './flags';
import { BUILDX_ENV_HELP, has, parseArgs, toWords, values } from './flags';
import { blocking, formatFinding, parseCheckOutput } from './lint';
import { log, setDebug } from './log';
import { onCleanup, run } from './process';
import { Session } from './session';
import { traced } from '../../shared/trace';

export const BUILD_HELP = `Usage: depot build [OPTIONS] CONTEXT

Build an image with docker buildx and the project's cache. Every \`docker buildx build\` flag works unchanged.

depot options:
      --project ID          project id (default: DEPOT_PROJECT_ID, depot.json, the token's project)
      --token TOKEN         project token (default: DEPOT_TOKEN)
      --save                push the result to the project's saved builds (for depot pull / depot push)
      --save-tag TAG        also save under TAG (repeatable)
      --build-platform P    where to build each platform: dynamic, linux/amd64 or linux/arm64
      --cache-key KEY       the project cache to read and write (default: the --target, else "default"); give
                            each image of a monorepo its own. Characters other than letters, digits, "_", "."
                            and "-" become "-"; at most 128 are kept
      --lint                run buildx's build checks before the build
      --lint-fail-on L      error (default), warn, info or none: which findings stop the build
      --sbom-dir DIR        write each platform's SBOM to DIR
      --debug               print the commands depot runs (secrets redacted)
  -h, --help                this help

${BUILDX_ENV_HELP}`;

/** Flags that describe where the result goes; a second, save-only pass leaves them out. */
const OUTPUT_FLAGS = new Set([
  'tag',
  'output',
  'push',
  'load',
  'metadata-file',
  'iidfile',
  'cache-to',
  'call',
  'check',
]);

export interface BuildPlan {
  args: string[];
  /** A second `buildx build` that pushes the (cached) result to the saved-builds repository. */
  savePass?: string[];
  metadataFile: string;
}

/** The buildx argv for one build: pure, so the flags it produces are unit-tested. */
export function planBuild(opts: {
  flags: readonly BuildxFlag[];
  depot: DepotOptions;
  context: string;
  session: Pick<Session, 'token' | 'buildID'> & { savedRepository(): string };
  metadataFile: string;
  /** False when the builder cannot export cache (the docker driver on the classic image store): no --cache-to. */
  cacheExport?: boolean;
}): BuildPlan {
  const { flags, depot, context, session } = opts;
  const key = cacheKey(values(flags, 'target').at(-1), depot.cacheKey);
  const cache = cacheFlags(session.token, key, opts.cacheExport ?? true);
  const extra: string[] = [];
  if (cache.cacheFrom) extra.push('--cache-from', cache.cacheFrom);
  if (cache.cacheTo) extra.push('--cache-to', cache.cacheTo);
  if (depot.sbomDir && !has(flags, 'sbom') && !values(flags, 'attest').some((a) => /type=sbom/.test(a))) {
    extra.push('--sbom=true');
  }
  const userMetadata = has(flags, 'metadata-file');
  if (!userMetadata) extra.push('--metadata-file', opts.metadataFile);
  const plan: BuildPlan = {
    args: ['buildx', 'build', ...toWords(flags), ...extra, context],
    metadataFile: opts.metadataFile,
  };
  if (depot.save) {
    const repo = session.savedRepository();
    const names = [`${repo}:${session.buildID}`, ...depot.saveTags.map((t) => `${repo}:${t}`)].join(',');
    const output = `type=image,"name=${names}",push=true`;
    const routed = ['tag', 'output', 'push', 'load'].some((f) => has(flags, f));
    if (!routed) plan.args.splice(plan.args.length - 1, 0, '--output', output);
    else {
      const kept = flags.filter((f) => !OUTPUT_FLAGS.has(f.name));
      const from = cache.cacheFrom ? ['--cache-from', cache.cacheFrom] : [];
      plan.savePass = ['buildx', 'build', ...toWords(kept), ...from, '--output', output, context];
    }
  }
  return plan;
}

export async function build(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { depot, buildx: flags, positional } = parseArgs('build', argv);
  setDebug(depot.debug);
  if (depot.help) {
    process.stdout.write(BUILD_HELP);
    return 0;
  }
  if (positional.length !== 1) {
    throw new UserError(
      positional.length === 0
        ? 'depot build needs a build context, e.g. `depot build .`.'
        : `depot build takes one build context, got ${positional.length}: ${positional.join(' ')}.`,
    );
  }
  const context = positional[0] as string;
  const local = !/^[a-z]+:\/\//i.test(context) && !context.startsWith('git@') && context !== '-';
  const session = await traced('session', () =>
    Session.open({
      env,
      probe: true,
      ...(depot.token !== undefined ? { tokenFlag: depot.token } : {}),
      ...(depot.project !== undefined ? { projectFlag: depot.project } : {}),
      ...(local ? { searchFrom: resolve(context) } : {}),
    }),
  );
  if (depot.save) session.requireSave();
  const features = depot.lint ? [{ name: '--lint', since: '0.15.0' }] : [];
  const gated = flags.some((f) =>
    ['annotation', 'attest', 'build-context', 'call', 'check', 'provenance', 'sbom'].includes(f.name),
  );
  if (gated || features.length > 0)
    checkFlagVersions('build', await session.buildxVersion(), flags, features);

  if (session.token) log.info(describeCache(session.token));
  else log.warn(session.note ?? describeCache(undefined));
  log.info(`build ID ${session.buildID}${session.project ? `, project ${session.project}` : ''}`);
  if (depot.buildPlatform) buildPlatformNote(depot.buildPlatform);
  // Asked once per CI job (builder-probe.ts), only when this build would write the project cache.
  const cacheExport = writesCache(session.token)
    ? await traced('builder probe', () => cacheExportAllowed(session.env, values(flags, 'builder').at(-1)))
    : true;

  if (depot.lint) {
    const stop = await lint(flags, context, session, depot);
    if (stop !== 0) return stop;
  }

  const tmp = mkdtempSync(join(env.RUNNER_TEMP || tmpdir(), 'depot-build-'));
  onCleanup(() => rmSync(tmp, { recursive: true, force: true }));
  const metadataFile = values(flags, 'metadata-file').at(-1) ?? join(tmp, 'metadata.json');
  const plan = planBuild({ flags, depot, context, session, metadataFile, cacheExport });
  const res = await traced('buildx build', () =>
    run('docker', plan.args, { env: session.env, stdin: context === '-' }),
  );
  // A failed build still names its build id and project in the metadata file, for the action's outputs.
  if (res.exitCode !== 0) {
    session.addBuildInfo(plan.metadataFile);
    return res.exitCode;
  }
  if (plan.savePass) {
    log.info(`saving the build to ${session.savedRepository()}:${session.buildID}`);
    const saved = await run('docker', plan.savePass, { env: session.env });
    if (saved.exitCode !== 0) {
      log.error(
        `the build succeeded but saving it to ${session.savedRepository()} failed (exit ${saved.exitCode}).`,
      );
      session.addBuildInfo(plan.metadataFile);
      return saved.exitCode;
    }
  }
  session.addBuildInfo(plan.metadataFile);
  if (depot.save) log.info(`saved as ${session.savedRepository()}:${session.buildID}`);
  if (depot.sbomDir) await writeSboms(depot.sbomDir, flags, depot, session);
  return 0;
}

function buildPlatformNote(p: string): void {
  log.info(
    `--build-platform ${p}: this builder is a single local BuildKit, so every platform is built on this machine (${process.arch}; others under QEMU emulation).`,
  );
}

async function lint(
  flags: readonly BuildxFlag[],
  context: string,
  session: Session,
  depot: DepotOptions,
): Promise<number> {
  const kept = flags.filter(
    (f) => !OUTPUT_FLAGS.has(f.name) && f.name !== 'cache-from' && f.name !== 'progress',
  );
  const file = values(flags, 'file').at(-1) ?? 'Dockerfile';
  const res = await run(
    'docker',
    ['buildx', 'build', ...toWords(kept), '--progress', 'quiet', '--call', 'check,format=json', context],
    {
      env: session.env,
      capture: true,
    },
  );
  const findings = parseCheckOutput(res.stdout, res.exitCode, file);
  for (const f of findings) log.info(formatFinding(f));
  const stops = blocking(findings, depot.lintFailOn);
  if (findings.length === 0) log.info('lint: no findings');
  if (stops.length > 0) {
    log.error(
      `lint found ${stops.length} finding(s) at or above --lint-fail-on ${depot.lintFailOn}: fix them, or set --lint-fail-on to a higher level.`,
    );
    return 1;
  }
  return 0;
}

/** Each platform's SBOM, read back from the pushed or saved image with imagetools. */
async function writeSboms(
  dir: string,
  flags: readonly BuildxFlag[],
  depot: DepotOptions,
  session: Session,
): Promise<void> {
  const ref = depot.save
    ? `${session.savedRepository()}:${session.buildID}`
    : has(flags, 'push')
      ? values(flags, 'tag')[0]
      : undefined;
  if (!ref) {
    log.warn('--sbom-dir needs an image in a registry (--push with a tag, or --save): no SBOM was written.');
    return;
  }
  const res = await run('docker', ['buildx', 'imagetools', 'inspect', ref, '--format', '{{ json .SBOM }}'], {
    env: session.env,
    capture: true,
  });
  if (res.exitCode !== 0) {
    log.warn(`could not read the SBOM of ${ref} (exit ${res.exitCode}): no SBOM was written.`);
    return;
  }
  mkdirSync(dir, { recursive: true });
  let json: unknown;
  try {
    json = JSON.parse(res.stdout);
  } catch {
    log.warn(`the SBOM of ${ref} is not JSON: no SBOM was written.`);
    return;
  }
  const perPlatform: Array<[string, unknown]> =
    json !== null && typeof json === 'object' && !('SPDX' in json) ? Object.entries(json) : [['sbom', json]];
  for (const [platform, sbom] of perPlatform) {
    const name = `${platform.replace(/\//g, '-')}.spdx.json`;
    writeFileSync(join(dir, name), `${JSON.stringify(sbom, null, 2)}\n`);
    log.info(`SBOM written to ${join(dir, name)}`);
  }
}
