// crypto-thread: the exchange's signature check and signature on a worker thread give node:crypto's own answers (a
// signature that verifies, a verdict, node's error), a turn's operations go in messages of at most MAX_BATCH (the
// first as soon as it is full), and a worker that dies or cannot start costs no exchange its answer: the operations
// run on the event loop instead.
import { constants, generateKeyPairSync, KeyObject, sign, verify } from 'node:crypto';
import { resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { expectEndsOnItsOwn } from '../../test/support/alone';
import { CryptoThread, MAX_BATCH } from './crypto-thread';

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };

const threads: CryptoThread[] = [];
function thread(offload = true, source?: string): CryptoThread {
  const t = new CryptoThread(offload, source);
  threads.push(t);
  return t;
}
afterEach(async () => {
  await Promise.all(threads.splice(0).map((t) => t.close()));
});

/** The end of this turn of the event loop: a batch asked for in it has gone. */
const turn = () => new Promise((r) => setImmediate(r));

/** What node:crypto says on this thread, for each kind of operation the broker hands over. */
async function checkAnswers(t: CryptoThread, n: number): Promise<void> {
  const data = Array.from({ length: n }, (_, i) => Buffer.from(`header.payload ${i}`));
  const rs = data.map((d) => sign('sha256', d, rsa.privateKey));
  const ps = data.map((d) => sign('sha256', d, { key: rsa.privateKey, ...PSS }));
  const es384 = data.map((d) => sign('sha384', d, ec384.privateKey));
  const results = await Promise.all(
    data.flatMap((d, i) => [
      t.sign('sha256', d, ec.privateKey).then((der) => verify('sha256', d, ec.publicKey, der)),
      t.verify('sha256', d, rsa.publicKey, undefined, rs[i] ?? Buffer.alloc(0)),
      t.verify('sha256', d, rsa.publicKey, PSS, ps[i] ?? Buffer.alloc(0)),
      t.verify('sha384', d, ec384.publicKey, undefined, es384[i] ?? Buffer.alloc(0)),
      // Refusals: another message, PKCS#1 against a PSS signature, a signature cut short.
      t.verify('sha256', Buffer.from('other'), rsa.publicKey, undefined, rs[i] ?? Buffer.alloc(0)),
      t.verify('sha256', d, rsa.publicKey, undefined, ps[i] ?? Buffer.alloc(0)),
      t.verify('sha384', d, ec384.publicKey, undefined, (es384[i] ?? Buffer.alloc(0)).subarray(1)),
    ]),
  );
  expect(results).toEqual(data.flatMap(() => [true, true, true, true, false, false, false]));
}

describe('CryptoThread', () => {
  it("signs and verifies on a worker thread with node:crypto's answers, a turn's operations in messages of MAX_BATCH", async () => {
    const t = thread();
    await checkAnswers(t, 30);
    expect(t.started).toBe(1);
    expect(t.threadId).toBeGreaterThan(0);
    const first = Math.ceil(210 / MAX_BATCH); // 210 operations asked for in one turn of the event loop
    expect(first).toBeGreaterThan(1);
    expect(t.batches).toBe(first);
    await checkAnswers(t, 2); // 14 operations: one message
    expect(t.batches).toBe(first + 1);
  });

  it('a full message goes at once, while the turn still asks for more; the rest goes at its end', async () => {
    const t = thread();
    const data = Buffer.from('header.payload');
    const signed: Promise<Buffer>[] = [];
    for (let i = 0; i < MAX_BATCH - 1; i++) signed.push(t.sign('sha256', data, ec.privateKey));
    expect(t.batches).toBe(0); // not full: it waits for the end of the turn
    signed.push(t.sign('sha256', data, ec.privateKey));
    expect(t.batches).toBe(1); // full: gone, the worker is at it while this turn goes on
    signed.push(t.sign('sha256', data, ec.privateKey));
    expect(t.batches).toBe(1);
    await turn();
    expect(t.batches).toBe(2);
    const signatures = await Promise.all(signed);
    expect(signatures).toHaveLength(MAX_BATCH + 1);
    for (const der of signatures) expect(verify('sha256', data, ec.publicKey, der)).toBe(true);
    expect(t.started).toBe(1);
  });

  it("rejects with node:crypto's own error, and goes on answering", async () => {
    const t = thread();
    const data = Buffer.from('x');
    let theirs = '';
    try {
      sign('sha256', data, rsa.publicKey); // a public key cannot sign
    } catch (err: unknown) {
      theirs = (err as Error).message;
    }
    expect(theirs).not.toBe('');
    await expect(t.sign('sha256', data, rsa.publicKey)).rejects.toThrow(theirs);
    await checkAnswers(t, 2);
    expect(t.started).toBe(1);
  });

  it("data that is not bytes: node:crypto's answer here; the turn's other operations go", async () => {
    const t = thread();
    const data = Buffer.from('x');
    const notData = (() => 0) as unknown as Buffer; // a function
    let theirs = '';
    try {
      sign('sha256', notData, ec.privateKey);
    } catch (err: unknown) {
      theirs = (err as Error).message;
    }
    expect(theirs).not.toBe('');
    const [refused, signed, checked] = await Promise.allSettled([
      t.sign('sha256', notData, ec.privateKey),
      t.sign('sha256', data, ec.privateKey),
      t.verify('sha256', data, ec.publicKey, undefined, notData),
    ]);
    expect(refused.status === 'rejected' && (refused.reason as Error).message).toBe(theirs);
    expect(signed.status === 'fulfilled' && verify('sha256', data, ec.publicKey, signed.value)).toBe(true);
    expect(checked.status).toBe('rejected');
    expect(t.batches).toBe(1);
  });

  it("a batch that cannot be sent: each operation gets node:crypto's answer here, and the keys go with the next", async () => {
    const t = thread();
    const data = Buffer.from('x');
    // Not a key node:crypto knows, and not one the structured clone takes (a function in it): the message fails.
    const notKey = Object.assign(Object.create(KeyObject.prototype) as KeyObject, { f: () => 0 });
    let theirs = '';
    try {
      sign('sha256', data, notKey);
    } catch (err: unknown) {
      theirs = (err as Error).message;
    }
    expect(theirs).not.toBe('');
    const [refused, signed] = await Promise.allSettled([
      t.sign('sha256', data, notKey),
      t.sign('sha256', data, ec.privateKey),
    ]);
    expect(refused.status === 'rejected' && (refused.reason as Error).message).toBe(theirs);
    expect(signed.status === 'fulfilled' && verify('sha256', data, ec.publicKey, signed.value)).toBe(true);
    expect(t.batches).toBe(0); // nothing went
    // The key the failed message would have introduced goes with the next one: the worker signs with it.
    await checkAnswers(t, 2);
    expect(t.batches).toBe(1);
  });

  it('hands the bytes over in one array of their own: a slice of a larger buffer is signed and checked as that slice', async () => {
    const t = thread();
    const pool = Buffer.alloc(70_000, 1);
    const data = pool.subarray(30_000, 30_100);
    data.write('the bytes signed', 0);
    const der = await t.sign('sha256', data, ec.privateKey);
    expect(verify('sha256', Buffer.from(data), ec.publicKey, der)).toBe(true);
    const rs = sign('sha256', data, rsa.privateKey);
    const inPool = Buffer.concat([Buffer.alloc(5, 9), rs, Buffer.alloc(5, 9)]).subarray(5, 5 + rs.length);
    expect(await t.verify('sha256', data, rsa.publicKey, undefined, inPool)).toBe(true);
    expect(await t.verify('sha256', pool.subarray(30_001, 30_101), rsa.publicKey, undefined, inPool)).toBe(
      false,
    );
    expect(data.toString('latin1', 0, 16)).toBe('the bytes signed'); // the caller's buffer is untouched
  });

  it('a worker that dies with operations in flight: they are answered here, and the next turn starts another', async () => {
    // A worker that takes the operations and never answers, then dies: the answers can only come from the fallback.
    const t = thread(true, "require('node:worker_threads').parentPort.on('message', () => {});");
    const pending = checkAnswers(t, 10);
    await turn(); // sent, and never to be answered
    const sent = Math.ceil(70 / MAX_BATCH);
    expect(t.batches).toBe(sent);
    await t.crash();
    await pending;
    expect(t.started).toBe(1);
    // The next turn's operations go to a new worker (of the same kind: it dies too, and they are answered here).
    const next = checkAnswers(t, 2);
    await turn();
    expect(t.started).toBe(2);
    expect(t.batches).toBe(sent + 1);
    await t.crash();
    await next;
  });

  it('a worker that cannot start: operations run here, and after three such workers no fourth is tried', async () => {
    const t = thread(true, "throw new Error('this worker does not start');");
    for (let i = 0; i < 5; i++) await checkAnswers(t, 3);
    expect(t.started).toBe(3);
    expect(t.offloading).toBe(false);
  });

  it('a key gone here is dropped by the worker with the next message: keys that come and go do not pile up there', async () => {
    // A broker signs with the key in force and checks CI tokens with each issuer's JWKS keys: rotations and JWKS
    // refreshes replace key objects for as long as it runs.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const t = thread();
    const data = Buffer.from('header.payload');
    /** Signs with a fresh key, which nothing here holds once this returns. */
    const signsWithAKeyOfItsOwn = async (): Promise<boolean> => {
      const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      return verify('sha256', data, k.publicKey, await t.sign('sha256', data, k.privateKey));
    };
    const kept = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(verify('sha256', data, kept.publicKey, await t.sign('sha256', data, kept.privateKey))).toBe(true);
    expect(await signsWithAKeyOfItsOwn()).toBe(true);
    expect(t.heldKeys).toBe(2);
    await turn();
    gc();
    expect(verify('sha256', data, kept.publicKey, await t.sign('sha256', data, kept.privateKey))).toBe(true);
    expect(t.heldKeys).toBe(1);
    expect(t.started).toBe(1);
    await checkAnswers(t, 2);
  });

  it('off (one core, or BROKER_CRYPTO_THREAD=0): the same answers, no thread', async () => {
    const t = thread(false);
    await checkAnswers(t, 5);
    expect(t.started).toBe(0);
    expect(t.threadId).toBeUndefined();
  });

  it('never keeps the process alive', () => {
    const module = resolve(import.meta.dirname, 'crypto-thread.ts');
    const code = `
      const { generateKeyPairSync, verify } = await import('node:crypto');
      const { cryptoThread } = await import(${JSON.stringify(module)});
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const data = Buffer.from('x');
      const der = await cryptoThread.sign('sha256', data, privateKey);
      if (!verify('sha256', data, publicKey, der)) process.exit(2);
      console.log(cryptoThread.offloading === (cryptoThread.threadId !== undefined) ? 'done' : 'no thread');
    `;
    expectEndsOnItsOwn(code);
  });
});
