// Buildkite: one issuer, https://agent.buildkite.com, shared by every organization (keys at
// <issuer>/.well-known/jwks). Every rule pins an organization and a pipeline. The agent adds organization_id and
// pipeline_id only when asked (`buildkite-agent oidc request-token --claim organization_id,pipeline_id`); a rule
// pinning them needs them. Tokens carry no jti, and live minutes.
import { str, UUID, wantsWrite } from './claims';
import type { Claims, Grant, Provider, SourceIdentity } from './types';
import { ALL_GRANTS } from './types';

const SLUG = /^[a-z0-9][a-z0-9-]*$/;

export const buildkite: Provider = {
  name: 'buildkite',
  issuerDefaults: {
    singleUse: false,
    algorithms: ['RS256'],
    requiredClaims: ['sub', 'organization_slug', 'pipeline_slug', 'build_number', 'job_id'],
    maxTokenAge: 10 * 60,
    jwksUri: (issuer) => `${issuer.replace(/\/+$/, '')}/.well-known/jwks`,
  },
  claimTypes: {
    sub: 'string',
    organization_slug: 'string',
    organization_id: 'string',
    pipeline_slug: 'string',
    pipeline_id: 'string',
    build_branch: 'string',
    build_tag: 'string|null',
    build_commit: 'string',
    build_number: 'number',
    build_source: 'string',
    step_key: 'string|null',
    job_id: 'string',
  },
  subjectField: 'pipeline_slug',
  fields: [
    {
      name: 'organization_slug',
      match: { kind: 'exact-pattern', pattern: SLUG, hint: 'an organization slug (e.g. acme-inc)' },
      description: 'The organization slug, exact.',
    },
    {
      name: 'organization_id',
      match: { kind: 'exact-pattern', pattern: UUID, hint: 'an organization UUID' },
      description:
        'The organization UUID (the agent adds it with --claim organization_id). Pinning it keeps a freed slug taken by another organization out.',
    },
    {
      name: 'pipeline_slug',
      match: { kind: 'exact-pattern', pattern: SLUG, hint: 'a pipeline slug (e.g. web)' },
      description: 'The pipeline slug, exact.',
    },
    {
      name: 'pipeline_id',
      match: { kind: 'exact-pattern', pattern: UUID, hint: 'a pipeline UUID' },
      description:
        'The pipeline UUID (the agent adds it with --claim pipeline_id); it proves ownership for refusal details.',
    },
    {
      name: 'build_branch',
      match: { kind: 'glob' },
      description:
        'The branch of the build, an anchored glob (main, release/**). A pull request from a fork builds owner:branch.',
    },
    {
      name: 'build_tag',
      match: { kind: 'glob' },
      description: 'The tag of the build, an anchored glob (v*); a build without a tag never matches.',
    },
    {
      name: 'step_key',
      match: { kind: 'exact' },
      description: 'The key of the step, exact; a step without a key never matches.',
    },
    {
      name: 'build_source',
      match: { kind: 'list', pattern: /^[a-z_]+$/ },
      description:
        'What started the build, one of the list (e.g. [webhook, schedule, ui, api, trigger_job]).',
    },
  ],
  defaultLists: {},
  ruleProblem(fields) {
    const org = fields.organization_slug !== undefined || fields.organization_id !== undefined;
    const pipeline = fields.pipeline_slug !== undefined || fields.pipeline_id !== undefined;
    if (!org || !pipeline) {
      return 'must pin organization_slug (or organization_id) and pipeline_slug (or pipeline_id): every Buildkite organization shares the issuer https://agent.buildkite.com';
    }
    return undefined;
  },
  ownerField: 'pipeline_id',
  ruleWarnings(fields, grants) {
    if (wantsWrite(grants) && fields.organization_id === undefined && fields.pipeline_id === undefined) {
      return [
        'names its organization and pipeline by slug only: a slug freed by a renamed or deleted organization can be taken by another; pin organization_id or pipeline_id too (buildkite-agent oidc request-token --claim organization_id,pipeline_id)',
      ];
    }
    return [];
  },
  capGrants(_claims, _fields, explicit): Grant[] {
    return [...(explicit ?? ALL_GRANTS)];
  },
  identity(claims: Claims): SourceIdentity {
    const id: SourceIdentity = { provider: 'buildkite' };
    const org = str(claims, 'organization_slug');
    const pipeline = str(claims, 'pipeline_slug');
    if (org !== undefined && pipeline !== undefined) id.repository = `${org}/${pipeline}`;
    const pipelineId = str(claims, 'pipeline_id');
    if (pipelineId !== undefined) id.repository_id = pipelineId;
    const ref = str(claims, 'build_tag') ?? str(claims, 'build_branch');
    if (ref !== undefined) id.ref = ref;
    const sha = str(claims, 'build_commit');
    if (sha !== undefined) id.sha = sha;
    const build = claims.build_number;
    if (typeof build === 'number') id.run_id = String(build);
    const source = str(claims, 'build_source');
    if (source !== undefined) id.event_name = source;
    return id;
  },
};
