// `depot configure-docker`: makes `docker build` and `docker buildx build` go through depot, by putting a
// docker-buildx shim first in the user's cli-plugins. The real plugin's path is recorded first; depot always runs
// that recorded binary (the temporary DOCKER_CONFIG of every build lists it instead of the shim), and an env guard
// turns any re-entry into a clear error instead of a loop. `--uninstall` puts everything back.
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { parseFlags } from '../../shared/args';
import { UserError } from './errors';
import type { ShimState } from './docker-config';
import { readShimState, SHIM_STATE, userConfigDir } from './docker-config';
import { log } from './log';

export const CONFIGURE_HELP = `Usage: depot configure-docker [--uninstall]

Route \`docker build\` and \`docker buildx build\` (and bake) through depot by installing a docker-buildx shim
into your Docker config's cli-plugins. Other buildx commands still reach the real buildx. The shim refuses to run
inside a depot build (depot sets DEPOT_INSIDE_BUILD in buildx's environment): a loop is an error, not a hang.

Options:
      --uninstall   remove the shim and restore the real buildx plugin
  -h, --help        this help

Environment:
  DOCKER_CONFIG     your Docker config folder, where the shim goes (default: $HOME/.docker)
  HOME              your home folder, when DOCKER_CONFIG is not set
`;

const CONFIGURE_FLAGS = {
  uninstall: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const MARKER = '# depot configure-docker shim';
const SYSTEM_PLUGIN_DIRS = [
  '/usr/local/lib/docker/cli-plugins',
  '/usr/local/libexec/docker/cli-plugins',
  '/usr/lib/docker/cli-plugins',
  '/usr/libexec/docker/cli-plugins',
];

export function isShim(file: string): boolean {
  try {
    return lstatSync(file).isFile() && readFileSync(file, 'utf8').includes(MARKER);
  } catch {
    return false;
  }
}

function shell(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function shimScript(node: string, script: string): string {
  return `#!/bin/sh\n${MARKER}: \`depot configure-docker --uninstall\` removes it.\nexec ${shell(node)} ${shell(script)} __buildx-shim "$@"\n`;
}

export function configureDocker(argv: readonly string[], env: NodeJS.ProcessEnv): number {
  const { values } = parseFlags(argv, { command: 'depot configure-docker', options: CONFIGURE_FLAGS });
  if (values.help) {
    process.stdout.write(CONFIGURE_HELP);
    return 0;
  }
  const dir = userConfigDir(env);
  const plugins = join(dir, 'cli-plugins');
  const target = join(plugins, 'docker-buildx');
  const stateFile = join(dir, SHIM_STATE);
  const state = readShimState(dir);
  if (values.uninstall) {
    if (!state) {
      log.info(`depot is not configured in ${dir}: nothing to undo.`);
      return 0;
    }
    if (isShim(target)) rmSync(target);
    const saved = join(dir, 'depot-buildx-original');
    if (existsSync(saved)) renameSync(saved, target);
    rmSync(stateFile);
    log.info(
      `removed depot's docker-buildx shim from ${plugins}: docker build uses ${existsSync(target) ? target : state.buildx} again.`,
    );
    return 0;
  }
  let real = state?.buildx;
  if (!real) {
    if (existsSync(target) && !isShim(target)) {
      // The user's own plugin: keep it, out of docker's sight, and run it from there.
      real = join(dir, 'depot-buildx-original');
      renameSync(target, real);
    } else {
      real = SYSTEM_PLUGIN_DIRS.map((d) => join(d, 'docker-buildx')).find((f) => existsSync(f));
    }
    if (!real) {
      throw new UserError(
        'No docker buildx plugin was found: install buildx first (depot runs builds through it).',
      );
    }
  }
  mkdirSync(plugins, { recursive: true });
  const script = resolve(process.argv[1] ?? '');
  writeFileSync(target, shimScript(process.execPath, script));
  chmodSync(target, 0o755);
  const next: ShimState = { buildx: real };
  writeFileSync(stateFile, `${JSON.stringify(next, null, 2)}\n`);
  log.info(
    `installed depot's docker-buildx shim in ${plugins} (real buildx: ${real}): docker build and docker buildx build now run through depot.`,
  );
  return 0;
}
