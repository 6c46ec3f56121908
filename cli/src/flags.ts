// What `depot build` and `depot bake` accept: depot's own flags, and the docker buildx flags that pass through
// unchanged. A flag in neither table is refused with one line, so a typo never reaches buildx as a context path.
import { UserError } from './errors';
import { tagSafe } from './cache';
import { ciTokenEnvHelp } from './ci-token';
import { BUILD_PLATFORMS, LINT_LEVELS } from '../../shared/contract/cli';
import type { BuildPlatform, LintFailOn } from '../../shared/contract/cli';

export type Command = 'build' | 'bake';

interface FlagSpec {
  /** Takes a value (`--flag V` or `--flag=V`). */
  value: boolean;
  /** The first buildx version that has the flag, when it is newer than what every supported engine has. */
  since?: string;
  short?: string;
}

const BUILD_FLAGS: Record<string, FlagSpec> = {
  'add-host': { value: true },
  allow: { value: true },
  annotation: { value: true, since: '0.12.0' },
  attest: { value: true, since: '0.10.0' },
  'build-arg': { value: true },
  'build-context': { value: true, since: '0.8.0' },
  builder: { value: true },
  'cache-from': { value: true },
  'cache-to': { value: true },
  call: { value: true, since: '0.15.0' },
  'cgroup-parent': { value: true },
  check: { value: false, since: '0.14.0' },
  detach: { value: false },
  file: { value: true, short: 'f' },
  iidfile: { value: true },
  label: { value: true },
  load: { value: false },
  'metadata-file': { value: true },
  network: { value: true },
  'no-cache': { value: false },
  'no-cache-filter': { value: true },
  output: { value: true, short: 'o' },
  platform: { value: true },
  progress: { value: true },
  provenance: { value: true, since: '0.10.0' },
  pull: { value: false },
  push: { value: false },
  quiet: { value: false, short: 'q' },
  sbom: { value: true, since: '0.10.0' },
  secret: { value: true },
  'shm-size': { value: true },
  ssh: { value: true },
  tag: { value: true, short: 't' },
  target: { value: true },
  ulimit: { value: true },
};

const BAKE_FLAGS: Record<string, FlagSpec> = {
  allow: { value: true, since: '0.19.0' },
  builder: { value: true },
  call: { value: true, since: '0.16.0' },
  check: { value: false, since: '0.16.0' },
  file: { value: true, short: 'f' },
  list: { value: true, since: '0.20.0' },
  load: { value: false },
  'metadata-file': { value: true },
  'no-cache': { value: false },
  print: { value: false },
  progress: { value: true },
  provenance: { value: true, since: '0.10.0' },
  pull: { value: false },
  push: { value: false },
  sbom: { value: true, since: '0.10.0' },
  set: { value: true },
  var: { value: true, since: '0.31.0' },
};

/** depot's own flags, for build and bake alike (`token` is build's and bake's; `help`/`debug` are everyone's). */
const DEPOT_FLAGS: Record<string, FlagSpec> = {
  project: { value: true },
  token: { value: true },
  save: { value: false },
  'save-tag': { value: true },
  'build-platform': { value: true },
  'cache-key': { value: true },
  lint: { value: false },
  'lint-fail-on': { value: true },
  'sbom-dir': { value: true },
  debug: { value: false },
  help: { value: false, short: 'h' },
};

/** The environment part of `depot build --help` and `depot bake --help`: what both read. */
export const BUILDX_ENV_HELP = `Environment:
  DEPOT_TOKEN               the project token (when --token is not given)
  DEPOT_PROJECT_ID          the project (when --project is not given; before depot.json and the token)
${ciTokenEnvHelp(28)}  DOCKER_CONFIG             your Docker config folder (default: $HOME/.docker), copied into a temporary one
                            that adds the cache registry's credentials
  RUNNER_TEMP               where temporary files go (default: the system's temp folder)
Other variables (BUILDX_BUILDER, BUILDKIT_PROGRESS, ...) reach docker buildx unchanged.
`;

export interface DepotOptions {
  project?: string;
  token?: string;
  save: boolean;
  saveTags: string[];
  buildPlatform?: BuildPlatform;
  /** --cache-key as given (checked to make a tag); cache.ts `cacheKey` makes the tag. */
  cacheKey?: string;
  lint: boolean;
  lintFailOn: LintFailOn;
  sbomDir?: string;
  debug: boolean;
  help: boolean;
}

/** One buildx flag as the user wrote it, normalized to its long name. */
export interface BuildxFlag {
  name: string;
  value?: string;
  /** The argv words exactly as given (kept so the command line reaches buildx unchanged). */
  words: string[];
}

export interface ParsedArgs {
  depot: DepotOptions;
  buildx: BuildxFlag[];
  positional: string[];
}

function lookup(table: Record<string, FlagSpec>, word: string): [string, FlagSpec] | undefined {
  if (word.startsWith('--')) {
    const name = word.slice(2);
    const spec = table[name];
    return spec ? [name, spec] : undefined;
  }
  for (const [name, spec] of Object.entries(table)) if (spec.short === word.slice(1)) return [name, spec];
  return undefined;
}

export function parseArgs(command: Command, argv: readonly string[]): ParsedArgs {
  const buildxTable = command === 'build' ? BUILD_FLAGS : BAKE_FLAGS;
  const depot: DepotOptions = {
    save: false,
    saveTags: [],
    lint: false,
    lintFailOn: 'error',
    debug: false,
    help: false,
  };
  const buildx: BuildxFlag[] = [];
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] as string;
    if (word === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!word.startsWith('-') || word === '-') {
      positional.push(word);
      continue;
    }
    const eq = word.indexOf('=');
    const key = eq > 0 ? word.slice(0, eq) : word;
    const inline = eq > 0 ? word.slice(eq + 1) : undefined;
    const own = lookup(DEPOT_FLAGS, key);
    const theirs = own ? undefined : lookup(buildxTable, key);
    const found = own ?? theirs;
    if (!found) {
      throw new UserError(
        `Unknown flag ${key} for depot ${command}: it is neither a depot flag nor a docker buildx ${command} flag. See \`depot ${command} --help\`.`,
      );
    }
    const [name, spec] = found;
    let value: string | undefined;
    const words = [word];
    if (spec.value) {
      if (inline !== undefined) value = inline;
      else {
        const next = argv[i + 1];
        if (next === undefined) throw new UserError(`Flag ${key} needs a value, e.g. \`${key} VALUE\`.`);
        value = next;
        words.push(next);
        i++;
      }
    } else if (inline !== undefined) {
      if (!/^(true|false)$/.test(inline))
        throw new UserError(`Flag ${key} takes no value (got "${inline}").`);
      if (inline === 'false') continue;
    }
    if (own) applyDepotFlag(depot, name, value);
    else buildx.push(value === undefined ? { name, words } : { name, value, words });
  }
  return { depot, buildx, positional };
}

function applyDepotFlag(o: DepotOptions, name: string, value: string | undefined): void {
  const v = value ?? '';
  switch (name) {
    case 'project':
      o.project = v;
      break;
    case 'token':
      o.token = v;
      break;
    case 'save':
      o.save = true;
      break;
    case 'save-tag':
      o.saveTags.push(v);
      break;
    case 'build-platform': {
      const platform = v === 'amd64' || v === 'arm64' ? `linux/${v}` : v;
      if (!(BUILD_PLATFORMS as readonly string[]).includes(platform)) {
        throw new UserError(`--build-platform must be one of ${BUILD_PLATFORMS.join(', ')} (got "${v}").`);
      }
      o.buildPlatform = platform as BuildPlatform;
      break;
    }
    case 'cache-key':
      if (!tagSafe(v)) {
        throw new UserError(
          `--cache-key ${JSON.stringify(v)} has no letter, digit or "_" to make a cache tag from: give a name such as the image's, e.g. \`--cache-key web\`.`,
        );
      }
      o.cacheKey = v;
      break;
    case 'lint':
      o.lint = true;
      break;
    case 'lint-fail-on': {
      const level = v === 'warning' ? 'warn' : v;
      if (!(LINT_LEVELS as readonly string[]).includes(level)) {
        throw new UserError(`--lint-fail-on must be one of ${LINT_LEVELS.join(', ')} (got "${v}").`);
      }
      o.lintFailOn = level as LintFailOn;
      break;
    }
    case 'sbom-dir':
      o.sbomDir = v;
      break;
    case 'debug':
      o.debug = true;
      break;
    case 'help':
      o.help = true;
      break;
    default:
      throw new UserError(`Internal error: depot flag --${name} has no handler.`);
  }
}

/** The flags of `parsed` that this buildx is too old for, as one error naming the flag and the version it needs. */
export function minimumVersion(command: Command, name: string): string | undefined {
  return (command === 'build' ? BUILD_FLAGS : BAKE_FLAGS)[name]?.since;
}

export function values(flags: readonly BuildxFlag[], name: string): string[] {
  return flags.filter((f) => f.name === name).map((f) => f.value ?? '');
}

export function has(flags: readonly BuildxFlag[], name: string): boolean {
  return flags.some((f) => f.name === name);
}

export function toWords(flags: readonly BuildxFlag[]): string[] {
  return flags.flatMap((f) => f.words);
}
