// GitHub Actions: tokens from https://token.actions.githubusercontent.com (or a local stand-in in tests).
import type { Claims, ClaimType, Grant, Provider, SourceIdentity } from './types';
import { ALL_GRANTS } from './types';

/** The events a rule accepts when it lists none. `pull_request_target`, `workflow_run` and `issue_comment` run
 * with the base repository's secrets on behalf of other people's code: only a rule that lists them accepts them. */
export const DEFAULT_EVENTS = [
  'push',
  'workflow_dispatch',
  'schedule',
  'release',
  'merge_group',
  'pull_request',
] as const;

/** Events that run code or text from people other than the repository's writers: they never write the cache unless
 * their rule names the event and lists cache:write. */
export const UNTRUSTED_EVENTS = [
  'pull_request',
  'pull_request_target',
  'pull_request_review',
  'pull_request_review_comment',
  'workflow_run',
  'issue_comment',
] as const;

// Every claim GitHub sets is a JSON string.
const STRING_CLAIMS = [
  'sub',
  'jti',
  'repository',
  'repository_id',
  'repository_owner',
  'repository_owner_id',
  'repository_visibility',
  'ref',
  'ref_type',
  'ref_protected',
  'sha',
  'event_name',
  'workflow',
  'workflow_ref',
  'workflow_sha',
  'job_workflow_ref',
  'job_workflow_sha',
  'run_id',
  'run_number',
  'run_attempt',
  'actor',
  'actor_id',
  'environment',
  'environment_node_id',
  'head_ref',
  'base_ref',
  'runner_environment',
  'enterprise',
  'enterprise_id',
] as const;

function str(claims: Claims, name: string): string | undefined {
  const v = claims[name];
  return typeof v === 'string' ? v : undefined;
}

export const githubActions: Provider = {
  name: 'github-actions',
  issuerDefaults: {
    singleUse: true,
    algorithms: ['RS256'],
    requiredClaims: ['iss', 'aud', 'exp', 'iat', 'jti', 'sub'],
    // GitHub's tokens live 5 minutes (10 with the runner's margin); the action requests one per exchange.
    maxTokenAge: 15 * 60,
    jwksUri: (issuer) => `${issuer.replace(/\/+$/, '')}/.well-known/jwks`,
  },
  claimTypes: Object.fromEntries(STRING_CLAIMS.map((c): [string, ClaimType] => [c, 'string'])),
  subjectField: 'repository',
  fields: [
    {
      name: 'repository',
      match: { kind: 'exact-ascii-ci', pattern: /^[A-Za-z0-9-]+\/[A-Za-z0-9_.-]+$/, hint: 'owner/name' },
      description: 'The repository, owner/name, exact (ASCII case-insensitive, no globs), e.g. acme/web.',
    },
    {
      name: 'repository_id',
      match: { kind: 'id' },
      description:
        'The numeric id of the repository (`gh api repos/OWNER/NAME --jq .id`), quoted. Without it a rule never grants cache:write.',
    },
    {
      name: 'repository_owner',
      match: { kind: 'exact-ascii-ci', pattern: /^[A-Za-z0-9-]+$/, hint: 'an owner name' },
      description: 'The owner (user or organization) of the repository, exact (ASCII case-insensitive).',
    },
    {
      name: 'repository_owner_id',
      match: { kind: 'id' },
      description: 'The numeric id of the repository owner, quoted.',
    },
    {
      name: 'ref',
      match: { kind: 'glob' },
      description:
        'The git ref, an anchored glob: * within one segment, ** across segments (e.g. refs/heads/main, refs/tags/v*).',
    },
    {
      name: 'environment',
      match: { kind: 'exact' },
      description: 'The deployment environment of the job, exact.',
    },
    {
      name: 'workflow_ref',
      match: { kind: 'glob' },
      description:
        'The workflow file and ref (owner/name/.github/workflows/ci.yml@refs/heads/main), an anchored glob.',
    },
    {
      name: 'job_workflow_ref',
      match: { kind: 'glob' },
      description: 'The reusable workflow running the job (owner/name/path@ref), an anchored glob.',
    },
    {
      name: 'event_name',
      match: { kind: 'list', pattern: /^[a-z_]+$/ },
      description: `The events accepted (default: ${DEFAULT_EVENTS.join(', ')}); pull_request_target, workflow_run and issue_comment only when listed.`,
    },
  ],
  defaultLists: { event_name: DEFAULT_EVENTS },
  ruleProblem(fields) {
    if (fields.repository === undefined && fields.repository_owner === undefined) {
      return 'names neither repository nor repository_owner: it would trust every GitHub repository';
    }
    return undefined;
  },
  ownerField: 'repository_id',
  ruleWarnings(fields, grants) {
    const warnings: string[] = [];
    if (fields.repository !== undefined && fields.repository_id === undefined) {
      warnings.push(
        'names a repository without its repository_id: it never grants cache:write (a deleted and re-created repository of the same name would match)',
      );
    } else if (fields.repository === undefined && fields.repository_id === undefined) {
      warnings.push('has no repository_id: it never grants cache:write');
    }
    const named = Array.isArray(fields.event_name) ? fields.event_name : [];
    const untrusted = named.filter((e) => (UNTRUSTED_EVENTS as readonly unknown[]).includes(e));
    if (untrusted.length > 0 && grants?.includes('cache:write')) {
      warnings.push(
        `lets ${untrusted.join(', ')} runs write the project cache and saved builds: code from a pull request or another person's trigger can poison what later builds reuse; grant [build, "cache:read"] unless you mean it`,
      );
    }
    return warnings;
  },
  capGrants(claims, fields, explicit) {
    let grants: Grant[] = [...(explicit ?? ALL_GRANTS)];
    // Runs on behalf of other people's code write only when the rule says so twice: it names the event and lists
    // cache:write. A rule that names neither (or only one) gives them build and cache:read at most.
    const event = str(claims, 'event_name');
    if (event !== undefined && (UNTRUSTED_EVENTS as readonly string[]).includes(event)) {
      const namesEvent = Array.isArray(fields.event_name) && fields.event_name.includes(event);
      const listsWrite = explicit?.includes('cache:write') ?? false;
      if (!(namesEvent && listsWrite)) grants = grants.filter((g) => g !== 'cache:write');
    }
    if (fields.repository_id === undefined) grants = grants.filter((g) => g !== 'cache:write');
    return grants;
  },
  identity(claims): SourceIdentity {
    const id: SourceIdentity = { provider: 'github-actions' };
    const copy = [
      'repository',
      'repository_id',
      'ref',
      'sha',
      'run_id',
      'run_attempt',
      'workflow_ref',
      'event_name',
      'environment',
    ] as const;
    for (const k of copy) {
      const v = str(claims, k);
      if (v !== undefined) id[k] = v;
    }
    return id;
  },
};
