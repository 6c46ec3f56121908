// A minimal client of the distribution HTTP API that logs in the way Docker does: ask, read the Bearer challenge,
// fetch a token from the realm with Basic auth (user `depot`, password = the project token), ask again. Enough to
// push and pull blobs and manifests without Docker.
import { createHash } from 'node:crypto';

export interface RegistryResult {
  status: number;
  /** The registry's error code when it refused (e.g. UNAUTHORIZED, DENIED). */
  error?: string;
  body?: Buffer;
  digest?: string;
}

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';

export function digestOf(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function parseChallenge(header: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const m of header.matchAll(/(\w+)="([^"]*)"/g)) out[m[1] ?? ''] = m[2] ?? '';
  return out;
}

export class RegistryClient {
  private readonly tokens = new Map<string, string>();

  /**
   * `realm`, when given, is where the token requests go instead of the realm the registry's challenge names: one
   * broker instance of several behind the one public URL, as a load balancer would pick it.
   */
  constructor(
    readonly host: string,
    private readonly password: string,
    private readonly realm?: string,
  ) {}

  /** One request with the token dance; `scope` caches the registry token per scope. */
  private async call(method: string, path: string, init: RequestInit = {}): Promise<Response> {
    const url = path.startsWith('http') ? path : `http://${this.host}${path}`;
    const key = `${method} ${path.split('?')[0] ?? ''}`;
    const send = (token?: string) =>
      fetch(url, {
        ...init,
        method,
        redirect: 'manual',
        headers: {
          ...(init.headers as Record<string, string>),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      });
    let res = await send(this.tokens.get(key));
    if (res.status !== 401) return res;
    const ch = parseChallenge(res.headers.get('www-authenticate'));
    await res.body?.cancel();
    if (!ch.realm) return res;
    const q = new URLSearchParams();
    if (ch.service) q.set('service', ch.service);
    if (ch.scope) q.set('scope', ch.scope);
    const t = await fetch(`${this.realm ?? ch.realm}?${q}`, {
      headers: { authorization: `Basic ${Buffer.from(`depot:${this.password}`).toString('base64')}` },
    });
    if (!t.ok) return t;
    const token = ((await t.json()) as { token: string }).token;
    this.tokens.set(key, token);
    res = await send(token);
    return res;
  }

  private async result(res: Response): Promise<RegistryResult> {
    const body = Buffer.from(await res.arrayBuffer());
    const out: RegistryResult = { status: res.status, body };
    if (res.status >= 400) {
      try {
        const parsed = JSON.parse(body.toString()) as {
          errors?: { code?: string }[];
          error?: { code?: string };
        };
        const code = parsed.errors?.[0]?.code ?? parsed.error?.code;
        if (code) out.error = code;
      } catch {
        // not JSON
      }
    }
    const d = res.headers.get('docker-content-digest');
    if (d) out.digest = d;
    return out;
  }

  async pushBlob(repo: string, data: Buffer | string): Promise<RegistryResult> {
    const start = await this.call('POST', `/v2/${repo}/blobs/uploads/`);
    if (start.status !== 202) return this.result(start);
    const location = start.headers.get('location') ?? '';
    await start.body?.cancel();
    const url = new URL(location, `http://${this.host}`);
    url.searchParams.set('digest', digestOf(data));
    const put = await this.call('PUT', url.toString().replace(`http://${this.host}`, ''), {
      body: typeof data === 'string' ? Buffer.from(data) : data,
      headers: { 'content-type': 'application/octet-stream' },
    });
    return this.result(put);
  }

  /** A cross-repository blob mount (what dockerd and BuildKit try first when they pushed the layer elsewhere). */
  async mountBlob(repo: string, digest: string, from: string): Promise<RegistryResult> {
    const q = new URLSearchParams({ mount: digest, from });
    return this.result(await this.call('POST', `/v2/${repo}/blobs/uploads/?${q}`));
  }

  async pullBlob(repo: string, digest: string): Promise<RegistryResult> {
    return this.result(await this.call('GET', `/v2/${repo}/blobs/${digest}`));
  }

  /** Pushes a one-layer OCI manifest (config and layer blobs must be pushed first). */
  async pushManifest(
    repo: string,
    tag: string,
    config: string,
    layer: Buffer | string,
  ): Promise<RegistryResult> {
    const size = (x: Buffer | string) => (typeof x === 'string' ? Buffer.byteLength(x) : x.length);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_TYPE,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: digestOf(config),
        size: size(config),
      },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: size(layer) },
      ],
    });
    return this.result(
      await this.call('PUT', `/v2/${repo}/manifests/${tag}`, {
        body: manifest,
        headers: { 'content-type': MANIFEST_TYPE },
      }),
    );
  }

  async pullManifest(repo: string, tag: string): Promise<RegistryResult> {
    return this.result(
      await this.call('GET', `/v2/${repo}/manifests/${tag}`, { headers: { accept: MANIFEST_TYPE } }),
    );
  }

  /** The digest the registry serves for `tag` (an index, a manifest list or a manifest), or the refusal. */
  async manifestDigest(repo: string, tag: string): Promise<RegistryResult> {
    const accept = [
      'application/vnd.oci.image.index.v1+json',
      'application/vnd.docker.distribution.manifest.list.v2+json',
      MANIFEST_TYPE,
      'application/vnd.docker.distribution.manifest.v2+json',
    ].join(', ');
    return this.result(await this.call('HEAD', `/v2/${repo}/manifests/${tag}`, { headers: { accept } }));
  }

  /** Pushes config + layer blobs and a manifest under `tag`; the first refusal is returned. */
  async pushImage(repo: string, tag: string, seed: string): Promise<RegistryResult> {
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', seed });
    const layer = Buffer.from(`layer ${seed}`);
    for (const blob of [config, layer]) {
      const r = await this.pushBlob(repo, blob);
      if (r.status !== 201) return r;
    }
    return this.pushManifest(repo, tag, config, layer);
  }
}
