import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  type IsolationSpec,
  iptablesCommands,
  iptablesRemoveCommands,
  nftablesReleaseScript,
  nftablesRuleset,
  parseResolvConf,
} from './isolation-policy.ts';

const base: IsolationSpec = {
  manager: { host: '10.0.0.1', port: 8443 },
  resolvedManagerAddresses: ['10.0.0.1'],
  allowDns: true,
  allow: [],
};

const chainBody = (script: string, chain: 'input' | 'output') => {
  const start = script.indexOf(`chain ${chain} {`);
  return script.slice(start, script.indexOf('  }', start));
};

test('the nft script replaces only its own table, in one file', () => {
  const script = nftablesRuleset(base);
  const lines = script.split('\n');
  assert.deepEqual(lines.slice(0, 3), [
    'add table inet edgeward_isolation',
    'delete table inet edgeward_isolation',
    'table inet edgeward_isolation {',
  ]);
  assert.doesNotMatch(script, /flush ruleset|table (ip|ip6|inet) (?!edgeward_isolation)/);
  assert.match(chainBody(script, 'input'), /type filter hook input priority -10; policy drop;/);
  assert.match(chainBody(script, 'output'), /type filter hook output priority -10; policy drop;/);
  assert.match(
    chainBody(script, 'input'),
    /iif "lo" accept\n\s+ct state established,related ct mark and 0x00400000 == 0x00400000 accept/,
  );
});

test('the manager is reachable on its port only, IPv4 and IPv6', () => {
  const script = nftablesRuleset({ ...base, resolvedManagerAddresses: ['10.0.0.1', '2001:db8::10'] });
  const output = chainBody(script, 'output');
  assert.match(
    output,
    /ip daddr 10\.0\.0\.1 meta l4proto tcp th dport 8443 ct mark set ct mark or 0x00400000 accept/,
  );
  assert.match(
    output,
    /ip6 daddr 2001:db8::10 meta l4proto tcp th dport 8443 ct mark set ct mark or 0x00400000 accept/,
  );
  assert.match(
    chainBody(script, 'input'),
    /ip6 saddr 2001:db8::10 meta l4proto tcp th sport 8443 ct mark set ct mark or 0x00400000 accept/,
  );
  assert.doesNotMatch(script, /ip daddr 10\.0\.0\.1 accept/);
});

test('DNS is allowed to the resolvers only when the manager is named and DNS is asked for', () => {
  const named = { ...base, manager: { host: 'manager.example', port: 8443 } };
  const resolvers = { resolvers: ['192.0.2.53', 'fd00::53'] };
  const withDns = chainBody(nftablesRuleset(named, resolvers), 'output');
  assert.match(
    withDns,
    /ip daddr 192\.0\.2\.53 meta l4proto \{ udp, tcp \} th dport 53 ct mark set ct mark or 0x00400000 accept/,
  );
  assert.match(
    withDns,
    /ip6 daddr fd00::53 meta l4proto \{ udp, tcp \} th dport 53 ct mark set ct mark or 0x00400000 accept/,
  );
  assert.doesNotMatch(nftablesRuleset(base, resolvers), /dport 53/, 'manager given by IP');
  assert.doesNotMatch(nftablesRuleset({ ...named, allowDns: false }, resolvers), /dport 53/);
});

test('allow-list entries become rules in the directions they name', () => {
  const script = nftablesRuleset({
    ...base,
    allow: [
      { name: 'scada', address: '10.1.0.0/16', port: 502, protocol: 'tcp', direction: 'in' },
      { name: 'historian', address: '2001:db8:1::/48', protocol: 'any', direction: 'both' },
      { name: 'ntp', address: '192.0.2.123', port: 123, protocol: 'udp', direction: 'out' },
      { name: 'syslog', address: '192.0.2.9', port: 514, protocol: 'any', direction: 'out' },
    ],
  });
  const input = chainBody(script, 'input');
  const output = chainBody(script, 'output');
  assert.match(
    input,
    /ip saddr 10\.1\.0\.0\/16 meta l4proto tcp th dport 502 ct mark set ct mark or 0x00400000 accept comment "scada"/,
  );
  assert.doesNotMatch(output, /scada/);
  assert.match(
    input,
    /ip6 saddr 2001:db8:1::\/48 ct mark set ct mark or 0x00400000 accept comment "historian"/,
  );
  assert.match(
    output,
    /ip6 daddr 2001:db8:1::\/48 ct mark set ct mark or 0x00400000 accept comment "historian"/,
  );
  assert.match(
    output,
    /ip daddr 192\.0\.2\.123 meta l4proto udp th dport 123 ct mark set ct mark or 0x00400000 accept comment "ntp"/,
  );
  assert.match(
    output,
    /ip daddr 192\.0\.2\.9 meta l4proto \{ tcp, udp \} th dport 514 ct mark set ct mark or 0x00400000 accept/,
  );
});

test('rejects what could not be a rule, or would cut off the manager', () => {
  const bad: IsolationSpec[] = [
    { ...base, resolvedManagerAddresses: [] },
    { ...base, resolvedManagerAddresses: ['manager.example'] },
    { ...base, resolvedManagerAddresses: ['10.0.0.0/8'] },
    { ...base, manager: { host: 'm', port: 0 } },
    { ...base, allow: [{ name: 'x', address: '10.0.0.0/33', protocol: 'tcp', direction: 'in' }] },
    { ...base, allow: [{ name: 'x', address: '::/129', protocol: 'tcp', direction: 'in' }] },
    { ...base, allow: [{ name: 'x', address: '10.0.0.1; flush ruleset', protocol: 'tcp', direction: 'in' }] },
    { ...base, allow: [{ name: 'a" accept', address: '10.0.0.1', protocol: 'tcp', direction: 'in' }] },
    { ...base, allow: [{ name: 'x', address: '10.0.0.1', port: 70000, protocol: 'tcp', direction: 'in' }] },
  ];
  for (const spec of bad) {
    assert.throws(() => nftablesRuleset(spec), { code: 'EW_REQUEST_INVALID' }, JSON.stringify(spec));
    assert.throws(() => iptablesCommands(spec), { code: 'EW_REQUEST_INVALID' });
  }
});

test('any allow-list text that passes validation stays inside its rule', () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.string(), fc.constantFrom('scada', 'plc 1', 'a"b', 'x\ny', '}')),
      fc.oneof(
        fc.ipV4(),
        fc.ipV6(),
        fc.tuple(fc.oneof(fc.ipV4(), fc.ipV6()), fc.string()).map(([ip, tail]) => ip + tail),
        fc.string(),
      ),
      (name, address) => {
        let script: string;
        try {
          script = nftablesRuleset({
            ...base,
            allow: [{ name, address, protocol: 'tcp', direction: 'out' }],
          });
        } catch {
          return;
        }
        // A name or address that slipped through could end a rule early or add a statement.
        assert.ok(!/[\n;"{}#]/.test(name + address));
        assert.equal(script.split('\n').length, nftablesRuleset(base).split('\n').length + 1);
      },
    ),
  );
});

test('the release script removes our table and nothing else', () => {
  assert.equal(
    nftablesReleaseScript(),
    'add table inet edgeward_isolation\ndelete table inet edgeward_isolation\n',
  );
});

test('iptables: chains are complete before the jumps that activate them, for IPv4 and IPv6', () => {
  const { apply, remove } = iptablesCommands({
    ...base,
    resolvedManagerAddresses: ['10.0.0.1', '2001:db8::10'],
    allow: [{ name: 'scada', address: '10.1.0.0/16', port: 502, protocol: 'any', direction: 'in' }],
  });
  const lines = apply.map((argv) => argv.join(' '));
  const firstJump = lines.findIndex((line) => / -I (INPUT|OUTPUT) 1 /.test(line));
  assert.deepEqual(lines.slice(firstJump), [
    'iptables -w -I INPUT 1 -j EDGEWARD-ISOLATION-IN',
    'iptables -w -I OUTPUT 1 -j EDGEWARD-ISOLATION-OUT',
    'ip6tables -w -I INPUT 1 -j EDGEWARD-ISOLATION-IN',
    'ip6tables -w -I OUTPUT 1 -j EDGEWARD-ISOLATION-OUT',
  ]);
  assert.ok(
    lines.includes(
      'iptables -w -A EDGEWARD-ISOLATION-OUT -d 10.0.0.1 -p tcp --dport 8443 -m comment --comment edgeward manager -j ACCEPT',
    ),
  );
  assert.ok(
    lines.includes(
      'ip6tables -w -A EDGEWARD-ISOLATION-OUT -d 2001:db8::10 -p tcp --dport 8443 -m comment --comment edgeward manager -j ACCEPT',
    ),
  );
  assert.ok(
    lines.includes(
      'iptables -w -A EDGEWARD-ISOLATION-IN -s 10.1.0.0/16 -p udp --dport 502 -m comment --comment scada -j ACCEPT',
    ),
  );
  assert.ok(
    !lines.some((line) => line.startsWith('iptables') && line.includes('2001:db8')),
    'no IPv6 in iptables',
  );
  assert.ok(
    !lines.some((line) => line.startsWith('ip6tables') && line.includes('10.0.0.1')),
    'no IPv4 in ip6tables',
  );
  for (const program of ['iptables', 'ip6tables']) {
    for (const chain of ['EDGEWARD-ISOLATION-IN', 'EDGEWARD-ISOLATION-OUT']) {
      const own = lines.filter((line) => line.startsWith(`${program} -w -A ${chain} `));
      assert.equal(own.at(-1), `${program} -w -A ${chain} -j DROP`, 'every chain ends in DROP');
    }
  }
  assert.deepEqual(remove, iptablesRemoveCommands());
  assert.ok(
    remove.every((argv) => argv.some((arg) => arg.startsWith('EDGEWARD-ISOLATION-'))),
    'removes only ours',
  );
});

test('reads the nameservers of a resolv.conf', () => {
  const text =
    '# comment\nnameserver 192.0.2.53\nsearch example\nnameserver fe80::1%eth0\nnameserver 192.0.2.53\nnameserver bogus\n';
  assert.deepEqual(parseResolvConf(text), ['192.0.2.53', 'fe80::1']);
});
