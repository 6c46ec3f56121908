// The other CIs the broker trusts besides GitHub Actions, as the tests' local issuers play them (issuer.ts): each
// one's issuer path, the claims its tokens carry (names and JSON types as the CI sets them: CircleCI's
// `oidc.circleci.com/...` names, GitLab's numeric runner_id, Buildkite's numeric build_number and nullable step_key),
// its `sub`, and the environment of one of its jobs (the CIRCLE_*, CI_*, BUILDKITE_* variables the depot CLI reads),
// trusted or from a fork. `standinBin` makes a PATH dir holding only the named stand-ins (standins/ also has docker
// and depot, which must not shadow the real ones).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ClaimValue, IssuerOptions } from './issuer';

export const STANDINS = resolve(import.meta.dirname, 'standins');

export type OtherCi = 'circleci' | 'gitlab' | 'buildkite';

export interface CiProfile {
  provider: OtherCi;
  /** The issuer's options (path, claims, sub, optional claims). */
  issuer: IssuerOptions & { path: string; defaults: Record<string, ClaimValue> };
  /** The env of a trusted job (a push to main), without the token plumbing. */
  env: Record<string, string>;
  /** The env a job from a fork adds to `env`. */
  forkEnv: Record<string, string>;
}

const SHA = 'c0ffee5e1f2a3b4c5d6e7f8091a2b3c4d5e6f708';

/**
 * CircleCI: iss https://oidc.circleci.com/org/<org-id>, sub org/<org>/project/<project>/user/<user> with the
 * vcs-origin and vcs-ref of the V2 token; `circleci run oidc get` mints it.
 */
export function circleciProfile(): CiProfile {
  const org = randomUUID();
  const project = randomUUID();
  const user = randomUUID();
  return {
    provider: 'circleci',
    issuer: {
      path: `/org/${org}`,
      defaults: {
        aud: org,
        'oidc.circleci.com/project-id': project,
        'oidc.circleci.com/vcs-origin': 'github.com/acme/web',
        'oidc.circleci.com/vcs-ref': 'refs/heads/main',
        'oidc.circleci.com/context-ids': [randomUUID()],
        'oidc.circleci.com/ssh-rerun': false,
      },
      subject: (c) =>
        `org/${org}/project/${String(c['oidc.circleci.com/project-id'])}/user/${user}` +
        `/vcs-origin/${String(c['oidc.circleci.com/vcs-origin'])}/vcs-ref/${String(c['oidc.circleci.com/vcs-ref'])}`,
    },
    env: {
      CI: 'true',
      CIRCLECI: 'true',
      CIRCLE_BRANCH: 'main',
      CIRCLE_BUILD_NUM: '1207',
      CIRCLE_JOB: 'build',
      CIRCLE_PROJECT_REPONAME: 'web',
      CIRCLE_PROJECT_USERNAME: 'acme',
      CIRCLE_REPOSITORY_URL: 'git@github.com:acme/web.git',
      CIRCLE_SHA1: SHA,
      CIRCLE_WORKFLOW_ID: randomUUID(),
      CIRCLE_WORKFLOW_JOB_ID: randomUUID(),
    },
    forkEnv: {
      CIRCLE_BRANCH: 'pull/12',
      CIRCLE_PR_NUMBER: '12',
      CIRCLE_PR_USERNAME: 'mallory',
      CIRCLE_PR_REPONAME: 'web',
      CIRCLE_PULL_REQUEST: 'https://github.com/acme/web/pull/12',
      CIRCLE_PULL_REQUESTS: 'https://github.com/acme/web/pull/12',
    },
  };
}

/** GitLab (self-managed under a relative URL root, hence the path): the job's `id_tokens:` hand it the token. */
export function gitlabProfile(): CiProfile {
  return {
    provider: 'gitlab',
    issuer: {
      path: '/gitlab',
      defaults: {
        namespace_id: '72',
        namespace_path: 'acme',
        project_id: '4242',
        project_path: 'acme/web',
        user_id: '17',
        user_login: 'alice',
        user_email: 'alice@example.com',
        user_access_level: 'developer',
        pipeline_id: '98001',
        pipeline_source: 'push',
        job_id: '5550001',
        ref: 'main',
        ref_type: 'branch',
        ref_path: 'refs/heads/main',
        ref_protected: 'true',
        runner_id: 31,
        runner_environment: 'self-hosted',
        sha: SHA,
        project_visibility: 'private',
        ci_config_ref_uri: 'gitlab.example.com/acme/web//.gitlab-ci.yml@refs/heads/main',
        ci_config_sha: SHA,
      },
      subject: (c) =>
        `project_path:${String(c.project_path)}:ref_type:${String(c.ref_type)}:ref:${String(c.ref)}`,
    },
    env: {
      CI: 'true',
      GITLAB_CI: 'true',
      CI_JOB_ID: '5550001',
      CI_PIPELINE_ID: '98001',
      CI_PIPELINE_SOURCE: 'push',
      CI_PROJECT_ID: '4242',
      CI_PROJECT_PATH: 'acme/web',
      CI_COMMIT_REF_NAME: 'main',
      CI_COMMIT_REF_PROTECTED: 'true',
      CI_COMMIT_SHA: SHA,
      CI_SERVER_URL: 'https://gitlab.example.com',
    },
    forkEnv: {
      CI_PIPELINE_SOURCE: 'merge_request_event',
      CI_MERGE_REQUEST_IID: '12',
      CI_MERGE_REQUEST_PROJECT_ID: '4242',
      CI_MERGE_REQUEST_SOURCE_PROJECT_ID: '9999',
      CI_MERGE_REQUEST_SOURCE_PROJECT_PATH: 'mallory/web',
      CI_MERGE_REQUEST_SOURCE_BRANCH_NAME: 'patch-1',
      CI_MERGE_REQUEST_TARGET_BRANCH_NAME: 'main',
    },
  };
}

/** Buildkite: iss https://agent.buildkite.com (a path here, to share nothing with the others' shapes). */
export function buildkiteProfile(): CiProfile {
  const job = randomUUID();
  return {
    provider: 'buildkite',
    issuer: {
      path: '/buildkite',
      defaults: {
        organization_slug: 'acme',
        pipeline_slug: 'web',
        build_number: 1207,
        build_branch: 'main',
        build_tag: null,
        build_commit: SHA,
        build_source: 'webhook',
        step_key: 'build',
        job_id: job,
        agent_id: randomUUID(),
        runner_environment: 'self-hosted',
      },
      optional: { organization_id: randomUUID(), pipeline_id: randomUUID() },
      subject: (c) =>
        `organization:${String(c.organization_slug)}:pipeline:${String(c.pipeline_slug)}` +
        `:ref:refs/heads/${String(c.build_branch)}:commit:${String(c.build_commit)}:step:${String(c.step_key ?? '')}`,
    },
    env: {
      CI: 'true',
      BUILDKITE: 'true',
      BUILDKITE_JOB_ID: job,
      BUILDKITE_BUILD_NUMBER: '1207',
      BUILDKITE_ORGANIZATION_SLUG: 'acme',
      BUILDKITE_PIPELINE_SLUG: 'web',
      BUILDKITE_BRANCH: 'main',
      BUILDKITE_COMMIT: SHA,
      BUILDKITE_REPO: 'git@github.com:acme/web.git',
      BUILDKITE_STEP_KEY: 'build',
      BUILDKITE_PULL_REQUEST: 'false',
      BUILDKITE_PULL_REQUEST_REPO: '',
    },
    forkEnv: {
      BUILDKITE_BRANCH: 'mallory:patch-1',
      BUILDKITE_PULL_REQUEST: '12',
      BUILDKITE_PULL_REQUEST_BASE_BRANCH: 'main',
      BUILDKITE_PULL_REQUEST_REPO: 'git://github.com/mallory/web.git',
    },
  };
}

export const CI_PROFILES: Record<OtherCi, () => CiProfile> = {
  circleci: circleciProfile,
  gitlab: gitlabProfile,
  buildkite: buildkiteProfile,
};

/** A fresh dir (for the front of PATH) with links to the named stand-ins only (e.g. circleci, buildkite-agent). */
export function standinBin(names: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'depot-standins-'));
  for (const name of names) symlinkSync(join(STANDINS, name), join(dir, name));
  return dir;
}
