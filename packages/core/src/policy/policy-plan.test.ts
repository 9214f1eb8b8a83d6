import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compilePolicy } from './compile-policy.ts';
import type { CompiledPolicy } from './policy.schema.ts';
import { fieldChanges, formatPolicyPlan, type PolicyPlan, planPolicy } from './policy-plan.ts';

function policyOf(folder: Record<string, string>): CompiledPolicy {
  const result = compilePolicy(Object.entries(folder).map(([path, text]) => ({ path, text })));
  if (!result.ok) assert.fail(JSON.stringify(result.problems, null, 2));
  return result.policy;
}

const current = policyOf({
  'settings.yaml': 'evaluationInterval: 1h\n',
  'segments/all.yaml': `segments:
  - {id: gateways, priority: 50, selector: {function: gateway}}
  - {id: kiosks, priority: 10, selector: {function: kiosk}}
  - {id: legacy, priority: 5, selector: {function: legacy}}
`,
  'baselines/edge.yaml': `checks:
  - id: ssh-root
    title: SSH refuses root logins
    severity: high
    segments: [gateways]
    check: {type: sshd, setting: PermitRootLogin, expect: {equals: 'no'}}
    remediate: auto
    remediation: {type: file-line, path: /etc/ssh/sshd_config, match: '^PermitRootLogin', line: PermitRootLogin no}
  - id: telnet
    title: telnet is absent
    severity: medium
    check: {type: package, name: telnetd, state: absent}
  - id: old-check
    title: clock is synchronized
    severity: low
    segments: [legacy]
    check: {type: time-sync}
`,
  'windows/w.yaml': `windows:
  - {id: weekend, timeZone: UTC, weekly: [{days: [sat], start: '01:00', end: '05:00'}]}
`,
});

const next = policyOf({
  'settings.yaml': 'evaluationInterval: 30m\n',
  'segments/all.yaml': `segments:
  - {id: gateways, priority: 60, selector: {function: [gateway, router]}}
  - {id: kiosks, priority: 10, selector: {function: kiosk}}
  - {id: lab, priority: 70, selector: {site: lab}}
`,
  'baselines/edge.yaml': `checks:
  - id: ssh-root
    title: SSH refuses root logins
    severity: critical
    segments: [gateways]
    check: {type: sshd, setting: PermitRootLogin, expect: {equals: 'no'}}
    remediate: auto
    remediation: {type: file-line, path: /etc/ssh/sshd_config, match: '^PermitRootLogin', line: PermitRootLogin no}
  - id: telnet
    title: telnet is absent
    severity: medium
    check: {type: package, name: telnetd, state: absent}
    remediate: auto
    remediation: {type: command, run: [apt-get, -y, purge, telnetd], timeout: 5m}
  - id: new-check
    title: kiosk browser config is locked
    severity: medium
    segments: [kiosks]
    check: {type: file, path: /etc/kiosk.conf, maxMode: '0644'}
    remediate: auto
    remediation: {type: chmod, path: /etc/kiosk.conf, mode: '0644'}
`,
  'windows/w.yaml': `windows:
  - {id: weekend, timeZone: Europe/Berlin, weekly: [{days: [sat], start: '01:00', end: '05:00'}]}
  - {id: nightly, timeZone: UTC, cron: '0 2 * * *', duration: 1h}
`,
  'rules/ssh.yml':
    'title: ssh\nid: ssh\nlogsource: {product: linux, service: sshd}\ndetection:\n  failed: {type: auth.login_failed}\n  condition: failed\nlevel: medium\n',
});

const devices = [
  { id: 'router-1', labels: { function: 'router' }, failingCheckIds: ['telnet'] },
  { id: 'gw-1', labels: { function: 'gateway' }, failingCheckIds: ['ssh-root'] },
  { id: 'gw-2', labels: { function: 'gateway' }, failingCheckIds: [] },
  { id: 'kiosk-1', labels: { function: 'kiosk' }, failingCheckIds: ['telnet'] },
  { id: 'lab-gw', labels: { function: 'gateway', site: 'lab' }, failingCheckIds: ['ssh-root'] },
  { id: 'legacy-1', labels: { function: 'legacy' }, failingCheckIds: ['old-check'] },
];

describe('planPolicy', () => {
  const plan = planPolicy({ current, next, devices });

  it('lists segments added, removed and changed with their fields and device counts', () => {
    assert.deepEqual(plan.segments, [
      {
        id: 'gateways',
        change: 'changed',
        fields: [
          { field: 'priority', before: 50, after: 60 },
          { field: 'selector.function', before: 'gateway', after: ['gateway', 'router'] },
        ],
        devices: { current: 3, next: 3 },
      },
      {
        id: 'lab',
        change: 'added',
        fields: [
          { field: 'priority', before: undefined, after: 70 },
          { field: 'selector.site', before: undefined, after: 'lab' },
          { field: 'title', before: undefined, after: 'lab' },
        ],
        devices: { current: 0, next: 1 },
      },
      {
        id: 'legacy',
        change: 'removed',
        fields: [
          { field: 'priority', before: 5, after: undefined },
          { field: 'selector.function', before: 'legacy', after: undefined },
          { field: 'title', before: 'legacy', after: undefined },
        ],
        devices: { current: 1, next: 0 },
      },
    ]);
  });

  it('counts the devices of every segment under both policies, the default one included', () => {
    assert.deepEqual(plan.devicesBySegment, [
      { segment: 'lab', current: 0, next: 1 },
      { segment: 'gateways', current: 3, next: 3 },
      { segment: 'kiosks', current: 1, next: 1 },
      { segment: 'legacy', current: 1, next: 0 },
      { segment: 'default', current: 1, next: 1 },
    ]);
    assert.equal(plan.devicesMoving, 3, 'router-1 into gateways, lab-gw into lab, legacy-1 into default');
  });

  it('lists checks added, removed and changed with the fields, segments and devices they affect', () => {
    assert.deepEqual(
      plan.checks.map(({ id, change, fields, segments, devices: count }) => ({
        id,
        change,
        fields,
        segments,
        count,
      })),
      [
        { id: 'new-check', change: 'added', fields: [], segments: ['kiosks'], count: 1 },
        { id: 'old-check', change: 'removed', fields: [], segments: ['legacy'], count: 1 },
        {
          id: 'ssh-root',
          change: 'changed',
          fields: [{ field: 'severity', before: 'high', after: 'critical' }],
          segments: ['gateways'],
          // gw-1 and gw-2 throughout, lab-gw before (it leaves for lab), router-1 after (it joins).
          count: 4,
        },
        {
          id: 'telnet',
          change: 'changed',
          fields: [
            { field: 'remediate', before: 'off', after: 'auto' },
            {
              field: 'remediation.action.run',
              before: undefined,
              after: ['apt-get', '-y', 'purge', 'telnetd'],
            },
            { field: 'remediation.action.type', before: undefined, after: 'command' },
            { field: 'remediation.timeoutMs', before: undefined, after: 300_000 },
          ],
          segments: ['lab', 'gateways', 'kiosks', 'legacy', 'default'],
          count: 6,
        },
      ],
    );
  });

  it('lists windows, settings and rule files that change', () => {
    assert.deepEqual(
      plan.windows.map(({ id, change }) => [id, change]),
      [
        ['nightly', 'added'],
        ['weekend', 'changed'],
      ],
    );
    assert.deepEqual(plan.windows[1]?.fields, [{ field: 'timeZone', before: 'UTC', after: 'Europe/Berlin' }]);
    assert.deepEqual(plan.settings, [{ field: 'evaluationIntervalMs', before: 3_600_000, after: 1_800_000 }]);
    assert.deepEqual(plan.rules, [{ path: 'rules/ssh.yml', change: 'added' }]);
    assert.deepEqual(plan.summary, { add: 4, change: 5, remove: 2 });
  });

  it('lists the devices automatic remediation would change, and separately those it may change', () => {
    assert.deepEqual(plan.remediation.devices, [
      { deviceId: 'gw-1', checkIds: ['ssh-root'] },
      { deviceId: 'kiosk-1', checkIds: ['telnet'] },
      { deviceId: 'router-1', checkIds: ['telnet'] },
    ]);
    assert.deepEqual(plan.remediation.mayChange, [
      // new-check has no result anywhere yet.
      { deviceId: 'kiosk-1', checkIds: ['new-check'] },
      // router-1 never evaluated ssh-root: it was in the default segment.
      { deviceId: 'router-1', checkIds: ['ssh-root'] },
    ]);
  });

  it('treats a changed spec as an unknown result', () => {
    const stricter = {
      ...current,
      checks: current.checks.map((check) =>
        check.id === 'ssh-root'
          ? { ...check, spec: { ...check.spec, setting: 'PermitRootLogin', configPath: '/etc/ssh/other' } }
          : check,
      ),
    };
    const changed = planPolicy({ current, next: stricter, devices });
    assert.deepEqual(changed.remediation.devices, []);
    assert.deepEqual(changed.remediation.mayChange, [
      { deviceId: 'gw-1', checkIds: ['ssh-root'] },
      { deviceId: 'gw-2', checkIds: ['ssh-root'] },
      { deviceId: 'lab-gw', checkIds: ['ssh-root'] },
    ]);
  });

  it('plans a first policy as all added, with no counts for a policy in force', () => {
    const first = planPolicy({ current: undefined, next, devices });
    assert.equal(first.hasCurrent, false);
    assert.ok(
      [...first.segments, ...first.checks, ...first.windows].every((item) => item.change === 'added'),
    );
    assert.deepEqual(first.devicesBySegment, [
      { segment: 'lab', next: 1 },
      { segment: 'gateways', next: 3 },
      { segment: 'kiosks', next: 1 },
      { segment: 'default', next: 1 },
    ]);
    assert.equal(first.devicesMoving, 0);
    assert.deepEqual(first.remediation.devices, []);
    assert.equal(first.remediation.mayChange.length, 6, 'telnet, now automatic, applies to every device');
    assert.equal(first.settings.length, 7, 'every setting is new');
    assert.deepEqual(first.summary, { add: 10, change: 0, remove: 0 });
  });

  it('finds nothing to change between a policy and its JSON round trip with sorted keys', () => {
    const sortedKeys = (value: unknown): unknown =>
      Array.isArray(value)
        ? value.map(sortedKeys)
        : typeof value === 'object' && value !== null
          ? Object.fromEntries(
              Object.keys(value)
                .sort()
                .map((key) => [key, sortedKeys((value as Record<string, unknown>)[key])]),
            )
          : value;
    const fromBundle = sortedKeys(JSON.parse(JSON.stringify(next))) as CompiledPolicy;
    const same = planPolicy({ current: fromBundle, next, devices });
    assert.deepEqual(same.summary, { add: 0, change: 0, remove: 0 });
    assert.deepEqual(
      [same.segments, same.checks, same.windows, same.settings, same.rules],
      [[], [], [], [], []],
    );
    assert.equal(formatPolicyPlan(same).split('\n')[0], 'No changes: the policy is the one in force.');
  });
});

describe('fieldChanges', () => {
  const json = fc.jsonValue() as fc.Arbitrary<unknown>;

  it('finds no change between a value and itself', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), json), (value) => {
        assert.deepEqual(fieldChanges(value, structuredClone(value)), []);
      }),
    );
  });

  it('finds a change for every leaf that differs, by dotted path', () => {
    assert.deepEqual(fieldChanges({ a: { b: 1, c: [1, 2] }, d: 'x' }, { a: { b: 2, c: [1, 2] }, e: true }), [
      { field: 'a.b', before: 1, after: 2 },
      { field: 'd', before: 'x', after: undefined },
      { field: 'e', before: undefined, after: true },
    ]);
  });
});

describe('formatPolicyPlan', () => {
  const text = formatPolicyPlan(planPolicy({ current, next, devices }));

  it('summarizes the plan and marks each change with +, - or ~', () => {
    const lines = text.split('\n');
    assert.equal(lines[0], 'Plan: 4 to add, 5 to change, 2 to remove.');
    for (const expected of [
      '  ~ gateways  (devices 3 -> 3)',
      '      priority: 50 -> 60',
      '      selector.function: "gateway" -> ["gateway","router"]',
      '  + lab  (devices 0 -> 1)',
      '  - legacy  (devices 1 -> 0)',
      '  + new-check  (edge, medium, file, remediate auto)  segments: kiosks; 1 device',
      '  - old-check  (edge, low, time-sync, remediate off)  segments: legacy; 1 device',
      '  ~ ssh-root  (edge, critical, sshd, remediate auto)  segments: gateways; 4 devices',
      '      severity: "high" -> "critical"',
      '  ~ telnet  (edge, medium, package, remediate auto)  segments: every segment; 6 devices',
      '      remediation.timeoutMs: 5m',
      '  + nightly',
      '      timeZone: "UTC" -> "Europe/Berlin"',
      '  ~ evaluationIntervalMs: 1h -> 30m',
      '  + rules/ssh.yml',
      '  would change 3 devices (failing now):',
      '    gw-1: ssh-root',
      '  may change 2 devices (no result yet for these checks):',
      '    router-1: ssh-root',
    ]) {
      assert.ok(lines.includes(expected), `missing line ${JSON.stringify(expected)} in:\n${text}`);
    }
  });

  it('counts the devices of each segment', () => {
    assert.match(
      text,
      /Devices per segment \(in force -> next\):\n {2}lab {7}0 -> 1\n {2}gateways {2}3 -> 3\n/,
    );
    assert.match(text, /3 devices change segment/);
  });

  it('names at most maxDevices devices of each remediation list', () => {
    const many: PolicyPlan = {
      ...planPolicy({ current, next, devices }),
      remediation: {
        devices: Array.from({ length: 5 }, (_, index) => ({ deviceId: `d${index}`, checkIds: ['telnet'] })),
        mayChange: [],
      },
    };
    const lines = formatPolicyPlan(many, { maxDevices: 2 }).split('\n');
    assert.ok(lines.includes('    d1: telnet'));
    assert.ok(!lines.includes('    d2: telnet'));
    assert.ok(lines.includes('    ... and 3 more'));
  });
});
