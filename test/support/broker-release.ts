// The broker's release (`npm run release:broker`) for the tests that run it: built once per content of what goes
// into it (the broker's and shared/ sources, the release scripts, package.json and the lockfile) into
// .tmp/test-release-broker/<key>/, so the tarball test and the image test share one build (about a minute on 2 cores).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './runner';

export interface BrokerReleaseDir {
  dir: string;
  version: string;
  /** Tarball path per target (linux-x64, linux-arm64). */
  tarballs: Record<string, string>;
}

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

export function brokerRelease(): BrokerReleaseDir {
  const hash = createHash('sha256');
  const files = [
    ...sources('oidc-broker/src'),
    ...sources('shared'),
    ...[
      'scripts/release-broker.ts',
      'scripts/release-cli.ts',
      'scripts/build.ts',
      'package.json',
      'package-lock.json',
    ]
      .map((f) => join(ROOT, f))
      .filter((f) => existsSync(f)),
  ];
  for (const f of files) hash.update(f).update(readFileSync(f));
  const dir = join(ROOT, '.tmp', 'test-release-broker', hash.digest('hex').slice(0, 16));
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string })
    .version;
  if (!existsSync(join(dir, 'SHA256SUMS'))) {
    // Releases of older sources are not used again: about 90 MB each.
    rmSync(join(ROOT, '.tmp', 'test-release-broker'), { recursive: true, force: true });
    execFileSync('npm', ['run', '--silent', 'release:broker', '--', '--out', dir], {
      cwd: ROOT,
      stdio: 'pipe',
    });
  }
  return {
    dir,
    version,
    tarballs: {
      'linux-x64': join(dir, `depot-broker-${version}-linux-x64.tar.gz`),
      'linux-arm64': join(dir, `depot-broker-${version}-linux-arm64.tar.gz`),
    },
  };
}

/** A broker.yml with one project (acme/web on refs/heads/main, the local issuer's default claims). */
export function minimalBrokerConfig(issuerUrl: string, publicUrl: string): string {
  return [
    `public_url: ${publicUrl}`,
    'token_ttl: 15m',
    'issuers:',
    '  github-actions:',
    '    provider: github-actions',
    `    issuer: ${issuerUrl}`,
    `    jwks_uri: ${issuerUrl}/.well-known/jwks`,
    '    algorithms: [RS256]',
    'registry: { host: "localhost:5999", service: depot-cache }',
    'rate_limit: { per_address: 0, failures_per_address: 0 }',
    'projects:',
    '  - id: web',
    '    rules:',
    '      - { id: web-main, provider: github-actions, repository: acme/web, repository_id: "123456", ref: refs/heads/main }',
    '',
  ].join('\n');
}

/** POST /auth/oidc/github-actions with a fresh OIDC token: the broker's answer. */
export async function exchangeAt(
  brokerUrl: string,
  oidcToken: string,
): Promise<{ status: number; ok: boolean; token?: string; error?: { code: string } }> {
  const res = await fetch(`${brokerUrl}/auth/oidc/github-actions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: oidcToken }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await res.json()) as { ok: boolean; token?: string; error?: { code: string } };
  return { status: res.status, ...body };
}
