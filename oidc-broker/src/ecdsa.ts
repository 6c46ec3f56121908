// ECDSA signatures in their two encodings: DER (node:crypto's default) and JWS's r || s (ieee-p1363, RFC 7518
// section 3.4). The broker signs and verifies with a bare KeyObject and converts here, because on Node 24 (the
// runtime the release ships) node:crypto's own ieee-p1363 path, and any options object around the key, cost about as
// much as the signature itself: ES256 sign 49 us against 24 with a bare key and DER, RS256 verify 33 us against 21
// (measured on this machine, Node 24.21 / OpenSSL 3.5; Node 20 costs the same either way). ARCHITECTURE.md, "Where an
// exchange's time goes", has the figures.

/** r || s (each `size` bytes, big-endian) from a DER `SEQUENCE { INTEGER r, INTEGER s }` node:crypto produced. */
export function derToJose(der: Uint8Array, size: number): Buffer {
  let at = 0;
  const byte = (): number => {
    if (at >= der.length) throw new Error('ECDSA signature: DER ends early');
    return der[at++] as number;
  };
  const length = (): number => {
    const first = byte();
    if (first < 0x80) return first;
    if (first !== 0x81) throw new Error('ECDSA signature: DER length form not expected');
    return byte();
  };
  if (byte() !== 0x30) throw new Error('ECDSA signature: DER is not a SEQUENCE');
  if (length() !== der.length - at) throw new Error('ECDSA signature: DER SEQUENCE length does not match');
  const out = Buffer.alloc(2 * size);
  for (const offset of [0, size]) {
    if (byte() !== 0x02) throw new Error('ECDSA signature: DER member is not an INTEGER');
    const n = length();
    let value = der.subarray(at, at + n);
    if (value.length !== n) throw new Error('ECDSA signature: DER INTEGER ends early');
    at += n;
    while (value.length > size && value[0] === 0) value = value.subarray(1); // the sign byte
    if (value.length > size) throw new Error(`ECDSA signature: an INTEGER longer than ${size} bytes`);
    out.set(value, offset + size - value.length);
  }
  if (at !== der.length) throw new Error('ECDSA signature: DER bytes after r and s');
  return out;
}

/** The DER form of a JWS r || s signature for a curve of `size`-byte scalars; undefined when its length is not
 * 2 * size (such a signature is refused, as node:crypto's ieee-p1363 verify refuses it). */
export function joseToDer(raw: Uint8Array, size: number): Buffer | undefined {
  if (raw.length !== 2 * size) return undefined;
  const r = integer(raw.subarray(0, size));
  const s = integer(raw.subarray(size));
  const body = r.length + s.length;
  const head = body < 0x80 ? [0x30, body] : [0x30, 0x81, body];
  return Buffer.concat([Buffer.from(head), r, s]);
}

/** A DER INTEGER of an unsigned big-endian value: minimal (no leading zeros, at least one byte), a zero byte before
 * a high bit so that it stays positive. */
function integer(value: Uint8Array): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start++;
  const bytes = value.subarray(start);
  const pad = (bytes[0] as number) >= 0x80 ? 1 : 0;
  const out = Buffer.alloc(2 + pad + bytes.length);
  out[0] = 0x02;
  out[1] = pad + bytes.length;
  out.set(bytes, 2 + pad);
  return out;
}
