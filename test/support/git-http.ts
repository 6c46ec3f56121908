// A loopback git server for tests: `git http-backend` (smart HTTP) behind a node HTTP server in the test process,
// serving the bare repositories under one folder. Everything is async (spawn, never spawnSync): the server lives in
// the same process as the test that drives builds against it. Each request is recorded with its Authorization
// header, so a test can tell whether BuildKit sent the GIT_AUTH_TOKEN.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GitRequest {
  method: string;
  path: string;
  query: string;
  authorization?: string;
}

export interface GitHttpServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  requests: GitRequest[];
  close(): Promise<void>;
}

/** Runs a command to its end; rejects with its stderr when it fails. */
export function run(cmd: string, args: readonly string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`${cmd} ${args.join(' ')}: ${err.trim()}`)),
    );
  });
}

/** One CGI exchange with git http-backend: the request body on its stdin, its CGI headers and body back. */
function backend(root: string, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.replace(/^\?/, ''),
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
    ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
  };
  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  req.pipe(child.stdin);
  let head = Buffer.alloc(0);
  let headersDone = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const sep = head.indexOf('\r\n\r\n');
    if (sep < 0) return;
    headersDone = true;
    let status = 200;
    for (const line of head.subarray(0, sep).toString('utf8').split('\r\n')) {
      const i = line.indexOf(':');
      if (i < 0) continue;
      const name = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
      else res.setHeader(name, value);
    }
    res.statusCode = status;
    res.write(head.subarray(sep + 4));
  });
  child.stderr.resume();
  child.on('error', () => {
    res.statusCode = 500;
    res.end();
  });
  child.on('close', () => {
    if (!headersDone) res.statusCode = 500;
    res.end();
  });
}

/** Serves the bare repositories under `root` (e.g. `<root>/acme/web.git`) on a loopback port. */
export async function serveGit(root: string): Promise<GitHttpServer> {
  const requests: GitRequest[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    backend(root, req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
