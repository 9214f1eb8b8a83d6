import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readTextInRoot, resolveInRoot } from './root-files.ts';

let scratch: string;
let root: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'edgeward-root-files-'));
  root = join(scratch, 'root');
  await mkdir(join(root, 'etc/ssh'), { recursive: true });
  await mkdir(join(root, 'run/resolvconf'), { recursive: true });
  await writeFile(join(root, 'etc/ssh/sshd_config'), 'PermitRootLogin no\n');
  await writeFile(join(root, 'run/resolvconf/resolv.conf'), 'nameserver 192.0.2.53\n');
  await writeFile(join(scratch, 'outside'), 'host file\n');
  await symlink('../run/resolvconf/resolv.conf', join(root, 'etc/resolv.conf'));
  await symlink('/etc/ssh', join(root, 'etc/ssh-link'));
  await symlink('../../outside', join(root, 'etc/escape'));
  await symlink('loop-b', join(root, 'etc/loop-a'));
  await symlink('loop-a', join(root, 'etc/loop-b'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('resolveInRoot', () => {
  it('follows relative links within the root', async () => {
    const resolved = await resolveInRoot(root, '/etc/resolv.conf');
    assert.deepEqual(resolved, {
      ok: true,
      host: join(root, 'run/resolvconf/resolv.conf'),
      path: '/run/resolvconf/resolv.conf',
    });
  });

  it('reads absolute links from the root, as a chroot would', async () => {
    const read = await readTextInRoot(root, '/etc/ssh-link/sshd_config');
    assert.deepEqual(read, { kind: 'text', text: 'PermitRootLogin no\n', path: '/etc/ssh/sshd_config' });
  });

  it('refuses "..", links leading above the root, and link loops', async () => {
    const dotdot = await resolveInRoot(root, '/etc/../../outside');
    assert.equal(dotdot.ok, false);
    const climbing = await resolveInRoot(root, '/etc/escape');
    assert.equal(climbing.ok, false);
    assert.match(!climbing.ok ? climbing.reason : '', /outside the root/);
    const loop = await resolveInRoot(root, '/etc/loop-a');
    assert.match(!loop.ok ? loop.reason : '', /too many symbolic links/);
    assert.equal((await resolveInRoot(root, 'etc/passwd')).ok, false);
  });

  it('keeps the components that do not exist yet, and leaves a final link alone when asked', async () => {
    assert.deepEqual(await resolveInRoot(root, '/etc/edgeward/new.conf'), {
      ok: true,
      host: join(root, 'etc/edgeward/new.conf'),
      path: '/etc/edgeward/new.conf',
    });
    const link = await resolveInRoot(root, '/etc/resolv.conf', false);
    assert.deepEqual(link, { ok: true, host: join(root, 'etc/resolv.conf'), path: '/etc/resolv.conf' });
  });

  it('tells a missing file from an unreadable one', async () => {
    assert.equal((await readTextInRoot(root, '/etc/shadow')).kind, 'missing');
    const directory = await readTextInRoot(root, '/etc/ssh');
    assert.equal(directory.kind, 'unreadable');
    const tooLarge = await readTextInRoot(root, '/etc/ssh/sshd_config', 4);
    assert.match(tooLarge.kind === 'unreadable' ? tooLarge.reason : '', /larger than 4 bytes/);
  });
});
