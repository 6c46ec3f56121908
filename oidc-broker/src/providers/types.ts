// What a CI provider contributes to the broker: the claims it reads and their JSON types, the rule fields that match
// them (a field may read a claim named unlike its key, e.g. CircleCI's oidc.circleci.com/project-id), its issuer
// defaults, the checks that keep strangers out, and the source identity copied into project tokens and audit
// records. The issuer registry names one provider per entry; providers/index.ts lists one implementation per name.

import type { Scope, SourceIdentity } from '../../../shared/contract/project-token';
import type { CiProvider } from '../../../shared/contract/exchange';

export { CI_PROVIDERS as PROVIDER_NAMES } from '../../../shared/contract/exchange';
export { SCOPES as ALL_GRANTS } from '../../../shared/contract/project-token';
export type { CiProvider as ProviderName } from '../../../shared/contract/exchange';
export type { Scope as Grant, SourceIdentity } from '../../../shared/contract/project-token';

type ProviderName = CiProvider;
type Grant = Scope;

/** How a rule field matches its claim. */
export type FieldKind =
  | { kind: 'exact' } // byte-for-byte
  | { kind: 'exact-ascii-ci'; pattern: RegExp; hint: string } // GitHub names: case-insensitive ASCII only
  | { kind: 'exact-pattern'; pattern: RegExp; hint: string } // byte-for-byte, the rule's value of this shape
  | { kind: 'id' } // a decimal id, compared as a string
  | { kind: 'flag' } // a claim that is the string "true" or "false"; the rule writes true/false or "true"/"false"
  | { kind: 'glob' } // anchored glob (glob.ts)
  | { kind: 'list'; pattern: RegExp } // the claim must equal one element
  | { kind: 'element'; pattern: RegExp; hint: string }; // the claim is a list of strings; the rule's value is one of them

/** The JSON type a claim must have when present. A claim the broker reads with another type is 401 bad_claim_type;
 * claims it does not read are never checked, whatever their type. */
export type ClaimType = 'string' | 'string[]' | 'boolean' | 'number' | 'string|null';

export interface FieldSpec {
  /** The rule key. */
  name: string;
  /** The claim it reads, when not named like the rule key (e.g. oidc.circleci.com/project-id). */
  claim?: string;
  match: FieldKind;
  /** What the field matches, for the published JSON Schema (shown by editors). */
  description: string;
}

export type Claims = Record<string, unknown>;

/** The claim a rule field reads. */
export function claimOf(spec: FieldSpec): string {
  return spec.claim ?? spec.name;
}

export interface Provider {
  name: ProviderName;
  /** Defaults for an issuer entry of this provider. */
  issuerDefaults: {
    singleUse: boolean;
    algorithms: string[];
    requiredClaims: string[];
    maxTokenAge: number;
    /** The key set of an issuer, when the entry names no jwks_uri. */
    jwksUri(issuer: string): string;
  };
  /** Why an issuer entry's audience lets in tokens meant for others (a load warning), or undefined. */
  audienceProblem?(issuer: string, audience: string): string | undefined;
  /** The claims the broker reads and their JSON types (no coercion: a number is no string, null no string). */
  claimTypes: Readonly<Record<string, ClaimType>>;
  /** The rule field that names what a token comes from (GitHub: repository): a refusal's closest rule is one whose
   * value of it matched. */
  subjectField: string;
  /** Rule fields, in the order they are checked. */
  fields: readonly FieldSpec[];
  /** Checked for list fields when the rule does not name them: the default list. */
  defaultLists: Record<string, readonly string[]>;
  /** Why a rule cannot load (e.g. it names no repository), or undefined. */
  ruleProblem(fields: Record<string, unknown>): string | undefined;
  /** The rule field whose claim value, pinned by a rule, proves a token belongs to the rule's project (refusal
   * detail). */
  ownerField: string;
  /** Load warnings for a rule (e.g. a repository without its id), given its explicit grants. */
  ruleWarnings(fields: Record<string, unknown>, grants: readonly Grant[] | undefined): string[];
  /** Grants after the provider's caps, given the rule's explicit grants (undefined: the default, all). */
  capGrants(claims: Claims, fields: Record<string, unknown>, explicit: readonly Grant[] | undefined): Grant[];
  identity(claims: Claims): SourceIdentity;
}
