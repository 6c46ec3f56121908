// actions/bake inputs: docker/bake-action v6's, with the same meaning and defaults, plus ours.
import { existsSync, statSync } from 'node:fs';
import { defaultProvenance, noDefaultAttestations, provenanceValue } from '../../../shared/attest';
import { requireBuildx, satisfies } from '../../../shared/buildx';
import type { BuildxVersion } from '../../../shared/buildx';
import { getDepotInputs } from '../../../shared/depot-inputs';
import type { DepotInputs } from '../../../shared/depot-inputs';
import { UserError } from '../../../shared/errors';
import { gitContext } from '../../../shared/github';
import type { GithubContext } from '../../../shared/github';
import { getBoolean, getList, getString } from '../../../shared/inputs';

export interface DockerBakeInputs {
  builder: string;
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
  'github-token': string;
}

export type Inputs = DockerBakeInputs & DepotInputs;

export function getInputs(github: GithubContext): Inputs {
  const workdir = getString('workdir') || '.';
  if (!existsSync(workdir) || !statSync(workdir).isDirectory()) {
    throw new UserError(`Input \`workdir\`: ${workdir} does not exist or is not a directory.`);
  }
  return {
    builder: getString('builder'),
    workdir,
    source: sourceOf(getString('source'), github),
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
    'github-token': getString('github-token'),
    ...getDepotInputs(),
  };
}

/** As bake-action v6: `{{defaultContext}}` expands, empty means the git context, `.` means the local files. */
export function sourceOf(input: string, github: GithubContext): string {
  const source = input.replace(/\{\{\s*defaultContext\s*\}\}/g, gitContext(github)) || gitContext(github);
  return source === '.' ? '' : source;
}

/** The parts of `docker buildx bake --print` the action reads. */
export interface BakeDefinition {
  target: Record<string, { output?: unknown[]; platforms?: string[]; tags?: string[]; attest?: unknown[] }>;
}

export interface ArgsContext {
  github: GithubContext;
  buildx: BuildxVersion;
  env: NodeJS.ProcessEnv;
  metadataFile: string;
  /** The resolved definition, when it could be read (for the default provenance). */
  definition?: BakeDefinition;
  warn: (message: string) => void;
}

export interface BakeArgs {
  buildxArgs: string[];
  /** The remote source (if any) then the targets, last on the command line. */
  positional: string[];
  /** Env for the child: the token bake uses to read a remote definition of this repository. */
  env: Record<string, string>;
}

export function toArgs(inputs: Inputs, ctx: ArgsContext): BakeArgs {
  const args: string[] = [];
  if (satisfies(ctx.buildx, '>=0.17.0')) {
    // From 0.18 a bake file may read outside its folder only with this entitlement: bake-action grants it.
    const allow = satisfies(ctx.buildx, '>=0.18.0') ? [...inputs.allow, 'fs=*'] : inputs.allow;
    for (const a of new Set(allow)) args.push('--allow', a);
  } else if (inputs.allow.length > 0) {
    ctx.warn(
      `Input \`allow\` needs buildx >= 0.17.0 (this runner has ${ctx.buildx.version}): it is ignored.`,
    );
  }
  if (inputs.call) {
    requireBuildx(ctx.buildx, 'call', '0.16.0');
    args.push('--call', inputs.call);
  }
  for (const f of inputs.files) args.push('--file', f);
  for (const s of new Set(inputs.set)) args.push('--set', s);
  args.push('--metadata-file', ctx.metadataFile);
  if (satisfies(ctx.buildx, '>=0.10.0')) {
    if (inputs.provenance) {
      args.push('--provenance', provenanceValue(inputs.provenance, ctx.github));
    } else if (!noDefaultAttestations(ctx.env) && !hasDockerExporter(ctx.definition, inputs.load)) {
      args.push('--provenance', defaultProvenance(ctx.github));
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
  const env: Record<string, string> = {};
  const token = ctx.env.BUILDX_BAKE_GIT_AUTH_TOKEN ?? inputs['github-token'];
  if (token && inputs.source.startsWith(`${ctx.github.serverUrl}/`)) env.BUILDX_BAKE_GIT_AUTH_TOKEN = token;
  return {
    buildxArgs: args,
    positional: [...(inputs.source ? [inputs.source] : []), ...inputs.targets],
    env,
  };
}

function hasDockerExporter(definition: BakeDefinition | undefined, load: boolean): boolean {
  if (load) return true;
  for (const target of Object.values(definition?.target ?? {})) {
    for (const output of target.output ?? []) {
      const text = typeof output === 'string' ? output : JSON.stringify(output);
      if (/type["=:]+\s*"?docker\b/.test(text)) return true;
    }
  }
  return false;
}
