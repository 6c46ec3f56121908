// actions/bake inputs: docker/bake-action v7's (and v6's `workdir`), with the same meaning and defaults, plus ours.
import { existsSync, statSync } from 'node:fs';
import { defaultProvenance, noDefaultAttestations, provenanceValue } from '../../../shared/attest';
import { buildkitSatisfies, requireBuildx, satisfies } from '../../../shared/buildx';
import type { BuilderInfo, BuildxVersion } from '../../../shared/buildx';
import { getDepotInputs } from '../../../shared/depot-inputs';
import type { DepotInputs } from '../../../shared/depot-inputs';
import { UserError } from '../../../shared/errors';
import { gitContext } from '../../../shared/github';
import type { GithubContext } from '../../../shared/github';
import { getBoolean, getList, getString } from '../../../shared/inputs';

export interface DockerBakeInputs {
  builder: string;
  /** Where bake runs: the local `source` directory (v7), else `workdir` (v6), else `.`. */
  workdir: string;
  /** The remote definition (a git or https URL), or '' for the local files in `workdir`. */
  source: string;
  allow: string[];
  call: string;
  files: string[];
  'no-cache': boolean;
  pull: boolean;
  load: boolean;
  provenance: string;
  push: boolean;
  sbom: string;
  set: string[];
  targets: string[];
  vars: string[];
  'github-token': string;
}

export type Inputs = DockerBakeInputs & DepotInputs;

export function getInputs(github: GithubContext, buildx?: BuildxVersion): Inputs {
  return {
    builder: getString('builder'),
    ...sourceAndWorkdir(getString('source'), getString('workdir'), github, buildx),
    allow: getList('allow'),
    call: getString('call'),
    files: getList('files'),
    'no-cache': getBoolean('no-cache'),
    pull: getBoolean('pull'),
    load: getBoolean('load'),
    provenance: getString('provenance'),
    push: getBoolean('push'),
    sbom: getString('sbom'),
    set: getList('set', { ignoreComma: true, quote: false }),
    targets: getList('targets'),
    vars: getList('vars', { ignoreComma: true, quote: false }),
    'github-token': getString('github-token'),
    ...getDepotInputs(),
    // Not an input of this action (depot bake attaches SBOMs to the images and writes no files): never passed on.
    'sbom-dir': '',
  };
}

/** A remote bake definition, as docker's toolkit tells one from a local path (Util.isValidRef). */
export function isRemoteDefinition(source: string): boolean {
  try {
    const url = new URL(source);
    if (url.protocol === 'http:' || url.protocol === 'https:') return true;
  } catch {
    // not a URL
  }
  return ['git://', 'github.com/', 'git@'].some((prefix) => source.startsWith(prefix));
}

function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/**
 * `source` as bake-action v7 reads it (`{{defaultContext}}` expands; empty is the git context; a git or https URL
 * is a remote definition; anything else is the local directory bake runs in), and v6's `workdir` kept for its
 * users: `source: .` (v6's "the local files") with `workdir` runs in `workdir`. A local `source` other than `.`
 * and a `workdir` both name the directory: that is refused.
 */
export function sourceAndWorkdir(
  sourceInput: string,
  workdirInput: string,
  github: GithubContext,
  buildx?: BuildxVersion,
): { source: string; workdir: string } {
  // action.yml's default for `workdir` is `.`: only another directory counts as given.
  const workdirGiven = workdirInput !== '' && workdirInput !== '.' ? workdirInput : '';
  // The git context in the classic or the query form, as bake-action v7.1 picks it (shared/github.ts).
  const defaultContext = gitContext(github, buildx?.version ? { buildxVersion: buildx.version } : {});
  const source = sourceInput.replace(/\{\{\s*defaultContext\s*\}\}/g, defaultContext) || defaultContext;
  if (isRemoteDefinition(source)) {
    const workdir = workdirInput || '.';
    if (!isDirectory(workdir)) {
      throw new UserError(`Input \`workdir\`: ${workdir} does not exist or is not a directory.`);
    }
    return { source, workdir };
  }
  if (workdirGiven && source !== '.') {
    throw new UserError(
      `Inputs \`source\` (${source}) and \`workdir\` (${workdirGiven}) both set the directory bake runs in: keep \`source\` (bake-action v7) or \`workdir\` with \`source: .\` (v6).`,
    );
  }
  const workdir = workdirGiven || source;
  const input = workdirGiven ? 'workdir' : 'source';
  if (!isDirectory(workdir)) {
    throw new UserError(
      input === 'source'
        ? `Input \`source\`: ${workdir} is neither a git or https URL nor a directory.`
        : `Input \`workdir\`: ${workdir} does not exist or is not a directory.`,
    );
  }
  return { source: '', workdir };
}

/** The parts of `docker buildx bake --print` the action reads. */
export interface BakeDefinition {
  target: Record<string, { output?: unknown[]; platforms?: string[]; tags?: string[]; attest?: unknown[] }>;
}

export interface ArgsContext {
  github: GithubContext;
  buildx: BuildxVersion;
  /** The builder `docker buildx inspect` described (undefined when it could not): its BuildKit gates provenance. */
  builder?: BuilderInfo;
  env: NodeJS.ProcessEnv;
  metadataFile: string;
  /** The resolved definition (`bake --print`): the targets that get the default provenance. */
  definition?: BakeDefinition;
  warn: (message: string) => void;
}

export interface BakeArgs {
  buildxArgs: string[];
  /** The remote source (if any) then the targets, last on the command line. */
  positional: string[];
}

/** `--allow` as bake-action passes it: from buildx 0.17, with `fs=*` from 0.18 (a bake file may read its folder's parent). */
function allowArgs(inputs: Inputs, ctx: Pick<ArgsContext, 'buildx' | 'warn'>, forBuild: boolean): string[] {
  const args: string[] = [];
  if (satisfies(ctx.buildx, '>=0.17.0')) {
    const allow = forBuild && satisfies(ctx.buildx, '>=0.18.0') ? [...inputs.allow, 'fs=*'] : inputs.allow;
    for (const a of new Set(allow)) args.push('--allow', a);
  } else if (inputs.allow.length > 0 && forBuild) {
    ctx.warn(
      `Input \`allow\` needs buildx >= 0.17.0 (this runner has ${ctx.buildx.version}): it is ignored.`,
    );
  }
  return args;
}

/** `call` and `vars` fail below the buildx that knows them, as bake-action's do (checked before the definition is read). */
export function checkVersions(inputs: Inputs, buildx: BuildxVersion): void {
  if (inputs.call) requireBuildx(buildx, 'call', '0.16.0');
  if (inputs.vars.length > 0) requireBuildx(buildx, 'vars', '0.31.0');
}

/**
 * The env of both bake runs (the definition read and the build): the token bake uses to read a remote definition,
 * BUILDX_BAKE_GIT_AUTH_TOKEN (else `github-token`), for a definition on this GitHub server only.
 */
export function bakeEnv(inputs: Inputs, ctx: Pick<ArgsContext, 'env' | 'github'>): Record<string, string> {
  const env: Record<string, string> = {};
  const token = ctx.env.BUILDX_BAKE_GIT_AUTH_TOKEN ?? inputs['github-token'];
  if (token && inputs.source.startsWith(`${ctx.github.serverUrl}/`)) env.BUILDX_BAKE_GIT_AUTH_TOKEN = token;
  return env;
}

/** `docker buildx bake ... --print [targets]` as bake-action reads the definition (its getDefinition). */
export function printArgs(inputs: Inputs, ctx: Pick<ArgsContext, 'buildx' | 'github' | 'warn'>): string[] {
  checkVersions(inputs, ctx.buildx);
  const args = ['buildx', 'bake', ...(inputs.source ? [inputs.source] : [])];
  for (const f of inputs.files) args.push('--file', f);
  for (const s of inputs.set) args.push('--set', s);
  for (const v of inputs.vars) args.push('--var', v);
  args.push(...allowArgs(inputs, ctx, false));
  if (inputs.call) args.push('--call', inputs.call);
  if (inputs.load) args.push('--load');
  if (inputs['no-cache']) args.push('--no-cache');
  if (satisfies(ctx.buildx, '>=0.10.0') && inputs.provenance) {
    args.push('--provenance', provenanceValue(inputs.provenance, ctx.github));
  }
  if (inputs.push) args.push('--push');
  if (satisfies(ctx.buildx, '>=0.10.0') && inputs.sbom) args.push('--sbom', inputs.sbom);
  args.push('--print', ...inputs.targets);
  return args;
}

export function toArgs(inputs: Inputs, ctx: ArgsContext): BakeArgs {
  checkVersions(inputs, ctx.buildx);
  const args: string[] = [...allowArgs(inputs, ctx, true)];
  if (inputs.call) args.push('--call', inputs.call);
  for (const f of inputs.files) args.push('--file', f);
  // Every value, in order: a later `set` of the same key overrides an earlier one, as in buildx.
  for (const s of inputs.set) args.push('--set', s);
  for (const v of inputs.vars) args.push('--var', v);
  args.push('--metadata-file', ctx.metadataFile);
  if (satisfies(ctx.buildx, '>=0.10.0')) {
    if (inputs.provenance) {
      args.push('--provenance', provenanceValue(inputs.provenance, ctx.github));
    } else if (
      !noDefaultAttestations(ctx.env) &&
      buildkitSatisfies(ctx.builder, '>=0.11.0') &&
      !hasDockerExporter(ctx.definition, inputs.load)
    ) {
      // As bake-action v7: each target that sets no provenance of its own gets the default one.
      for (const [name, target] of Object.entries(ctx.definition?.target ?? {})) {
        if (!hasProvenance(target.attest)) {
          args.push('--set', `${name}.attest=type=provenance,${defaultProvenance(ctx.github)}`);
        }
      }
    }
    if (inputs.sbom) args.push('--sbom', inputs.sbom);
  } else if (inputs.provenance || inputs.sbom) {
    requireBuildx(ctx.buildx, inputs.provenance ? 'provenance' : 'sbom', '0.10.0');
  }
  if (inputs['no-cache']) args.push('--no-cache');
  if (inputs.builder) args.push('--builder', inputs.builder);
  if (inputs.pull) args.push('--pull');
  if (inputs.load) args.push('--load');
  if (inputs.push) args.push('--push');
  return {
    buildxArgs: args,
    positional: [...(inputs.source ? [inputs.source] : []), ...inputs.targets],
  };
}

/** An attest entry of type provenance: `{type: "provenance", ...}` from buildx >= 0.20's --print, a CSV string before. */
function hasProvenance(attest: unknown[] | undefined): boolean {
  return (attest ?? []).some((a) =>
    typeof a === 'string'
      ? /(^|,)\s*type\s*=\s*provenance\s*(,|$)/.test(a)
      : a !== null && typeof a === 'object' && (a as Record<string, unknown>).type === 'provenance',
  );
}

/** `load`, or any target that exports `type=docker` (an output given as a CSV string or as an object). */
function hasDockerExporter(definition: BakeDefinition | undefined, load: boolean): boolean {
  if (load) return true;
  for (const target of Object.values(definition?.target ?? {})) {
    for (const output of target.output ?? []) {
      const type =
        typeof output === 'string'
          ? /(?:^|,)\s*type\s*=\s*([^,\s]+)/.exec(output)?.[1]
          : output !== null && typeof output === 'object'
            ? (output as Record<string, unknown>).type
            : undefined;
      if (type === 'docker') return true;
    }
  }
  return false;
}
