// Which project a build belongs to: --project > DEPOT_PROJECT_ID > depot.json (searched upward from the context)
// > the token's project claim. A project named anywhere that differs from the token's is refused before anything
// runs: the token would not open that project's cache anyway.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PROJECT_ID, PROJECT_ID_HINT } from '../../shared/contract/project';
import { UserError } from './errors';
import type { ProjectToken } from './token';

export interface ProjectChoice {
  id?: string;
  source?: string;
}

export function findDepotJson(from: string): string | undefined {
  let dir = resolve(from);
  for (;;) {
    const file = join(dir, 'depot.json');
    if (existsSync(file)) return file;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

export function readDepotJson(file: string): string {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new UserError(
      `${file} is not valid JSON: write {"id": "<project id>"} or run \`depot init --project ID\`.`,
    );
  }
  const id = json !== null && typeof json === 'object' ? (json as Record<string, unknown>).id : undefined;
  if (typeof id !== 'string' || id === '') {
    throw new UserError(
      `${file} has no "id": write {"id": "<project id>"} or run \`depot init --project ID\`.`,
    );
  }
  return id;
}

export function resolveProject(opts: {
  flag?: string;
  env: NodeJS.ProcessEnv;
  /** Where depot.json is searched from (the build context, or the bake file's folder). */
  searchFrom?: string;
  token?: ProjectToken;
}): ProjectChoice {
  let choice: ProjectChoice = {};
  if (opts.flag) choice = { id: opts.flag, source: '--project' };
  else if (opts.env.DEPOT_PROJECT_ID) choice = { id: opts.env.DEPOT_PROJECT_ID, source: 'DEPOT_PROJECT_ID' };
  else if (opts.searchFrom && existsSync(opts.searchFrom)) {
    const file = findDepotJson(opts.searchFrom);
    if (file) choice = { id: readDepotJson(file), source: file };
  }
  if (choice.id !== undefined && !PROJECT_ID.test(choice.id)) {
    throw new UserError(
      `Project "${choice.id}" (from ${choice.source}) is not a valid project id: use ${PROJECT_ID_HINT}.`,
    );
  }
  if (opts.token) {
    if (choice.id !== undefined && choice.id !== opts.token.project) {
      throw new UserError(
        `The project token is for project "${opts.token.project}", but ${choice.source} names "${choice.id}": use a token for "${choice.id}" or drop the project setting.`,
      );
    }
    return { id: opts.token.project, source: choice.source ?? 'the token' };
  }
  return choice;
}
