// The exchange's two public-key operations (the CI token's signature check, the project token's ES256 signature) on
// a worker thread, so that the event loop, which bounds a broker's exchanges per second, spends a few microseconds
// handing them over instead of about seventy doing them: the operations of one turn of the event loop go over in
// messages of at most MAX_BATCH (below), and each message's answers come back in one. The worker does node:crypto's
// sign() and verify() and nothing else (the key and its options, the DER conversion of ECDSA signatures, every
// decision stay here), so its answer is the one the same call would give here; keys go over once (KeyObjects are
// cloned to the worker) and are named by a number after that.
//
// On a single core the hop costs more than it saves, so there (and with BROKER_CRYPTO_THREAD=0) the operations run
// inline. A worker that dies or cannot start is not a failure of the exchanges that were waiting for it: their
// operations run inline, and the next turn starts a new worker. The worker is unref'd while nothing waits for it: it
// never keeps the process alive. Its code is plain JavaScript evaluated in the worker (no loader, no bundler entry), as
// the SQLite commit worker's.
import { availableParallelism } from 'node:os';
import { sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import { startWorker } from './worker-heap';

/** RSA-PSS's node:crypto options (padding, salt length): undefined for a key that goes bare. */
export interface KeyOptions {
  padding: number;
  saltLength: number;
}

interface SignJob {
  op: 's';
  hash: string;
  data: Buffer;
  key: KeyObject;
  resolve: (signature: Buffer) => void;
  reject: (err: unknown) => void;
}

interface VerifyJob {
  op: 'v';
  hash: string;
  data: Buffer;
  key: KeyObject;
  options: KeyOptions | undefined;
  signature: Buffer;
  resolve: (good: boolean) => void;
  reject: (err: unknown) => void;
}

type Job = SignJob | VerifyJob;

/** Workers lost in a row before they answered anything (they cannot start here): then the work stays inline. */
const GIVE_UP = 3;

/**
 * What a job is on the wire: [op, hash, key id, data's offset, data's length, signature's offset, signature's length,
 * padding, saltLength], the offsets into the message's one byte array.
 */
type WireJob = [string, string, number, number, number, number, number, number, number];

/** Per answer: ['s', signature] / ['v', verdict] / ['e', message] (node:crypto threw). */
type WireAnswer = ['s', Uint8Array] | ['v', boolean] | ['e', string];

const SOURCE = String.raw`
const { parentPort } = require('node:worker_threads');
const { sign, verify } = require('node:crypto');
const keys = new Map();
parentPort.on('message', (m) => {
  for (const [id, key] of m.keys) keys.set(id, key);
  for (const id of m.drop) keys.delete(id);
  const bytes = m.bytes;
  const out = new Array(m.jobs.length);
  for (let i = 0; i < m.jobs.length; i++) {
    const [op, hash, id, at, length, signatureAt, signatureLength, padding, saltLength] = m.jobs[i];
    const key = keys.get(id);
    const data = bytes.subarray(at, at + length);
    try {
      if (op === 's') out[i] = ['s', sign(hash, data, key)];
      else {
        const signature = bytes.subarray(signatureAt, signatureAt + signatureLength);
        out[i] = ['v', verify(hash, data, padding ? { key, padding, saltLength } : key, signature)];
      }
    } catch (e) {
      out[i] = ['e', e && typeof e.message === 'string' ? e.message : String(e)];
    }
  }
  parentPort.postMessage(out);
});
`;

/** The node:crypto calls themselves, on this thread. */
function inline(job: Job): void {
  try {
    if (job.op === 's') job.resolve(cryptoSign(job.hash, job.data, job.key));
    else {
      const key = job.options ? { key: job.key, ...job.options } : job.key;
      job.resolve(cryptoVerify(job.hash, job.data, key, job.signature));
    }
  } catch (err: unknown) {
    job.reject(err);
  }
}

/**
 * Operations per message at most. A turn of the event loop that reads many requests (the 32 of a closed loop arrive
 * together) would otherwise hand all their verifications over in one message at its end: the worker idles while
 * the loop reads, the loop idles while the worker verifies, and the requests move through the broker as one clump
 * (verify, commit, sign, answer) with a core idle about a quarter of the time. A full message goes at once, so the
 * worker starts on the first 16 while the loop still reads the rest; the remainder goes at the end of the turn as
 * before. Measured on 2 cores, SQLite, 32 connections, in interleaved pairs: on a slow stretch of the VM about
 * 6,250 exchanges/s with p99 8.4-9.1 ms against 5,250-6,050/s with p99 8.6-10.2 ms unbounded (8 slower than 16, 24
 * level with it); on a fast stretch level, 6,100-6,700/s either way (oidc-broker/ARCHITECTURE.md, "The first seconds
 * after a start").
 */
export const MAX_BATCH = 16;

export class CryptoThread {
  private worker: Worker | undefined;
  /** Jobs of this turn of the event loop not sent yet: flush() sends them at its end, or once MAX_BATCH are here. */
  private queued: Job[] = [];
  private flushing = false;
  /** Sent batches in the order they went (the worker answers in order). */
  private readonly sent: Job[][] = [];
  /** Key ids, per key object: known to the current worker. */
  private ids = new WeakMap<KeyObject, number>();
  private nextId = 1;
  /** Keys the current worker holds, to drop there once they are gone here. */
  private readonly held = new Map<number, WeakRef<KeyObject>>();
  /** Workers started so far, and messages sent to them (a test reads both). */
  started = 0;
  batches = 0;

  /** Workers in a row that were lost before their first answer: after GIVE_UP of them, everything runs inline. */
  private stillborn = 0;
  /** Whether the current worker has answered yet. */
  private answered = false;

  constructor(
    private offload: boolean,
    private readonly source: string = SOURCE,
  ) {}

  /** Whether operations go to the worker (false on one core, with BROKER_CRYPTO_THREAD=0, or after GIVE_UP). */
  get offloading(): boolean {
    return this.offload;
  }

  /** `hash`-then-sign of `data` by `key`, as node:crypto's sign() returns it (DER for ECDSA). */
  sign(hash: string, data: Buffer, key: KeyObject): Promise<Buffer> {
    return new Promise((resolve, reject) => this.add({ op: 's', hash, data, key, resolve, reject }));
  }

  /** Whether `signature` is `key`'s signature of `data`, as node:crypto's verify() says. */
  verify(
    hash: string,
    data: Buffer,
    key: KeyObject,
    options: KeyOptions | undefined,
    signature: Buffer,
  ): Promise<boolean> {
    return new Promise((resolve, reject) =>
      this.add({ op: 'v', hash, data, key, options, signature, resolve, reject }),
    );
  }

  private add(job: Job): void {
    if (!this.offload) {
      inline(job);
      return;
    }
    this.queued.push(job);
    if (this.queued.length >= MAX_BATCH) {
      this.flush();
      return;
    }
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => {
        this.flushing = false;
        this.flush();
      });
    }
  }

  private flush(): void {
    const queued = this.queued;
    this.queued = [];
    if (!this.offload) {
      for (const job of queued) inline(job);
      return;
    }
    // The bytes of every operation go in one array of their own, handed over (transferred, not copied): a Buffer is
    // often a slice of Node's shared pool (Buffer.from of a short string), and a message carrying it would copy the
    // whole pool, 64 KiB on Node 24, once per slab it touches. What is not bytes gets node:crypto's answer here.
    const jobs: Job[] = [];
    let size = 0;
    for (const job of queued) {
      if (!ArrayBuffer.isView(job.data) || (job.op === 'v' && !ArrayBuffer.isView(job.signature)))
        inline(job);
      else {
        jobs.push(job);
        size += job.data.byteLength + (job.op === 'v' ? job.signature.byteLength : 0);
      }
    }
    if (jobs.length === 0) return;
    let worker: Worker;
    try {
      worker = this.ensure();
    } catch {
      for (const job of jobs) inline(job);
      return;
    }
    const keys: [number, KeyObject][] = [];
    const bytes = new Uint8Array(size);
    let end = 0;
    const put = (view: ArrayBufferView): number => {
      bytes.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength), end);
      end += view.byteLength;
      return end - view.byteLength;
    };
    const wire: WireJob[] = jobs.map((job) => {
      let id = this.ids.get(job.key);
      if (id === undefined) {
        id = this.nextId++;
        this.ids.set(job.key, id);
        this.held.set(id, new WeakRef(job.key));
        keys.push([id, job.key]);
      }
      const at = put(job.data);
      return job.op === 's'
        ? ['s', job.hash, id, at, job.data.byteLength, 0, 0, 0, 0]
        : [
            'v',
            job.hash,
            id,
            at,
            job.data.byteLength,
            put(job.signature),
            job.signature.byteLength,
            job.options?.padding ?? 0,
            job.options?.saltLength ?? 0,
          ];
    });
    const drop: number[] = [];
    for (const [id, ref] of this.held) if (ref.deref() === undefined) drop.push(id);
    try {
      worker.postMessage({ keys, drop, jobs: wire, bytes }, [bytes.buffer]);
    } catch {
      // Something in the batch cannot be cloned, and nothing of it went: node:crypto here gives each operation its
      // own answer or error, and the keys this message would have introduced are introduced again next time.
      for (const [id, key] of keys) {
        this.ids.delete(key);
        this.held.delete(id);
      }
      for (const job of jobs) inline(job);
      return;
    }
    for (const id of drop) this.held.delete(id);
    this.sent.push(jobs);
    if (this.sent.length === 1) worker.ref();
    this.batches++;
  }

  private answer(out: WireAnswer[]): void {
    this.answered = true;
    this.stillborn = 0;
    const jobs = this.sent.shift();
    if (this.sent.length === 0) this.worker?.unref();
    if (!jobs) return;
    jobs.forEach((job, i) => {
      const a = out[i];
      if (a?.[0] === 'e') job.reject(new Error(a[1]));
      else if (job.op === 's' && a?.[0] === 's')
        job.resolve(Buffer.from(a[1].buffer, a[1].byteOffset, a[1].byteLength));
      else if (job.op === 'v' && a?.[0] === 'v') job.resolve(a[1]);
      else inline(job); // an answer missing or of the wrong kind: node:crypto here decides
    });
  }

  /** The worker is gone (it died, or failed to start): what it had runs here, and the next turn starts another. */
  private lost(worker: Worker): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    if (!this.answered && ++this.stillborn >= GIVE_UP) this.offload = false;
    this.ids = new WeakMap();
    this.held.clear();
    const pending = this.sent.splice(0);
    for (const jobs of pending) for (const job of jobs) inline(job);
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    // execArgv: [] — the process's own flags are not the worker's business, and some would break it (an inherited
    // --input-type=module makes the CommonJS source above fail to load).
    const worker = startWorker(this.source, { eval: true, name: 'broker crypto', execArgv: [] });
    this.started++;
    this.answered = false;
    worker.unref();
    worker.on('message', (out: WireAnswer[]) => {
      if (this.worker === worker) this.answer(out);
    });
    worker.on('error', () => this.lost(worker));
    worker.on('exit', () => this.lost(worker));
    this.worker = worker;
    return worker;
  }

  /** Ends the worker (a test's cleanup; the process's exit ends it anyway). */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.lost(worker);
    await worker.terminate();
  }

  /** Kills the worker as a crash would (a test's). */
  async crash(): Promise<void> {
    await this.worker?.terminate();
  }

  /** Keys the current worker holds (a test's): one gone here is dropped there with the next message. */
  get heldKeys(): number {
    return this.held.size;
  }

  /** The worker's thread id, while there is one (a test's). */
  get threadId(): number | undefined {
    return this.worker?.threadId;
  }
}

/** Off the event loop where there is a core to spare for it, unless BROKER_CRYPTO_THREAD=0. */
function offloadByDefault(): boolean {
  if (process.env.BROKER_CRYPTO_THREAD === '0') return false;
  return availableParallelism() > 1;
}

/** The process's crypto thread: one for all brokers in the process (keys are the process's). */
export const cryptoThread = new CryptoThread(offloadByDefault());
