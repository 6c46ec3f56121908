// policy: verified claims -> the project, the rule that matched, the grants and the isolation. Rules are tried in
// file order and the first match in a project decides; with no project named, exactly one project may match.
import type { BrokerConfig, CompiledRule, IssuerEntry, ProjectConfig } from './config';
import { matchRule } from './config';
import { BrokerError } from './errors';
import type { Claims, Grant } from './providers/types';

export interface Decision {
  project: ProjectConfig;
  rule: CompiledRule;
  grants: Grant[];
  isolated: boolean;
}

interface Miss {
  rule: CompiledRule;
  /** How many fields matched before the one that failed: the closest rule explains the refusal best. */
  depth: number;
  field: string;
  expected: string;
  actual: string;
  isDefault: boolean;
}

function applies(rule: CompiledRule, entry: IssuerEntry): boolean {
  return (
    rule.provider === entry.provider.name && (rule.issuerKey === undefined || rule.issuerKey === entry.key)
  );
}

function claim(claims: Claims, name: string): string {
  const v = claims[name];
  return typeof v === 'string' ? JSON.stringify(v.length > 120 ? `${v.slice(0, 120)}...` : v) : '(none)';
}

export function decide(config: BrokerConfig, entry: IssuerEntry, claims: Claims, project?: string): Decision {
  let candidates = config.projects;
  if (project !== undefined) {
    const named = config.projects.find((p) => p.id === project);
    if (!named) {
      throw new BrokerError(
        'no_trust_relationship',
        `project ${JSON.stringify(project)} is not configured on this broker: check the project id (or omit it)`,
        { field: 'project' },
      );
    }
    candidates = [named];
  }

  const matches: { project: ProjectConfig; rule: CompiledRule }[] = [];
  let closest: Miss | undefined;
  for (const p of candidates) {
    for (const rule of p.rules) {
      if (!applies(rule, entry)) continue;
      const r = matchRule(rule, claims);
      if (r.ok) {
        matches.push({ project: p, rule });
        break;
      }
      // The closest rule: one naming this repository first, then the one that matched the most fields.
      const index = rule.matchers.findIndex((m) => m.field === r.field);
      const depth = index + (rule.fields.repository !== undefined && r.field !== 'repository' ? 1000 : 0);
      if (!closest || depth > closest.depth) {
        const m = rule.matchers[index];
        closest = { rule, depth, ...r, isDefault: m?.isDefault ?? false };
      }
    }
  }

  if (matches.length > 1) {
    const ids = matches.map((m) => m.project.id).join(', ');
    throw new BrokerError(
      'ambiguous_project',
      `several projects trust this token (${ids}): name one with "project" in the request (the action's project input)`,
      { field: 'project' },
    );
  }
  const match = matches[0];
  if (!match) throw refusal(config, entry, claims, closest, project);

  const { project: p, rule } = match;
  const isolated = rule.isolated;
  const grants: Grant[] = isolated ? ['build'] : entry.provider.capGrants(claims, rule.fields, rule.grants);
  return { project: p, rule, grants, isolated };
}

function refusal(
  config: BrokerConfig,
  entry: IssuerEntry,
  claims: Claims,
  closest: Miss | undefined,
  project: string | undefined,
): BrokerError {
  const seen = `repository ${claim(claims, 'repository')}, ref ${claim(claims, 'ref')}, event ${claim(claims, 'event_name')}`;
  const scope = project === undefined ? 'any project' : `project ${project}`;
  if (!closest) {
    return new BrokerError(
      'no_trust_relationship',
      `no trust relationship in ${scope} for ${seen}: no rule accepts ${entry.provider.name} tokens there; add one under the project's rules in ${config.file}`,
      { field: 'provider' },
    );
  }
  if (closest.field === 'event_name' && closest.isDefault) {
    return new BrokerError(
      'event_not_allowed',
      `event ${claim(claims, 'event_name')} is not accepted by default (${seen}): rule ${closest.rule.id} must list it in event_name to trust it`,
      { field: 'event_name' },
    );
  }
  return new BrokerError(
    'no_trust_relationship',
    `no trust relationship in ${scope} for ${seen}: the closest rule, ${closest.rule.id} (project ${closest.rule.projectId}), wants ${closest.field} ${closest.expected} but the token has ${closest.actual}; add or fix a rule under the project's rules in ${config.file}`,
    { field: closest.field },
  );
}
