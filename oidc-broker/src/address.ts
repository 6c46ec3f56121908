// Who is asking: the client address behind trusted proxies, and address lists (CIDR) from the config. The address
// decides rate limits, audit rows, logs and who may read /metrics, so a forged X-Forwarded-For must never move it:
// only a trusted peer's header is read, from the right (the hop nearest to us), up to the first untrusted address.
import { BlockList, isIP } from 'node:net';

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** `10.0.0.0/8`, `::1/128`, or a bare address (a /32 or /128); undefined when it is neither. */
export function parseCidr(text: string): Cidr | undefined {
  const [address = '', prefixText, extra] = text.trim().split('/');
  if (extra !== undefined) return undefined;
  const v = isIP(address);
  if (v === 0) return undefined;
  const max = v === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return undefined;
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/** An address list that answers `has(address)`; every entry must have passed parseCidr. */
export class AddressList {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    for (const text of cidrs) {
      const c = parseCidr(text);
      if (!c) throw new Error(`not a CIDR: ${text}`);
      this.list.addSubnet(c.address, c.prefix, c.family);
    }
    this.size = cidrs.length;
  }

  has(address: string): boolean {
    const a = plain(address);
    const v = isIP(a);
    return v !== 0 && this.list.check(a, v === 4 ? 'ipv4' : 'ipv6');
  }
}

/** `::ffff:127.0.0.1` (an IPv4 peer on a dual-stack socket) -> `127.0.0.1`. */
export function plain(address: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return m?.[1] ?? address;
}

/**
 * What a client's per-address budgets (rate limits, the unverified-audit dedupe) count under: an IPv4 address (an
 * IPv4-mapped IPv6 one too) as itself, an IPv6 address by its /64, written `2001:db8:1:2::/64`. A /64 is the least a
 * subscriber is given, so keyed by full address one host would have 2^64 budgets. Anything else (`in-process`,
 * `unknown`) is its own key. The audit rows and logs keep the full address.
 */
export function rateKey(client: string): string {
  if (!client.includes(':')) return client;
  const a = plain(client);
  if (isIP(a) !== 6) return a;
  const g = ipv6Groups(a);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    const [hi = 0, lo = 0] = g.slice(6);
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return `${g
    .slice(0, 4)
    .map((x) => x.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of an address isIP() calls IPv6 (a zone and a dotted IPv4 tail allowed). */
function ipv6Groups(address: string): number[] {
  let text = address.split('%')[0] ?? '';
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const part = (s: string | undefined) => (s ? s.split(':').map((h) => parseInt(h, 16)) : []);
  const left = part(head);
  const right = part(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

export function isLoopbackAddress(address: string): boolean {
  const a = plain(address);
  return a === '::1' || (isIP(a) === 4 && a.startsWith('127.'));
}

/**
 * The socket peer, unless it is a trusted proxy: then the right-most X-Forwarded-For address that is not itself
 * trusted (or the left-most, when every hop is trusted). An unreadable entry stops the walk at the last good one.
 */
export function clientAddress(peer: string, forwardedFor: string | undefined, trusted: AddressList): string {
  let client = plain(peer);
  if (trusted.size === 0 || !trusted.has(client) || !forwardedFor) return client;
  const hops = forwardedFor
    .split(',')
    .map((h) => plain(h.trim()))
    .reverse();
  for (const hop of hops) {
    if (isIP(hop) === 0) break;
    client = hop;
    if (!trusted.has(hop)) break;
  }
  return client;
}
