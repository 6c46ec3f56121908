// Build once, deploy later: `depot pull` loads a saved build into the local image store, `depot push` copies it
// (every platform, with its attestations) to another registry through `docker buildx imagetools create`, whose
// credentials for the target are the user's own. BUILD_ID is the id, or the JSON object of metadata's depot.build.
import { parseFlags } from '../../shared/args';
import type { ParsedFlags } from '../../shared/args';
import { UserError } from './errors';
import { ciTokenEnvHelp } from './ci-token';
import { log, setDebug } from './log';
import { run, wasInterrupted } from './process';
import { Session } from './session';

export const PULL_HELP = `Usage: depot pull [OPTIONS] BUILD_ID

Load a saved build (depot build --save) into the local image store.
BUILD_ID is the build id, or the JSON object the metadata file holds under depot.build.

Options:
      --project ID      project id (default: from BUILD_ID's JSON, DEPOT_PROJECT_ID, depot.json, the token)
      --token TOKEN     project token (default: DEPOT_TOKEN)
      --platform P      the platform to load (default: this machine's)
      --target T        for a bake build: the target to load
  -t, --tag TAG         also tag the image as TAG (repeatable)
      --debug           print the commands depot runs
  -h, --help            this help

Environment:
  DEPOT_TOKEN           the project token (when --token is not given)
  DEPOT_PROJECT_ID      the project (when --project and BUILD_ID's JSON give none)
${ciTokenEnvHelp(24)}  DOCKER_CONFIG         your Docker config folder (default: $HOME/.docker), copied into a temporary one for docker
  RUNNER_TEMP           where that temporary Docker config goes (default: the system's temp folder)
`;

export const PUSH_HELP = `Usage: depot push [OPTIONS] -t TAG [-t TAG...] BUILD_ID

Copy a saved build, every platform and its attestations, to another registry without rebuilding.

Options:
      --project ID      project id (default: from BUILD_ID's JSON, DEPOT_PROJECT_ID, depot.json, the token)
      --token TOKEN     project token (default: DEPOT_TOKEN)
      --target T        for a bake build: the target to push
  -t, --tag TAG         where to push (repeatable; required)
      --debug           print the commands depot runs
  -h, --help            this help

Environment:
  DEPOT_TOKEN           the project token (when --token is not given)
  DEPOT_PROJECT_ID      the project (when --project and BUILD_ID's JSON give none)
${ciTokenEnvHelp(24)}  DOCKER_CONFIG         your Docker config folder (default: $HOME/.docker), copied into a temporary one for docker;
                        its credentials for the target registry are the ones used
  RUNNER_TEMP           where that temporary Docker config goes (default: the system's temp folder)
`;

export interface BuildRef {
  buildID: string;
  projectID?: string;
}

export function parseBuildRef(word: string): BuildRef {
  const text = word.trim();
  if (text.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new UserError(
        'BUILD_ID looks like JSON but is not valid JSON: pass the build id or the depot.build object.',
      );
    }
    const rec = json !== null && typeof json === 'object' ? (json as Record<string, unknown>) : {};
    if (typeof rec.buildID !== 'string' || rec.buildID === '') {
      throw new UserError('BUILD_ID JSON has no "buildID": pass the metadata file\'s depot.build object.');
    }
    const ref: BuildRef = { buildID: rec.buildID };
    if (typeof rec.projectID === 'string' && rec.projectID !== '') ref.projectID = rec.projectID;
    return checkId(ref);
  }
  return checkId({ buildID: text });
}

function checkId(ref: BuildRef): BuildRef {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(ref.buildID)) {
    throw new UserError(
      `"${ref.buildID}" is not a build id: pass the id depot build printed, or its depot.build JSON.`,
    );
  }
  return ref;
}

const SAVED_FLAGS = {
  project: { type: 'string' },
  token: { type: 'string' },
  target: { type: 'string' },
  tag: { type: 'string', short: 't', multiple: true },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;
const PULL_FLAGS = { ...SAVED_FLAGS, platform: { type: 'string' } } as const;

interface SavedArgs {
  project?: string;
  token?: string;
  platform?: string;
  target?: string;
  tags: string[];
  debug: boolean;
  help: boolean;
  positional: string[];
}

export function parseSavedArgs(command: 'pull' | 'push', argv: readonly string[]): SavedArgs {
  // BUILD_ID is checked after --help, with a message of its own.
  const spec = { command: `depot ${command}`, positionals: Infinity };
  const parsed =
    command === 'pull'
      ? parseFlags(argv, { ...spec, options: PULL_FLAGS })
      : parseFlags(argv, { ...spec, options: SAVED_FLAGS });
  const v: ParsedFlags<typeof PULL_FLAGS>['values'] = parsed.values;
  return {
    project: v.project,
    token: v.token,
    platform: v.platform,
    target: v.target,
    tags: v.tag ?? [],
    debug: v.debug ?? false,
    help: v.help ?? false,
    positional: parsed.positionals,
  };
}

async function open(command: 'pull' | 'push', argv: readonly string[], env: NodeJS.ProcessEnv) {
  const a = parseSavedArgs(command, argv);
  setDebug(a.debug);
  if (a.help) return { a, help: true as const };
  if (a.positional.length !== 1) {
    throw new UserError(
      `depot ${command} takes one BUILD_ID (the id depot build printed, or its depot.build JSON).`,
    );
  }
  const ref = parseBuildRef(a.positional[0] as string);
  const project = a.project ?? ref.projectID;
  const session = await Session.open({
    env,
    ...(a.token !== undefined ? { tokenFlag: a.token } : {}),
    ...(project !== undefined ? { projectFlag: project } : {}),
    searchFrom: process.cwd(),
  });
  if (!session.token)
    throw new UserError(`depot ${command} needs a project token: set DEPOT_TOKEN (or --token).`);
  if (session.token.isolated) throw new UserError('An isolated project token cannot read saved builds.');
  const tag = a.target ? `${ref.buildID}-${a.target}` : ref.buildID;
  return { a, help: false as const, session, image: `${session.savedRepository()}:${tag}` };
}

export async function pull(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const o = await open('pull', argv, env);
  if (o.help) {
    process.stdout.write(PULL_HELP);
    return 0;
  }
  const { a, session, image } = o;
  const res = await run('docker', ['pull', ...(a.platform ? ['--platform', a.platform] : []), image], {
    env: session.env,
  });
  if (res.exitCode !== 0) return res.exitCode;
  for (const tag of a.tags) {
    const t = await run('docker', ['tag', image, tag], { env: session.env });
    if (t.exitCode !== 0) return t.exitCode;
    log.info(`tagged ${tag}`);
  }
  return 0;
}

export async function push(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const o = await open('push', argv, env);
  if (o.help) {
    process.stdout.write(PUSH_HELP);
    return 0;
  }
  const { a, session, image } = o;
  if (a.tags.length === 0)
    throw new UserError('depot push needs at least one -t TAG: where to push the build.');
  // imagetools create is idempotent; buildx 0.29 sometimes sends a manifest body that does not match its digest
  // when several manifests go up at once (the registry answers 400 "digest invalid"), so a failed copy is tried
  // again, up to 3 times in all.
  const args = ['buildx', 'imagetools', 'create', ...a.tags.flatMap((t) => ['-t', t]), image];
  let res = await run('docker', args, { env: session.env });
  for (let attempt = 2; res.exitCode !== 0 && attempt <= 3 && !wasInterrupted(); attempt++) {
    log.warn(`copying ${image} failed (exit ${res.exitCode}): trying again (attempt ${attempt} of 3)`);
    res = await run('docker', args, { env: session.env });
  }
  if (res.exitCode === 0) log.info(`pushed ${image} to ${a.tags.join(', ')}`);
  return res.exitCode;
}
