// ecdsa: the DER <-> r || s conversions the broker's ES256 sign and ECDSA verify use instead of node:crypto's
// ieee-p1363 option (slow on Node 24). Checked against node:crypto's own ieee-p1363 on every curve JWS uses.
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { derToJose, joseToDer } from './ecdsa';

const CURVES = [
  { curve: 'P-256', hash: 'sha256', size: 32 },
  { curve: 'P-384', hash: 'sha384', size: 48 },
  { curve: 'P-521', hash: 'sha512', size: 66 },
] as const;

describe('derToJose and joseToDer', () => {
  for (const { curve, hash, size } of CURVES) {
    it(`${curve}: node:crypto's DER becomes an r || s it verifies as ieee-p1363, and back, byte for byte`, () => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      const p1363 = { key: publicKey, dsaEncoding: 'ieee-p1363' } as const;
      // Signatures until one has an r or s with a leading zero byte (shorter in DER: 1 in 128 here), 300 at least.
      let leadingZero = false;
      for (let i = 0; i < 300 || (!leadingZero && i < 5000); i++) {
        const data = Buffer.from(`message ${i}`);
        const der = sign(hash, data, privateKey);
        const raw = derToJose(der, size);
        expect(raw).toHaveLength(2 * size);
        expect(verify(hash, data, p1363, raw)).toBe(true);
        expect(joseToDer(raw, size)).toEqual(der);
        leadingZero ||= raw[0] === 0 || raw[size] === 0;
        // node:crypto's own r || s goes the other way.
        const theirs = sign(hash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
        const mine = joseToDer(theirs, size);
        expect(mine && verify(hash, data, publicKey, mine)).toBe(true);
        expect(derToJose(mine ?? Buffer.alloc(0), size)).toEqual(theirs);
      }
      expect(leadingZero).toBe(true);
    });
  }

  it('writes minimal DER: leading zeros dropped, a zero byte before a high bit, zero as one byte', () => {
    const raw = Buffer.alloc(64);
    raw[31] = 0x01; // r = 1
    raw[32] = 0x80; // s with its high bit set
    expect(joseToDer(raw, 32)?.toString('hex')).toBe(`3026020101022100${'80'.padEnd(64, '0')}`);
    expect(joseToDer(Buffer.alloc(64), 32)?.toString('hex')).toBe('3006020100020100');
    expect(derToJose(Buffer.from('3006020100020100', 'hex'), 32)).toEqual(Buffer.alloc(64));
  });

  it('uses the long length form past 127 bytes (P-521)', () => {
    const raw = Buffer.alloc(132, 0xff);
    raw[0] = 0x01;
    raw[66] = 0x01;
    const der = joseToDer(raw, 66);
    expect(der?.subarray(0, 3).toString('hex')).toBe('308188'); // 2 x (2 + 66)
    expect(derToJose(der ?? Buffer.alloc(0), 66)).toEqual(raw);
  });

  it('refuses an r || s of the wrong length, as an ieee-p1363 verify does', () => {
    for (const length of [0, 63, 65, 96]) expect(joseToDer(Buffer.alloc(length, 1), 32)).toBeUndefined();
  });

  it('throws on DER it did not expect (a bug, never a token: it reads only what node:crypto signed)', () => {
    const cases: Record<string, [string, RegExp]> = {
      'not a SEQUENCE': ['3106020101020101', /not a SEQUENCE/],
      'length off': ['3007020101020101', /length does not match/],
      'an INTEGER too long': [`3026022101${'00'.repeat(32)}020101`, /INTEGER longer than 32 bytes/],
      'a member not an INTEGER': ['3006030101020101', /not an INTEGER/],
      'an INTEGER cut short': ['3006020101020201', /INTEGER ends early/],
      'ends early': ['300402010102', /DER ends early/],
      'a long length form other than 0x81': ['3082000602010102010101', /length form/],
      'bytes after r and s': ['300702010102010100', /bytes after r and s/],
    };
    for (const [name, [hex, message]] of Object.entries(cases))
      expect(() => derToJose(Buffer.from(hex, 'hex'), 32), name).toThrow(message);
  });
});
