import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  effectiveSetting,
  loadSshdConfig,
  matchAddressList,
  matchPatternList,
  parseSshdLine,
  type SshdConfig,
} from './sshd-config.ts';

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'edgeward-sshd-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

let trees = 0;
async function configOf(files: Record<string, string>): Promise<SshdConfig> {
  const root = join(scratch, `tree-${trees++}`);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
  const load = await loadSshdConfig(root, '/etc/ssh/sshd_config');
  assert.ok(load.ok, 'the configuration loads');
  return load.config;
}

const settingOf = (
  config: SshdConfig,
  keyword: string,
  connection?: Parameters<typeof effectiveSetting>[2],
) => effectiveSetting(config, keyword, connection).value;

describe('parseSshdLine', () => {
  it('reads `Keyword value`, `Keyword=value`, quotes, and stops at a comment', () => {
    assert.deepEqual(parseSshdLine('  PermitRootLogin no  '), { keyword: 'PermitRootLogin', args: ['no'] });
    assert.deepEqual(parseSshdLine('PermitRootLogin=no'), { keyword: 'PermitRootLogin', args: ['no'] });
    assert.deepEqual(parseSshdLine('PermitRootLogin = no # root may not'), {
      keyword: 'PermitRootLogin',
      args: ['no'],
    });
    assert.deepEqual(parseSshdLine('Banner "/etc/issue net"'), {
      keyword: 'Banner',
      args: ['/etc/issue net'],
    });
    assert.equal(parseSshdLine('   # PermitRootLogin yes'), undefined);
    assert.equal(parseSshdLine(''), undefined);
  });
});

describe('effectiveSetting', () => {
  it('takes the first value, whatever the keyword case, and maps old names to new', async () => {
    const config = await configOf({
      'etc/ssh/sshd_config': 'permitrootlogin no\nPermitRootLogin yes\nChallengeResponseAuthentication no\n',
    });
    const setting = effectiveSetting(config, 'PERMITROOTLOGIN');
    assert.equal(setting.value, 'no');
    assert.equal(setting.from?.line, 1);
    assert.equal(settingOf(config, 'KbdInteractiveAuthentication'), 'no');
  });

  it("falls back to sshd's compiled-in default, and to nothing where none is known", async () => {
    const config = await configOf({ 'etc/ssh/sshd_config': 'Port 22\n' });
    assert.deepEqual(effectiveSetting(config, 'PasswordAuthentication'), {
      value: 'yes',
      isDefault: true,
      notes: [],
    });
    assert.equal(settingOf(config, 'PermitRootLogin'), 'prohibit-password');
    assert.equal(settingOf(config, 'MaxAuthTries'), '6');
    assert.equal(settingOf(config, 'Ciphers'), undefined);
  });

  it('reads includes in place, relative to /etc/ssh, sorted, recursively, skipping dot files', async () => {
    const config = await configOf({
      'etc/ssh/sshd_config': 'Include sshd_config.d/*.conf\nPermitRootLogin yes\n',
      'etc/ssh/sshd_config.d/20-second.conf': 'PasswordAuthentication yes\nX11Forwarding no\n',
      'etc/ssh/sshd_config.d/10-first.conf': 'Include /etc/ssh/nested/*\n',
      'etc/ssh/sshd_config.d/.hidden.conf': 'PermitRootLogin no\n',
      'etc/ssh/sshd_config.d/notes.txt': 'X11Forwarding yes\n',
      'etc/ssh/nested/a': 'PasswordAuthentication no\n',
    });
    const password = effectiveSetting(config, 'PasswordAuthentication');
    assert.equal(password.value, 'no');
    assert.equal(password.from?.file, '/etc/ssh/nested/a');
    assert.equal(settingOf(config, 'X11Forwarding'), 'no');
    assert.equal(settingOf(config, 'PermitRootLogin'), 'yes');
  });

  it('stops following includes 16 files deep, and says so', async () => {
    const files: Record<string, string> = { 'etc/ssh/sshd_config': 'Include /etc/ssh/level-1\n' };
    for (let level = 1; level <= 20; level++)
      files[`etc/ssh/level-${level}`] = `Include /etc/ssh/level-${level + 1}\n`;
    files['etc/ssh/level-21'] = 'PermitRootLogin yes\n';
    const config = await configOf(files);
    assert.equal(settingOf(config, 'PermitRootLogin'), 'prohibit-password');
    assert.match(config.notes.join('\n'), /nests deeper than 16/);
  });

  it('applies matching Match blocks over global values for a connection, ignoring them otherwise', async () => {
    const config = await configOf({
      'etc/ssh/sshd_config': [
        'PasswordAuthentication no',
        'PermitRootLogin no',
        'Match User backup,!backup-old',
        '  PasswordAuthentication yes',
        'Match Address 10.20.0.0/16,!10.20.99.0/24',
        '  PermitRootLogin prohibit-password',
        'Match User root Address 192.168.10.0/24',
        '  PermitRootLogin yes',
        '',
      ].join('\n'),
    });
    assert.equal(settingOf(config, 'PasswordAuthentication'), 'no');
    assert.equal(settingOf(config, 'PasswordAuthentication', { user: 'backup' }), 'yes');
    assert.equal(settingOf(config, 'PasswordAuthentication', { user: 'operator' }), 'no');
    assert.equal(settingOf(config, 'PermitRootLogin', { address: '10.20.5.5' }), 'prohibit-password');
    assert.equal(settingOf(config, 'PermitRootLogin', { address: '10.20.99.7' }), 'no', 'negated subnet');
    assert.equal(settingOf(config, 'PermitRootLogin', { user: 'root', address: '192.168.10.9' }), 'yes');
    assert.equal(settingOf(config, 'PermitRootLogin', { user: 'root', address: '192.168.11.9' }), 'no');
    // Without the address, the Address criterion cannot match, as with `sshd -T -C user=root`.
    assert.equal(settingOf(config, 'PermitRootLogin', { user: 'root' }), 'no');
    const fromBlock = effectiveSetting(config, 'PasswordAuthentication', { user: 'backup' });
    assert.deepEqual(fromBlock.from?.block?.criteria, ['User', 'backup,!backup-old']);
  });

  it('ends a Match block with the included file that opened it, and includes conditionally inside one', async () => {
    const config = await configOf({
      'etc/ssh/sshd_config': [
        'Include /etc/ssh/sshd_config.d/*.conf',
        'X11Forwarding no',
        'Match User kiosk',
        '  Include /etc/ssh/kiosk.conf',
        '',
      ].join('\n'),
      'etc/ssh/sshd_config.d/50-site.conf': 'Match User backup\n  AllowTcpForwarding no\n',
      'etc/ssh/kiosk.conf': 'X11Forwarding yes\n',
    });
    assert.equal(
      settingOf(config, 'X11Forwarding'),
      'no',
      'the drop-in Match does not swallow the main file',
    );
    assert.equal(settingOf(config, 'X11Forwarding', { user: 'kiosk' }), 'yes');
    assert.equal(settingOf(config, 'AllowTcpForwarding', { user: 'backup' }), 'no');
    assert.equal(settingOf(config, 'AllowTcpForwarding', { user: 'kiosk' }), 'yes');
  });

  it('applies Match all everywhere, and notes a Match Group it cannot judge', async () => {
    const config = await configOf({
      'etc/ssh/sshd_config':
        'Match Group admins\n  PermitTTY no\nMatch all\n  PermitTTY yes\n  MaxSessions 2\n',
    });
    assert.equal(settingOf(config, 'MaxSessions'), '2');
    const tty = effectiveSetting(config, 'PermitTTY', { user: 'operator' });
    assert.equal(tty.value, 'yes');
    assert.match(tty.notes.join(), /Match Group at \/etc\/ssh\/sshd_config:1 was not evaluated/);
  });

  it('collects every value of keywords that accumulate', async () => {
    const config = await configOf({
      'etc/ssh/sshd_config': 'Port 22\nPort 2222\nAllowUsers alice bob\nAllowUsers carol\n',
    });
    assert.equal(settingOf(config, 'Port'), '22,2222');
    assert.equal(settingOf(config, 'AllowUsers'), 'alice,bob,carol');
  });

  it('tells a missing configuration from an unreadable one', async () => {
    const root = join(scratch, 'no-sshd');
    await mkdir(join(root, 'etc/ssh/sshd_config'), { recursive: true });
    const unreadable = await loadSshdConfig(root, '/etc/ssh/sshd_config');
    assert.equal(unreadable.ok === false && unreadable.missing, false);
    const missing = await loadSshdConfig(root, '/etc/ssh/other_config');
    assert.equal(missing.ok === false && missing.missing, true);
  });
});

describe('Match patterns', () => {
  it('match wildcards, lists and negation as OpenSSH does', () => {
    assert.equal(matchPatternList('maint7', 'maint*'), true);
    assert.equal(matchPatternList('maint', 'maint?'), false);
    assert.equal(matchPatternList('alice', 'bob,alice'), true);
    assert.equal(matchPatternList('alice', '*,!alice'), false);
    assert.equal(matchPatternList('Alice', 'alice'), false);
    assert.equal(
      matchPatternList('gw1.PLANT.example', '*.plant.example'),
      false,
      'user names are case-sensitive',
    );
    assert.equal(matchPatternList('GW1.plant.example', '*.PLANT.example', true), true, 'host names are not');
  });

  it('match addresses against CIDR blocks of either family, with negation', () => {
    assert.equal(matchAddressList('10.20.5.5', '10.20.0.0/16'), true);
    assert.equal(matchAddressList('10.21.5.5', '10.20.0.0/16'), false);
    assert.equal(matchAddressList('10.20.99.1', '10.20.0.0/16,!10.20.99.0/24'), false);
    assert.equal(matchAddressList('2001:db8::7', '2001:db8::/32'), true);
    assert.equal(matchAddressList('10.20.5.5', '2001:db8::/32'), false);
    assert.equal(matchAddressList('192.168.1.40', '192.168.1.*'), true);
    assert.equal(matchAddressList('192.168.1.40', '192.168.1.0/33'), false);
  });
});
