import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { RuleEvent, RuleScope } from './rule.schema.ts';
import { compileRules, event, run } from './rule-test.fixture.ts';
import { parseRuleFiles } from './sigma-rule.ts';

/** The rules the starter policy ships (policies/starter/rules), as an operator's policy folder holds them. */

const folder = new URL('../../../../policies/starter/rules/', import.meta.url);
const files = Object.fromEntries(
  readdirSync(folder)
    .filter((name) => name.endsWith('.yml'))
    .map((name) => [`rules/${name}`, readFileSync(new URL(name, folder), 'utf8')]),
);
const rules = compileRules(files);
const MINUTE = 60_000;

/** The rules that raised an alert (updates of an alert left out). */
function fired(events: readonly RuleEvent[], scope: RuleScope = 'agent'): string[] {
  return run(rules, events, { scope, allowedLatenessMs: 0, maxGroupsPerRule: 10_000 })
    .filter((signal) => !signal.update)
    .map((signal) => signal.ruleId);
}

const failed = (time: number, user: string, sourceAddress: string | undefined, deviceId = 'gw-1') =>
  event(
    'auth.login_failed',
    { user, program: 'sshd', method: 'password', ...(sourceAddress === undefined ? {} : { sourceAddress }) },
    { time, deviceId },
  );

describe('built-in rules', () => {
  it('compile without warnings', () => {
    const result = parseRuleFiles(Object.entries(files).map(([path, text]) => ({ path, text })));
    assert.ok(result.ok);
    assert.deepEqual(result.warnings, []);
  });

  it('brute force: five failures for one account within five minutes, on one device', () => {
    const five = [0, 1, 2, 3, 4].map((minute) => failed(minute * MINUTE, 'root', undefined));
    assert.deepEqual(fired(five), ['ew-auth-brute-force-user']);
    const slow = [0, 2, 4, 6, 8].map((minute) => failed(minute * MINUTE, 'root', undefined));
    assert.deepEqual(fired(slow), []);
    const spread = [0, 1, 2, 3, 4].map((minute) =>
      failed(minute * MINUTE, 'root', undefined, `gw-${minute}`),
    );
    assert.deepEqual(fired(spread), []);
  });

  it('brute force: ten failures from one address, but not from the console', () => {
    const remote = Array.from({ length: 10 }, (_, index) =>
      failed(index * 1000, `user${index % 2}`, '203.0.113.9'),
    );
    assert.ok(fired(remote).includes('ew-auth-brute-force-source'));
    const local = Array.from({ length: 10 }, (_, index) =>
      failed(index * 1000, `user${index % 2}`, undefined),
    );
    assert.ok(!fired(local).includes('ew-auth-brute-force-source'));
  });

  it('password spraying: five accounts from one address', () => {
    const spray = ['root', 'admin', 'pi', 'ubuntu', 'oracle'].map((user, index) =>
      failed(index * 1000, user, '203.0.113.9'),
    );
    assert.deepEqual(fired(spray), ['ew-auth-password-spraying']);
  });

  it('one address failing on three devices: raised by the hub, not the agents', () => {
    const fleet = ['gw-1', 'gw-2', 'gw-3'].map((device, index) =>
      failed(index * MINUTE, 'root', '203.0.113.9', device),
    );
    assert.deepEqual(fired(fleet, 'hub'), ['ew-auth-source-across-devices']);
    assert.deepEqual(fired(fleet, 'agent'), []);
  });

  it('login from a new address: silent while learning, then once per new account and address', () => {
    const login = (time: number, user: string, sourceAddress: string) =>
      event('auth.login_succeeded', { user, sourceAddress, program: 'sshd' }, { time });
    const day = 24 * 60 * MINUTE;
    assert.deepEqual(
      fired([
        login(0, 'ops', '10.0.0.1'),
        login(day, 'ops', '10.0.0.1'),
        login(day + 1, 'ops', '203.0.113.7'),
        login(day + 2, 'ops', '203.0.113.7'),
      ]),
      ['ew-auth-new-source'],
    );
  });

  it('privilege escalation by an account outside the administrators', () => {
    const sudo = (user: string) =>
      event('auth.privilege_escalation', { user, targetUser: 'root', command: '/bin/id' });
    assert.deepEqual(fired([sudo('root'), sudo('admin')]), []);
    assert.deepEqual(fired([sudo('bob'), sudo('bob')]), ['ew-auth-sudo-non-admin']);
    const [raised, grown] = run(rules, [sudo('bob'), sudo('bob')]);
    assert.deepEqual([raised?.count, raised?.update, grown?.count, grown?.update], [1, false, 2, true]);
  });

  it('critical file changes, once per file within the hour', () => {
    const change = (path: string, time = 0) => event('fim.modified', { path }, { time });
    assert.deepEqual(
      fired([change('/etc/shadow'), change('/etc/shadow', 1), change('/etc/ssh/sshd_config', 2)]),
      ['ew-fim-critical-file', 'ew-fim-critical-file'],
    );
    assert.deepEqual(
      fired([change('/etc/motd'), change('/etc/sshd_config'), event('fim.baseline', { paths: ['/etc'] })]),
      [],
    );
    assert.deepEqual(fired([event('fim.permissions_changed', { path: '/etc/sudoers.d/ops' })]), [
      'ew-fim-critical-file',
    ]);
  });

  it('a new listening port, once per port within a day', () => {
    const listener = (port: number, time = 0) =>
      event('host.listener_added', { protocol: 'tcp', address: '0.0.0.0', port, process: 'nc' }, { time });
    assert.deepEqual(fired([listener(4444), listener(4444, 1), listener(8080, 2)]), [
      'ew-host-new-listener',
      'ew-host-new-listener',
    ]);
  });

  it('loss reports, stale policies and drift outside maintenance windows, with the drifted check severity', () => {
    assert.deepEqual(fired([event('agent.loss_report', { reason: 'full' })]), ['ew-agent-loss-report']);
    assert.deepEqual(fired([event('policy.stale', { version: 3 })]), ['ew-policy-stale']);
    const signals = run(rules, [
      event('policy.config_drift', { checkId: 'ssh-no-root-login' }, { severity: 'high' }),
    ]);
    assert.deepEqual(
      signals.map((signal) => [signal.ruleId, signal.severity, signal.groupFields.checkId]),
      [['ew-policy-config-drift', 'high', 'ssh-no-root-login']],
    );
    assert.deepEqual(
      fired([event('policy.expected_change', { checkId: 'ssh-no-root-login', window: 'weekend' })]),
      [],
    );
  });

  it('several different low-severity alerts on one device make one high alert on the hub', () => {
    const alert = (ruleId: string, time: number, deviceId = 'gw-1', severity: 'low' | 'high' = 'low') =>
      event(
        'alert.raised',
        { ruleId, tier: severity },
        { time, deviceId, severity, stream: `alert:${deviceId}` },
      );
    const signals = run(rules, [alert('r1', 0), alert('r1', 1), alert('r2', 2), alert('r3', 3)], {
      scope: 'hub',
    });
    assert.deepEqual(
      signals.map((signal) => [signal.ruleId, signal.severity, signal.groupFields.deviceId, signal.count]),
      [['ew-alert-low-cluster', 'high', 'gw-1', 3]],
    );
    assert.deepEqual(fired([alert('r1', 0), alert('r2', 1), alert('r3', 2, 'gw-2')], 'hub'), []);
    assert.deepEqual(fired([alert('r1', 0), alert('r2', 1), alert('r3', 2, 'gw-1', 'high')], 'hub'), []);
  });
});
