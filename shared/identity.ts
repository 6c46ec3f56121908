// The repository's identity (<owner>/<repo>), read from package.json `repository` when the bundle is built, so a
// fork publishes under its own name by changing one field.
import pkg from '../package.json' with { type: 'json' };

export function repositoryName(): string {
  const url = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository.url;
  const match = /github\.com[/:]([^/]+\/[^/.]+)/.exec(url) ?? /^([^/:]+\/[^/]+)$/.exec(url);
  return match?.[1] ?? 'depot-suite/depot-ci';
}

/** How docs and messages name one of our actions, e.g. `owner/repo/actions/setup@v1`. */
export function actionRef(name: string): string {
  return `${repositoryName()}/actions/${name}@v1`;
}

/** The CircleCI orb's name, `<namespace>/<orb>` (package.json `integrations.circleciOrb`). */
export function orbName(): string {
  return pkg.integrations.circleciOrb;
}

/** The GitLab CI/CD component project's path, `<host>/<group>/<project>` (package.json `integrations.gitlabComponent`). */
export function gitlabComponentPath(): string {
  return pkg.integrations.gitlabComponent;
}
