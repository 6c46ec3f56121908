// policy: verified claims -> the project, the rule that matched, the grants and the isolation. Rules are compiled once
// at load (compileRule: one matcher per field the rule names, every glob anchored, the provider's default lists) and
// matched here only (matchRule). They are tried in file order and the first match in a project decides; with no
// project named, exactly one project may match.
import type { BrokerConfig, IssuerEntry, ProjectConfig } from './config';
import type { FieldValue } from './config-schema';
import { BrokerError } from './errors';
import { compileGlob } from './glob';
import type { Claims, FieldSpec, Grant, Provider, ProviderName } from './providers/types';
import { claimOf } from './providers/types';

export type FieldResult = { ok: true } | { ok: false; field: string; expected: string; actual: string };

export interface FieldMatcher {
  /** The rule key (or, for a `claims:` pin, the claim). */
  field: string;
  /** The claim it reads. */
  claim: string;
  /** The pattern or list, as shown in refusal messages. */
  expected: string;
  /** The accepted values of a list field (event_name, pipeline_source, ...): what shadowing compares. */
  list?: readonly string[];
  /** True when the rule did not name the field (a default, e.g. the default events). */
  isDefault: boolean;
  /** The claim's value as the token has it (verify.ts checked the types the provider declares). */
  test(value: unknown): boolean;
}

export interface CompiledRule {
  id: string;
  projectId: string;
  provider: ProviderName;
  /** Set when the rule pins one issuer entry (`issuer: <key>`). */
  issuerKey: string | undefined;
  fields: Record<string, FieldValue>;
  matchers: FieldMatcher[];
  grants: Grant[] | undefined;
  isolated: boolean;
  line: number;
}

/** A rule as config.ts checked it: the schema passed, its provider is implemented and names these fields. */
export interface RuleSource {
  id: string;
  projectId: string;
  provider: Provider;
  issuerKey: string | undefined;
  fields: Record<string, FieldValue>;
  /** `claims:` pins of claims the provider does not model: exact values or globs. */
  claims: Record<string, string>;
  grants: Grant[] | undefined;
  isolated: boolean;
  line: number;
}

/** One matcher per provider field, in the provider's order: the fields the rule names, and default lists. */
export function compileRule(source: RuleSource): CompiledRule {
  const { provider } = source;
  const matchers: FieldMatcher[] = [];
  for (const spec of provider.fields) {
    const value = source.fields[spec.name];
    if (value !== undefined) matchers.push(fieldMatcher(spec, value));
    else {
      const dflt = provider.defaultLists[spec.name];
      if (dflt) matchers.push(listMatcher(spec, dflt, true));
    }
  }
  for (const [name, pattern] of Object.entries(source.claims)) {
    const g = compileGlob(pattern);
    // A string claim, or one the provider declares a boolean or a number, read as its JSON text ("true", "42").
    const type = provider.claimTypes[name];
    const scalar = type === 'boolean' || type === 'number';
    matchers.push({
      field: name,
      claim: name,
      expected: `"${pattern}"`,
      isDefault: false,
      test: (x) =>
        typeof x === 'string'
          ? g.test(x)
          : scalar && (typeof x === 'boolean' || typeof x === 'number') && g.test(String(x)),
    });
  }
  return {
    id: source.id,
    projectId: source.projectId,
    provider: provider.name,
    issuerKey: source.issuerKey,
    fields: source.fields,
    matchers,
    grants: source.grants,
    isolated: source.isolated,
    line: source.line,
  };
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function listMatcher(spec: FieldSpec, list: readonly string[], isDefault: boolean): FieldMatcher {
  const set = new Set(list);
  return {
    field: spec.name,
    claim: claimOf(spec),
    expected: `one of [${list.join(', ')}]`,
    list,
    isDefault,
    test: (v) => typeof v === 'string' && set.has(v),
  };
}

/** A matcher of a string claim. */
function stringMatcher(spec: FieldSpec, expected: string, test: (x: string) => boolean): FieldMatcher {
  return {
    field: spec.name,
    claim: claimOf(spec),
    expected,
    isDefault: false,
    test: (x) => typeof x === 'string' && test(x),
  };
}

function fieldMatcher(spec: FieldSpec, value: FieldValue): FieldMatcher {
  const m = spec.match;
  const one = (): string => {
    if (typeof value === 'string') return value;
    throw new Error(`rule field ${spec.name} (${m.kind}) holds a list: the config schema lets none through`);
  };
  switch (m.kind) {
    case 'exact':
    case 'exact-pattern':
    case 'id':
    case 'flag': {
      const v = one();
      return stringMatcher(spec, `"${v}"`, (x) => x === v);
    }
    case 'exact-ascii-ci': {
      const v = one();
      const want = asciiLower(v);
      return stringMatcher(spec, `"${v}"`, (x) => asciiLower(x) === want);
    }
    case 'glob': {
      const g = compileGlob(one());
      return stringMatcher(spec, `"${g.source}"`, (x) => g.test(x));
    }
    case 'element': {
      const v = one();
      return {
        field: spec.name,
        claim: claimOf(spec),
        expected: `a list holding "${v}"`,
        isDefault: false,
        test: (x) => Array.isArray(x) && x.includes(v),
      };
    }
    case 'list': {
      if (typeof value === 'string') {
        throw new Error(`rule field ${spec.name} (list) holds a string: the config schema lets none through`);
      }
      return listMatcher(spec, value, false);
    }
    default: {
      const never: never = m;
      throw new Error(`unknown rule field kind ${JSON.stringify(never)}`);
    }
  }
}

/** True when every token `later` could match, `earlier` (tried first) matches too. Conservative: equal values only. */
export function shadows(earlier: CompiledRule, later: CompiledRule): boolean {
  if (earlier.provider !== later.provider) return false;
  if (earlier.issuerKey !== undefined && earlier.issuerKey !== later.issuerKey) return false;
  for (const m of earlier.matchers) {
    const lm = later.matchers.find((x) => x.field === m.field);
    if (!lm) return false;
    if (m.list && lm.list) {
      const values = lm.list;
      if (!values.every((e) => m.test(e))) return false;
    } else if (m.expected.toLowerCase() !== lm.expected.toLowerCase()) return false;
  }
  return true;
}

/** Applies one rule to verified claims: the first field that fails, or ok. */
export function matchRule(rule: CompiledRule, claims: Claims): FieldResult {
  for (const m of rule.matchers) {
    const v = claims[m.claim];
    if (!m.test(v)) return { ok: false, field: m.field, expected: m.expected, actual: actualText(v) };
  }
  return { ok: true };
}

/** A claim's value as a refusal shows it. */
function actualText(v: unknown): string {
  if (v === undefined) return '(absent)';
  if (typeof v === 'string') return JSON.stringify(v.length > 120 ? `${v.slice(0, 120)}...` : v);
  if (v === null || typeof v === 'boolean' || typeof v === 'number') return JSON.stringify(v);
  if (Array.isArray(v)) {
    const text = JSON.stringify(v);
    return text.length > 160 ? `${text.slice(0, 160)}...` : text;
  }
  return typeof v;
}

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

function shownValue(v: string | undefined): string {
  return v === undefined ? '(none)' : JSON.stringify(v.length > 120 ? `${v.slice(0, 120)}...` : v);
}

export function decide(config: BrokerConfig, entry: IssuerEntry, claims: Claims, project?: string): Decision {
  let candidates = config.projects;
  if (project !== undefined) {
    const named = config.projects.find((p) => p.id === project);
    if (!named) {
      throw new BrokerError('no_trust_relationship', GENERIC_REFUSAL, {
        field: 'project',
        detail: `project ${JSON.stringify(project)} is not configured in ${config.file}`,
      });
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
      // The closest rule: one naming this repository (the provider's subject) first, then the one that matched the
      // most fields.
      const index = rule.matchers.findIndex((m) => m.field === r.field);
      const subject = entry.provider.subjectField;
      const depth = index + (rule.fields[subject] !== undefined && r.field !== subject ? 1000 : 0);
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

/** What every caller that cannot prove it owns the project is told, whatever the reason: nothing to enumerate. */
export const GENERIC_REFUSAL =
  'no trust relationship accepts this token: give the broker operator the request id of this answer';

/**
 * Whether the token provably belongs to the project it asks for (or, with none named, to any project): its
 * provider's owner claim (GitHub: repository_id) equals the value a rule of that project pins. Only an owner is
 * told why it was refused; a `claims:` pin never counts.
 */
export function ownsProject(
  config: BrokerConfig,
  entry: IssuerEntry,
  claims: Claims,
  project?: string,
): boolean {
  const field = entry.provider.ownerField;
  const spec = entry.provider.fields.find((f) => f.name === field);
  const value = claims[spec ? claimOf(spec) : field];
  if (typeof value !== 'string' || value === '') return false;
  return config.projects.some(
    (p) =>
      (project === undefined || p.id === project) &&
      p.rules.some((r) => applies(r, entry) && r.fields[field] === value),
  );
}

function refusal(
  config: BrokerConfig,
  entry: IssuerEntry,
  claims: Claims,
  closest: Miss | undefined,
  project: string | undefined,
): BrokerError {
  const id = entry.provider.identity(claims);
  const seen = `repository ${shownValue(id.repository)}, ref ${shownValue(id.ref)}, event ${shownValue(id.event_name)}`;
  const scope = project === undefined ? 'any project' : `project ${project}`;
  // The operator's view, for the audit row and the log: everything, with the file to fix.
  const detail = !closest
    ? `no trust relationship in ${scope} for ${seen}: no rule accepts ${entry.provider.name} tokens there; add one under the project's rules in ${config.file}`
    : `no trust relationship in ${scope} for ${seen}: the closest rule, ${closest.rule.id} (project ${closest.rule.projectId}, ${config.file}:${closest.rule.line}), wants ${closest.field} ${closest.expected} but the token has ${closest.actual}`;
  const field = closest?.field ?? 'provider';
  if (!ownsProject(config, entry, claims, project)) {
    return new BrokerError('no_trust_relationship', GENERIC_REFUSAL, { field, detail });
  }
  // An owner: which field of which rule failed, never the file.
  if (!closest) {
    return new BrokerError(
      'no_trust_relationship',
      `no rule of ${scope} accepts ${entry.provider.name} tokens from this issuer`,
      { field, detail },
    );
  }
  if (closest.isDefault) {
    // A list field the rule leaves to its default (GitHub's event_name, GitLab's pipeline_source).
    const what = closest.field === 'event_name' ? 'event' : closest.field;
    return new BrokerError(
      'event_not_allowed',
      `${what} ${closest.actual} is not accepted by default: rule ${closest.rule.id} must list it in ${closest.field} to trust it`,
      { field, detail },
    );
  }
  return new BrokerError(
    'no_trust_relationship',
    `rule ${closest.rule.id} (project ${closest.rule.projectId}) wants ${closest.field} ${closest.expected} but the token has ${closest.actual}`,
    { field, detail },
  );
}
