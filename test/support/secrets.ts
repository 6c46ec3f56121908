// Every secret the tests' own servers hand out, wherever a step might print it: the OIDC tokens of the local issuer
// (issuer.ts) and of stub runtime endpoints, the project and registry tokens in stub broker answers (stub-server.ts),
// the project tokens the real broker mints (stack.ts: the broker logs the SHA-256 of each one, not the token) and
// the registry passwords made from them. The runner harness's leak check (Job.leakedSecrets) looks for all of them,
// masked by a step or not. One set per process: a token minted for one job and printed by another is a leak too.
import { createHash } from 'node:crypto';

const values = new Set<string>();
const hashSources: Array<() => Iterable<string>> = [];

/** Records a secret value handed out by a test server (shorter than 4 characters: ignored, as the runner does). */
export function mintedSecret(value: string): void {
  if (value.length >= 4) values.add(value);
}

/** Records a project token and the registry password docker keeps for it (`auth` = base64 of depot:<token>). */
export function mintedProjectToken(token: string): void {
  mintedSecret(token);
  mintedSecret(Buffer.from(`depot:${token}`).toString('base64'));
}

/** Registers a source of SHA-256 hex digests of tokens minted out of this process's sight (the real broker). */
export function mintedTokenHashes(source: () => Iterable<string>): void {
  hashSources.push(source);
}

/** A JWT (header and payload are base64url JSON, so both start with `eyJ`). */
const JWT = /eyJ[\w-]*\.eyJ[\w-]*\.[\w-]+/g;
/** Long enough to be base64 of `depot:<JWT>`. */
const BASE64 = /[A-Za-z0-9+/]{40,}={0,2}/g;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * The minted secrets that appear in `text`: the recorded values, and any JWT whose SHA-256 a source lists, as is or
 * as the registry password made from it.
 */
export function mintedSecretsIn(text: string): string[] {
  const found = [...values].filter((v) => text.includes(v));
  const hashes = new Set(hashSources.flatMap((source) => [...source()]));
  if (hashes.size > 0) {
    for (const [jwt] of text.matchAll(JWT)) if (hashes.has(sha256(jwt))) found.push(jwt);
    for (const [b64] of text.matchAll(BASE64)) {
      const decoded = /^depot:(.+)$/.exec(Buffer.from(b64, 'base64').toString('utf8'));
      if (decoded?.[1] && hashes.has(sha256(decoded[1]))) found.push(b64);
    }
  }
  return [...new Set(found)];
}
