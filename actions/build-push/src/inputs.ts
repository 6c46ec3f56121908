// actions/build-push inputs: docker/build-push-action v6's, with the same meaning and defaults, plus ours.
import { existsSync } from 'node:fs';
import * as core from '@actions/core';
import { buildkitSatisfies, requireBuildx, satisfies, supportsOrWarn } from '../../../shared/buildx';
import type { BuilderInfo, BuildxVersion } from '../../../shared/buildx';
import { getDepotInputs } from '../../../shared/depot-inputs';
import type { DepotInputs } from '../../../shared/depot-inputs';
import { gitContext, isOwnGitContext } from '../../../shared/github';
import type { GithubContext } from '../../../shared/github';
import {
  defaultProvenance,
  hasAttestType,
  hasExporter,
  noDefaultAttestations,
  provenanceValue,
  resolveAttestAttrs,
  withBuilderId,
} from '../../../shared/attest';
import { getBoolean, getList, getString } from '../../../shared/inputs';

export interface DockerInputs {
  'add-hosts': string[];
  allow: string[];
  annotations: string[];
  attests: string[];
  'build-args': string[];
  'build-contexts': string[];
  builder: string;
  'cache-from': string[];
  'cache-to': string[];
  call: string;
  'cgroup-parent': string;
  context: string;
  file: string;
  labels: string[];
  load: boolean;
  network: string;
  'no-cache': boolean;
  'no-cache-filters': string[];
  outputs: string[];
  platforms: string[];
  provenance: string;
  pull: boolean;
  push: boolean;
  sbom: string;
  secrets: string[];
  'secret-envs': string[];
  'secret-files': string[];
  'shm-size': string;
  ssh: string[];
  tags: string[];
  target: string;
  ulimit: string[];
  'github-token': string;
}

export type Inputs = DockerInputs & DepotInputs;

export function getInputs(): Inputs {
  return {
    'add-hosts': getList('add-hosts'),
    allow: getList('allow'),
    annotations: getList('annotations', { ignoreComma: true }),
    attests: getList('attests', { ignoreComma: true }),
    'build-args': getList('build-args', { ignoreComma: true }),
    'build-contexts': getList('build-contexts', { ignoreComma: true }),
    builder: getString('builder'),
    'cache-from': getList('cache-from', { ignoreComma: true }),
    'cache-to': getList('cache-to', { ignoreComma: true }),
    call: getString('call'),
    'cgroup-parent': getString('cgroup-parent'),
    context: getString('context'),
    file: getString('file'),
    labels: getList('labels', { ignoreComma: true }),
    load: getBoolean('load'),
    network: getString('network'),
    'no-cache': getBoolean('no-cache'),
    'no-cache-filters': getList('no-cache-filters'),
    outputs: getList('outputs', { ignoreComma: true, quote: false }),
    platforms: getList('platforms'),
    provenance: getString('provenance'),
    pull: getBoolean('pull'),
    push: getBoolean('push'),
    sbom: getString('sbom'),
    secrets: getList('secrets', { ignoreComma: true, trimWhitespace: false }),
    'secret-envs': getList('secret-envs'),
    'secret-files': getList('secret-files', { ignoreComma: true }),
    'shm-size': getString('shm-size'),
    ssh: getList('ssh'),
    tags: getList('tags'),
    target: getString('target'),
    ulimit: getList('ulimit', { ignoreComma: true }),
    'github-token': getString('github-token'),
    ...getDepotInputs(),
  };
}

export interface ArgsContext {
  github: GithubContext;
  buildx: BuildxVersion;
  /** The builder `docker buildx inspect` described (undefined when it could not): its BuildKit gates provenance. */
  builder?: BuilderInfo;
  env: NodeJS.ProcessEnv;
  /** Says an input is ignored or an entry skipped (default: core.warning). */
  warn?: (message: string) => void;
  /** Writes a secret value to a 0600 file in the step's temp dir and returns its path. */
  writeSecret: (value: string) => string;
  iidFile: string;
  metadataFile: string;
}

export interface BuildArgs {
  /** Flags plain `docker buildx build` understands, in docker/build-push-action's order. */
  buildxArgs: string[];
  /** The context, last on the command line. */
  context: string;
}

/** Turns the inputs into `docker buildx build` flags exactly as docker/build-push-action v6 does. */
export function toArgs(inputs: Inputs, ctx: ArgsContext): BuildArgs {
  const gitOpts = { env: ctx.env, ...(ctx.buildx.version ? { buildxVersion: ctx.buildx.version } : {}) };
  const defaultContext = gitContext(ctx.github, gitOpts);
  const withDefault = (s: string): string => s.replace(/\{\{\s*defaultContext\s*\}\}/g, defaultContext);
  // `{{defaultContext}}:<subdir>` names a subdirectory in either form (`#<sha>:<subdir>` or `?ref=<sha>&subdir=`).
  const subdir = /^\{\{\s*defaultContext\s*\}\}:(.+)$/.exec(inputs.context)?.[1];
  const context = subdir
    ? gitContext(ctx.github, { ...gitOpts, subdir })
    : withDefault(inputs.context) || defaultContext;
  const warn = ctx.warn ?? ((message: string) => core.warning(message));
  const args: string[] = [];
  const push = (flag: string, values: string[]): void => {
    for (const v of values) args.push(flag, v);
  };
  push('--add-host', inputs['add-hosts']);
  push('--allow', inputs.allow);
  // Below the buildx that knows them, docker's action warns and leaves these out; so do we.
  const gated = (input: keyof Inputs, minimum: string): boolean => {
    const value = inputs[input];
    const given = Array.isArray(value) ? value.length > 0 : Boolean(value);
    return !given || supportsOrWarn(ctx.buildx, input, minimum, warn);
  };
  if (gated('annotations', '0.12.0')) push('--annotation', inputs.annotations);
  push('--build-arg', inputs['build-args']);
  if (gated('build-contexts', '0.8.0')) push('--build-context', inputs['build-contexts'].map(withDefault));
  push('--cache-from', inputs['cache-from']);
  push('--cache-to', inputs['cache-to']);
  if (inputs.call) {
    requireBuildx(ctx.buildx, 'call', '0.15.0');
    args.push('--call', inputs.call);
  }
  if (inputs['cgroup-parent']) args.push('--cgroup-parent', inputs['cgroup-parent']);
  for (const entry of inputs['secret-envs']) {
    const pair = secretPair('secret-envs', entry, warn);
    if (pair) args.push('--secret', `id=${pair[0]},env=${pair[1]}`);
  }
  if (inputs.file) args.push('--file', inputs.file);
  if (!hasExporter('local', inputs.outputs) && !hasExporter('tar', inputs.outputs)) {
    args.push('--iidfile', ctx.iidFile);
  }
  push('--label', inputs.labels);
  push('--no-cache-filter', inputs['no-cache-filters']);
  push('--output', inputs.outputs);
  if (inputs.platforms.length > 0) args.push('--platform', inputs.platforms.join(','));
  // Attestations (and the default provenance) need buildx 0.10: below it each one given is ignored, as docker's.
  if (satisfies(ctx.buildx, '>=0.10.0')) args.push(...attestArgs(inputs, ctx));
  else for (const input of ['attests', 'provenance', 'sbom'] as const) gated(input, '0.10.0');
  for (const entry of inputs.secrets) {
    const pair = secretPair('secrets', entry, warn);
    if (!pair) continue;
    core.setSecret(pair[1]);
    args.push('--secret', `id=${pair[0]},src=${ctx.writeSecret(pair[1])}`);
  }
  for (const entry of inputs['secret-files']) {
    const pair = secretPair('secret-files', entry, warn);
    if (!pair) continue;
    if (!existsSync(pair[1])) {
      warn(
        `Input \`secret-files\`: the file for secret ${pair[0]} does not exist (${pair[1]}): the secret is skipped.`,
      );
      continue;
    }
    args.push('--secret', `id=${pair[0]},src=${pair[1]}`);
  }
  const token = inputs['github-token'];
  const gitHost = new URL(ctx.github.serverUrl).host;
  if (
    token &&
    !inputs.secrets.some(
      (s) => s.startsWith('GIT_AUTH_TOKEN=') || s.startsWith(`GIT_AUTH_TOKEN.${gitHost}=`),
    ) &&
    isOwnGitContext(context, ctx.github)
  ) {
    // Only for this repository's own git context, scoped to its host: the token never goes to another server.
    core.setSecret(token);
    args.push('--secret', `id=GIT_AUTH_TOKEN.${gitHost},src=${ctx.writeSecret(token)}`);
  }
  if (inputs['shm-size']) args.push('--shm-size', inputs['shm-size']);
  push('--ssh', inputs.ssh);
  push('--tag', inputs.tags);
  if (inputs.target) args.push('--target', inputs.target);
  push('--ulimit', inputs.ulimit);
  // Common flags.
  if (inputs.builder) args.push('--builder', inputs.builder);
  if (inputs.load) args.push('--load');
  args.push('--metadata-file', ctx.metadataFile);
  if (inputs.network) args.push('--network', inputs.network);
  if (inputs['no-cache']) args.push('--no-cache');
  if (inputs.pull) args.push('--pull');
  if (inputs.push) args.push('--push');
  return { buildxArgs: args, context };
}

/**
 * `KEY=value`, or undefined after a warning, as docker's action skips an entry it cannot read: a secret with an
 * empty value is what a fork's or Dependabot's run makes of `${{ secrets.X }}`. The warning names the secret's id
 * when there is one and never repeats the value (an entry with no `=` may be a bare secret value).
 */
function secretPair(
  input: string,
  entry: string,
  warn: (message: string) => void,
): [string, string] | undefined {
  const i = entry.indexOf('=');
  const key = i > 0 ? entry.slice(0, i) : '';
  const value = i > 0 ? entry.slice(i + 1) : '';
  if (key === '') {
    warn(`Input \`${input}\`: an entry is not KEY=value (one per line): it is skipped.`);
    return undefined;
  }
  if (value === '') {
    warn(
      input === 'secrets'
        ? `Input \`secrets\`: the secret ${key} is empty (a fork's or Dependabot's run cannot read repository secrets): it is skipped.`
        : `Input \`${input}\`: the entry for ${key} has nothing after \`=\`: it is skipped.`,
    );
    return undefined;
  }
  return [key, value];
}

/** The attestation flags, as docker's action makes them on buildx >= 0.10. */
function attestArgs(inputs: Inputs, ctx: ArgsContext): string[] {
  const args: string[] = [];
  let provenanceSet = false;
  let sbomSet = false;
  if (inputs.provenance) {
    args.push(
      '--attest',
      resolveAttestAttrs(`type=provenance,${provenanceValue(inputs.provenance, ctx.github)}`),
    );
    provenanceSet = true;
  } else if (
    !inputs.attests.some((a) => hasAttestType('provenance', a)) &&
    !noDefaultAttestations(ctx.env) &&
    buildkitSatisfies(ctx.builder, '>=0.11.0') &&
    !hasExporter('docker', inputs.outputs, inputs.load)
  ) {
    args.push('--attest', `type=provenance,${defaultProvenance(ctx.github)}`);
  }
  if (inputs.sbom) {
    args.push('--attest', resolveAttestAttrs(`type=sbom,${inputs.sbom}`));
    sbomSet = true;
  }
  for (const attest of inputs.attests) {
    const isProvenance = hasAttestType('provenance', attest);
    const isSbom = hasAttestType('sbom', attest);
    if (!isProvenance && !isSbom) args.push('--attest', resolveAttestAttrs(attest));
    else if (isProvenance && !provenanceSet) args.push('--attest', withBuilderId(attest, ctx.github));
    else if (isSbom && !sbomSet) args.push('--attest', attest);
  }
  return args;
}
