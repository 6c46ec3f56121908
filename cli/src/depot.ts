// The `depot` command: build, bake, pull, push, version, init, configure-docker, and the docker-buildx shim's entry.
// Dispatch only: main.ts runs it, turns a thrown UserError into its one line and exit status.
import { bake } from './bake';
import { build } from './build';
import { configureDocker } from './configure-docker';
import { readShimState, userConfigDir } from './docker-config';
import { UserError } from './errors';
import { init } from './init';
import { run } from './process';
import { pull, push } from './saved';
import { SHIM_GUARD } from './session';
import { version } from './version';

export const HELP = `Usage: depot COMMAND [OPTIONS]

Fast, cached container builds through docker buildx with a per-project cache.

Commands:
  build             build an image (a drop-in for docker buildx build)
  bake              build bake targets (a drop-in for docker buildx bake)
  pull              load a saved build into the local image store
  push              copy a saved build to another registry
  init              write depot.json for this folder's project
  configure-docker  route docker build / docker buildx build through depot (--uninstall undoes it)
  version           print the version

Options:
  -h, --help        this help
      --version     print the version

Environment:
  DEPOT_TOKEN       the project token (build, bake, pull, push, init)
  DEPOT_PROJECT_ID  the project (build, bake, pull, push, init)
  DEPOT_BROKER_URL, DEPOT_OIDC_AUDIENCE, DEPOT_OIDC_TOKEN, DEPOT_BUILDKITE_CLAIMS, DEPOT_CACHE_DIR
                    a CI job's project token from its OIDC token (build, bake, pull, push; see their --help)
  DOCKER_CONFIG     your Docker config folder (default: $HOME/.docker)
  RUNNER_TEMP       where temporary files go (default: the system's temp folder)
Other variables (BUILDX_BUILDER, BUILDKIT_PROGRESS, ...) reach docker buildx unchanged.

Run \`depot COMMAND --help\` for a command's options.
`;

/** docker-buildx shim entry: docker runs `docker-buildx buildx <subcommand> ...` (or the metadata query). */
async function shim(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const state = readShimState(userConfigDir(env));
  if (!state)
    throw new UserError('depot configure-docker state is missing: run `depot configure-docker` again.');
  const passThrough = async (): Promise<number> => {
    const notFound = `the buildx plugin depot configure-docker recorded, ${state.buildx}, is gone: run \`depot configure-docker\` again.`;
    return (await run(state.buildx, argv, { env, stdin: true, notFound })).exitCode;
  };
  if (argv[0] === 'docker-cli-plugin-metadata') return passThrough();
  if (env[SHIM_GUARD]) {
    throw new UserError(
      "depot's docker-buildx shim was reached from inside a depot build (a loop): run `depot configure-docker --uninstall` and install again.",
    );
  }
  const rest = argv[0] === 'buildx' ? argv.slice(1) : argv;
  const sub = rest[0];
  if (sub === 'build' || sub === 'b') return build(rest.slice(1), env);
  if (sub === 'bake') return bake(rest.slice(1), env);
  return passThrough();
}

export async function depot(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'build':
      return build(rest, env);
    case 'bake':
      return bake(rest, env);
    case 'pull':
      return pull(rest, env);
    case 'push':
      return push(rest, env);
    case 'init':
      return init(rest, env);
    case 'configure-docker':
      return configureDocker(rest, env);
    case 'version':
      return version(rest);
    case '--version':
      return version([]);
    case '__buildx-shim':
      return shim(rest, env);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return command === undefined ? 1 : 0;
    default:
      throw new UserError(`Unknown command "${command}": run \`depot --help\` for the list.`);
  }
}
