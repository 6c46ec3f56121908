// `depot init [--project ID]`: writes depot.json ({"id": ...}) in the current folder, which builds under it find.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from './errors';
import { log } from './log';
import { PROJECT_ID } from '../../shared/contract/project';
import { readProjectToken } from './token';

export const INIT_HELP = `Usage: depot init [--project ID]

Write depot.json in the current folder so builds under it use project ID
(default: DEPOT_PROJECT_ID, else the project of DEPOT_TOKEN).
`;

export function init(argv: readonly string[], env: NodeJS.ProcessEnv, cwd = process.cwd()): number {
  let project: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--help' || a === '-h') {
      process.stdout.write(INIT_HELP);
      return 0;
    }
    if (a === '--project') project = argv[++i];
    else if (a.startsWith('--project=')) project = a.slice('--project='.length);
    else throw new UserError(`Unknown argument ${a} for depot init. See \`depot init --help\`.`);
  }
  project ??=
    env.DEPOT_PROJECT_ID || (env.DEPOT_TOKEN ? readProjectToken(env.DEPOT_TOKEN).project : undefined);
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
