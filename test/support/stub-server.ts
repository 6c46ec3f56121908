// A real local HTTP server for tests whose code under test runs in a child process (msw cannot reach it): routes
// are plain handlers, every request is recorded. The tokens its JSON answers hand out (`token`, `access_token`,
// `value`: a stub broker's project token, a stub runtime's OIDC token) are recorded for the runner harness's leak
// check (secrets.ts).
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mintedProjectToken, mintedSecret } from './secrets';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface StubReply {
  status?: number;
  json?: unknown;
  body?: string | Buffer;
  headers?: Record<string, string>;
}

export type Handler = (req: RecordedRequest) => StubReply | Promise<StubReply>;

export interface StubServer {
  url: string;
  requests: RecordedRequest[];
  /** Sets (or replaces) the handler of `METHOD /path`. */
  on(method: string, path: string, handler: Handler): void;
  close(): Promise<void>;
}

export async function startStubServer(): Promise<StubServer> {
  const routes = new Map<string, Handler>();
  const requests: RecordedRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stub');
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(recorded);
      const handler = routes.get(`${recorded.method} ${recorded.path}`);
      Promise.resolve(handler ? handler(recorded) : { status: 404, json: { error: 'no route' } })
        .then((reply) => {
          recordTokens(reply.json);
          const body = reply.json !== undefined ? JSON.stringify(reply.json) : (reply.body ?? '');
          res.writeHead(reply.status ?? 200, {
            ...(reply.json !== undefined ? { 'content-type': 'application/json' } : {}),
            ...reply.headers,
          });
          res.end(body);
        })
        .catch((err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    on: (method, path, handler) => void routes.set(`${method} ${path}`, handler),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function recordTokens(json: unknown): void {
  if (json === null || typeof json !== 'object') return;
  const { token, access_token: accessToken, value } = json as Record<string, unknown>;
  if (typeof token === 'string') mintedProjectToken(token);
  for (const v of [accessToken, value]) if (typeof v === 'string') mintedSecret(v);
}
