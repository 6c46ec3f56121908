// Real registries for the CLI's engine tests: Debian's docker-registry (distribution 2.8) with token auth, fronted
// by a small stand-in token service that grants by the project token's claims as the broker does (DESIGN.md
// "Registry grants"), and one with htpasswd auth (a user's own `docker login`). Each listens on 127.0.0.1 on a free
// port; the cache registry is addressed as localhost:PORT (not 127.0.0.1, see ENGINE.md). stop() ends everything.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importPKCS8, jwtVerify, SignJWT } from 'jose';
import { projectToken, projectTokenKey } from './tokens';

export interface Registry {
  host: string;
  log(): string;
  stop(): Promise<void>;
}

export interface CacheRegistry extends Registry {
  /** A project token whose cache claim points at this registry. */
  token(o?: { project?: string; scope?: string; isolated?: boolean }): Promise<string>;
  /** Every grant the token service made, as `scope -> actions` lines. */
  grants(): string[];
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function startRegistry(
  dir: string,
  port: number,
  auth: string,
): Promise<ChildProcess & { out: () => string }> {
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`,
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then(
      () => true,
      () => false,
    );
    if (ok) return Object.assign(child, { out: () => out });
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`docker-registry did not start on ${port}: ${out}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (child.exitCode !== null) return r();
    child.on('close', () => r());
    child.kill('SIGTERM');
  });
}

async function body(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text;
}

/** The actions a project token gets on a repository (DESIGN.md "Registry grants"). */
function grant(claims: Record<string, unknown>, repo: string, wanted: string[]): string[] {
  if (claims.isolated === true) return [];
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
  const cacheRepo = typeof claims.cache === 'string' ? claims.cache.slice(claims.cache.indexOf('/') + 1) : '';
  const allowed = new Set<string>();
  if (repo === cacheRepo) {
    if (scopes.includes('cache:read')) allowed.add('pull');
    if (scopes.includes('cache:write')) allowed.add('push');
  } else if (repo === `builds/${String(claims.project)}`) {
    allowed.add('pull');
    if (scopes.includes('cache:write')) allowed.add('push');
  }
  return wanted.filter((a) => allowed.has(a));
}

export async function startCacheRegistry(): Promise<CacheRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'depot-cache-registry-'));
  mkdirSync(join(dir, 'data'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=depot-test-token-service',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const signingKey = await importPKCS8(readFileSync(join(dir, 'key.pem'), 'utf8'), 'ES256');
  const x5c = readFileSync(join(dir, 'cert.pem'), 'utf8').replace(/-----[^-]+-----|\s/g, '');
  const verifyKey = await projectTokenKey();
  const grants: string[] = [];

  const tokenService: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      let user = '';
      let password = '';
      let scopes = url.searchParams.getAll('scope');
      const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
      if (basic?.[1])
        [user, password] = Buffer.from(basic[1], 'base64').toString().split(/:(.*)/s) as [string, string];
      if (req.method === 'POST') {
        const form = new URLSearchParams(await body(req));
        user = form.get('username') ?? user;
        password = form.get('password') ?? password;
        scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
      }
      let claims: Record<string, unknown>;
      try {
        ({ payload: claims } = await jwtVerify(password, verifyKey, {
          typ: 'depot-project+jwt',
          algorithms: ['ES256'],
        }));
      } catch {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return;
      }
      const access = scopes.flatMap((s) => {
        const [type, name, actions] = s.split(':') as [string, string, string | undefined];
        if (type !== 'repository' || !name) return [];
        const given = grant(claims, name, (actions ?? '').split(','));
        grants.push(`${name}:${given.join(',')}`);
        return [{ type, name, actions: given }];
      });
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ access })
        .setProtectedHeader({ alg: 'ES256', x5c: [x5c] })
        .setIssuer('depot-test')
        .setAudience('depot-cache')
        .setSubject(user || 'depot')
        .setIssuedAt(now)
        .setNotBefore(now - 5)
        .setExpirationTime(now + 300)
        .setJti(randomUUID())
        .sign(signingKey);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }),
      );
    })();
  });
  await new Promise<void>((r) => tokenService.listen(0, '127.0.0.1', r));
  const tsPort = (tokenService.address() as AddressInfo).port;
  const port = await freePort();
  const registry = await startRegistry(
    dir,
    port,
    `auth:\n  token:\n    realm: http://127.0.0.1:${tsPort}/v2/token\n    service: depot-cache\n    issuer: depot-test\n    rootcertbundle: ${join(dir, 'cert.pem')}\n`,
  );
  const host = `localhost:${port}`;
  return {
    host,
    token: (o = {}) =>
      projectToken({
        project: o.project ?? 'web',
        scope: o.scope ?? 'build cache:read cache:write',
        isolated: o.isolated ?? false,
        ...(o.isolated ? {} : { cache: `${host}/cache/${o.project ?? 'web'}` }),
      }),
    grants: () => [...grants],
    log: () => registry.out(),
    stop: async () => {
      await stopChild(registry);
      await new Promise((r) => tokenService.close(r));
    },
  };
}

/** A registry with htpasswd auth: pushing needs the user's own `docker login`. */
export async function startLoginRegistry(user: string, password: string): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), 'depot-login-registry-'));
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'htpasswd'), execFileSync('htpasswd', ['-Bbn', user, password]));
  const port = await freePort();
  const registry = await startRegistry(
    dir,
    port,
    `auth:\n  htpasswd:\n    realm: depot-test\n    path: ${join(dir, 'htpasswd')}\n`,
  );
  return { host: `127.0.0.1:${port}`, log: () => registry.out(), stop: () => stopChild(registry) };
}
