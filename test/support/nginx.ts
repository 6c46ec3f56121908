// nginx for the deployment test: the example TLS front (examples/deploy/nginx/depot-broker.conf) rendered for a test
// (its ports and paths substituted, every directive kept) in a full config of its own (-c), with its own prefix, pid
// file, logs and temp dirs in a test dir; started in the foreground and stopped by the pid in its pid file. Debian's
// nginx is installed by scripts/nginx.sh (idempotent) with service starts denied.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');
export const NGINX = '/usr/sbin/nginx';
export const EXAMPLE_CONF = join(ROOT, 'examples', 'deploy', 'nginx', 'depot-broker.conf');

/** Installs Debian's nginx when it is missing (scripts/nginx.sh up). */
export function ensureNginx(): void {
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'nginx.sh'), 'up'], { encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(NGINX)) {
    throw new Error(
      `scripts/nginx.sh up failed (${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  }
}

/** The top-level blocks of an nginx config (`upstream NAME {...}`, `server {...}`), comments dropped. */
export function topBlocks(conf: string): Array<{ head: string; body: string }> {
  const text = conf.replace(/#[^\n]*/g, '');
  const out: Array<{ head: string; body: string }> = [];
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('{', i);
    if (open < 0) break;
    let depth = 0;
    let j = open;
    for (; j < text.length; j++) {
      if (text[j] === '{') depth++;
      else if (text[j] === '}' && --depth === 0) break;
    }
    out.push({ head: text.slice(i, open).trim(), body: text.slice(open + 1, j) });
    i = j + 1;
  }
  return out;
}

/** The directives of a block body outside its nested blocks, one string each, whitespace collapsed. */
export function directives(body: string): string[] {
  let flat = '';
  let depth = 0;
  for (const ch of body) {
    if (ch === '{') depth++;
    else if (ch === '}') {
      depth--;
      flat += ';';
    } else if (depth === 0) flat += ch;
  }
  return flat
    .split(';')
    .map((d) => d.replace(/\s+/g, ' ').trim())
    .filter((d) => d !== '');
}

/** The `location` blocks of a server body: `= /v2/token` -> its directives. */
export function locations(body: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const re = /location\s+([^{]+?)\s*\{([^{}]*)\}/g;
  for (const m of body.matchAll(re)) out.set((m[1] ?? '').trim(), directives(m[2] ?? ''));
  return out;
}

export interface FrontPorts {
  /** The broker instances (the example's 127.0.0.1:8081 and :8082). */
  brokers: [number, number];
  /** The cache registry (the example's 127.0.0.1:5001). */
  registry: number;
  /** The TLS listener of both servers (the example's 443). */
  tls: number;
  /** A plain-HTTP loopback listener of the broker server (the registry's token realm in the test). */
  plainBroker: number;
  /** A plain-HTTP loopback listener of the registry server (the cache registry BuildKit pushes to). */
  plainRegistry: number;
}

/**
 * The example config rendered for a test: upstream ports, TLS ports and certificate paths substituted (the IPv6
 * listens dropped: the test listens on 127.0.0.1), and each server again as a plain-HTTP loopback copy (its
 * listen and ssl_* lines replaced, everything else the same), inside a full nginx.conf that keeps pid, logs and temp
 * files in `dir`.
 */
export function renderFront(
  example: string,
  ports: FrontPorts,
  dir: string,
  tls: { cert: string; key: string },
) {
  const swaps: Array<[RegExp, string]> = [
    [/127\.0\.0\.1:8081\b/g, `127.0.0.1:${ports.brokers[0]}`],
    [/127\.0\.0\.1:8082\b/g, `127.0.0.1:${ports.brokers[1]}`],
    [/127\.0\.0\.1:5001\b/g, `127.0.0.1:${ports.registry}`],
    [/^\s*listen \[::\]:443 ssl http2;\n/gm, ''],
    [/listen 443 ssl http2;/g, `listen 127.0.0.1:${ports.tls} ssl http2;`],
    [/ssl_certificate \S+;/g, `ssl_certificate ${tls.cert};`],
    [/ssl_certificate_key \S+;/g, `ssl_certificate_key ${tls.key};`],
  ];
  let front = example;
  for (const [re, to] of swaps) {
    const before = front;
    front = front.replace(re, to);
    if (front === before) throw new Error(`the example nginx config no longer has ${re}: update renderFront`);
  }
  const servers = topBlocks(front).filter((b) => b.head === 'server');
  const plain = servers.map((s, n) => {
    const port = n === 0 ? ports.plainBroker : ports.plainRegistry;
    const body = s.body
      .split('\n')
      .filter((l) => !/^\s*(ssl_\w+|add_header Strict-Transport-Security)\b/.test(l))
      .join('\n')
      .replace(/listen 127\.0\.0\.1:\d+ ssl http2;/g, `listen 127.0.0.1:${port};`);
    return `server {${body}}`;
  });
  return `# Rendered by test/support/nginx.ts from ${EXAMPLE_CONF}.
# The prefix is inside the test's 0700 temp dir: workers run as root to reach it.
user root;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} info;
events { worker_connections 512; }
http {
    log_format upstreams '$remote_addr "$request" $status port=$server_port scheme=$scheme upstream=$upstream_addr upstream_status=$upstream_status';
    access_log ${join(dir, 'access.log')} upstreams;
    client_body_temp_path ${join(dir, 'client_body')};
    proxy_temp_path ${join(dir, 'proxy')};
    fastcgi_temp_path ${join(dir, 'fastcgi')};
    uwsgi_temp_path ${join(dir, 'uwsgi')};
    scgi_temp_path ${join(dir, 'scgi')};

${front}

# Plain-HTTP loopback copies of the servers above (the test's token realm and cache registry).
${plain.join('\n\n')}
}
`;
}

export interface RunningNginx {
  pid: number;
  accessLog(): string;
  errorLog(): string;
  stop(): Promise<void>;
}

/** Checks the config (nginx -t), then runs nginx in the foreground on it; resolves once its pid file is written. */
export async function startNginx(conf: string, dir: string): Promise<RunningNginx> {
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, conf);
  const args = ['-p', dir, '-c', file, '-e', join(dir, 'error.log')];
  const t = spawnSync(NGINX, [...args, '-t'], { encoding: 'utf8' });
  if (t.status !== 0) throw new Error(`nginx -t refused the rendered config:\n${t.stderr}`);
  const child: ChildProcess = spawn(NGINX, [...args, '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const read = (name: string) => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch {
      return '';
    }
  };
  const until = Date.now() + 10_000;
  let pid = 0;
  while (Date.now() < until) {
    if (child.exitCode !== null)
      throw new Error(`nginx exited with ${child.exitCode}: ${stderr}${read('error.log')}`);
    pid = Number(read('nginx.pid').trim());
    if (pid > 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!(pid > 0)) throw new Error(`nginx wrote no pid file within 10 s: ${stderr}`);
  return {
    pid,
    accessLog: () => read('access.log'),
    errorLog: () => read('error.log'),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      // By the pid nginx wrote (its master): SIGTERM is nginx's fast shutdown (workers included).
      process.kill(Number(read('nginx.pid').trim()) || pid, 'SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
