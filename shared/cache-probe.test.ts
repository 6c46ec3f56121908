// The registry probe the actions make for the CLI, against a real loopback registry stand-in that challenges for a
// bearer token and a token service that grants or refuses it: only a probe that got through is handed over, as
// the SHA-256 of the token (never the token), and the CLI skips its own probe only for that exact token.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { projectToken } from '../cli/test/tokens';
import { CACHE_PROBED_ENV, probedEnv, probedMark, probeRegistry, tokenCache } from './cache-probe';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A registry on loopback whose /v2/ asks for a bearer token from its own /token, which answers `tokenStatus`. */
async function registry(tokenStatus: number): Promise<{ host: string; paths: string[]; auth: string[] }> {
  const paths: string[] = [];
  const auth: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    paths.push(`${url.pathname}${url.search}`);
    if (url.pathname === '/v2/') {
      const { port } = server.address() as AddressInfo;
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="depot-cache"`,
      });
      res.end();
      return;
    }
    auth.push(req.headers.authorization ?? '');
    res.writeHead(tokenStatus, { 'content-type': 'application/json' });
    res.end('{}');
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, paths, auth };
}

describe('probedEnv', () => {
  it('hands over the SHA-256 of a token the registry and its token service accepted', async () => {
    const r = await registry(200);
    const token = await projectToken({ cache: `${r.host}/cache/web` });
    expect(await probedEnv(token)).toEqual({ [CACHE_PROBED_ENV]: probedMark(token) });
    expect(probedMark(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(probedMark(token)).not.toContain(token);
    expect(r.paths).toEqual(['/v2/', '/token?service=depot-cache&scope=repository%3Acache%2Fweb%3Apull']);
    expect(r.auth[0]).toBe(`Basic ${Buffer.from(`depot:${token}`).toString('base64')}`);
  });

  it.each([[401], [403], [500], [429]])(
    'hands nothing over when the token service answers %i',
    async (status) => {
      const r = await registry(status);
      expect(await probedEnv(await projectToken({ cache: `${r.host}/cache/web` }))).toEqual({});
    },
  );

  it('hands nothing over when the registry cannot be reached', async () => {
    const r = await registry(200);
    await Promise.all(servers.splice(0).map((s) => new Promise((done) => s.close(done))));
    expect(await probedEnv(await projectToken({ cache: `${r.host}/cache/web` }))).toEqual({});
  });

  it('probes nothing for an isolated token, an expired one or one that is not a project token', async () => {
    const r = await registry(200);
    expect(await probedEnv(await projectToken({ isolated: true }))).toEqual({});
    expect(await probedEnv(await projectToken({ cache: `${r.host}/cache/web`, expiresIn: -10 }))).toEqual({});
    expect(await probedEnv('not-a-jwt')).toEqual({});
    expect(r.paths).toEqual([]);
  });
});

describe('probeRegistry', () => {
  it('says which part failed, with the token service origin', async () => {
    const r = await registry(403);
    const target = tokenCache(await projectToken({ cache: `${r.host}/cache/web` }));
    expect(target).toBeDefined();
    expect(await probeRegistry(target!)).toEqual({
      kind: 'refused',
      origin: `http://${r.host}`,
      status: 403,
    });
  });
});
