// `npm run bench:floor -- [--spin US] [--connections C] [--duration S] [--queue K]`: the closed loop's floor on this machine, to
// read bench:broker's p99 against. A node:http server (a child process) that spends a fixed --spin microseconds of CPU
// on each request and answers about as many bytes as an exchange does, under bench:broker's load generator
// (autocannon, in this process, --connections in a closed loop: each connection sends its next request when it has an
// answer). Nothing of the broker runs: what it prints is what the machine, node:http and the load generator give any
// server with that much work per request. Besides the figures, the slow answers (over 1.5 times the p90: on these 2
// cores they take about two rounds of the loop) and how they fall over the connections (oidc-broker/ARCHITECTURE.md,
// "The closed loop's floor"). --queue K: the server works its requests in the order their bodies came, K per turn of the
// event loop (a queue drained by setImmediate), instead of each as its body is read: the same work per request, and
// the slow answers all but gone ("The first seconds after a start"). A benchmark prints; it fails nothing (exit 1
// only when it could not run).
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const USAGE = 'usage: npm run bench:floor -- [--spin US] [--connections C] [--duration S] [--queue K]';

// The server: the request's body read, `spin` microseconds of CPU, a JSON answer of about 700 bytes (an exchange's
// is 650-750), keep-alive as node:http does by default. With a queue (argv[2] > 0), requests wait in arrival order
// and a setImmediate works up to that many a turn.
const SERVER = String.raw`
const http = require('node:http');
const spin = BigInt(Number(process.argv[1]) * 1000);
const perTurn = Number(process.argv[2]);
const body = JSON.stringify({ ok: true, token: 'x'.repeat(640), project: 'bench' });
const work = (res) => {
  const until = process.hrtime.bigint() + spin;
  while (process.hrtime.bigint() < until);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};
const queue = [];
let draining = false;
const drain = () => {
  for (let i = 0; i < perTurn && queue.length > 0; i++) work(queue.shift());
  draining = queue.length > 0;
  if (draining) setImmediate(drain);
};
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (perTurn === 0) return work(res);
    queue.push(res);
    if (!draining) {
      draining = true;
      setImmediate(drain);
    }
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\n'));
`;

function options(argv: string[]): { spin: number; connections: number; duration: number; queue: number } {
  const { values } = parseArgs({
    args: argv,
    options: {
      spin: { type: 'string', default: '170' },
      connections: { type: 'string', default: '32' },
      duration: { type: 'string', default: '10' },
      queue: { type: 'string', default: '0' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const count = (name: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} ${text}: a whole number >= ${min}`);
    return n;
  };
  return {
    spin: count('spin', values.spin, 0),
    connections: count('connections', values.connections, 1),
    duration: count('duration', values.duration, 1),
    queue: count('queue', values.queue, 0),
  };
}

/** Each connection's latencies (ms) over `seconds` of a closed loop on `url`. */
function closedLoop(url: string, connections: number, seconds: number): Promise<number[][]> {
  return new Promise((resolveRun, reject) => {
    const per = new Map<object, number[]>();
    const instance = autocannon(
      {
        url,
        connections,
        duration: seconds,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: 'y'.repeat(900) }), // an exchange's request: a CI token of about 900 bytes
      },
      (err) =>
        err ? reject(err instanceof Error ? err : new Error(String(err))) : resolveRun([...per.values()]),
    );
    instance.on('response', (client: object, _status: number, _bytes: number, ms: number) => {
      let list = per.get(client);
      if (!list) per.set(client, (list = []));
      list.push(ms);
    });
  });
}

async function main(): Promise<void> {
  const opts = options(process.argv.slice(2));
  const server = spawn(process.execPath, ['-e', SERVER, String(opts.spin), String(opts.queue)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const port = await new Promise<number>((resolvePort, reject) => {
      server.once('error', reject);
      server.once('exit', (code) =>
        reject(new Error(`the floor server exited (${code}) before it listened`)),
      );
      server.stdout.once('data', (d: Buffer) => resolvePort(Number(String(d).trim())));
    });
    const url = `http://127.0.0.1:${port}/`;
    await closedLoop(url, opts.connections, 2); // JIT and connections warm, not counted
    const per = await closedLoop(url, opts.connections, opts.duration);
    const all = per.flat().sort((a, b) => a - b);
    const at = (q: number) => all[Math.min(all.length - 1, Math.floor(all.length * q))] ?? NaN;
    const slow = 1.5 * at(0.9);
    const shares = per
      .map((list) => list.filter((ms) => ms > slow).length / list.length)
      .sort((a, b) => b - a);
    const slowShare = all.filter((ms) => ms > slow).length / all.length;
    const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
    const ms = (v: number) => `${v.toFixed(2)} ms`;
    process.stdout.write(
      [
        `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), server and load generator on node ${process.version}, ${opts.connections} connections, closed loop, ${opts.duration} s, ${opts.queue > 0 ? `requests queued in arrival order, ${opts.queue} a turn` : 'each request worked as its body is read'}`,
        '',
        '| spin per request | answers/s | p50 | p90 | p99 | p99 / p50 |',
        '| --: | --: | --: | --: | --: | --: |',
        `| ${opts.spin} us | ${Math.round(all.length / opts.duration).toLocaleString('en-US')} | ${ms(at(0.5))} | ${ms(at(0.9))} | ${ms(at(0.99))} | ${(at(0.99) / at(0.5)).toFixed(2)} |`,
        '',
        `slow answers (over 1.5 x the p90, ${ms(slow)}): ${pct(slowShare)} of all${opts.queue > 0 ? '' : ', about two rounds of the loop each'}; per connection, from ${pct(shares[0] ?? 0)} of its answers down to ${pct(shares[shares.length - 1] ?? 0)} (median ${pct(shares[Math.floor(shares.length / 2)] ?? 0)})`,
        '',
      ].join('\n'),
    );
  } finally {
    server.kill();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:floor: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
