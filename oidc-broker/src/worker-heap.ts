// The broker's worker threads and V8's young generation. The released broker's Node runs with a young generation of
// 16 MiB a semi-space from the start (BROKER_NODE_FLAGS in scripts/release-broker.ts): the event loop allocates about
// 75 KiB an exchange, and with a small one its mark-compacts come every few seconds. V8's flags are process-wide, so
// a worker created later would get the same young generation, which the crypto and commit workers do not need (they
// allocate a few KiB an operation): with it, the two of them held about 80 MiB more at peak under the bench (peak
// resident memory 293-300 MiB against 219, the same exchanges/s and p99). So each worker starts with V8's own sizing:
// the two flags go back to their default (0: V8 picks) before it is created. setFlagsFromString acts on isolates
// created after it; the main isolate keeps the heap it was configured with at start.
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { WorkerOptions } from 'node:worker_threads';

/** A worker thread whose young generation is V8's own, whatever the semi-space flags the process started with. */
export function startWorker(source: string, options: WorkerOptions): Worker {
  setFlagsFromString('--min-semi-space-size=0');
  setFlagsFromString('--max-semi-space-size=0');
  return new Worker(source, options);
}
