// The real broker (child process) as the token realm of a real distribution registry (Debian's docker-registry),
// with the local issuer standing in for GitHub's. Blobs and manifests go through the distribution HTTP API.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueRegistryLeaf } from '../src/x509';
import { digestOf, RegistryClient } from '../../test/support/registry-client';
import type { RegistryResult } from '../../test/support/registry-client';
import type { Stack } from '../../test/support/stack';
import { BrokerRefusal, startStack } from '../../test/support/stack';

const PROJECTS = `
- id: web
  rules:
    - { id: web-main, provider: github-actions, repository: acme/web, repository_id: "123456", ref: refs/heads/main }
    - { id: web-prs, provider: github-actions, repository: acme/web, repository_id: "123456", event_name: [pull_request] }
- id: api
  rules:
    - { id: api-main, provider: github-actions, repository: acme/api, repository_id: "222", ref: refs/heads/main }
- id: sandbox
  rules:
    - { id: sandbox-all, provider: github-actions, repository: acme/sandbox, repository_id: "333", ref: "refs/heads/**", isolated: true }
`;

let stack: Stack;
const secrets: string[] = [];

function refused(r: RegistryResult): void {
  expect([401, 403], `registry answered ${r.status} ${r.error ?? ''}`).toContain(r.status);
}

async function token(claims: Record<string, string> = {}, project?: string): Promise<string> {
  const t = await stack.projectToken(claims, project);
  secrets.push(t);
  return t;
}

async function jwksKids(): Promise<string[]> {
  const res = await fetch(`${stack.brokerUrl}/.well-known/jwks.json`);
  return ((await res.json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
}

async function currentKid(): Promise<string> {
  const t = await token();
  const header = JSON.parse(Buffer.from(t.split('.')[0] ?? '', 'base64url').toString()) as { kid: string };
  return header.kid;
}

async function until(what: string, probe: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not happen within ${ms / 1000}s`);
}

beforeAll(async () => {
  stack = await startStack({ projects: PROJECTS });
});

afterAll(async () => {
  if (!stack) return;
  const logs = stack.brokerLog() + stack.registryLog();
  await stack.stop();
  expect(logs.length).toBeGreaterThan(0);
  for (const s of secrets) {
    expect(logs).not.toContain(s);
    expect(logs).not.toContain(s.split('.')[2]);
  }
});

describe('the cache registry asks the broker', () => {
  it('a trusted token pushes and pulls the cache repository', async () => {
    const c = new RegistryClient(stack.registryHost, await token());
    expect((await c.pushImage('cache/web', 'main', 'one')).status).toBe(201);
    const pulled = await c.pullManifest('cache/web', 'main');
    expect(pulled.status).toBe(200);
    expect(pulled.digest).toMatch(/^sha256:/);
  });

  it('a pull_request token without cache:write pulls but cannot push', async () => {
    const c = new RegistryClient(
      stack.registryHost,
      await token({ event_name: 'pull_request', ref: 'refs/pull/4/merge' }),
    );
    expect((await c.pullManifest('cache/web', 'main')).status).toBe(200);
    refused(await c.pushImage('cache/web', 'pr', 'pr-layer'));
    expect((await c.pullManifest('cache/web', 'pr')).status).not.toBe(200);
  });

  it('a cache:write token pushes and pulls builds/<project>; a same-repository pull_request token only pulls it', async () => {
    const writer = new RegistryClient(stack.registryHost, await token());
    expect((await writer.pushImage('builds/web', 'build-1', 'saved')).status).toBe(201);
    expect((await writer.pullManifest('builds/web', 'build-1')).status).toBe(200);
    const pr = new RegistryClient(
      stack.registryHost,
      await token({ event_name: 'pull_request', ref: 'refs/pull/5/merge' }),
    );
    expect((await pr.pullManifest('builds/web', 'build-1')).status).toBe(200);
    refused(await pr.pushImage('builds/web', 'build-2', 'pr-saved'));
  });

  it('an isolated token is refused both, on the cache and on builds', async () => {
    const t = await token({ repository: 'acme/sandbox', repository_id: '333', ref: 'refs/heads/x/y' });
    const claims = JSON.parse(Buffer.from(t.split('.')[1] ?? '', 'base64url').toString()) as Record<
      string,
      unknown
    >;
    expect(claims).toMatchObject({ isolated: true, scope: 'build', project: 'sandbox' });
    expect(claims.cache).toBeUndefined();
    const c = new RegistryClient(stack.registryHost, t);
    refused(await c.pullManifest('cache/sandbox', 'main'));
    refused(await c.pushImage('cache/sandbox', 'x', 'iso'));
    refused(await c.pullManifest('builds/sandbox', 'x'));
    refused(await c.pushImage('builds/sandbox', 'x', 'iso'));
  });

  it("another project's token is refused both", async () => {
    const c = new RegistryClient(
      stack.registryHost,
      await token({ repository: 'acme/api', repository_id: '222' }),
    );
    refused(await c.pullManifest('cache/web', 'main'));
    refused(await c.pushImage('cache/web', 'api', 'api-layer'));
    refused(await c.pullManifest('builds/web', 'build-1'));
    refused(await c.pushImage('builds/web', 'api', 'api-layer'));
    expect((await c.pushImage('cache/api', 'main', 'api-own')).status).toBe(201);
  });
});

describe('the same layers in two projects', () => {
  it("a cross-repository mount from another project's cache is refused; a plain upload of the same layers succeeds", async () => {
    const web = new RegistryClient(stack.registryHost, await token());
    const layer = Buffer.from('a layer both projects build');
    expect((await web.pushBlob('cache/web', layer)).status).toBe(201);
    const api = new RegistryClient(
      stack.registryHost,
      await token({ repository: 'acme/api', repository_id: '222' }),
    );
    const mount = await api.mountBlob('cache/api', digestOf(layer), 'cache/web');
    refused(mount);
    expect((await api.pushBlob('cache/api', layer)).status).toBe(201);
    refused(await api.pullBlob('cache/web', digestOf(layer)));
    expect((await api.pullBlob('cache/api', digestOf(layer))).status).toBe(200);
  });
});

describe('request size limits over real HTTP', () => {
  it('a body over 64 KiB gets 413 with a Content-Length and when chunked', async () => {
    const body = JSON.stringify({ token: 'x', pad: 'y'.repeat(70 * 1024) });
    const sized = await fetch(`${stack.brokerUrl}/auth/oidc/github-actions`, { method: 'POST', body });
    expect(sized.status).toBe(413);
    expect(((await sized.json()) as { error: { code: string } }).error.code).toBe('token_too_large');
    const bytes = new TextEncoder().encode(body);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 8192) controller.enqueue(bytes.subarray(i, i + 8192));
        controller.close();
      },
    });
    const chunked = await fetch(`${stack.brokerUrl}/auth/oidc/github-actions`, {
      method: 'POST',
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    const small = await fetch(`${stack.brokerUrl}/auth/oidc/github-actions`, {
      method: 'POST',
      body: new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"token":"a.b.c"}'));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(small.status).toBe(401);
  });
});

describe('the runner token endpoint of the local issuer', () => {
  it('hands out a token for the audience asked, which the broker exchanges', async () => {
    const res = await fetch(`${stack.issuer.runtimeUrl}&audience=${encodeURIComponent(stack.brokerUrl)}`, {
      headers: { authorization: `Bearer ${stack.issuer.runtimeToken}` },
    });
    const { value } = (await res.json()) as { value: string };
    expect(stack.issuer.runtimeRequests).toBe(1);
    const ex = await fetch(`${stack.brokerUrl}/auth/oidc/github-actions`, {
      method: 'POST',
      body: JSON.stringify({ token: value }),
    });
    expect(ex.status).toBe(200);
    secrets.push(value, ((await ex.json()) as { token: string }).token);
    const bad = await fetch(`${stack.issuer.runtimeUrl}&audience=x`, {
      headers: { authorization: 'Bearer wrong' },
    });
    expect(bad.status).toBe(401);
  });
});

describe('rotation and restart', () => {
  it('a key rotation during a load of exchanges fails none, and the registry keeps accepting without a restart', async () => {
    const before = await currentKid();
    const oldToken = await token();
    const pid = Number(readFileSync(join(stack.dataDir, 'broker.pid'), 'utf8').trim());
    const results: number[] = [];
    let rotated = false;
    const worker = async () => {
      for (let i = 0; i < 25; i++) {
        if (!rotated && results.length >= 40) {
          rotated = true;
          process.kill(pid, 'SIGUSR2');
        }
        try {
          await token();
          results.push(200);
        } catch (err: unknown) {
          results.push(err instanceof BrokerRefusal ? err.status : 0);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(results).toHaveLength(200);
    expect(results.filter((s) => s !== 200)).toEqual([]);
    await until('the rotation', async () => (await currentKid()) !== before);

    // The CLI asks the running broker to rotate again.
    const second = await currentKid();
    const cli = stack.brokerCli(['rotate-keys', '--data-dir', stack.dataDir]);
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/asked the running broker/);
    await until('the second rotation', async () => (await currentKid()) !== second);

    // Old and new project tokens both get registry tokens the registry accepts (its rootcertbundle is the CA).
    const fresh = new RegistryClient(stack.registryHost, await token());
    expect((await fresh.pushImage('cache/web', 'after-rotation', 'rot')).status).toBe(201);
    const old = new RegistryClient(stack.registryHost, oldToken);
    expect((await old.pullManifest('cache/web', 'after-rotation')).status).toBe(200);
    expect(await jwksKids()).toHaveLength(4);
  });

  it('a restart loses nothing: keys, used jtis and audit survive', async () => {
    const kids = await jwksKids();
    const ci = await stack.issuer.mint({ run_id: 'restart-run' });
    const post = (t: string) =>
      fetch(`${stack.brokerUrl}/auth/oidc/github-actions`, {
        method: 'POST',
        body: JSON.stringify({ token: t }),
      });
    const first = await post(ci);
    expect(first.status).toBe(200);
    secrets.push(ci, ((await first.json()) as { token: string }).token);

    await stack.restartBroker();

    expect(await jwksKids()).toEqual(kids);
    const replay = await post(ci);
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { error: { code: string } }).error.code).toBe('replayed');
    const c = new RegistryClient(stack.registryHost, await token());
    expect((await c.pullManifest('cache/web', 'main')).status).toBe(200);

    const audit = stack.brokerCli([
      'audit',
      '--data-dir',
      stack.dataDir,
      '--repository',
      'acme/web',
      '--since',
      '1h',
    ]);
    expect(audit.status, audit.stderr).toBe(0);
    const rows = audit.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>);
    const mine = rows.filter((r) => r.runId === 'restart-run');
    expect(mine.map((r) => r.outcome)).toEqual(['ok', 'replayed']);
    expect(mine[0]).toMatchObject({
      rule: 'web-main',
      project: 'web',
      repository: 'acme/web',
      ref: 'refs/heads/main',
    });
    expect(mine[0]?.tokenSha256).toMatch(/^[0-9a-f]{64}$/);
    for (const s of secrets) expect(audit.stdout).not.toContain(s);
  });
});

describe('config reload', () => {
  it('a new rule applies without a restart; a bad file keeps the old config and logs why', async () => {
    const original = readFileSync(stack.configPath, 'utf8');
    const late = { repository: 'acme/late', repository_id: '444' };
    await expect(stack.projectToken(late)).rejects.toMatchObject({ code: 'no_trust_relationship' });
    writeFileSync(
      stack.configPath,
      `${original}- id: late\n  rules:\n    - { provider: github-actions, repository: acme/late, repository_id: "444" }\n`,
    );
    await until('the reload', async () => {
      try {
        secrets.push(await stack.projectToken(late));
        return true;
      } catch {
        return false;
      }
    });
    writeFileSync(stack.configPath, `${original}- id: Bad Id\n`);
    await until('the refusal in the log', async () => /config not reloaded/.test(stack.brokerLog()));
    secrets.push(await stack.projectToken(late));
    expect(stack.brokerLog()).toMatch(/projects\[3\]\.id/);
    // SIGHUP reloads too: back to the original file, acme/late is refused again.
    writeFileSync(stack.configPath, original);
    const pid = Number(readFileSync(join(stack.dataDir, 'broker.pid'), 'utf8').trim());
    process.kill(pid, 'SIGHUP');
    await until('the revert', async () => {
      try {
        await stack.projectToken(late);
        return false;
      } catch (err: unknown) {
        return err instanceof BrokerRefusal && err.code === 'no_trust_relationship';
      }
    });
  });
});

describe('registry tokens after the fact', () => {
  async function registryToken(
    leafValidity: { notBefore: Date; notAfter: Date },
    repository: string,
  ): Promise<string> {
    const ca = {
      certPem: readFileSync(join(stack.dataDir, 'registry-ca.pem'), 'utf8'),
      keyPem: readFileSync(join(stack.dataDir, 'registry-ca-key.pem'), 'utf8'),
    };
    const leaf = await issueRegistryLeaf(ca, leafValidity);
    const der = new X509Certificate(leaf.certPem).raw.toString('base64');
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ access: [{ type: 'repository', name: repository, actions: ['pull'] }] })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', x5c: [der] })
      .setIssuer(stack.brokerUrl)
      .setSubject('project:web')
      .setAudience('depot-cache')
      .setIssuedAt(now)
      .setNotBefore(now - 5)
      .setExpirationTime(now + 120)
      .sign(createPrivateKey(leaf.keyPem));
  }

  it('the registry refuses a token whose signer leaf has expired, and accepts a current one, with no restart', async () => {
    const c = new RegistryClient(stack.registryHost, await token());
    expect((await c.pushImage('cache/web', 'leaf', 'leaf')).status).toBe(201);
    const hour = 3600_000;
    const expired = await registryToken(
      { notBefore: new Date(Date.now() - 3 * hour), notAfter: new Date(Date.now() - hour) },
      'cache/web',
    );
    const current = await registryToken(
      { notBefore: new Date(Date.now() - 300_000), notAfter: new Date(Date.now() + hour) },
      'cache/web',
    );
    const tags = (t: string) =>
      fetch(`http://${stack.registryHost}/v2/cache/web/tags/list`, {
        headers: { authorization: `Bearer ${t}` },
      });
    expect((await tags(expired)).status).toBe(401);
    const ok = await tags(current);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { tags: string[] }).tags).toContain('leaf');
  });

  it('a revoked project token is refused by the registry within 5 s, while a fresh one works', async () => {
    const revoked = await token();
    const before = new RegistryClient(stack.registryHost, revoked);
    expect((await before.pullManifest('cache/web', 'leaf')).status).toBe(200);
    const jti = String(
      (JSON.parse(Buffer.from(revoked.split('.')[1] ?? '', 'base64url').toString()) as { jti: string }).jti,
    );
    const r = stack.brokerCli(['revoke', '--jti', jti, '--data-dir', stack.dataDir]);
    expect(r.status, r.stderr).toBe(0);
    await until(
      'the revocation',
      async () =>
        (await new RegistryClient(stack.registryHost, revoked).pullManifest('cache/web', 'leaf')).status ===
        401,
      5_000,
    );
    expect(
      (await new RegistryClient(stack.registryHost, await token()).pullManifest('cache/web', 'leaf')).status,
    ).toBe(200);
    const audit = stack.brokerCli(['audit', '--data-dir', stack.dataDir]).stdout;
    expect(audit).toContain(`"revoked":"jti","value":"${jti}"`);
    expect(audit).toMatch(/^(?=.*"kind":"registry_token")(?=.*"outcome":"token_revoked").*$/m);
  });

  it('a reload that isolates a rule takes the cache from tokens it already minted, at once', async () => {
    const original = readFileSync(stack.configPath, 'utf8');
    const minted = await token();
    expect(
      (await new RegistryClient(stack.registryHost, minted).pullManifest('cache/web', 'leaf')).status,
    ).toBe(200);
    writeFileSync(
      stack.configPath,
      original.replace('ref: refs/heads/main }', 'ref: refs/heads/main, isolated: true }'),
    );
    try {
      await until(
        'the isolation',
        async () => {
          const r = await new RegistryClient(stack.registryHost, minted).pullManifest('cache/web', 'leaf');
          return r.status === 401 || r.status === 403;
        },
        10_000,
      );
    } finally {
      writeFileSync(stack.configPath, original);
      await until('the revert', async () => {
        const r = await new RegistryClient(stack.registryHost, minted).pullManifest('cache/web', 'leaf');
        return r.status === 200;
      });
    }
  });
});

describe('the broker CLI', () => {
  it('bad flags, env and config files: one line naming the field, exit 1', () => {
    const listen = stack.brokerCli(['--listen', 'nowhere', '--data-dir', stack.dataDir]);
    expect(listen.status).toBe(1);
    expect(listen.stderr.trim()).toBe('broker: --listen "nowhere" is not HOST:PORT (e.g. 127.0.0.1:8080)');
    const flag = stack.brokerCli(['--colour', 'x']);
    expect(flag.status).toBe(1);
    expect(flag.stderr.trim().split('\n')).toHaveLength(1);
    const bad = join(stack.dataDir, 'bad.yml');
    writeFileSync(bad, 'public_url: http://127.0.0.1:1\nissuers: {}\nextra: 1\n');
    const cfg = stack.brokerCli(['--config', bad, '--data-dir', stack.dataDir]);
    expect(cfg.status).toBe(1);
    expect(cfg.stderr.trim().split('\n')).toHaveLength(1);
    expect(cfg.stderr).toMatch(/bad\.yml:\d+: /);
  });

  it('registry-config prints a config wired to the broker', () => {
    const r = stack.brokerCli(['registry-config', '--config', stack.configPath, '--data-dir', stack.dataDir]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`realm: ${stack.brokerUrl}/v2/token`);
    expect(r.stdout).toContain(`rootcertbundle: ${join(stack.dataDir, 'registry-ca.pem')}`);
    expect(r.stdout).toContain('service: depot-cache');
  });
});
