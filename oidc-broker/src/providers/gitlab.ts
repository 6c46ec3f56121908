// GitLab CI/CD id_tokens: gitlab.com (https://gitlab.com) or a self-managed instance, keys at
// <issuer>/oauth/discovery/keys. gitlab.com is open to anyone: every rule pins a project or namespace, and only a
// rule pinning its id, for protected refs, with no merge request pipelines, writes the cache. Claims are strings
// (ids too), except a few the broker never reads (runner_id is a number, user_identities a list): those are ignored.
import { str, wantsWrite, withoutWrite } from './claims';
import type { Claims, Grant, Provider, SourceIdentity } from './types';
import { ALL_GRANTS } from './types';

/** The pipeline sources a rule accepts when it lists none: pipelines started by the project's own members (a push,
 * the Run pipeline button, a schedule, the API, a trigger token). Merge request pipelines, external pull requests
 * and pipelines started by another pipeline (parent_pipeline, pipeline: their parent may be a merge request
 * pipeline) match only a rule that lists them. */
export const DEFAULT_PIPELINE_SOURCES = ['push', 'web', 'schedule', 'api', 'trigger'] as const;

/** Sources that run code from people other than the project's writers: a rule listing one never writes. */
export const UNTRUSTED_SOURCES = ['merge_request_event', 'external_pull_request_event'] as const;

const PATH = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)+$/;
const NAMESPACE = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/;
const PINS = ['project_id', 'namespace_id', 'project_path', 'namespace_path'] as const;

function sources(fields: Record<string, unknown>): readonly string[] {
  return Array.isArray(fields.pipeline_source)
    ? (fields.pipeline_source as string[])
    : DEFAULT_PIPELINE_SOURCES;
}

function untrustedListed(fields: Record<string, unknown>): string[] {
  return sources(fields).filter((s) => (UNTRUSTED_SOURCES as readonly string[]).includes(s));
}

export const gitlab: Provider = {
  name: 'gitlab',
  issuerDefaults: {
    singleUse: false,
    algorithms: ['RS256'],
    requiredClaims: [
      'sub',
      'project_id',
      'project_path',
      'namespace_id',
      'namespace_path',
      'ref_protected',
      'pipeline_source',
    ],
    maxTokenAge: 3600,
    jwksUri: (issuer) => `${issuer.replace(/\/+$/, '')}/oauth/discovery/keys`,
  },
  claimTypes: {
    sub: 'string',
    project_id: 'string',
    project_path: 'string',
    namespace_id: 'string',
    namespace_path: 'string',
    ref: 'string',
    ref_type: 'string',
    ref_protected: 'string',
    pipeline_source: 'string',
    pipeline_id: 'string',
    environment: 'string',
    sha: 'string',
    ci_config_ref_uri: 'string',
  },
  subjectField: 'project_path',
  fields: [
    {
      name: 'project_path',
      match: { kind: 'exact-ascii-ci', pattern: PATH, hint: 'group/project (subgroups allowed)' },
      description: 'The project path, group/project (subgroups allowed), exact (ASCII case-insensitive).',
    },
    {
      name: 'project_id',
      match: { kind: 'id' },
      description:
        'The numeric project id (Settings > General), quoted. Without it or namespace_id a rule never grants cache:write.',
    },
    {
      name: 'namespace_path',
      match: { kind: 'exact-ascii-ci', pattern: NAMESPACE, hint: 'a group or user path' },
      description: 'The group or user the project belongs to, exact (ASCII case-insensitive).',
    },
    {
      name: 'namespace_id',
      match: { kind: 'id' },
      description: 'The numeric id of the group or user the project belongs to, quoted.',
    },
    {
      name: 'ref',
      match: { kind: 'glob' },
      description: 'The branch or tag name, bare (main, not refs/heads/main), an anchored glob (release/**).',
    },
    {
      name: 'ref_type',
      match: { kind: 'exact-pattern', pattern: /^(?:branch|tag)$/, hint: 'branch or tag' },
      description: 'branch or tag.',
    },
    {
      name: 'ref_protected',
      match: { kind: 'flag' },
      description:
        'Whether the ref is protected: "true" or "false". Only a rule requiring "true" grants cache:write.',
    },
    {
      name: 'pipeline_source',
      match: { kind: 'list', pattern: /^[a-z_]+$/ },
      description: `The pipeline sources accepted (default: ${DEFAULT_PIPELINE_SOURCES.join(', ')}); merge_request_event, external_pull_request_event, pipeline and parent_pipeline only when listed, and a rule listing merge_request_event or external_pull_request_event never grants cache:write.`,
    },
    {
      name: 'environment',
      match: { kind: 'exact' },
      description: 'The deployment environment of the job, exact.',
    },
  ],
  defaultLists: { pipeline_source: DEFAULT_PIPELINE_SOURCES },
  ruleProblem(fields) {
    if (PINS.every((p) => fields[p] === undefined)) {
      return `pins none of ${PINS.join(', ')}: it would trust every project of the instance (anyone can create one on gitlab.com)`;
    }
    return undefined;
  },
  ownerField: 'project_id',
  ruleWarnings(fields, grants) {
    if (!wantsWrite(grants)) return [];
    const warnings: string[] = [];
    if (fields.project_id === undefined && fields.namespace_id === undefined) {
      warnings.push(
        'pins no project_id or namespace_id: it never grants cache:write (a renamed or deleted path can be taken by another project)',
      );
    }
    if (fields.ref_protected !== 'true') {
      warnings.push(
        'does not require ref_protected: "true": it never grants cache:write (every developer can push an unprotected branch)',
      );
    }
    const untrusted = untrustedListed(fields);
    if (untrusted.length > 0) {
      warnings.push(
        `lists ${untrusted.join(', ')} in pipeline_source: it never grants cache:write (merge requests run code from people who cannot push); grant [build, "cache:read"]`,
      );
    }
    return warnings;
  },
  capGrants(_claims, fields, explicit) {
    let grants: Grant[] = [...(explicit ?? ALL_GRANTS)];
    const pinsId = fields.project_id !== undefined || fields.namespace_id !== undefined;
    if (!pinsId || fields.ref_protected !== 'true' || untrustedListed(fields).length > 0) {
      grants = withoutWrite(grants);
    }
    return grants;
  },
  identity(claims: Claims): SourceIdentity {
    const id: SourceIdentity = { provider: 'gitlab' };
    const copy: [keyof SourceIdentity, string][] = [
      ['repository', 'project_path'],
      ['repository_id', 'project_id'],
      ['ref', 'ref'],
      ['sha', 'sha'],
      ['run_id', 'pipeline_id'],
      ['event_name', 'pipeline_source'],
      ['environment', 'environment'],
      ['workflow_ref', 'ci_config_ref_uri'],
    ];
    for (const [k, claim] of copy) {
      const v = str(claims, claim);
      if (v !== undefined) (id as unknown as Record<string, string>)[k] = v;
    }
    return id;
  },
};
