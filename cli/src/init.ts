// `depot init [--project ID]`: writes depot.json ({"id": ...}) in the current folder, which builds under it find.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFlags } from '../../shared/args';
import { UserError } from './errors';
import { log } from './log';
import { PROJECT_ID } from '../../shared/contract/project';
import { readProjectToken } from './token';

export const INIT_HELP = `Usage: depot init [--project ID]

Write depot.json in the current folder so builds under it use project ID.

Options:
      --project ID      the project (default: DEPOT_PROJECT_ID, else the project of DEPOT_TOKEN)
  -h, --help            this help

Environment:
  DEPOT_PROJECT_ID      the project, when --project is not given
  DEPOT_TOKEN           a project token: its project, when neither --project nor DEPOT_PROJECT_ID is given
`;

const INIT_FLAGS = {
  project: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function init(argv: readonly string[], env: NodeJS.ProcessEnv, cwd = process.cwd()): number {
  const { values } = parseFlags(argv, { command: 'depot init', options: INIT_FLAGS });
  if (values.help) {
    process.stdout.write(INIT_HELP);
    return 0;
  }
  const fromToken = () => (env.DEPOT_TOKEN ? readProjectToken(env.DEPOT_TOKEN).project : undefined);
  const project = values.project ?? (env.DEPOT_PROJECT_ID || fromToken());
  if (!project)
    throw new UserError('depot init needs a project: pass --project ID (or set DEPOT_PROJECT_ID).');
  if (!PROJECT_ID.test(project)) {
    throw new UserError(`"${project}" is not a valid project id: use lowercase letters, digits and . _ -.`);
  }
  const file = join(cwd, 'depot.json');
  writeFileSync(file, `${JSON.stringify({ id: project }, null, 2)}\n`);
  log.info(`wrote ${file} (project ${project})`);
  return 0;
}
