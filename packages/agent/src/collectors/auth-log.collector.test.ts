import assert from 'node:assert/strict';
import {
  appendFile,
  mkdir,
  mkdtemp,
  readFile,
  rename,
  rm,
  truncate,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { derivedEventId, type NewDeviceEvent } from '@edgeward/core';
import type { CommandRunner } from '../inventory/command-runner.ts';
import { AuthLogCollector, type AuthLogCollectorOptions } from './auth-log.collector.ts';

let dir: string;
let root: string;
let stateDir: string;
let log: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeward-auth-'));
  root = join(dir, 'root');
  stateDir = join(dir, 'state');
  log = join(root, 'var/log/auth.log');
  await mkdir(join(root, 'var/log'), { recursive: true });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sink() {
  const events: NewDeviceEvent[] = [];
  return { events, emit: async (batch: readonly NewDeviceEvent[]) => void events.push(...batch) };
}

function collector(emit: AuthLogCollectorOptions['emit'], extra: Partial<AuthLogCollectorOptions> = {}) {
  return new AuthLogCollector({ root, stateDir, emit, startAt: 'beginning', watch: false, ...extra });
}

/** An sshd failure line whose source port numbers it, so that tests can tell lines apart. */
const failed = (n: number) =>
  `Mar  5 10:00:00 gw sshd[100]: Failed password for root from 10.0.0.1 port ${n} ssh2\n`;
const failedLines = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => failed(from + i)).join('');
const ports = (events: readonly NewDeviceEvent[]) =>
  events.filter((e) => e.type === 'auth.login_failed').map((e) => e.data.sourcePort);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('AuthLogCollector', () => {
  it('turns each kind of auth line into its event with user, source, method, program, pid and line', async () => {
    const lines = [
      'Mar  5 10:00:01 gw sshd[101]: Failed password for root from 203.0.113.5 port 52100 ssh2',
      'Mar  5 10:00:02 gw sshd[102]: Invalid user admin from 203.0.113.6 port 52101',
      'Mar  5 10:00:03 gw sshd[103]: Accepted publickey for deploy from 192.168.1.21 port 50515 ssh2: ED25519 SHA256:x',
      'Mar  5 10:00:04 gw sshd[104]: Connection closed by authenticating user root 203.0.113.9 port 41000 [preauth]',
      "Mar  5 10:00:05 gw login[105]: FAILED LOGIN (1) on '/dev/tty1' FOR 'root', Authentication failure",
      'Mar  5 10:00:06 gw su[106]: FAILED su for root by alice',
      'Mar  5 10:00:07 gw su[107]: Successful su for root by alice',
      'Mar  5 10:00:08 gw su[108]: pam_unix(su:session): session opened for user root(uid=0) by bob(uid=1000)',
      'Mar  5 10:00:09 gw sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id',
      'Mar  5 10:00:10 gw sudo: pam_unix(sudo:auth): authentication failure; logname=carol uid=1001 euid=0 tty=/dev/pts/1 ruser=carol rhost=  user=carol',
      'Mar  5 10:00:11 gw CRON[109]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)',
    ];
    await writeFile(log, `${lines.join('\n')}\n`);
    await utimes(log, new Date(2024, 2, 10), new Date(2024, 2, 10));
    const { events, emit } = sink();
    await collector(emit).poll();

    assert.deepEqual(
      events.map((e) => [e.type, e.severity, e.data.program, e.data.user]),
      [
        ['auth.login_failed', 'medium', 'sshd', 'root'],
        ['auth.login_failed', 'medium', 'sshd', 'admin'],
        ['auth.login_succeeded', 'info', 'sshd', 'deploy'],
        ['auth.login_failed', 'medium', 'sshd', 'root'],
        ['auth.login_failed', 'medium', 'login', 'root'],
        ['auth.login_failed', 'medium', 'su', 'alice'],
        ['auth.privilege_escalation', 'low', 'su', 'alice'],
        ['auth.privilege_escalation', 'low', 'su', 'bob'],
        ['auth.privilege_escalation', 'low', 'sudo', 'alice'],
        ['auth.login_failed', 'medium', 'sudo', 'carol'],
      ],
    );
    assert.deepEqual(events[0]?.data, {
      user: 'root',
      sourceAddress: '203.0.113.5',
      sourcePort: 52100,
      method: 'password',
      program: 'sshd',
      pid: 101,
      source: '/var/log/auth.log',
      fileHead: events[0]?.data.fileHead,
      offset: 0,
      line: lines[0],
    });
    assert.match(String(events[0]?.data.fileHead), /^[0-9a-f]{16}$/);
    // The second line's offset is the first's length plus its newline; its id follows from file, offset and text.
    assert.equal(events[1]?.data.offset, Buffer.byteLength(`${lines[0]}\n`));
    for (const event of events) assert.equal(event.id, derivedEventId({ seq: 0, data: event.data }));
    assert.equal(events[0]?.time, new Date(2024, 2, 5, 10, 0, 1).getTime());
    assert.equal(events[2]?.data.method, 'publickey');
    assert.deepEqual(
      [events[8]?.data.targetUser, events[8]?.data.command, events[8]?.data.tty],
      ['root', '/usr/bin/id', 'pts/0'],
    );
    assert.ok(events.every((e) => typeof e.id === 'string' && /^[0-9a-f-]{36}$/.test(e.id)));
  });

  it('reads the year of RFC 3164 lines from the file: a December line in a file written in January', async () => {
    await writeFile(log, 'Dec 31 23:59:59 gw sshd[1]: Accepted password for bob from 10.0.0.2 port 2 ssh2\n');
    await utimes(log, new Date(2025, 0, 1, 0, 1), new Date(2025, 0, 1, 0, 1));
    const { events, emit } = sink();
    await collector(emit).poll();
    assert.equal(events[0]?.time, new Date(2024, 11, 31, 23, 59, 59).getTime());
  });

  it('reports one escalation per su process although shadow su logs it on three lines', async () => {
    await writeFile(
      log,
      [
        'Mar  5 10:00:00 gw su[500]: Successful su for root by alice',
        'Mar  5 10:00:00 gw su[500]: + /dev/pts/0 alice:root',
        'Mar  5 10:00:00 gw su[500]: pam_unix(su:session): session opened for user root by alice(uid=1000)',
        'Mar  5 10:00:05 gw su[501]: + /dev/pts/0 alice:root',
        '',
      ].join('\n'),
    );
    const { events, emit } = sink();
    await collector(emit).poll();
    assert.deepEqual(
      events.map((e) => [e.type, e.data.pid]),
      [
        ['auth.privilege_escalation', 500],
        ['auth.privilege_escalation', 501],
      ],
    );
  });

  it('consumes only complete lines: a line being written is read once its newline arrives', async () => {
    const line = failed(1);
    await writeFile(log, line.slice(0, 30));
    const { events, emit } = sink();
    const c = collector(emit);
    await c.poll();
    assert.deepEqual(events, []);
    await appendFile(log, line.slice(30));
    await c.poll();
    assert.deepEqual(ports(events), [1]);
  });

  it('starts at the end of a file it has never seen unless told otherwise, then reads what is appended', async () => {
    await writeFile(log, failedLines(1, 3) + failed(4).slice(0, 20));
    const { events, emit } = sink();
    const c = collector(emit, { startAt: 'end' });
    await c.poll();
    assert.deepEqual(events, []);
    await appendFile(log, failed(4).slice(20) + failed(5));
    await c.poll();
    // The partial line at the end was not cut in half: it is read whole once complete.
    assert.deepEqual(ports(events), [4, 5]);
  });

  it('resumes after a restart from the saved position, neither skipping nor repeating a line', async () => {
    await writeFile(log, failedLines(1, 3));
    const { events, emit } = sink();
    const first = collector(emit);
    await first.start();
    await first.stop();
    await appendFile(log, failedLines(4, 6));
    const second = collector(emit);
    await second.start();
    await appendFile(log, failedLines(7, 7));
    await second.poll();
    await second.stop();
    assert.deepEqual(ports(events), range(1, 7));
  });

  it('keeps the position past lines without events on stop, so a restart does not read them again', async () => {
    const noise = 'Mar  5 10:00:00 gw CRON[9]: pam_unix(cron:session): session closed for user root\n';
    await writeFile(log, noise);
    const { events, emit } = sink();
    const first = collector(emit);
    await first.start();
    await appendFile(log, noise.repeat(3));
    await first.poll();
    await first.stop();
    const saved = JSON.parse(await readFile(join(stateDir, 'auth-log.json'), 'utf8'));
    assert.equal(saved.files['/var/log/auth.log'].current.offset, noise.length * 4);
    assert.deepEqual(events, []);
  });

  it('polls sooner than its interval when the log directory reports a change', async () => {
    await writeFile(log, '');
    const { events, emit } = sink();
    const c = collector(emit, { watch: true, pollIntervalMs: 3_600_000 });
    await c.start();
    try {
      await appendFile(log, failedLines(1, 1));
      const deadline = Date.now() + 5000;
      while (events.length === 0 && Date.now() < deadline) await new Promise((done) => setTimeout(done, 10));
      assert.deepEqual(ports(events), [1]);
    } finally {
      await c.stop();
    }
  });

  it('reads many lines in batches, saving the position after each batch the queue accepted', async () => {
    await writeFile(log, failedLines(1, 1000));
    const batches: number[] = [];
    let fail = false;
    const emit = async (batch: readonly NewDeviceEvent[]) => {
      if (fail) throw new Error('queue full');
      batches.push(batch.length);
    };
    const c = collector(emit);
    await c.poll();
    assert.ok(batches.length > 1 && Math.max(...batches) <= 256);
    assert.equal(
      batches.reduce((a, b) => a + b, 0),
      1000,
    );
    // A refused batch leaves the position where it was: the same lines are offered again next time.
    await appendFile(log, failedLines(1001, 1002));
    fail = true;
    await c.poll();
    fail = false;
    const { events, emit: emit2 } = sink();
    await collector(emit2).poll();
    assert.deepEqual(ports(events), [1001, 1002]);
  });

  it('reads in one poll what is appended while it reads, beyond the size the file had when the poll began', async () => {
    await writeFile(log, failedLines(1, 300));
    let appended = false;
    const events: NewDeviceEvent[] = [];
    const emit = async (batch: readonly NewDeviceEvent[]) => {
      events.push(...batch);
      if (appended) return;
      appended = true;
      // A line without an event, longer than the read buffer this poll began with, between two runs of lines.
      await appendFile(
        log,
        `${failedLines(301, 1300)}Mar  5 10:00:01 gw cron[7]: ${'x'.repeat(12_000)}\n${failedLines(1301, 2300)}`,
      );
    };
    await collector(emit).poll();
    assert.deepEqual(ports(events), range(1, 2300));
  });

  it('gives a line read twice (a crash before the position was saved) the same event id', async () => {
    await writeFile(log, failedLines(1, 2));
    const { events, emit } = sink();
    await collector(emit).poll();
    await rm(stateDir, { recursive: true });
    await collector(emit).poll();
    assert.equal(events.length, 4);
    assert.deepEqual(
      events.slice(0, 2).map((e) => e.id),
      events.slice(2).map((e) => e.id),
    );
  });

  it('gives the lines of a new file that begins like the rotated one ids of their own', async () => {
    const opened = 'Mar  5 09:59:59 gw rsyslogd: rsyslogd was HUPed\n';
    await writeFile(log, opened + failedLines(1, 2));
    const { events, emit } = sink();
    const c = collector(emit, { rotatedGraceMs: 0 });
    await c.poll();
    await rename(log, `${log}.1`);
    await writeFile(log, opened + failedLines(3, 4));
    await c.poll();
    await c.poll();
    assert.deepEqual(ports(events), [1, 2, 3, 4]);
    assert.equal(new Set(events.map((e) => e.id)).size, 4);
  });

  it('follows a rotation while running: the renamed file is finished, late writes included, then the new one', async () => {
    await writeFile(log, failedLines(1, 2));
    const { events, emit } = sink();
    const c = collector(emit, { rotatedGraceMs: 60_000 });
    await c.poll();
    await appendFile(log, failedLines(3, 4));
    await rename(log, `${log}.1`);
    await writeFile(log, failedLines(10, 11));
    await c.poll();
    // The logger had not reopened its file yet: it wrote one more line to the renamed one.
    await appendFile(`${log}.1`, failedLines(5, 5));
    await appendFile(log, failedLines(12, 12));
    await c.poll();
    assert.deepEqual(ports(events), [1, 2, 3, 4, 10, 11, 5, 12]);
  });

  it('lets go of a rotated file once it has been idle for the grace period, reading its last partial line', async () => {
    await writeFile(log, failedLines(1, 1));
    const { events, emit } = sink();
    const c = collector(emit, { rotatedGraceMs: 0 });
    await c.poll();
    await appendFile(log, failed(2).trimEnd());
    await rename(log, `${log}.1`);
    await writeFile(log, failedLines(3, 3));
    await c.poll();
    await appendFile(`${log}.1`, 'ignored: the file was let go');
    await c.poll();
    assert.deepEqual(ports(events), [1, 2, 3]);
    const state = JSON.parse(await readFile(join(stateDir, 'auth-log.json'), 'utf8'));
    assert.equal(state.files['/var/log/auth.log'].rotated, undefined);
  });

  it('handles a rotation while stopped: the rotated file is finished from the saved offset, then the new file', async () => {
    await writeFile(log, failedLines(1, 3));
    const { events, emit } = sink();
    const first = collector(emit);
    await first.start();
    await first.stop();
    await appendFile(log, failedLines(4, 5));
    await rename(log, `${log}.1`);
    await writeFile(log, failedLines(6, 7));
    const second = collector(emit);
    await second.start();
    await appendFile(log, failedLines(8, 8));
    await second.poll();
    await second.stop();
    assert.deepEqual(ports(events), range(1, 8));
  });

  it('finds the rotated file by inode under a dated name; a file rotated away unseen between polls is missed', async () => {
    const secure = join(root, 'var/log/secure');
    await writeFile(secure, failedLines(1, 1));
    const { events, emit } = sink();
    const c = collector(emit, { files: ['/var/log/secure'] });
    await c.poll();
    await appendFile(secure, failedLines(2, 2));
    await rename(secure, `${secure}-20240301`);
    await writeFile(secure, failedLines(3, 3));
    await rename(secure, `${secure}-20240302`);
    await writeFile(secure, failedLines(4, 4));
    await c.poll();
    // The file in between was never seen: its inode is unknown, so its line cannot be told apart from noise.
    assert.deepEqual(ports(events), [1, 2, 4]);
  });

  it('follows copytruncate: the unread tail is read from the copy, then the truncated file from its start', async () => {
    await writeFile(log, failedLines(1, 2));
    const { events, emit } = sink();
    const c = collector(emit);
    await c.poll();
    await appendFile(log, failedLines(3, 4));
    await writeFile(`${log}.1`, await readFile(log));
    await truncate(log, 0);
    await appendFile(log, failedLines(5, 5));
    await c.poll();
    assert.deepEqual(ports(events), range(1, 5));
  });

  it('recognises copytruncate by the first line even when the new file has grown past the old offset', async () => {
    await writeFile(log, failedLines(1, 2));
    const { events, emit } = sink();
    const first = collector(emit);
    await first.poll();
    await appendFile(log, failedLines(3, 3));
    await writeFile(`${log}.1`, await readFile(log));
    await truncate(log, 0);
    await appendFile(
      log,
      `Mar  6 00:00:00 gw sshd[7]: Server listening on 0.0.0.0 port 22.\n${failedLines(4, 9)}`,
    );
    await collector(emit).poll();
    assert.deepEqual(ports(events), range(1, 9));
  });

  it('reports a rotated file that vanished while stopped as a collector error, then reads the new file', async () => {
    await writeFile(log, failedLines(1, 1));
    const { events, emit } = sink();
    await collector(emit).poll();
    await appendFile(log, failedLines(2, 2));
    await rename(log, `${log}.1.gz`);
    await writeFile(log, failedLines(3, 3));
    await collector(emit).poll();
    assert.deepEqual(ports(events), [1, 3]);
    const error = events.find((e) => e.type === 'agent.collector_error');
    assert.equal(error?.data.collector, 'auth-log');
    assert.equal(error?.data.operation, 'rotation');
    assert.match(String(error?.data.message), /after byte \d+ were not read/);
  });

  it('reports a failure to read as one collector error, not one per poll, and keeps polling', async () => {
    await rm(join(root, 'var/log'), { recursive: true });
    await writeFile(join(root, 'var/log'), 'not a directory');
    const { events, emit } = sink();
    const c = collector(emit, { files: ['/var/log/auth.log'] });
    await c.poll();
    await c.poll();
    assert.deepEqual(
      events.map((e) => [e.type, e.data.operation, e.data.code, e.data.path]),
      [['agent.collector_error', 'follow', 'ENOTDIR', '/var/log/auth.log']],
    );
  });

  it('starts over with a collector error when its state file is corrupt', async () => {
    await mkdir(stateDir, { recursive: true });
    await writeFile(join(stateDir, 'auth-log.json'), '{"v":1,"files":{"/var/log/auth.log":{"current":7}}}');
    await writeFile(log, failedLines(1, 1));
    const { events, emit } = sink();
    await collector(emit).poll();
    assert.deepEqual(
      events.map((e) => e.type),
      ['agent.collector_error', 'auth.login_failed'],
    );
    assert.equal(events[0]?.data.operation, 'load_state');
  });

  it('polls the journal after the saved cursor when no auth log exists, from its end on first start', async () => {
    const calls: string[][] = [];
    const pages: string[] = [
      `${JSON.stringify({ __CURSOR: 's=1;i=10', __REALTIME_TIMESTAMP: '1709633472000000', MESSAGE: 'x' })}\n`,
      [
        {
          __CURSOR: 's=1;i=11',
          __REALTIME_TIMESTAMP: '1709633473123456',
          SYSLOG_IDENTIFIER: 'sshd',
          _PID: '4242',
          MESSAGE: 'Failed password for root from 203.0.113.5 port 52100 ssh2',
        },
        {
          __CURSOR: 's=1;i=12',
          __REALTIME_TIMESTAMP: '1709633474000000',
          _COMM: 'sudo',
          // journalctl prints a message that is not valid UTF-8 as its bytes: `bo\xff : TTY=x`.
          MESSAGE: [0x62, 0x6f, 0xff, 0x20, 0x3a, 0x20, 0x54, 0x54, 0x59, 0x3d, 0x78],
        },
        {
          __CURSOR: 's=1;i=13',
          __REALTIME_TIMESTAMP: '1709633475000000',
          SYSLOG_IDENTIFIER: 'sudo',
          MESSAGE: 'alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/id',
        },
      ]
        .map((entry) => JSON.stringify(entry))
        .join('\n'),
      '',
      '',
    ];
    const runCommand: CommandRunner = async (file, args) => {
      assert.equal(file, 'journalctl');
      calls.push([...args]);
      return { exitCode: 0, stdout: pages.shift() ?? '' };
    };
    await rm(join(root, 'var/log'), { recursive: true });
    const { events, emit } = sink();
    const c = collector(emit, { journal: 'always', runCommand });
    await c.poll();
    await c.poll();
    assert.deepEqual(calls[0], ['-o', 'json', '--quiet', '--no-pager', '-n', '1']);
    assert.ok(calls[1]?.includes('--after-cursor=s=1;i=10'));
    assert.ok(calls[1]?.includes('_COMM=sshd') && calls[1]?.includes('_COMM=sudo'));
    assert.deepEqual(
      events.map((e) => [e.type, e.time, e.data.program, e.data.user, e.data.pid, e.data.source]),
      [
        ['auth.login_failed', 1709633473123, 'sshd', 'root', 4242, 'journal'],
        ['auth.privilege_escalation', 1709633474000, 'sudo', 'bo\ufffd', undefined, 'journal'],
        ['auth.privilege_escalation', 1709633475000, 'sudo', 'alice', undefined, 'journal'],
      ],
    );
    await c.poll();
    assert.ok(calls[2]?.includes('--after-cursor=s=1;i=13'));
    // A restarted collector goes on from the saved cursor.
    await collector(emit, { journal: 'always', runCommand }).poll();
    assert.ok(calls[3]?.includes('--after-cursor=s=1;i=13'));
  });

  it('leaves the journal alone when the tree is not this machine', async () => {
    const runCommand: CommandRunner = async () => assert.fail('journalctl must not run');
    const { events, emit } = sink();
    await collector(emit, { runCommand }).poll();
    assert.deepEqual(events, []);
  });
});
