import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAuthMessage, parseSyslogLine, unfoldRepeated } from './auth-log-parser.ts';

const march2024 = new Date(2024, 2, 10, 12, 0, 0).getTime();

describe('parseSyslogLine', () => {
  it('reads an RFC 3164 line in local time, in the year of the reference time', () => {
    const record = parseSyslogLine('Mar  5 10:11:12 gw sshd[4242]: Accepted publickey for bob', march2024);
    assert.deepEqual(record, {
      time: new Date(2024, 2, 5, 10, 11, 12).getTime(),
      host: 'gw',
      program: 'sshd',
      pid: 4242,
      message: 'Accepted publickey for bob',
    });
  });

  it('puts a December line read in January in the previous year', () => {
    const january = new Date(2025, 0, 2, 8, 0, 0).getTime();
    const record = parseSyslogLine('Dec 31 23:59:58 gw su[7]: (to root) alice on pts/0', january);
    assert.equal(record?.time, new Date(2024, 11, 31, 23, 59, 58).getTime());
  });

  it("reads rsyslog's high-precision timestamp with its offset", () => {
    const record = parseSyslogLine(
      '2024-03-05T10:11:12.123456+01:00 gw sudo: alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/id',
      march2024,
    );
    assert.equal(record?.time, Date.UTC(2024, 2, 5, 9, 11, 12, 123));
    assert.equal(record?.program, 'sudo');
    assert.equal(record?.pid, undefined);
  });

  it("skips BusyBox syslogd's facility and level", () => {
    const record = parseSyslogLine(
      "Mar  5 10:11:12 gw authpriv.info dropbear[88]: Password auth succeeded for 'root' from 10.0.0.9:50022",
      march2024,
    );
    assert.equal(record?.program, 'dropbear');
    assert.equal(record?.pid, 88);
  });

  it('returns nothing for a line that is not syslog', () => {
    assert.equal(parseSyslogLine('hello world', march2024), undefined);
    assert.equal(parseSyslogLine('Foo  5 10:11:12 gw sshd[1]: x', march2024), undefined);
  });
});

describe('parseAuthMessage', () => {
  const cases: [string, string, Record<string, unknown> | undefined][] = [
    [
      'sshd',
      'Failed password for root from 203.0.113.5 port 52100 ssh2',
      {
        type: 'auth.login_failed',
        method: 'password',
        user: 'root',
        sourceAddress: '203.0.113.5',
        sourcePort: 52100,
      },
    ],
    [
      'sshd',
      'Failed password for invalid user admin from 2001:db8::7 port 40022 ssh2',
      {
        type: 'auth.login_failed',
        method: 'password',
        user: 'admin',
        sourceAddress: '2001:db8::7',
        sourcePort: 40022,
        reason: 'invalid user',
      },
    ],
    [
      'sshd-session',
      'Invalid user oracle from 198.51.100.3 port 33010',
      {
        type: 'auth.login_failed',
        method: 'invalid_user',
        user: 'oracle',
        sourceAddress: '198.51.100.3',
        sourcePort: 33010,
        reason: 'invalid user',
      },
    ],
    [
      'sshd',
      'Accepted password for bob from 192.168.1.20 port 50514 ssh2',
      {
        type: 'auth.login_succeeded',
        method: 'password',
        user: 'bob',
        sourceAddress: '192.168.1.20',
        sourcePort: 50514,
      },
    ],
    [
      'sshd',
      'Accepted publickey for deploy from 192.168.1.21 port 50515 ssh2: ED25519 SHA256:abc',
      {
        type: 'auth.login_succeeded',
        method: 'publickey',
        user: 'deploy',
        sourceAddress: '192.168.1.21',
        sourcePort: 50515,
      },
    ],
    [
      'sshd',
      'Connection closed by authenticating user root 203.0.113.9 port 41000 [preauth]',
      {
        type: 'auth.login_failed',
        method: 'preauth',
        user: 'root',
        sourceAddress: '203.0.113.9',
        sourcePort: 41000,
        reason: 'closed before authentication',
      },
    ],
    [
      'login',
      "FAILED LOGIN (1) on '/dev/tty1' FOR 'root', Authentication failure",
      {
        type: 'auth.login_failed',
        method: 'password',
        user: 'root',
        tty: '/dev/tty1',
        reason: 'Authentication failure',
      },
    ],
    [
      'login',
      'FAILED LOGIN 2 FROM 10.1.1.1 FOR operator, Authentication failure',
      {
        type: 'auth.login_failed',
        method: 'password',
        user: 'operator',
        sourceAddress: '10.1.1.1',
        reason: 'Authentication failure',
      },
    ],
    [
      'login',
      'FAILED LOGIN 1 FROM ttyS0 FOR root, Authentication failure',
      {
        type: 'auth.login_failed',
        method: 'password',
        user: 'root',
        tty: 'ttyS0',
        reason: 'Authentication failure',
      },
    ],
    [
      'su',
      'FAILED su for root by alice',
      { type: 'auth.login_failed', method: 'su', user: 'alice', targetUser: 'root' },
    ],
    [
      'su',
      'FAILED SU (to root) alice on pts/1',
      { type: 'auth.login_failed', method: 'su', user: 'alice', targetUser: 'root', tty: 'pts/1' },
    ],
    [
      'su',
      'Successful su for root by alice',
      { type: 'auth.privilege_escalation', method: 'su', user: 'alice', targetUser: 'root' },
    ],
    [
      'su',
      'pam_unix(su:session): session opened for user root(uid=0) by alice(uid=1000)',
      { type: 'auth.privilege_escalation', method: 'su', user: 'alice', targetUser: 'root' },
    ],
    [
      'su',
      'pam_unix(su-l:session): session opened for user postgres by (uid=0)',
      { type: 'auth.privilege_escalation', method: 'su', targetUser: 'postgres' },
    ],
    [
      'sudo',
      'alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart ssh ; echo',
      {
        type: 'auth.privilege_escalation',
        method: 'sudo',
        user: 'alice',
        targetUser: 'root',
        tty: 'pts/0',
        cwd: '/home/alice',
        command: '/usr/bin/systemctl restart ssh ; echo',
      },
    ],
    [
      'sudo',
      '    bob : user NOT in sudoers ; TTY=pts/2 ; PWD=/tmp ; USER=root ; COMMAND=/bin/sh',
      {
        type: 'auth.login_failed',
        method: 'sudo',
        user: 'bob',
        targetUser: 'root',
        tty: 'pts/2',
        cwd: '/tmp',
        command: '/bin/sh',
        reason: 'user NOT in sudoers',
      },
    ],
    [
      'sudo',
      'pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=alice',
      {
        type: 'auth.login_failed',
        method: 'sudo',
        user: 'alice',
        tty: '/dev/pts/0',
        reason: 'authentication failure',
      },
    ],
    [
      'dropbear',
      "Bad password attempt for 'root' from 10.0.0.9:50022",
      {
        type: 'auth.login_failed',
        method: 'password',
        user: 'root',
        sourceAddress: '10.0.0.9',
        sourcePort: 50022,
      },
    ],
    ['sshd', 'pam_unix(sshd:session): session opened for user bob(uid=1000) by (uid=0)', undefined],
    ['sudo', 'pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)', undefined],
    ['cron', 'Failed password for root from 203.0.113.5 port 52100 ssh2', undefined],
  ];
  for (const [program, message, expected] of cases) {
    it(`reads ${expected?.type ?? 'nothing'} from ${program}'s "${message.slice(0, 50)}"`, () => {
      const finding = parseAuthMessage(program, message);
      if (expected === undefined) {
        assert.equal(finding, undefined);
        return;
      }
      const { onePerProcess: _, ...fields } = finding ?? { onePerProcess: false };
      const defined = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
      assert.deepEqual(defined, expected);
    });
  }

  it('keeps one su and sudo outcome per process, and every sshd attempt', () => {
    assert.equal(parseAuthMessage('su', 'Successful su for root by alice')?.onePerProcess, true);
    assert.equal(parseAuthMessage('sudo', 'a : TTY=x ; USER=root ; COMMAND=/bin/id')?.onePerProcess, true);
    assert.equal(
      parseAuthMessage('sshd', 'Failed password for root from 1.2.3.4 port 1 ssh2')?.onePerProcess,
      false,
    );
  });
});

describe('unfoldRepeated', () => {
  it("unwraps rsyslog's repeated-message summary and counts it", () => {
    assert.deepEqual(
      unfoldRepeated('message repeated 3 times: [ Failed password for root from 1.2.3.4 port 22 ssh2]'),
      { message: 'Failed password for root from 1.2.3.4 port 22 ssh2', repeat: 3 },
    );
    assert.deepEqual(unfoldRepeated('Accepted password for bob'), {
      message: 'Accepted password for bob',
      repeat: 1,
    });
  });
});
