// `npm run bench:broker`: exchanges per second and p50/p99 latency on loopback, JWKS cached, against the real
// broker (a child process, as `npm run broker` runs it) and the local issuer. Every exchange spends a fresh,
// pre-minted single-use token, so the figure includes the jti write and the audit record.
// Phase 2 runs good exchanges alongside a flood of failing ones (unknown kid, bad signature, unlisted issuer,
// garbage) and prints the good ones' figures again: failing requests must not slow the good ones down.
// Env: BENCH_TOKENS (good tokens per phase, default 24000), BENCH_CONNECTIONS (default 32).
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { startIssuer } from '../../test/support/issuer';
import { freePort } from '../../test/support/ports';

const ROOT = resolve(import.meta.dirname, '..', '..');
const TOKENS = Number(process.env.BENCH_TOKENS ?? 24_000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);

interface Figures {
  perSecond: number;
  p50: number;
  p99: number;
  ok: number;
  failed: number;
}

function run(url: string, bodies: string[], connections: number): Promise<Figures> {
  let next = 0;
  const started = performance.now();
  return new Promise((resolveRun, reject) => {
    const instance = autocannon(
      {
        url: `${url}/auth/oidc/github-actions`,
        connections,
        amount: bodies.length,
        requests: [
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length] ?? '' }),
          },
        ],
      },
      (err, result) => {
        if (err) return reject(err instanceof Error ? err : new Error(String(err)));
        resolveRun({
          // autocannon's own duration is whole seconds: time the run here.
          perSecond: result.requests.total / ((performance.now() - started) / 1000),
          p50: result.latency.p50,
          p99: result.latency.p99,
          ok: result['2xx'],
          failed: result.non2xx + result.errors + result.timeouts,
        });
      },
    );
    void instance;
  });
}

function line(label: string, f: Figures): string {
  return `${label}: ${Math.round(f.perSecond)} exchanges/s, p50 ${f.p50} ms, p99 ${f.p99} ms (${f.ok} answered 2xx, ${f.failed} other)`;
}

async function main(): Promise<void> {
  const issuer = await startIssuer();
  const dir = mkdtempSync(join(tmpdir(), 'broker-bench-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  issuer.defaults.aud = url;
  const config = join(dir, 'broker.yml');
  writeFileSync(
    config,
    `public_url: ${url}
token_ttl: 15m
issuers:
  github-actions:
    issuer: ${issuer.url}
    jwks_uri: ${issuer.url}/.well-known/jwks
registry: { host: "localhost:5001", service: depot-cache }
rate_limit: { per_address: 0, failures_per_address: 0 }
projects:
  - id: web
    rules:
      - { id: web-main, provider: github-actions, repository: acme/web, repository_id: "123456", ref: refs/heads/main }
`,
  );
  const out = openSync(join(dir, 'broker.log'), 'w');
  // BENCH_NODE_OPTIONS (e.g. --cpu-prof) go to the broker's node.
  const broker = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_NODE_OPTIONS ?? '').split(' ').filter(Boolean),
      '--import',
      'tsx',
      join(ROOT, 'oidc-broker', 'src', 'main.ts'),
      '--config',
      config,
      '--data-dir',
      join(dir, 'data'),
      '--listen',
      `127.0.0.1:${port}`,
    ],
    { cwd: ROOT, stdio: ['ignore', out, out] },
  );
  try {
    for (let i = 0; ; i++) {
      if (broker.exitCode !== null)
        throw new Error(`the broker exited (${broker.exitCode}); see ${dir}/broker.log`);
      try {
        if ((await fetch(`${url}/healthz`)).ok) break;
      } catch {
        // starting
      }
      if (i > 300) throw new Error('the broker did not start within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const mintBodies = async (n: number) => {
      const bodies: string[] = [];
      for (let i = 0; i < n; i++) bodies.push(JSON.stringify({ token: await issuer.mint() }));
      return bodies;
    };
    process.stdout.write(`minting ${TOKENS * 2 + 2000} single-use tokens...\n`);
    const warm = await mintBodies(2000);
    const good = await mintBodies(TOKENS);
    const good2 = await mintBodies(TOKENS);
    const [h, p, s] = (await issuer.mint()).split('.');
    const bad = [
      JSON.stringify({ token: 'garbage' }),
      JSON.stringify({
        token: `${Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'unknown' })).toString('base64url')}.${p}.${s}`,
      }),
      JSON.stringify({ token: `${h}.${p}.${(s ?? '').slice(0, -8)}AAAAAAAA` }),
      JSON.stringify({ token: await issuer.mint({ iss: 'https://unlisted.example.com' }) }),
    ];

    await run(url, warm, CONNECTIONS); // JIT, JWKS fetched and cached
    const alone = await run(url, good, CONNECTIONS);
    const [mixed, failing] = await Promise.all([
      run(url, good2, CONNECTIONS / 2),
      run(
        url,
        Array.from({ length: TOKENS }, (_, i) => bad[i % bad.length] ?? ''),
        CONNECTIONS / 2,
      ),
    ]);
    process.stdout.write(
      `cores: ${cpus().length} (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}, ${CONNECTIONS} connections, loopback, JWKS cached\n`,
    );
    process.stdout.write(`${line('exchanges', alone)}\n`);
    process.stdout.write(`${line('exchanges beside a flood of failing requests', mixed)}\n`);
    process.stdout.write(`${line('  the failing flood itself', failing)}\n`);
    process.stdout.write(`JWKS fetches during the run: ${issuer.jwksRequests}\n`);
    if (alone.failed > 0 || mixed.failed > 0) {
      process.stdout.write('some good exchanges were refused: see the broker log\n');
      process.exitCode = 1;
    }
  } finally {
    if (broker.exitCode === null && broker.signalCode === null) {
      const exited = new Promise((r) => broker.once('exit', r));
      broker.kill('SIGTERM');
      await exited;
    }
    await issuer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:broker failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
