import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compilePolicy } from './compile-policy.ts';
import type { CompiledPolicy, PolicyProblem, PolicySourceFile } from './policy.schema.ts';

function files(folder: Record<string, string>): PolicySourceFile[] {
  return Object.entries(folder).map(([path, text]) => ({ path, text }));
}

function compiled(folder: Record<string, string>): CompiledPolicy {
  const result = compilePolicy(files(folder));
  if (!result.ok) assert.fail(`expected a valid policy, got:\n${result.problems.map(render).join('\n')}`);
  return result.policy;
}

function problems(folder: Record<string, string>): readonly PolicyProblem[] {
  const result = compilePolicy(files(folder));
  if (result.ok) assert.fail('expected problems, the policy compiled');
  return result.problems;
}

function render(problem: PolicyProblem): string {
  return `${problem.file}:${problem.line ?? '-'}:${problem.column ?? '-'} ${problem.field ?? '-'}: ${problem.message}`;
}

/** The one problem about `field`, failing with every problem listed when there is not exactly one. */
function problemFor(found: readonly PolicyProblem[], field: string): PolicyProblem {
  const matching = found.filter((problem) => problem.field === field);
  assert.equal(matching.length, 1, `one problem for ${field} in:\n${found.map(render).join('\n')}`);
  return matching[0] as PolicyProblem;
}

const sshCheck = `
  - id: ssh-no-root-login
    title: SSH refuses root logins
    severity: high
    rationale: Root logins bypass per-user accountability.
    segments: [gateways]
    check: {type: sshd, setting: PermitRootLogin, expect: {equals: 'no'}}
    remediate: auto
    remediation:
      type: file-line
      path: /etc/ssh/sshd_config
      match: '^\\s*#?\\s*PermitRootLogin\\b'
      line: PermitRootLogin no
      timeout: 30s
`;

const exampleFolder: Record<string, string> = {
  'settings.yaml': 'evaluationInterval: 30m\npatchSla: {critical: 24h}\n',
  'segments/field.yaml': `segments:
  - id: gateways
    title: Field gateways
    priority: 50
    selector: {function: gateway, risk: [high, critical], site: '*'}
    evaluationInterval: 15m
  - id: kiosks
    priority: 10
    selector: {function: kiosk}
`,
  'segments/lab.yaml': `segments:
  - id: lab
    priority: 50
    selector: {site: lab}
`,
  'baselines/linux-edge.yaml': `id: linux-edge
title: Linux edge baseline
checks:${sshCheck}
  - id: no-telnet
    title: telnet is not installed
    severity: medium
    check: {type: package, name: telnetd, state: absent}
  - id: shadow-mode
    title: /etc/shadow is private
    severity: high
    check: {type: file, path: /etc/shadow, maxMode: '0640'}
    remediation: {type: chmod, path: /etc/shadow, mode: '0640'}
`,
  'baselines/agent.yaml': `checks:
  - id: agent-probe
    title: the probe answers
    severity: low
    segments: [default, kiosks, kiosks]
    check: {type: command, run: [/usr/bin/probe, --quick], timeout: 5s, expectExit: 0}
    watch: [/etc/probe.conf]
`,
  'windows/maintenance.yaml': `windows:
  - id: weekend
    segments: [gateways]
    timeZone: Europe/Berlin
    weekly:
      - {days: [sun, sat], start: '02:00', end: '05:00'}
  - id: monthly
    cron: '0 3 1 * *'
    duration: 4h
    timeZone: UTC
`,
  'rules/ssh/brute-force.yml':
    'title: SSH brute force\nid: ssh-brute-force\nlogsource: {product: linux, service: sshd}\ndetection:\n  failed: {type: auth.login_failed}\n  condition: failed\nlevel: medium\n',
  'rules/auth.yml':
    'title: auth\nid: auth\nlogsource: {product: linux, service: sshd}\ndetection:\n  failed: {type: auth.login_failed}\n  condition: failed\nlevel: medium\n',
  'README.md': '# our policy\n',
  '.gitignore': '*.bak\n',
};

describe('compilePolicy', () => {
  it('compiles a folder: durations in ms, defaults filled in, every list in a stable order', () => {
    const policy = compiled(exampleFolder);

    assert.deepEqual(policy.settings, {
      evaluationIntervalMs: 30 * 60_000,
      bundleExpiryMs: 7 * 86_400_000,
      patchSlaMs: {
        info: 180 * 86_400_000,
        low: 90 * 86_400_000,
        medium: 30 * 86_400_000,
        high: 7 * 86_400_000,
        critical: 86_400_000,
      },
    });
    // Priority first (highest wins), then the id breaks the tie between gateways and lab.
    assert.deepEqual(
      policy.segments.map((segment) => [segment.id, segment.priority]),
      [
        ['gateways', 50],
        ['lab', 50],
        ['kiosks', 10],
      ],
    );
    assert.deepEqual(policy.segments[0], {
      id: 'gateways',
      title: 'Field gateways',
      priority: 50,
      selector: { function: 'gateway', risk: ['critical', 'high'], site: '*' },
      evaluationIntervalMs: 15 * 60_000,
    });
    assert.equal(policy.segments[2]?.title, 'kiosks', 'an untitled segment is titled by its id');

    // Baselines by id (agent before linux-edge), checks in file order within a baseline.
    assert.deepEqual(
      policy.checks.map((check) => `${check.baseline}/${check.id}`),
      ['agent/agent-probe', 'linux-edge/ssh-no-root-login', 'linux-edge/no-telnet', 'linux-edge/shadow-mode'],
    );
    const [probe, ssh, telnet, shadow] = policy.checks;
    assert.deepEqual(probe, {
      id: 'agent-probe',
      baseline: 'agent',
      title: 'the probe answers',
      severity: 'low',
      rationale: '',
      segments: ['default', 'kiosks'],
      spec: { type: 'command', run: ['/usr/bin/probe', '--quick'], timeoutMs: 5000, expectExit: 0 },
      remediate: 'off',
      watch: ['/etc/probe.conf'],
    });
    assert.deepEqual(ssh?.spec, {
      type: 'sshd',
      setting: 'PermitRootLogin',
      expect: { equals: 'no' },
      configPath: '/etc/ssh/sshd_config',
    });
    assert.equal(ssh?.remediate, 'auto');
    assert.deepEqual(ssh?.remediation, {
      action: {
        type: 'file-line',
        path: '/etc/ssh/sshd_config',
        match: '^\\s*#?\\s*PermitRootLogin\\b',
        line: 'PermitRootLogin no',
      },
      timeoutMs: 30_000,
    });
    assert.deepEqual(ssh?.watch, ['/etc/ssh/sshd_config', '/etc/ssh/sshd_config.d']);
    assert.deepEqual(telnet?.watch, [], 'package databases are not watched');
    assert.equal(telnet?.remediate, 'off', 'no remediation: off');
    assert.equal(shadow?.remediate, 'manual', 'a remediation without remediate: manual');
    assert.equal(shadow?.remediation?.timeoutMs, 60_000);
    assert.deepEqual(shadow?.watch, ['/etc/shadow']);

    assert.deepEqual(policy.windows, [
      {
        id: 'monthly',
        segments: [],
        timeZone: 'UTC',
        schedule: { kind: 'cron', cron: '0 3 1 * *', durationMs: 4 * 3_600_000 },
      },
      {
        id: 'weekend',
        segments: ['gateways'],
        timeZone: 'Europe/Berlin',
        schedule: { kind: 'weekly', ranges: [{ days: ['sat', 'sun'], start: '02:00', end: '05:00' }] },
      },
    ]);
    assert.deepEqual(policy.rules, [
      {
        path: 'rules/auth.yml',
        text: 'title: auth\nid: auth\nlogsource: {product: linux, service: sshd}\ndetection:\n  failed: {type: auth.login_failed}\n  condition: failed\nlevel: medium\n',
      },
      {
        path: 'rules/ssh/brute-force.yml',
        text: 'title: SSH brute force\nid: ssh-brute-force\nlogsource: {product: linux, service: sshd}\ndetection:\n  failed: {type: auth.login_failed}\n  condition: failed\nlevel: medium\n',
      },
    ]);
  });

  it('uses the default settings without a settings file, and an empty folder is a valid policy', () => {
    const policy = compiled({});
    assert.deepEqual(policy, {
      segments: [],
      checks: [],
      windows: [],
      settings: {
        evaluationIntervalMs: 3_600_000,
        bundleExpiryMs: 7 * 86_400_000,
        patchSlaMs: {
          info: 180 * 86_400_000,
          low: 90 * 86_400_000,
          medium: 30 * 86_400_000,
          high: 7 * 86_400_000,
          critical: 2 * 86_400_000,
        },
      },
      rules: [],
    });
    assert.deepEqual(compiled({ 'settings.yaml': '# nothing yet\n' }).settings, policy.settings);
  });

  it('compiles the same files in any order to the same policy', () => {
    const expected = compiled(exampleFolder);
    fc.assert(
      fc.property(fc.shuffledSubarray(files(exampleFolder), { minLength: 10, maxLength: 10 }), (shuffled) => {
        const result = compilePolicy(shuffled);
        assert.ok(result.ok);
        assert.deepEqual(result.policy, expected);
        assert.equal(JSON.stringify(result.policy), JSON.stringify(expected));
      }),
    );
  });

  it('reports the same problems in the same order whatever the file order', () => {
    const broken = {
      ...exampleFolder,
      'baselines/other.yaml':
        'checks:\n  - id: no-telnet\n    title: again\n    severity: loud\n    check: {type: time-sync}\n',
      'windows/bad.yaml':
        'windows:\n  - {id: weekend, timeZone: Mars/Olympus, cron: "0 3 * * *", duration: 1h}\n',
    };
    const expected = problems(broken);
    fc.assert(
      fc.property(fc.shuffledSubarray(files(broken), { minLength: 12, maxLength: 12 }), (shuffled) => {
        const result = compilePolicy(shuffled);
        assert.ok(!result.ok);
        assert.deepEqual(result.problems, expected);
      }),
    );
  });

  it('names the file and line of a YAML syntax error', () => {
    const found = problems({
      'segments/a.yaml': 'segments:\n  - id: a\n    selector: {site: [x, y}\n',
      'settings.yaml': 'evaluationInterval: 1h\nevaluationInterval: 2h\n',
    });
    const syntax = found.find((problem) => problem.file === 'segments/a.yaml');
    assert.equal(syntax?.line, 3);
    assert.match(syntax?.message ?? '', /^YAML: /);
    const duplicateKey = found.find((problem) => problem.file === 'settings.yaml');
    assert.equal(duplicateKey?.line, 2);
    assert.match(duplicateKey?.message ?? '', /unique/);
  });

  it('names the line of an alias without its anchor, and refuses an alias bomb', () => {
    const [unresolved] = problems({ 'settings.yaml': 'evaluationInterval: 1h\nbundleExpiry: *week\n' });
    assert.deepEqual([unresolved?.file, unresolved?.line, unresolved?.column], ['settings.yaml', 2, 15]);
    assert.match(unresolved?.message ?? '', /^YAML: Unresolved alias/);
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (const [name, previous] of [
      ['b', 'a'],
      ['c', 'b'],
      ['d', 'c'],
      ['e', 'd'],
    ]) {
      bomb.push(`${name}: &${name} [${Array(10).fill(`*${previous}`).join(', ')}]`);
    }
    const [exhausted] = problems({ 'settings.yaml': `${bomb.join('\n')}\n` });
    assert.match(exhausted?.message ?? '', /^YAML: Excessive alias count/);
  });

  it('refuses a file with several YAML documents', () => {
    const [problem] = problems({ 'segments/a.yaml': 'segments: []\n---\nsegments: []\n' });
    assert.equal(problem?.file, 'segments/a.yaml');
    assert.match(problem?.message ?? '', /multiple documents/);
  });

  it('names an unknown field, where it is, and the fields allowed there', () => {
    const found = problems({
      'baselines/net.yaml': `checks:
  - id: ports
    title: no telnet port
    severity: high
    check: {type: listening-ports, prot: tcp, forbidden: [23]}
  - id: x
    title: x
    severity: low
    check: {type: time-sync}
    remediaton: {type: command, run: [chronyc, makestep]}
`,
      'settings.yaml': 'evaluationInterval: 1h\nexpiry: 7d\n',
    });
    const prot = problemFor(found, 'checks.0.check.prot');
    assert.equal(prot.file, 'baselines/net.yaml');
    assert.equal(prot.line, 5);
    assert.equal(prot.column, 36);
    assert.equal(
      prot.message,
      'unknown field `prot` in checks.0.check; expected one of: type, protocol, forbidden, allowed',
    );
    const misspelt = problemFor(found, 'checks.1.remediaton');
    assert.equal(misspelt.line, 10);
    assert.equal(misspelt.column, 5);
    assert.match(
      misspelt.message,
      /^unknown field `remediaton` in checks\.1; expected one of: id, title, .*remediation/,
    );
    const topLevel = problemFor(found, 'expiry');
    assert.equal(topLevel.file, 'settings.yaml');
    assert.equal(topLevel.line, 2);
    assert.equal(
      topLevel.message,
      'unknown field `expiry`; expected one of: evaluationInterval, bundleExpiry, patchSla',
    );
  });

  it('says which type a field has and which it should have', () => {
    const found = problems({
      'segments/a.yaml': 'segments:\n  - id: a\n    priority: high\n    selector: {floor: 3}\n',
      'baselines/b.yaml': `checks:
  - id: c
    title: c
    severity: severe
    check: {type: listening-ports, forbidden: [70000]}
    remediate: sometimes
`,
    });
    const priority = problemFor(found, 'segments.0.priority');
    assert.deepEqual([priority.file, priority.line, priority.column], ['segments/a.yaml', 3, 15]);
    assert.equal(priority.message, 'expected a number, got "high"');
    const label = problemFor(found, 'segments.0.selector.floor');
    assert.equal(label.line, 4);
    assert.match(label.message, /quote numbers.*got 3$/);
    const severity = problemFor(found, 'checks.0.severity');
    assert.equal(severity.line, 4);
    assert.equal(severity.message, 'expected one of: info, low, medium, high, critical; got "severe"');
    const port = problemFor(found, 'checks.0.check.forbidden.0');
    assert.equal(port.line, 5);
    assert.equal(port.message, 'expected a number <= 65535, got 70000');
    assert.match(
      problemFor(found, 'checks.0.remediate').message,
      /one of: auto, manual, off; got "sometimes"/,
    );
  });

  it('names a missing required field at the mapping that lacks it', () => {
    const found = problems({
      'baselines/b.yaml': `checks:
  - id: c
    severity: low
    check: {setting: PermitRootLogin}
`,
    });
    const title = problemFor(found, 'checks.0.title');
    assert.deepEqual([title.file, title.line, title.column], ['baselines/b.yaml', 2, 5]);
    assert.equal(title.message, 'missing required field `title` in checks.0; expected text');
    const type = problemFor(found, 'checks.0.check.type');
    assert.equal(type.line, 4);
    assert.match(
      type.message,
      /^missing required field `type` in checks\.0\.check; expected one of: listening-ports, /,
    );
  });

  it('names an unknown check type and the types there are', () => {
    const found = problems({
      'baselines/b.yaml':
        'checks:\n  - id: c\n    title: c\n    severity: low\n    check: {type: registry}\n',
    });
    const type = problemFor(found, 'checks.0.check.type');
    assert.equal(type.line, 5);
    assert.match(type.message, /^unknown type "registry"; expected one of: listening-ports, service, sshd, /);
  });

  it('refuses a duration without a unit and a malformed one', () => {
    const found = problems({ 'settings.yaml': 'evaluationInterval: 30\nbundleExpiry: soon\n' });
    assert.match(problemFor(found, 'evaluationInterval').message, /a duration with a unit.*got 30$/);
    assert.match(problemFor(found, 'bundleExpiry').message, /got "soon"$/);
  });

  it('refuses references to segments that do not exist, and accepts the default segment', () => {
    const found = problems({
      'segments/a.yaml': 'segments:\n  - {id: gateways, selector: {function: gateway}}\n',
      'baselines/b.yaml': `checks:
  - id: c
    title: c
    severity: low
    segments: [default, gatways]
    check: {type: time-sync}
`,
      'windows/w.yaml': `windows:
  - id: w
    segments: [kiosk]
    timeZone: UTC
    weekly: [{days: [sun], start: '01:00', end: '02:00'}]
`,
    });
    assert.equal(found.length, 2, found.map(render).join('\n'));
    const check = problemFor(found, 'checks.0.segments.1');
    assert.deepEqual([check.file, check.line, check.column], ['baselines/b.yaml', 5, 25]);
    assert.equal(check.message, 'unknown segment `gatways`; declared segments: default, gateways');
    const window = problemFor(found, 'windows.0.segments.0');
    assert.deepEqual([window.file, window.line], ['windows/w.yaml', 3]);
  });

  it('does not guess at segment references while a segments file cannot be read', () => {
    const found = problems({
      'segments/a.yaml': 'segments:\n  - {id: gateways\n',
      'baselines/b.yaml':
        'checks:\n  - {id: c, title: c, severity: low, segments: [gateways], check: {type: time-sync}}\n',
    });
    assert.deepEqual(
      found.map((problem) => problem.file),
      ['segments/a.yaml'],
    );
  });

  it('refuses a segment named default', () => {
    const found = problems({ 'segments/a.yaml': 'segments:\n  - {id: default, selector: {}}\n' });
    const problem = problemFor(found, 'segments.0.id');
    assert.equal(problem.line, 2);
    assert.match(problem.message, /implicit segment/);
  });

  it('refuses duplicate ids across files and names the first declaration', () => {
    const found = problems({
      'baselines/a.yaml': 'checks:\n  - {id: same, title: a, severity: low, check: {type: time-sync}}\n',
      'baselines/b.yaml':
        'id: b\nchecks:\n  - {id: other, title: b, severity: low, check: {type: time-sync}}\n  - {id: same, title: b, severity: low, check: {type: time-sync}}\n',
      'baselines/c.yaml': 'id: b\nchecks: []\n',
      'segments/a.yaml': 'segments:\n  - {id: s, selector: {}}\n',
      'segments/b.yaml': 'segments:\n  - {id: t, selector: {}}\n  - {id: s, selector: {}}\n',
      'windows/a.yaml':
        'windows:\n  - {id: w, timeZone: UTC, cron: "0 1 * * *", duration: 1h}\n  - {id: w, timeZone: UTC, cron: "0 2 * * *", duration: 1h}\n',
    });
    const check = problemFor(found, 'checks.1.id');
    assert.deepEqual([check.file, check.line], ['baselines/b.yaml', 4]);
    assert.equal(check.message, 'duplicate check id `same`; already declared in baselines/a.yaml:2');
    const segment = problemFor(found, 'segments.1.id');
    assert.deepEqual([segment.file, segment.line], ['segments/b.yaml', 3]);
    assert.equal(segment.message, 'duplicate segment id `s`; already declared in segments/a.yaml:2');
    const window = problemFor(found, 'windows.1.id');
    assert.deepEqual([window.file, window.line], ['windows/a.yaml', 3]);
    assert.match(window.message, /duplicate window id `w`; already declared in windows\/a\.yaml:2/);
    const baseline = problemFor(found, 'id');
    assert.equal(baseline.file, 'baselines/c.yaml');
    assert.match(baseline.message, /duplicate baseline id `b`; already declared in baselines\/b\.yaml:1/);
    assert.equal(found.length, 4, found.map(render).join('\n'));
  });

  it('refuses an unknown time zone, an invalid cron expression, a date and a cron that never occurs', () => {
    const found = problems({
      'windows/w.yaml': `windows:
  - {id: a, timeZone: Mars/Olympus, weekly: [{days: [mon], start: '01:00', end: '02:00'}]}
  - {id: b, timeZone: UTC, cron: '61 3 * * *', duration: 1h}
  - {id: c, timeZone: UTC, cron: '0 0 3 * * *', duration: 1h}
  - {id: d, timeZone: UTC, cron: '2027-01-01T00:00:00', duration: 1h}
  - {id: e, timeZone: UTC, cron: '0 0 30 2 *', duration: 1h}
  - {id: f, timeZone: '+01:00', cron: '0 1 * * *', duration: 1h}
`,
    });
    const zone = problemFor(found, 'windows.0.timeZone');
    assert.deepEqual([zone.line, zone.column], [2, 23]);
    assert.equal(
      zone.message,
      'unknown time zone "Mars/Olympus"; expected an IANA name such as Europe/Berlin or UTC',
    );
    const minute = problemFor(found, 'windows.1.cron');
    assert.equal(minute.line, 3);
    assert.match(
      minute.message,
      /invalid cron expression "61 3 \* \* \*" \(.*minute.*\); expected five fields/,
    );
    assert.match(problemFor(found, 'windows.2.cron').message, /5 parts/);
    assert.match(problemFor(found, 'windows.3.cron').message, /is a date, not a cron expression/);
    assert.match(problemFor(found, 'windows.4.cron').message, /never occurs/);
    assert.equal(problemFor(found, 'windows.5.timeZone').line, 7);
  });

  it('needs exactly one schedule per window and a duration for a cron one', () => {
    const found = problems({
      'windows/w.yaml': `windows:
  - {id: a, timeZone: UTC}
  - {id: b, timeZone: UTC, cron: '0 1 * * *'}
  - {id: c, timeZone: UTC, cron: '0 1 * * *', duration: 1h, weekly: [{days: [mon], start: '01:00', end: '02:00'}]}
  - {id: d, timeZone: UTC, duration: 1h, weekly: [{days: [mon], start: '01:00', end: '02:00'}]}
  - {id: e, timeZone: UTC, weekly: [{days: [moon], start: '1:00', end: '02:00'}]}
`,
    });
    assert.match(problemFor(found, 'windows.0.weekly').message, /missing schedule/);
    assert.equal(problemFor(found, 'windows.0.weekly').line, 2);
    assert.match(problemFor(found, 'windows.1.duration').message, /missing required field `duration`/);
    assert.match(problemFor(found, 'windows.2.cron').message, /not both/);
    assert.match(problemFor(found, 'windows.3.duration').message, /belongs to cron windows/);
    assert.match(problemFor(found, 'windows.4.weekly.0.days.0').message, /one of: mon, tue/);
    assert.match(
      problemFor(found, 'windows.4.weekly.0.start').message,
      /a time of day such as 02:30, got "1:00"/,
    );
  });

  it('refuses remediate auto or manual without a remediation', () => {
    const found = problems({
      'baselines/b.yaml':
        'checks:\n  - id: c\n    title: c\n    severity: low\n    check: {type: time-sync}\n    remediate: auto\n',
    });
    const problem = problemFor(found, 'checks.0.remediate');
    assert.deepEqual([problem.line, problem.column], [6, 16]);
    assert.equal(problem.message, '`remediate: auto` needs a `remediation`; add one or set `remediate: off`');
  });

  it('refuses files outside the known places and warns about unread files inside them', () => {
    const result = compilePolicy(
      files({
        'policy.yaml': 'segments: []\n',
        'baseline/ssh.yaml': 'checks: []\n',
        'baselines/notes.txt': 'todo\n',
        'docs/notes.md': 'ignored\n',
        'baselines/README.md': 'ignored\n',
        '.github/workflows/ci.yaml': 'ignored: true\n',
        'baselines/.draft.yaml': 'not: valid: yaml: [\n',
      }),
    );
    assert.ok(!result.ok);
    assert.deepEqual(
      result.problems.map((problem) => problem.file),
      ['baseline/ssh.yaml', 'policy.yaml'],
    );
    assert.match(
      result.problems[0]?.message ?? '',
      /outside the known places.*settings\.yaml, segments\/, baselines\//,
    );
    const warned = compilePolicy(files({ 'baselines/notes.txt': 'todo\n' }));
    assert.ok(warned.ok);
    assert.deepEqual(warned.warnings, [
      { file: 'baselines/notes.txt', message: 'ignored: only .yaml and .yml files are read in baselines/' },
    ]);
  });

  it('refuses paths that leave the folder and files given twice', () => {
    const found = compilePolicy([
      { path: '../settings.yaml', text: '' },
      { path: 'segments/a.yaml', text: 'segments: []\n' },
      { path: 'segments/a.yaml', text: 'segments: []\n' },
    ]);
    assert.ok(!found.ok);
    assert.deepEqual(
      found.problems.map((problem) => [problem.file, problem.message]),
      [
        ['../settings.yaml', 'a policy file path must be relative to the folder, with / between names'],
        ['segments/a.yaml', 'the folder lists this file twice'],
      ],
    );
  });

  it('takes the baseline id from the file name and refuses a name that is not an id', () => {
    const policy = compiled({
      'baselines/cis/level-1.yml':
        'checks:\n  - {id: c, title: c, severity: low, check: {type: time-sync}}\n',
    });
    assert.equal(policy.checks[0]?.baseline, 'level-1');
    const problem = problemFor(problems({ 'baselines/Level 1.yaml': 'checks: []\n' }), 'id');
    assert.equal(problem.file, 'baselines/Level 1.yaml');
    assert.match(problem.message, /"Level 1" is not a valid id/);
  });

  it('needs the top-level list of a segments or windows file', () => {
    const found = problems({ 'segments/a.yaml': '', 'windows/w.yaml': 'window: []\n' });
    assert.equal(problemFor(found, 'segments').message, 'missing required field `segments`; expected a list');
    assert.equal(problemFor(found, 'windows').line, 1);
    assert.match(problemFor(found, 'window').message, /unknown field `window`; expected one of: windows/);
  });

  it('collects every problem of every file instead of stopping at the first', () => {
    const found = problems({
      'settings.yaml': 'evaluationInterval: often\n',
      'segments/a.yaml': 'segments:\n  - {id: A, selector: {}}\n',
      'baselines/b.yaml':
        'checks:\n  - {id: c, title: c, severity: low, check: {type: file, path: etc/passwd}}\n',
      'windows/w.yaml': 'windows:\n  - {id: w, timeZone: Nowhere, cron: "0 1 * * *", duration: 0s}\n',
    });
    assert.deepEqual(
      found.map((problem) => `${problem.file} ${problem.field}`),
      [
        'baselines/b.yaml checks.0.check.path',
        'segments/a.yaml segments.0.id',
        'settings.yaml evaluationInterval',
        'windows/w.yaml windows.0.duration',
      ],
    );
    assert.match(
      problemFor(found, 'checks.0.check.path').message,
      /an absolute path such as \/etc\/ssh\/sshd_config/,
    );
  });

  it('watches what a check reads unless the check says otherwise', () => {
    const policy = compiled({
      'baselines/b.yaml': `checks:
  - {id: a, title: a, severity: low, check: {type: sshd, setting: Ciphers, expect: {subsetOf: [aes256-ctr]}, configPath: /opt/ssh/sshd_config}}
  - {id: b, title: b, severity: low, check: {type: accounts, rule: no-extra-uid0}}
  - {id: c, title: c, severity: low, check: {type: sysctl, key: net.ipv4.ip_forward, expect: {equals: '0'}}}
  - {id: d, title: d, severity: low, check: {type: file, path: /etc/motd}, watch: []}
`,
    });
    assert.deepEqual(
      policy.checks.map((check) => check.watch),
      [['/opt/ssh/sshd_config', '/opt/ssh/sshd_config.d'], ['/etc/passwd'], [], []],
    );
  });

  it('compiles the examples of docs/policy.md', () => {
    const guide = readFileSync(new URL('../../../../docs/policy.md', import.meta.url), 'utf8');
    const [tour = '', complete = ''] = guide.split('## A complete example');
    for (const section of [tour, complete]) {
      // Every YAML block that starts with `# <path>` is a file of the example folder.
      const folder = Object.fromEntries(
        [...section.matchAll(/```yaml\n# (\S+)\n([\s\S]*?)```/g)].map((block) => [
          block[1] ?? '',
          block[2] ?? '',
        ]),
      );
      assert.ok(Object.keys(folder).length >= 3);
      compiled(folder);
    }
  });
});
