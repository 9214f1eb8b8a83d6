import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CommandRunner } from './command-runner.ts';
import { createRootFs } from './root-fs.ts';
import { readUnits } from './units.ts';

const debian = fileURLToPath(new URL('./fixtures/debian/', import.meta.url));

const listUnits = `ssh.service                 loaded active   running OpenBSD Secure Shell server
● line3-gateway.service     loaded failed   failed  Line 3 PLC gateway
cron.service                loaded inactive dead    Regular background program processing daemon
apt-daily.timer             loaded active   waiting Daily apt download activities
● auditd.service            not-found inactive dead auditd.service
`;
const listUnitFiles = `apt-daily.timer           enabled  enabled
cron.service              disabled enabled
getty@.service            enabled  enabled
line3-gateway.service     enabled  enabled
ssh.service               enabled  enabled
systemd-journald.service  static   -
`;

function systemctl(calls: string[][]): CommandRunner {
  return async (file, args, { timeoutMs }) => {
    assert.equal(file, 'systemctl');
    assert.ok(timeoutMs > 0);
    calls.push([...args]);
    return { exitCode: 0, stdout: args[0] === 'list-units' ? listUnits : listUnitFiles };
  };
}

const fileUnits = (fsRoot: string) => readUnits(createRootFs(fsRoot, false), undefined);

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'edgeward-units-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('readUnits', () => {
  it('merges systemctl list-units and list-unit-files on the live root', async () => {
    const calls: string[][] = [];
    const units = await readUnits(createRootFs(debian, true), systemctl(calls));
    assert.deepStrictEqual(
      units.sort((a, b) => (a.name < b.name ? -1 : 1)),
      [
        { name: 'apt-daily.timer', activeState: 'active', enabledState: 'enabled' },
        { name: 'cron.service', activeState: 'inactive', enabledState: 'disabled' },
        { name: 'getty@.service', activeState: 'inactive', enabledState: 'enabled' },
        { name: 'line3-gateway.service', activeState: 'failed', enabledState: 'enabled' },
        { name: 'ssh.service', activeState: 'active', enabledState: 'enabled' },
        { name: 'systemd-journald.service', activeState: 'inactive', enabledState: 'static' },
      ],
    );
    assert.deepStrictEqual(
      calls.map((args) => args[0]),
      ['list-units', 'list-unit-files'],
    );
    assert.ok(
      calls.every(
        (args) => args.includes('--no-legend') && args.includes('--type=service,socket,timer,path'),
      ),
    );
  });

  it('falls back to unit files when systemd is not running or systemctl is missing', async () => {
    const fromFiles = await fileUnits(debian);
    const notBooted: CommandRunner = async () => ({ exitCode: 1, stdout: '' });
    assert.deepStrictEqual(await readUnits(createRootFs(debian, true), notBooted), fromFiles);
    const missing: CommandRunner = async () => {
      throw Object.assign(new Error('spawn systemctl ENOENT'), { code: 'ENOENT' });
    };
    assert.deepStrictEqual(await readUnits(createRootFs(debian, true), missing), fromFiles);
    assert.ok(fromFiles.every((unit) => unit.activeState === 'unknown'));
  });

  it('never runs systemctl for a root other than the live one', async () => {
    const refuse: CommandRunner = async () => assert.fail('systemctl ran against a fixture root');
    assert.ok((await readUnits(createRootFs(debian, false), refuse)).length > 0);
  });

  it('reads masks, aliases and units linked from elsewhere through real symlinks', async () => {
    const root = join(scratch, 'links');
    await cp(debian, root, { recursive: true });
    await symlink('/dev/null', join(root, 'etc/systemd/system/apt-daily.timer'));
    await symlink('/lib/systemd/system/ssh.service', join(root, 'etc/systemd/system/sshd.service'));
    await symlink('ssh.service', join(root, 'lib/systemd/system/sshd.service'));
    await writeFile(
      join(scratch, 'vendor.service'),
      '[Service]\nExecStart=/opt/vendor/run\n[Install]\nWantedBy=multi-user.target\n',
    );
    await symlink(join(scratch, 'vendor.service'), join(root, 'etc/systemd/system/vendor.service'));
    const units = new Map((await fileUnits(root)).map((unit) => [unit.name, unit.enabledState]));
    assert.equal(units.get('apt-daily.timer'), 'masked');
    assert.equal(units.get('sshd.service'), undefined, 'an alias is not a unit of its own');
    assert.equal(units.get('ssh.service'), 'enabled');
    assert.equal(units.get('vendor.service'), 'linked');
  });
});
