// A project: the cache namespace a token is for. Its id is also a path segment of registry repositories
// (`cache/<id>`, `builds/<id>`), hence the registry's own component grammar, lower case only.

export const PROJECT_ID = /^[a-z0-9]+([._-][a-z0-9]+)*$/;
export const PROJECT_ID_HINT = 'lowercase letters and digits, separated by single . _ or -';

/** The registry repository that holds a project's saved builds (`depot build --save`). */
export function savedBuildsRepository(project: string): string {
  return `builds/${project}`;
}
