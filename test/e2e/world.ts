// What the end-to-end tests and the demo share: the real engine (scripts/engine.sh up has run), the real broker
// and token-auth cache registry (test/support/stack.ts), the CLI release built by `npm run release:cli` and served
// over HTTP, and the example project. Nothing here is a stand-in but GitHub itself (the local OIDC issuer).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { releaseInto } from '../support/release';
import { ROOT } from '../support/runner';
import { startStack } from '../support/stack';
import type { Stack, StackOptions } from '../support/stack';
import { serveFolder } from '../support/static-server';
import type { StubServer } from '../support/stub-server';

export const PLAIN_REGISTRY = '127.0.0.1:5000';
export const PLAIN_REGISTRY_LOG = '/var/lib/depot-engine/registry.log';
export const DEMO = join(ROOT, 'examples', 'demo');
export const REPOSITORY = 'acme/web';
export const REPOSITORY_ID = '123456';
export const OWNER_ID = '9919';

/** The trust relationships the scenarios use: the demo project trusts acme/web's branches. */
export const PROJECTS_YAML = `
- id: demo
  rules:
    - id: main
      provider: github-actions
      repository: ${REPOSITORY}
      repository_id: "${REPOSITORY_ID}"
      ref: "refs/heads/*"
- id: other
  rules:
    - id: other-main
      provider: github-actions
      repository: acme/other
      repository_id: "777"
      ref: "refs/heads/*"
`;

export interface World {
  stack: Stack;
  release: StubServer;
  releaseDir: string;
  version: string;
  close(): Promise<void>;
}

/** The demo project as PROJECTS_YAML has it, with `fork_policy: isolated`: fork pull requests claim isolated tokens. */
export const FORK_PROJECTS_YAML = PROJECTS_YAML.replace(
  '- id: demo\n',
  '- id: demo\n  fork_policy: isolated\n',
);

export async function startWorld(
  projects = PROJECTS_YAML,
  stackOptions: Omit<StackOptions, 'projects'> = {},
): Promise<World> {
  const releaseDir = mkdtempSync(join(tmpdir(), 'depot-release-'));
  releaseInto(releaseDir);
  const manifest = JSON.parse(readFileSync(join(releaseDir, 'manifest.json'), 'utf8')) as { latest: string };
  const release = await serveFolder(releaseDir);
  const stack = await startStack({ ...stackOptions, projects });
  return {
    stack,
    release,
    releaseDir,
    version: manifest.latest,
    close: async () => {
      await stack.stop();
      await release.close();
      rmSync(releaseDir, { recursive: true, force: true });
    },
  };
}

/** The GitHub claims of a push to acme/web's main branch (the issuer mints them for the runtime endpoint). */
export function pushClaims(repository = REPOSITORY, repositoryId = REPOSITORY_ID) {
  return {
    repository,
    repository_id: repositoryId,
    repository_owner: repository.split('/')[0],
    repository_owner_id: OWNER_ID,
    ref: 'refs/heads/main',
    ref_type: 'branch',
    event_name: 'push',
    sha: 'ffac537e6cbbf934b08745a378932722df287a53',
    workflow_ref: `${repository}/.github/workflows/ci.yml@refs/heads/main`,
    job_workflow_ref: `${repository}/.github/workflows/ci.yml@refs/heads/main`,
    run_id: '4242',
    run_attempt: '1',
  };
}

/** The digest the registry serves for a tag (the manifest list for a multi-platform image). */
export async function registryDigest(
  repo: string,
  tag: string,
  registry = PLAIN_REGISTRY,
): Promise<string | undefined> {
  const res = await fetch(`http://${registry}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      accept: [
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.docker.distribution.manifest.v2+json',
      ].join(', '),
    },
  });
  return res.ok ? (res.headers.get('docker-content-digest') ?? undefined) : undefined;
}

/** The platforms of a manifest list in the plain registry. */
export async function registryPlatforms(repo: string, ref: string): Promise<string[]> {
  const res = await fetch(`http://${PLAIN_REGISTRY}/v2/${repo}/manifests/${ref}`, {
    headers: {
      accept:
        'application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json',
    },
  });
  const index = (await res.json()) as {
    manifests?: Array<{ platform?: { os: string; architecture: string } }>;
  };
  return (index.manifests ?? [])
    .map((m) => m.platform)
    .filter((p): p is { os: string; architecture: string } => p !== undefined && p.os !== 'unknown')
    .map((p) => `${p.os}/${p.architecture}`)
    .sort();
}

/** Where the plain registry's access log ends now: pass it to `uploadedBlobs` to see what came after. */
export function registryLogMark(): number {
  try {
    return readFileSync(PLAIN_REGISTRY_LOG, 'utf8').length;
  } catch {
    return 0;
  }
}

/** The digests of the blobs uploaded to `repo` since `mark` (completed uploads in the registry's access log). */
export function uploadedBlobs(repo: string, mark: number): string[] {
  const log = readFileSync(PLAIN_REGISTRY_LOG, 'utf8').slice(mark);
  const re = new RegExp(`"PUT /v2/${repo}/blobs/uploads/[^ ]*[?&]digest=(sha256(?::|%3A)[0-9a-f]{64})`, 'g');
  return [...log.matchAll(re)].map((m) => (m[1] as string).replace('%3A', ':'));
}

/** The layer digests of every platform image behind a tag (attestation manifests left out). */
export async function layerDigests(repo: string, tag: string): Promise<string[]> {
  const get = async (ref: string) =>
    (await (
      await fetch(`http://${PLAIN_REGISTRY}/v2/${repo}/manifests/${ref}`, {
        headers: {
          accept:
            'application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
        },
      })
    ).json()) as {
      manifests?: Array<{ digest: string; platform?: { os: string } }>;
      layers?: Array<{ digest: string }>;
    };
  const index = await get(tag);
  const images = (index.manifests ?? []).filter((m) => m.platform?.os !== 'unknown').map((m) => m.digest);
  const layers: string[] = [];
  for (const digest of images.length > 0 ? images : [tag]) {
    for (const layer of (await get(digest)).layers ?? []) layers.push(layer.digest);
  }
  return layers;
}

export function pruneBuilder(): void {
  execFileSync('docker', ['buildx', 'prune', '-af'], { stdio: 'pipe' });
}
