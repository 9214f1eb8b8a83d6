import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CompiledCheck, RemediationAction } from '@edgeward/core';
import type { CommandRunner } from '../inventory/command-runner.ts';
import type { BaselineContext } from './check-outcome.ts';
import { checkOf, copyFixture, type FixtureName, fixtureContext } from './fixture-roots.fixture.ts';
import { remediate } from './remediate.ts';

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'edgeward-remediate-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

let copies = 0;
const freshCopy = (name: FixtureName) => copyFixture(name, scratch, `copy-${copies++}`);

function remediable(
  spec: Record<string, unknown>,
  action: RemediationAction,
  timeoutMs = 30_000,
): CompiledCheck {
  return checkOf(spec, { remediate: 'auto', remediation: { action, timeoutMs } });
}

const modeOf = async (path: string) => (await stat(path)).mode & 0o7777;

describe('remediate', () => {
  it('file-line: sets a keyword in an sshd drop-in, and the check then passes', async () => {
    const root = await freshCopy('debian-like');
    const check = remediable(
      { type: 'sshd', setting: 'PermitRootLogin', expect: { equals: 'no' } },
      {
        type: 'file-line',
        path: '/etc/ssh/sshd_config.d/01-edgeward.conf',
        match: '^\\s*#?\\s*PermitRootLogin\\b',
        line: 'PermitRootLogin no',
      },
    );
    const result = await remediate(check, fixtureContext(root));
    assert.equal(result.outcome, 'fixed', result.detail);
    assert.equal(result.before.status, 'fail');
    assert.equal(result.after.status, 'pass');
    assert.match(result.after.detail, /01-edgeward\.conf:1/);
    assert.equal(
      await readFile(join(root, 'etc/ssh/sshd_config.d/01-edgeward.conf'), 'utf8'),
      'PermitRootLogin no\n',
    );
    assert.equal(await modeOf(join(root, 'etc/ssh/sshd_config.d/01-edgeward.conf')), 0o644);
    const again = await remediate(check, fixtureContext(root));
    assert.equal(again.outcome, 'fixed');
    assert.match(again.detail, /already passes; nothing was changed/);
  });

  it('file-line: replaces every matching line in place and keeps the mode', async () => {
    const root = await freshCopy('debian-like');
    const config = join(root, 'etc/ssh/sshd_config');
    await writeFile(config, `${await readFile(config, 'utf8')}\nMatch User kiosk\n    X11Forwarding yes\n`);
    await chmod(config, 0o600);
    const check = remediable(
      { type: 'file', path: '/etc/ssh/sshd_config', notContains: '^\\s*X11Forwarding\\s+yes' },
      {
        type: 'file-line',
        path: '/etc/ssh/sshd_config',
        match: '^\\s*X11Forwarding\\b',
        line: 'X11Forwarding no',
      },
    );
    const result = await remediate(check, fixtureContext(root));
    assert.equal(result.outcome, 'fixed', result.detail);
    // The global line, the Match Group block's and the one added for kiosk.
    assert.match(result.detail, /replaced 3 lines of \/etc\/ssh\/sshd_config/);
    const text = await readFile(config, 'utf8');
    assert.equal(text.match(/^X11Forwarding no$/gm)?.length, 3);
    assert.match(text, /^Include \/etc\/ssh\/sshd_config\.d\/\*\.conf$/m, 'the rest of the file is kept');
    assert.equal(await modeOf(config), 0o600);
  });

  it('file-content: restores a drifted file, creating missing directories, with the mode asked for', async () => {
    const root = await freshCopy('alpine-like');
    const banner = 'Authorized use only. Activity is logged.\n';
    const check = remediable(
      { type: 'file', path: '/etc/edgeward/issue.net', contains: '^Authorized use only', maxMode: '0644' },
      { type: 'file-content', path: '/etc/edgeward/issue.net', content: banner, mode: '0644' },
    );
    const created = await remediate(check, fixtureContext(root));
    assert.equal(created.outcome, 'fixed', created.detail);
    assert.equal(await readFile(join(root, 'etc/edgeward/issue.net'), 'utf8'), banner);
    await writeFile(join(root, 'etc/edgeward/issue.net'), 'Welcome!\n');
    await chmod(join(root, 'etc/edgeward/issue.net'), 0o666);
    const restored = await remediate(check, fixtureContext(root));
    assert.equal(restored.before.status, 'fail');
    assert.equal(restored.outcome, 'fixed', restored.detail);
    assert.equal(await readFile(join(root, 'etc/edgeward/issue.net'), 'utf8'), banner);
    assert.equal(await modeOf(join(root, 'etc/edgeward/issue.net')), 0o644);
  });

  it('chmod: narrows /etc/shadow', async () => {
    const root = await freshCopy('alpine-like');
    const check = remediable(
      { type: 'file', path: '/etc/shadow', maxMode: '0640' },
      { type: 'chmod', path: '/etc/shadow', mode: '0640' },
    );
    const result = await remediate(check, fixtureContext(root));
    assert.equal(result.outcome, 'fixed', result.detail);
    assert.equal(result.detail, 'chmod 0640 /etc/shadow (was 0644)');
    assert.equal(await modeOf(join(root, 'etc/shadow')), 0o640);
  });

  it('chown: resolves names through the root, and refuses names it does not have', async () => {
    const root = await freshCopy('debian-like');
    const uid = process.getuid?.() ?? 0;
    const owner = uid === 0 ? 'root' : String(uid);
    const check = remediable(
      { type: 'file', path: '/etc/cron.d/backup', owner: 'nobody-here' },
      { type: 'chown', path: '/etc/cron.d/backup', owner },
    );
    const result = await remediate(check, fixtureContext(root));
    assert.equal(result.outcome, 'not-fixed', result.detail);
    const unknown = remediable(
      { type: 'file', path: '/etc/cron.d/backup', owner: 'nobody-here' },
      { type: 'chown', path: '/etc/cron.d/backup', owner: 'nobody-here' },
    );
    const refused = await remediate(unknown, fixtureContext(root));
    assert.equal(refused.outcome, 'failed');
    assert.match(refused.detail, /there is no user nobody-here in the root's \/etc\/passwd/);
  });

  it("sysctl: sets the value and persists it, replacing the key's line in either spelling", async () => {
    const root = await freshCopy('debian-like');
    await mkdir(join(root, 'etc/sysctl.d'), { recursive: true });
    await writeFile(
      join(root, 'etc/sysctl.d/90-edgeward.conf'),
      '# kept\nnet/ipv4/conf/all/accept_redirects=1\nkernel.kptr_restrict = 1\n',
    );
    const check = remediable(
      { type: 'sysctl', key: 'net.ipv4.conf.all.accept_redirects', expect: { equals: '0' } },
      {
        type: 'sysctl',
        key: 'net.ipv4.conf.all.accept_redirects',
        value: '0',
        persistFile: '/etc/sysctl.d/90-edgeward.conf',
      },
    );
    const result = await remediate(check, fixtureContext(root));
    assert.equal(result.outcome, 'fixed', result.detail);
    assert.equal(await readFile(join(root, 'proc/sys/net/ipv4/conf/all/accept_redirects'), 'utf8'), '0\n');
    assert.equal(
      await readFile(join(root, 'etc/sysctl.d/90-edgeward.conf'), 'utf8'),
      '# kept\nnet.ipv4.conf.all.accept_redirects = 0\nkernel.kptr_restrict = 1\n',
    );
  });

  it('sysctl: on a root without /proc, only persists, and says the check is not fixed', async () => {
    const root = await freshCopy('alpine-like');
    await rm(join(root, 'proc/sys/kernel/randomize_va_space'));
    const check = remediable(
      { type: 'sysctl', key: 'kernel.randomize_va_space', expect: { equals: '2' } },
      {
        type: 'sysctl',
        key: 'kernel.randomize_va_space',
        value: '2',
        persistFile: '/etc/sysctl.d/90-edgeward.conf',
      },
    );
    const result = await remediate(check, fixtureContext(root));
    assert.equal(result.outcome, 'not-fixed', result.detail);
    assert.match(result.detail, /left the running kernel alone/);
    assert.equal(
      await readFile(join(root, 'etc/sysctl.d/90-edgeward.conf'), 'utf8'),
      'kernel.randomize_va_space = 2\n',
    );
  });

  it('service: on a fixture root, removes what records the service as running and enabled', async () => {
    const root = await freshCopy('debian-like');
    const check = remediable(
      { type: 'service', names: ['nftables'], state: 'stopped' },
      { type: 'service', name: 'nftables', action: 'stop-and-disable' },
    );
    const result = await remediate(check, fixtureContext(root));
    assert.equal(result.outcome, 'fixed', result.detail);
    assert.match(result.detail, /invocation:nftables\.service.*multi-user\.target\.wants\/nftables\.service/);
    // in.tftpd's process stays in the fixture's process table: stopping its OpenRC record is not enough.
    const alpine = await freshCopy('alpine-like');
    const tftp = remediable(
      { type: 'service', names: ['in.tftpd'], state: 'stopped' },
      { type: 'service', name: 'in.tftpd', action: 'stop-and-disable' },
    );
    const stillRunning = await remediate(tftp, fixtureContext(alpine));
    assert.equal(stillRunning.outcome, 'not-fixed');
    assert.match(
      stillRunning.detail,
      /removed \/run\/openrc\/started\/in\.tftpd, \/etc\/runlevels\/default\/in\.tftpd; the check still fails: .*process 450/,
    );
  });

  it('service: on the live system, asks systemctl', async () => {
    const root = await freshCopy('debian-like');
    const calls: string[] = [];
    const run: CommandRunner = async (file, args) => {
      calls.push([file, ...args].join(' '));
      if (args[0] === 'disable') await rm(join(root, 'run/systemd/units/invocation:inetutils-inetd.service'));
      return {
        exitCode: args[0] === 'is-active' ? (calls.some((c) => c.includes('disable')) ? 3 : 0) : 0,
        stdout: '',
      };
    };
    await rm(join(root, 'proc/640'), { recursive: true });
    const check = remediable(
      { type: 'service', names: ['inetutils-inetd'], state: 'stopped' },
      { type: 'service', name: 'inetutils-inetd', action: 'stop-and-disable' },
    );
    const result = await remediate(check, fixtureContext(root, { live: true, run }));
    assert.equal(result.outcome, 'fixed', result.detail);
    assert.ok(calls.includes('systemctl disable --now inetutils-inetd.service'), calls.join('\n'));
  });

  it('command: runs only on the live system, bounded by the timeout', async () => {
    const root = await freshCopy('debian-like');
    const check = (timeoutMs: number) =>
      remediable(
        { type: 'command', run: ['check-something'] },
        { type: 'command', run: ['fix-something'] },
        timeoutMs,
      );
    const hanging: CommandRunner = async (file) =>
      file === 'fix-something' ? new Promise(() => undefined) : { exitCode: 1, stdout: '' };
    const started = Date.now();
    const result = await remediate(check(50), fixtureContext(root, { live: true, run: hanging }));
    assert.equal(result.outcome, 'failed');
    assert.equal(result.detail, 'run fix-something did not finish within 50ms');
    assert.ok(Date.now() - started < 5000);
    const notLive = await remediate(check(50), fixtureContext(root));
    assert.equal(notLive.outcome, 'not-fixed', 'the check does not apply to a tree that is not running');
  });
});

describe('remediate refuses to leave the root', () => {
  const context = (root: string): BaselineContext => fixtureContext(root);

  it('refuses a path with ".."', async () => {
    const root = await freshCopy('debian-like');
    const check = remediable(
      { type: 'file', path: '/etc/issue', contains: 'x' },
      { type: 'file-content', path: '/etc/../../escaped', content: 'x\n' },
    );
    const result = await remediate(check, context(root));
    assert.equal(result.outcome, 'failed');
    assert.match(result.detail, /contains "\.\.", which is refused/);
    await assert.rejects(stat(join(scratch, 'escaped')));
  });

  it('refuses a relative link that climbs above the root', async () => {
    const root = await freshCopy('debian-like');
    await mkdir(join(scratch, 'outside'), { recursive: true });
    await rm(join(root, 'etc/ssh/sshd_config.d'), { recursive: true });
    await symlink('../../../outside', join(root, 'etc/ssh/sshd_config.d'));
    const check = remediable(
      { type: 'sshd', setting: 'PasswordAuthentication', expect: { equals: 'no' } },
      {
        type: 'file-line',
        path: '/etc/ssh/sshd_config.d/01-edgeward.conf',
        match: '^PasswordAuthentication',
        line: 'PasswordAuthentication no',
      },
    );
    const result = await remediate(check, context(root));
    assert.equal(result.outcome, 'failed');
    assert.match(result.detail, /leads outside the root/);
    await assert.rejects(stat(join(scratch, 'outside/01-edgeward.conf')));
  });

  it('follows an absolute link inside the root, never onto this machine', async () => {
    const root = await freshCopy('debian-like');
    const hostTarget = join(scratch, `host-motd-${copies}`);
    await symlink(hostTarget, join(root, 'etc/motd'));
    const check = remediable(
      { type: 'file', path: '/etc/motd', contains: '^Managed' },
      { type: 'file-content', path: '/etc/motd', content: 'Managed by Edgeward\n' },
    );
    const result = await remediate(check, context(root));
    assert.equal(result.outcome, 'fixed', result.detail);
    assert.equal(await readFile(join(root, hostTarget), 'utf8'), 'Managed by Edgeward\n');
    await assert.rejects(stat(hostTarget));
  });
});

describe('remediate changes nothing', () => {
  it('without a remediation, when it is off, or where the check does not apply', async () => {
    const root = await freshCopy('debian-like');
    const spec = { type: 'sysctl', key: 'net.ipv4.conf.all.accept_redirects', expect: { equals: '0' } };
    const none = await remediate(checkOf(spec), fixtureContext(root));
    assert.equal(none.outcome, 'failed');
    assert.match(none.detail, /has no remediation/);
    const action: RemediationAction = {
      type: 'sysctl',
      key: 'net.ipv4.conf.all.accept_redirects',
      value: '0',
      persistFile: '/etc/sysctl.d/90-edgeward.conf',
    };
    const off = await remediate(
      checkOf(spec, { remediate: 'off', remediation: { action, timeoutMs: 1000 } }),
      fixtureContext(root),
    );
    assert.equal(off.outcome, 'failed');
    assert.match(off.detail, /remediation of test-check is off/);
    assert.equal(await readFile(join(root, 'proc/sys/net/ipv4/conf/all/accept_redirects'), 'utf8'), '1\n');
    const noSshd = remediable(
      {
        type: 'sshd',
        setting: 'PermitRootLogin',
        expect: { equals: 'no' },
        configPath: '/etc/ssh/absent_config',
      },
      {
        type: 'file-line',
        path: '/etc/ssh/absent_config',
        match: '^PermitRootLogin',
        line: 'PermitRootLogin no',
      },
    );
    const notApplicable = await remediate(noSshd, fixtureContext(root));
    assert.equal(notApplicable.outcome, 'not-fixed');
    await assert.rejects(stat(join(root, 'etc/ssh/absent_config')));
  });
});
