import { describe, expect, it } from 'vitest';
import { AddressList, clientAddress, isLoopbackAddress, parseCidr, rateKey } from './address';

describe('parseCidr', () => {
  it.each([
    ['10.0.0.0/8', { address: '10.0.0.0', prefix: 8, family: 'ipv4' }],
    ['192.0.2.7', { address: '192.0.2.7', prefix: 32, family: 'ipv4' }],
    ['fd00::/8', { address: 'fd00::', prefix: 8, family: 'ipv6' }],
    ['::1', { address: '::1', prefix: 128, family: 'ipv6' }],
  ])('reads %s', (text, want) => expect(parseCidr(text)).toEqual(want));

  it.each(['10.0.0.0/33', '10.0.0/8', 'proxy.internal', '10.0.0.0/8/1', '::1/129', '10.0.0.0/x', ''])(
    'refuses %j',
    (text) => expect(parseCidr(text)).toBeUndefined(),
  );
});

describe('clientAddress', () => {
  const proxies = new AddressList(['10.0.0.0/8', '127.0.0.1']);

  it('is the socket peer when the peer is not trusted, whatever the header says', () => {
    expect(clientAddress('198.51.100.9', '203.0.113.5', proxies)).toBe('198.51.100.9');
  });

  it('is the right-most untrusted hop behind trusted proxies', () => {
    expect(clientAddress('10.1.1.1', '203.0.113.5, 198.51.100.2, 10.2.2.2', proxies)).toBe('198.51.100.2');
  });

  it('ignores hops a client wrote to the left of the first untrusted one', () => {
    expect(clientAddress('127.0.0.1', '1.2.3.4, 198.51.100.2', proxies)).toBe('198.51.100.2');
  });

  it('stops at garbage and keeps the last good hop', () => {
    expect(clientAddress('10.1.1.1', 'evil, 10.3.3.3', proxies)).toBe('10.3.3.3');
  });

  it('with no trusted proxies, is always the peer', () => {
    expect(clientAddress('127.0.0.1', '203.0.113.5', new AddressList([]))).toBe('127.0.0.1');
  });

  it('reads IPv4 peers on a dual-stack socket', () => {
    expect(clientAddress('::ffff:10.1.1.1', '203.0.113.5', proxies)).toBe('203.0.113.5');
    expect(isLoopbackAddress('::ffff:127.0.0.3')).toBe(true);
    expect(isLoopbackAddress('::1')).toBe(true);
    expect(isLoopbackAddress('128.0.0.1')).toBe(false);
  });
});

describe('rateKey', () => {
  it.each([
    ['198.51.100.7', '198.51.100.7'],
    ['::ffff:198.51.100.7', '198.51.100.7'],
    ['::ffff:c633:6407', '198.51.100.7'],
    ['2001:db8:1:2::a', '2001:db8:1:2::/64'],
    ['2001:DB8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['2001:db8:1:3::a', '2001:db8:1:3::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['in-process', 'in-process'],
    ['unknown', 'unknown'],
  ])('%s counts as %s', (client, key) => expect(rateKey(client)).toBe(key));
});
