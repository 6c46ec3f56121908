// CircleCI: one issuer per organization, https://oidc.circleci.com/org/<org-id>, keys at
// <issuer>/.well-known/jwks-pub.json. The orb asks for the token with the broker URL as its audience (CircleCI's
// default audience, the organization id, is what every other relying party of the organization receives too).
// The claims CircleCI adds are namespaced (oidc.circleci.com/project-id, ...); rule keys read them by short names.
import { compileGlob } from '../glob';
import { str, UUID, wantsWrite, withoutWrite } from './claims';
import type { Claims, Grant, Provider, SourceIdentity } from './types';
import { ALL_GRANTS } from './types';

const NS = 'oidc.circleci.com/';
export const CIRCLECI_CLAIMS = {
  projectId: `${NS}project-id`,
  vcsOrigin: `${NS}vcs-origin`,
  vcsRef: `${NS}vcs-ref`,
  contextIds: `${NS}context-ids`,
  sshRerun: `${NS}ssh-rerun`,
  workflowId: `${NS}workflow-id`,
  pipelineId: `${NS}pipeline-id`,
} as const;

/** Refs a rule's vcs_ref must not match all of to count as narrower than every ref. */
const SAMPLE_REFS = ['refs/heads/main', 'refs/heads/feature/x', 'refs/tags/v1.0.0', 'refs/pull/1/head'];

function narrowerThanEveryRef(pattern: unknown): boolean {
  if (typeof pattern !== 'string') return false;
  const glob = compileGlob(pattern);
  return !SAMPLE_REFS.every((r) => glob.test(r));
}

export const circleci: Provider = {
  name: 'circleci',
  issuerDefaults: {
    singleUse: false,
    algorithms: ['RS256'],
    requiredClaims: ['sub', CIRCLECI_CLAIMS.projectId],
    // CircleCI mints one token per job, valid for an hour, and the job reuses it.
    maxTokenAge: 3600,
    jwksUri: (issuer) => `${issuer.replace(/\/+$/, '')}/.well-known/jwks-pub.json`,
  },
  audienceProblem(issuer, audience) {
    const org = /\/org\/([^/]+)\/*$/.exec(issuer)?.[1];
    if (org === undefined || audience !== org) return undefined;
    return `the audience is the organization id, CircleCI's default: every relying party of the organization receives such tokens and could exchange them here; use the broker URL (the orb asks circleci run oidc get --claims '{"aud":"<broker url>"}')`;
  },
  claimTypes: {
    sub: 'string',
    [CIRCLECI_CLAIMS.projectId]: 'string',
    [CIRCLECI_CLAIMS.vcsOrigin]: 'string',
    [CIRCLECI_CLAIMS.vcsRef]: 'string',
    [CIRCLECI_CLAIMS.contextIds]: 'string[]',
    [CIRCLECI_CLAIMS.sshRerun]: 'boolean',
    [CIRCLECI_CLAIMS.workflowId]: 'string',
    [CIRCLECI_CLAIMS.pipelineId]: 'string',
  },
  subjectField: 'project_id',
  fields: [
    {
      name: 'project_id',
      claim: CIRCLECI_CLAIMS.projectId,
      match: { kind: 'exact-pattern', pattern: UUID, hint: 'a CircleCI project id (a lower-case UUID)' },
      description:
        'The project id (Project Settings > Overview), a UUID read from oidc.circleci.com/project-id. Without it a rule never grants cache:write.',
    },
    {
      name: 'vcs_origin',
      claim: CIRCLECI_CLAIMS.vcsOrigin,
      match: {
        kind: 'exact-ascii-ci',
        pattern: /^[A-Za-z0-9.-]+(?::\d+)?(?:\/[A-Za-z0-9_.-]+)+$/,
        hint: 'host/owner/name (e.g. github.com/acme/web)',
      },
      description:
        'The repository the pipeline was triggered from (oidc.circleci.com/vcs-origin), host/owner/name, exact (ASCII case-insensitive). Keeps forked pull requests out.',
    },
    {
      name: 'vcs_ref',
      claim: CIRCLECI_CLAIMS.vcsRef,
      match: { kind: 'glob' },
      description:
        'The git ref (oidc.circleci.com/vcs-ref), an anchored glob: * within one segment, ** across (e.g. refs/heads/main).',
    },
    {
      name: 'context_ids',
      claim: CIRCLECI_CLAIMS.contextIds,
      match: { kind: 'element', pattern: UUID, hint: 'a CircleCI context id (a lower-case UUID)' },
      description:
        'A context id (a UUID) the job must use: one of the elements of oidc.circleci.com/context-ids.',
    },
  ],
  defaultLists: {},
  ruleProblem() {
    // The issuer is the organization's own: a rule with no pins trusts every project of that organization only.
    return undefined;
  },
  ownerField: 'project_id',
  ruleWarnings(fields, grants) {
    const warnings: string[] = [];
    if (fields.vcs_origin === undefined) {
      warnings.push(
        'names no vcs_origin: a build of a forked pull request (when the project passes secrets to forks) gets tokens of this project; pin the repository, e.g. vcs_origin: github.com/acme/web',
      );
    }
    if (wantsWrite(grants)) {
      if (fields.project_id === undefined) {
        warnings.push('has no project_id: it never grants cache:write');
      } else if (!narrowerThanEveryRef(fields.vcs_ref)) {
        warnings.push(
          'grants cache:write to every ref: any branch or pull request build can poison what later builds reuse; add vcs_ref (e.g. refs/heads/main) or grant [build, "cache:read"]',
        );
      }
    }
    return warnings;
  },
  capGrants(claims, fields, explicit) {
    let grants: Grant[] = [...(explicit ?? ALL_GRANTS)];
    if (fields.project_id === undefined) grants = withoutWrite(grants);
    // A job rerun with SSH has a person at a shell holding the token: it may build and read, never write.
    if (claims[CIRCLECI_CLAIMS.sshRerun] === true) grants = withoutWrite(grants);
    return grants;
  },
  identity(claims: Claims): SourceIdentity {
    const id: SourceIdentity = { provider: 'circleci' };
    const set = (k: keyof SourceIdentity, v: string | undefined) => {
      if (v !== undefined) (id as unknown as Record<string, string>)[k] = v;
    };
    set('repository', str(claims, CIRCLECI_CLAIMS.vcsOrigin));
    set('repository_id', str(claims, CIRCLECI_CLAIMS.projectId));
    set('ref', str(claims, CIRCLECI_CLAIMS.vcsRef));
    set('run_id', str(claims, CIRCLECI_CLAIMS.workflowId) ?? str(claims, CIRCLECI_CLAIMS.pipelineId));
    return id;
  },
};
