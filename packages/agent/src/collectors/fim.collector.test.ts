import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFile,
  chmod,
  chown,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  symlink,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { NewDeviceEvent } from '@edgeward/core';
import { FimCollector, type FimCollectorOptions } from './fim.collector.ts';

let dir: string;
let root: string;
let stateDir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeward-fim-'));
  root = join(dir, 'root');
  stateDir = join(dir, 'state');
  await mkdir(join(root, 'etc/ssh/sshd_config.d'), { recursive: true });
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(root, 'etc/hosts'), '127.0.0.1 localhost\n');
  await writeFile(join(root, 'etc/ssh/sshd_config'), 'PermitRootLogin no\n');
  await writeFile(join(root, 'etc/ssh/sshd_config.d/10-edge.conf'), 'PasswordAuthentication no\n');
  await chmod(join(root, 'etc/passwd'), 0o644);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sink() {
  const events: NewDeviceEvent[] = [];
  return { events, emit: async (batch: readonly NewDeviceEvent[]) => void events.push(...batch) };
}

function fim(emit: FimCollectorOptions['emit'], extra: Partial<FimCollectorOptions> = {}) {
  return new FimCollector({
    root,
    stateDir,
    emit,
    paths: ['/etc/passwd', '/etc/ssh'],
    watch: false,
    now: () => 1_717_000_000_000,
    ...extra,
  });
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const types = (events: readonly NewDeviceEvent[]) => events.map((e) => [e.type, e.data.path]);

describe('FimCollector', () => {
  it('makes the baseline on the first scan: one fim.baseline with the count, no event per file', async () => {
    const { events, emit } = sink();
    const result = await fim(emit).scan();
    assert.deepEqual(events, [
      {
        type: 'fim.baseline',
        severity: 'info',
        time: 1_717_000_000_000,
        data: { files: 3, paths: ['/etc/passwd', '/etc/ssh'], limitReached: false },
      },
    ]);
    assert.equal(result?.baseline, true);
    assert.equal(result?.files, 3);
    const lines = (await readFile(join(stateDir, 'fim-baseline.jsonl'), 'utf8')).trim().split('\n');
    // A header, then one line per file.
    assert.equal(lines.length, 4);
    assert.ok(lines.some((line) => line.includes('"/etc/ssh/sshd_config.d/10-edge.conf"')));
  });

  it('reports a created, a modified and a deleted file with the values before and after', async () => {
    const { events, emit } = sink();
    const collector = fim(emit);
    await collector.scan();
    events.length = 0;
    await writeFile(join(root, 'etc/ssh/authorized_keys'), 'ssh-ed25519 AAAA intruder\n');
    await appendFile(join(root, 'etc/ssh/sshd_config'), 'PermitRootLogin yes\n');
    await unlink(join(root, 'etc/ssh/sshd_config.d/10-edge.conf'));
    const result = await collector.scan();

    assert.deepEqual(types(events), [
      ['fim.created', '/etc/ssh/authorized_keys'],
      ['fim.modified', '/etc/ssh/sshd_config'],
      ['fim.deleted', '/etc/ssh/sshd_config.d/10-edge.conf'],
    ]);
    const [created, modified, deleted] = events;
    assert.equal(created?.severity, 'medium');
    assert.deepEqual(created?.data.after, {
      type: 'file',
      sha256: sha256('ssh-ed25519 AAAA intruder\n'),
      size: 26,
      mode: (await stat(join(root, 'etc/ssh/authorized_keys'))).mode.toString(8).slice(-4).padStart(4, '0'),
      uid: process.getuid?.(),
      gid: process.getgid?.(),
    });
    assert.deepEqual(modified?.data, {
      path: '/etc/ssh/sshd_config',
      before: { type: 'file', sha256: sha256('PermitRootLogin no\n'), size: 19 },
      after: { type: 'file', sha256: sha256('PermitRootLogin no\nPermitRootLogin yes\n'), size: 39 },
    });
    assert.equal(
      (deleted?.data.before as { sha256: string } | undefined)?.sha256,
      sha256('PasswordAuthentication no\n'),
    );
    assert.deepEqual(
      [result?.created, result?.modified, result?.deleted, result?.baseline],
      [1, 1, 1, false],
    );
  });

  it('hashes files of several read chunks and empty files as sha256 does', async () => {
    const { events, emit } = sink();
    const collector = fim(emit);
    await collector.scan();
    events.length = 0;
    const large = Array.from({ length: 30_000 }, (_, i) => `line ${i}\n`).join('');
    await writeFile(join(root, 'etc/ssh/moduli'), large);
    await writeFile(join(root, 'etc/ssh/empty'), '');
    await collector.scan();
    const hashes = Object.fromEntries(
      events.map((e) => [e.data.path, (e.data.after as { sha256: string; size: number }).sha256]),
    );
    assert.ok(large.length > 3 * 64 * 1024);
    assert.deepEqual(hashes, { '/etc/ssh/empty': sha256(''), '/etc/ssh/moduli': sha256(large) });
  });

  it('reports a mode change as fim.permissions_changed with mode, uid and gid before and after', async () => {
    const { events, emit } = sink();
    const collector = fim(emit);
    await collector.scan();
    events.length = 0;
    await chmod(join(root, 'etc/passwd'), 0o4777);
    await collector.scan();
    assert.deepEqual(
      events.map((e) => [e.type, e.severity, e.data]),
      [
        [
          'fim.permissions_changed',
          'high',
          {
            path: '/etc/passwd',
            before: { mode: '0644', uid: process.getuid?.(), gid: process.getgid?.() },
            after: { mode: '4777', uid: process.getuid?.(), gid: process.getgid?.() },
          },
        ],
      ],
    );
  });

  it('reports an owner change', { skip: process.getuid?.() !== 0 && 'needs root to chown' }, async () => {
    const { events, emit } = sink();
    const collector = fim(emit);
    await collector.scan();
    events.length = 0;
    await chown(join(root, 'etc/passwd'), 1000, 1000);
    await collector.scan();
    assert.deepEqual(types(events), [['fim.permissions_changed', '/etc/passwd']]);
    assert.deepEqual((events[0]?.data.after as { uid: number } | undefined)?.uid, 1000);
  });

  it('detects a content change that kept the size and the mtime: the ctime gives it away', async () => {
    const { events, emit } = sink();
    const collector = fim(emit);
    await collector.scan();
    events.length = 0;
    const file = join(root, 'etc/passwd');
    const before = await stat(file);
    await writeFile(file, 'toor:x:0:0:root:/root:/bin/sh\n');
    await utimes(file, before.atime, before.mtime);
    await collector.scan();
    assert.deepEqual(types(events), [['fim.modified', '/etc/passwd']]);
  });

  it('records a symlink by its target, without following it, and reports a retargeted link', async () => {
    await symlink('/etc/passwd', join(root, 'etc/ssh/link'));
    const { events, emit } = sink();
    const collector = fim(emit);
    await collector.scan();
    events.length = 0;
    await unlink(join(root, 'etc/ssh/link'));
    await symlink('/etc/shadow', join(root, 'etc/ssh/link'));
    await collector.scan();
    assert.deepEqual(
      events.map((e) => [e.type, e.data.after]),
      [['fim.modified', { type: 'symlink', sha256: sha256('/etc/shadow'), size: 11 }]],
    );
  });

  it('skips FIFOs and sockets instead of blocking on them', async () => {
    execFileSync('mkfifo', [join(root, 'etc/ssh/pipe')]);
    const { events, emit } = sink();
    const result = await fim(emit).scan();
    assert.equal(result?.files, 3);
    assert.equal(events.length, 1);
  });

  it('keeps the baseline across a restart and reports at the next scan what changed while stopped', async () => {
    const { events, emit } = sink();
    const first = fim(emit);
    await first.start();
    await first.stop();
    await writeFile(join(root, 'etc/ssh/sshd_config'), 'PermitRootLogin yes\n');
    await writeFile(join(root, 'etc/ssh/new.conf'), 'x\n');
    const second = fim(emit);
    await second.start();
    await second.stop();
    assert.deepEqual(types(events), [
      ['fim.baseline', undefined],
      ['fim.created', '/etc/ssh/new.conf'],
      ['fim.modified', '/etc/ssh/sshd_config'],
    ]);
  });

  it('does not rewrite the baseline when nothing changed', async () => {
    const { emit } = sink();
    await fim(emit).scan();
    const path = join(stateDir, 'fim-baseline.jsonl');
    const written = (await stat(path)).mtimeMs;
    await new Promise((done) => setTimeout(done, 20));
    await fim(emit).scan();
    assert.equal((await stat(path)).mtimeMs, written);
  });

  it('stops at the file limit with one fim.limit_reached, keeping the files it already tracks', async () => {
    for (const name of ['b', 'c', 'd', 'e']) await writeFile(join(root, 'etc/ssh', name), name);
    const { events, emit } = sink();
    const collector = fim(emit, { maxFiles: 4 });
    const first = await collector.scan();
    assert.deepEqual(
      events.map((e) => [e.type, e.data]),
      [
        ['fim.baseline', { files: 4, paths: ['/etc/passwd', '/etc/ssh'], limitReached: true }],
        ['fim.limit_reached', { limit: 4, paths: ['/etc/passwd', '/etc/ssh'] }],
      ],
    );
    assert.equal(first?.limitReached, true);
    events.length = 0;
    // A new file sorting first does not push a tracked one out, which would read as a deletion.
    await writeFile(join(root, 'etc/ssh/a'), 'a');
    await appendFile(join(root, 'etc/ssh/b'), 'changed');
    const second = await collector.scan();
    assert.deepEqual(types(events), [['fim.modified', '/etc/ssh/b']]);
    assert.equal(second?.limitReached, true);
  });

  it('does not report the files of a newly configured path as created: they join the baseline', async () => {
    const { events, emit } = sink();
    await fim(emit).scan();
    events.length = 0;
    await fim(emit, { paths: ['/etc/passwd', '/etc/ssh', '/etc/hosts'] }).scan();
    assert.deepEqual(
      events.map((e) => [e.type, e.data]),
      [['fim.baseline', { files: 1, paths: ['/etc/hosts'], limitReached: false }]],
    );
    events.length = 0;
    // And a path dropped from the configuration leaves quietly, without deletions.
    await fim(emit, { paths: ['/etc/hosts'] }).scan();
    assert.deepEqual(events, []);
  });

  it('leaves its own state directory out when it lies inside a watched path', async () => {
    stateDir = join(root, 'etc/ssh/.edgeward');
    const { events, emit } = sink();
    const collector = fim(emit);
    await collector.scan();
    await collector.scan();
    assert.deepEqual(types(events), [['fim.baseline', undefined]]);
  });

  it('reports an unreadable baseline as a collector error and makes a new one', async () => {
    await mkdir(stateDir, { recursive: true });
    await writeFile(join(stateDir, 'fim-baseline.jsonl'), 'not json\n');
    const { events, emit } = sink();
    await fim(emit).scan();
    assert.deepEqual(
      events.map((e) => [e.type, e.data.collector, e.data.operation]),
      [
        ['agent.collector_error', 'fim', 'load_baseline'],
        ['fim.baseline', undefined, undefined],
      ],
    );
  });

  it('rescans soon after a change it was notified of', async () => {
    const { events, emit } = sink();
    const collector = fim(emit, { watch: true, watchDebounceMs: 20, rescanIntervalMs: 3_600_000 });
    await collector.start();
    try {
      await writeFile(join(root, 'etc/ssh/sshd_config.d/20-new.conf'), 'x\n');
      const deadline = Date.now() + 5000;
      while (!events.some((e) => e.type === 'fim.created') && Date.now() < deadline) {
        await new Promise((done) => setTimeout(done, 10));
      }
      assert.deepEqual(types(events), [
        ['fim.baseline', undefined],
        ['fim.created', '/etc/ssh/sshd_config.d/20-new.conf'],
      ]);
    } finally {
      await collector.stop();
    }
  });
});
