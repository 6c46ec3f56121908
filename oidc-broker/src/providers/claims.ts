// Small readers the providers share: a claim as a string, and grants without cache:write.
import type { Claims, Grant } from './types';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The claim when it is a JSON string. */
export function str(claims: Claims, name: string): string | undefined {
  const v = claims[name];
  return typeof v === 'string' ? v : undefined;
}

export function withoutWrite(grants: readonly Grant[]): Grant[] {
  return grants.filter((g) => g !== 'cache:write');
}

/** Whether a rule with these explicit grants (undefined: the default, all) asks for cache:write. */
export function wantsWrite(grants: readonly Grant[] | undefined): boolean {
  return grants === undefined || grants.includes('cache:write');
}
