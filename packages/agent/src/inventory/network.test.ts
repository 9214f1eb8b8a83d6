import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { endianness, networkInterfaces } from 'node:os';
import { describe, it } from 'node:test';
import { addressesFromProc, formatIpv6, parseSocketTable } from './network.ts';
import { createRootFs } from './root-fs.ts';

const bytes = (hex: string) => hex.match(/../g)!.map((pair) => Number.parseInt(pair, 16));

describe('formatIpv6', () => {
  it('writes addresses as RFC 5952 asks', () => {
    assert.equal(formatIpv6(bytes('00000000000000000000000000000000')), '::');
    assert.equal(formatIpv6(bytes('00000000000000000000000000000001')), '::1');
    assert.equal(formatIpv6(bytes('fe80000000000000021b21fffe3a4f10')), 'fe80::21b:21ff:fe3a:4f10');
    // Of two equal runs of zeros the first is shortened; a single zero group is not.
    assert.equal(formatIpv6(bytes('20010db8000000000001000000000001')), '2001:db8::1:0:0:1');
    assert.equal(formatIpv6(bytes('20010db8000000010001000100010001')), '2001:db8:0:1:1:1:1:1');
    assert.equal(formatIpv6(bytes('00000000000000000000ffffc0a80a07')), '::ffff:192.168.10.7');
  });
});

describe('parseSocketTable', () => {
  const header =
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
  it('reads addresses written by a little-endian and by a big-endian kernel', () => {
    const row = (local: string) =>
      `${header}   0: ${local}:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1\n`;
    const [le] = parseSocketTable(row('0100007F'), 'LE');
    const [be] = parseSocketTable(row('7F000001'), 'BE');
    assert.deepStrictEqual(le, {
      localAddress: '127.0.0.1',
      localPort: 22,
      remoteAddress: '0.0.0.0',
      state: '0A',
      inode: '777',
    });
    assert.deepStrictEqual(be, le);
  });
});

describe('addressesFromProc', () => {
  it('places every IPv4 and IPv6 address of this machine on the interface getifaddrs names', {
    skip: !existsSync('/proc/net/fib_trie'),
  }, async () => {
    const fromProc = await addressesFromProc(createRootFs('/', false), endianness());
    const sorted = (list: readonly string[]) => [...list].sort();
    for (const [name, entries] of Object.entries(networkInterfaces())) {
      const expected = (entries ?? [])
        .map((entry) => entry.cidr)
        .filter((cidr): cidr is string => cidr !== null);
      assert.deepStrictEqual(sorted(fromProc.get(name) ?? []), sorted(expected), name);
    }
  });
});
