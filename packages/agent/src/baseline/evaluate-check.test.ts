import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CommandRunner } from '../inventory/command-runner.ts';
import type { BaselineContext, CheckOutcome } from './check-outcome.ts';
import { evaluateCheck } from './evaluate-check.ts';
import { checkOf, copyFixture, fixtureContext } from './fixture-roots.fixture.ts';

let scratch: string;
let debian: string;
let alpine: string;
let empty: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'edgeward-baseline-'));
  debian = await copyFixture('debian-like', scratch, 'shared');
  alpine = await copyFixture('alpine-like', scratch, 'shared');
  empty = join(scratch, 'empty');
  await mkdir(join(empty, 'etc'), { recursive: true });
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const evaluate = (root: string, spec: Record<string, unknown>, extra: Partial<BaselineContext> = {}) =>
  evaluateCheck(checkOf(spec), fixtureContext(root, extra));

function assertOutcome(actual: CheckOutcome, status: CheckOutcome['status'], detail?: RegExp): void {
  assert.equal(actual.status, status, `${status} expected, got ${actual.status}: ${actual.detail}`);
  if (detail !== undefined) assert.match(actual.detail, detail);
}

/** A runner that answers from a table and records what it was asked. */
function scriptedRunner(
  answers: Record<string, { exitCode: number; stdout?: string }>,
): CommandRunner & { calls: string[] } {
  const calls: string[] = [];
  const runner: CommandRunner = async (file, args) => {
    const line = [file, ...args].join(' ');
    calls.push(line);
    const answer = answers[line];
    if (answer === undefined) throw Object.assign(new Error(`${file}: not found`), { code: 'ENOENT' });
    return { exitCode: answer.exitCode, stdout: answer.stdout ?? '' };
  };
  return Object.assign(runner, { calls });
}

let copies = 0;
const freshCopy = (name: 'debian-like' | 'alpine-like') => copyFixture(name, scratch, `copy-${copies++}`);

describe('listening-ports', () => {
  it('fails on a forbidden port and names its socket and process', async () => {
    assertOutcome(
      await evaluate(debian, { type: 'listening-ports', forbidden: [21, 23, 69] }),
      'fail',
      /forbidden ports listen: tcp 0\.0\.0\.0:23 \(inetutils-inetd\)/,
    );
    assertOutcome(
      await evaluate(alpine, { type: 'listening-ports', protocol: 'udp', forbidden: [69] }),
      'fail',
      /udp 0\.0\.0\.0:69 \(in\.tftpd\)/,
    );
  });

  it('passes when nothing forbidden listens, per protocol', async () => {
    assertOutcome(
      await evaluate(alpine, { type: 'listening-ports', protocol: 'tcp', forbidden: [21, 23, 69] }),
      'pass',
    );
    assertOutcome(
      await evaluate(debian, { type: 'listening-ports', protocol: 'udp', forbidden: [69] }),
      'pass',
    );
  });

  it('with an allowed list, fails on anything else', async () => {
    assertOutcome(
      await evaluate(debian, { type: 'listening-ports', protocol: 'tcp', allowed: [22, 23] }),
      'pass',
    );
    assertOutcome(
      await evaluate(debian, { type: 'listening-ports', protocol: 'tcp', allowed: [22] }),
      'fail',
      /outside the allowed list listen: tcp 0\.0\.0\.0:23/,
    );
  });

  it('is an error without socket tables', async () => {
    assertOutcome(
      await evaluate(empty, { type: 'listening-ports', forbidden: [23] }),
      'error',
      /could be read/,
    );
  });
});

describe('service', () => {
  it('sees systemd units running from /run/systemd/units', async () => {
    assertOutcome(
      await evaluate(debian, { type: 'service', names: ['firewalld', 'nftables'], state: 'running' }),
      'pass',
      /systemd unit nftables\.service is running/,
    );
    assertOutcome(
      await evaluate(debian, { type: 'service', names: ['firewalld', 'ufw'], state: 'running' }),
      'fail',
      /none of firewalld, ufw runs/,
    );
  });

  it('sees OpenRC services from /run/openrc/started, and processes no init system knows', async () => {
    assertOutcome(
      await evaluate(alpine, { type: 'service', names: ['nftables', 'iptables'], state: 'running' }),
      'fail',
    );
    assertOutcome(
      await evaluate(alpine, { type: 'service', names: ['telnetd', 'in.tftpd'], state: 'stopped' }),
      'fail',
      /OpenRC service in\.tftpd is started/,
    );
    assertOutcome(
      await evaluate(alpine, { type: 'service', names: ['syslogd'], state: 'running' }),
      'pass',
      /process 210 \(syslogd\) runs/,
    );
    assertOutcome(
      await evaluate(debian, { type: 'service', names: ['telnetd', 'vsftpd'], state: 'stopped' }),
      'pass',
    );
  });

  it('matches a process by its 15-character comm and by its retitled argv[0]', async () => {
    assertOutcome(await evaluate(alpine, { type: 'service', names: ['sshd'], state: 'running' }), 'pass');
    const root = await freshCopy('alpine-like');
    await rm(join(root, 'run/openrc'), { recursive: true });
    await writeFile(join(root, 'proc/402/comm'), 'sshd-session\n');
    assertOutcome(
      await evaluate(root, { type: 'service', names: ['sshd'], state: 'running' }),
      'pass',
      /process 402/,
    );
    const cut = await freshCopy('debian-like');
    await rm(join(cut, 'run/systemd'), { recursive: true });
    await rm(join(cut, 'proc/455/cmdline'));
    assertOutcome(
      await evaluate(cut, { type: 'service', names: ['systemd-timesyncd'], state: 'running' }),
      'pass',
      /process 455 \(systemd-timesyn\) runs/,
    );
  });

  it('asks systemctl on the live system, and falls back to systemd files when it cannot run', async () => {
    const runner = scriptedRunner({
      'systemctl is-active --quiet firewalld.service': { exitCode: 0 },
      'systemctl is-active --quiet nftables.service': { exitCode: 3 },
    });
    const live = { live: true, run: runner };
    assertOutcome(
      await evaluate(debian, { type: 'service', names: ['nftables', 'firewalld'], state: 'running' }, live),
      'pass',
      /firewalld\.service is active/,
    );
    assert.deepEqual(runner.calls, [
      'systemctl is-active --quiet nftables.service',
      'systemctl is-active --quiet firewalld.service',
    ]);
    const broken = scriptedRunner({});
    assertOutcome(
      await evaluate(
        debian,
        { type: 'service', names: ['nftables'], state: 'running' },
        { live: true, run: broken },
      ),
      'pass',
      /nftables\.service is running/,
    );
  });
});

describe('sshd', () => {
  const sshd = (setting: string, expect: Record<string, unknown>, match?: Record<string, string>) => ({
    type: 'sshd',
    setting,
    expect,
    ...(match === undefined ? {} : { match }),
  });

  it('names the file and line that decided, through the Include directory', async () => {
    assertOutcome(
      await evaluate(debian, sshd('PermitRootLogin', { equals: 'no' })),
      'fail',
      /^PermitRootLogin is yes in \/etc\/ssh\/sshd_config\.d\/50-vendor\.conf:2; expected "no"$/,
    );
    assertOutcome(await evaluate(alpine, sshd('permitrootlogin', { equals: 'no' })), 'pass', /sshd_config:4/);
  });

  it("uses sshd's default for a keyword the configuration leaves out", async () => {
    assertOutcome(
      await evaluate(debian, sshd('PasswordAuthentication', { equals: 'no' })),
      'fail',
      /PasswordAuthentication is not set; sshd's default yes applies/,
    );
    assertOutcome(await evaluate(alpine, sshd('PermitEmptyPasswords', { equals: 'no' })), 'pass');
  });

  it('judges algorithm lists by subsetOf, and a missing one by whenMissing', async () => {
    const modern = [
      'chacha20-poly1305@openssh.com',
      'aes256-gcm@openssh.com',
      'aes128-gcm@openssh.com',
      'aes256-ctr',
      'aes128-ctr',
    ];
    assertOutcome(await evaluate(debian, sshd('Ciphers', { subsetOf: modern })), 'pass');
    assertOutcome(
      await evaluate(alpine, sshd('Ciphers', { subsetOf: modern })),
      'fail',
      /20-legacy-clients\.conf:2; "aes128-cbc", "3des-cbc" are not allowed/,
    );
    assertOutcome(
      await evaluate(alpine, sshd('KexAlgorithms', { subsetOf: ['curve25519-sha256'], whenMissing: 'fail' })),
      'fail',
      /is not set/,
    );
    assertOutcome(
      await evaluate(alpine, sshd('KexAlgorithms', { subsetOf: ['curve25519-sha256'], whenMissing: 'pass' })),
      'pass',
    );
  });

  it("judges what `+` adds to sshd's default algorithms, and a `-` list by whenMissing", async () => {
    const root = await freshCopy('alpine-like');
    const dropIn = join(root, 'etc/ssh/sshd_config.d/20-legacy-clients.conf');
    const modern = { subsetOf: ['aes256-ctr', 'aes128-ctr'], whenMissing: 'pass' };
    await writeFile(dropIn, 'Ciphers +aes128-cbc\n');
    assertOutcome(
      await evaluate(root, sshd('Ciphers', modern)),
      'fail',
      /adds aes128-cbc to sshd's defaults; "aes128-cbc" is not allowed/,
    );
    await writeFile(dropIn, 'Ciphers -3des-cbc\n');
    assertOutcome(
      await evaluate(root, sshd('Ciphers', modern)),
      'pass',
      /only removes algorithms .* \(whenMissing: pass\)/,
    );
  });

  it('applies Match blocks for the connection the check names: user, address with CIDR and negation', async () => {
    assertOutcome(
      await evaluate(alpine, sshd('PasswordAuthentication', { equals: 'no' }, { user: 'backup' })),
      'fail',
      /for user backup: .*\(Match User backup\)/,
    );
    assertOutcome(
      await evaluate(alpine, sshd('PasswordAuthentication', { equals: 'no' }, { user: 'operator' })),
      'pass',
    );
    assertOutcome(
      await evaluate(
        alpine,
        sshd('PermitRootLogin', { equals: 'no' }, { user: 'root', address: '192.168.10.20' }),
      ),
      'fail',
      /prohibit-password/,
    );
    assertOutcome(
      await evaluate(
        alpine,
        sshd('PermitRootLogin', { equals: 'no' }, { user: 'root', address: '192.168.11.20' }),
      ),
      'pass',
    );
    // The plant network's block says no root logins, except on the visitors' VLAN, where the vendor's yes stands.
    assertOutcome(
      await evaluate(debian, sshd('PermitRootLogin', { equals: 'no' }, { address: '10.20.5.5' })),
      'pass',
    );
    assertOutcome(
      await evaluate(debian, sshd('PermitRootLogin', { equals: 'no' }, { address: '10.20.99.5' })),
      'fail',
      /50-vendor\.conf/,
    );
  });

  it('notes a Match Group block it could not judge', async () => {
    assertOutcome(
      await evaluate(debian, sshd('X11Forwarding', { equals: 'no' }, { user: 'operator' })),
      'fail',
      /X11Forwarding is yes in \/etc\/ssh\/sshd_config:9.*Match Group at \/etc\/ssh\/sshd_config:27 was not evaluated/,
    );
  });

  it('does not apply without an OpenSSH configuration', async () => {
    assertOutcome(await evaluate(empty, sshd('PermitRootLogin', { equals: 'no' })), 'not-applicable');
  });
});

describe('file', () => {
  it('judges mode bits and presence', async () => {
    assertOutcome(
      await evaluate(debian, { type: 'file', path: '/etc/shadow', maxMode: '0640' }),
      'pass',
      /mode 0640/,
    );
    assertOutcome(
      await evaluate(alpine, { type: 'file', path: '/etc/shadow', maxMode: '0640' }),
      'fail',
      /mode 0644 allows more than 0640/,
    );
    assertOutcome(await evaluate(debian, { type: 'file', path: '/etc/hosts.equiv', present: false }), 'pass');
    assertOutcome(
      await evaluate(debian, { type: 'file', path: '/etc/passwd', present: false }),
      'fail',
      /exists and should not/,
    );
    assertOutcome(
      await evaluate(debian, { type: 'file', path: '/etc/hosts.equiv' }),
      'fail',
      /does not exist/,
    );
  });

  it("names owners through the root's own account databases", async () => {
    const uid = process.getuid?.() ?? 0;
    const passwd = await readFile(join(debian, 'etc/passwd'), 'utf8');
    const owner =
      passwd
        .split('\n')
        .find((line) => line.split(':')[2] === String(uid))
        ?.split(':')[0] ?? String(uid);
    assertOutcome(
      await evaluate(debian, { type: 'file', path: '/etc/passwd', owner }),
      'pass',
      new RegExp(`owner ${owner}`),
    );
    assertOutcome(
      await evaluate(debian, { type: 'file', path: '/etc/passwd', owner: 'nobody-here' }),
      'fail',
      /expected nobody-here/,
    );
  });

  it('searches content line by line and checks the SHA-256', async () => {
    const config = await readFile(join(debian, 'etc/ssh/sshd_config'));
    const sha256 = createHash('sha256').update(config).digest('hex');
    assertOutcome(
      await evaluate(debian, { type: 'file', path: '/etc/ssh/sshd_config', contains: '^Include ', sha256 }),
      'pass',
    );
    assertOutcome(
      await evaluate(debian, {
        type: 'file',
        path: '/etc/ssh/sshd_config',
        notContains: '^X11Forwarding\\s+yes',
      }),
      'fail',
      /line 9 matches/,
    );
    assertOutcome(
      await evaluate(debian, { type: 'file', path: '/etc/ssh/sshd_config', sha256: '0'.repeat(64) }),
      'fail',
      /SHA-256 is [0-9a-f]{64}/,
    );
  });
});

describe('sysctl', () => {
  it('reads /proc/sys under the root', async () => {
    const redirects = { type: 'sysctl', key: 'net.ipv4.conf.all.accept_redirects', expect: { equals: '0' } };
    assertOutcome(
      await evaluate(debian, redirects),
      'fail',
      /net\.ipv4\.conf\.all\.accept_redirects = 1; expected "0"/,
    );
    assertOutcome(await evaluate(alpine, redirects), 'pass');
    assertOutcome(
      await evaluate(debian, {
        type: 'sysctl',
        key: 'net.ipv4.tcp_rmem',
        expect: { equals: '4096 131072 6291456' },
      }),
      'pass',
    );
  });

  it('decides a key the kernel lacks by whenMissing, and errs without /proc/sys', async () => {
    const ipv6 = (whenMissing: string) => ({
      type: 'sysctl',
      key: 'net.ipv6.conf.all.accept_redirects',
      expect: { equals: '0', whenMissing },
    });
    assertOutcome(await evaluate(alpine, ipv6('pass')), 'pass', /does not exist in this kernel/);
    assertOutcome(await evaluate(alpine, ipv6('fail')), 'fail');
    assertOutcome(await evaluate(empty, ipv6('pass')), 'error', /no \/proc\/sys/);
  });
});

describe('package', () => {
  it('compares dpkg versions, epochs included', async () => {
    const openssh = (minVersion: string) => ({
      type: 'package',
      name: 'openssh-server',
      state: 'installed',
      minVersion,
    });
    assertOutcome(await evaluate(debian, openssh('1:9.2p1-2+deb12u3')), 'pass');
    assertOutcome(
      await evaluate(debian, openssh('1:9.2p1-2+deb12u4')),
      'fail',
      /openssh-server 1:9\.2p1-2\+deb12u3 \(amd64\) is older than/,
    );
    // The epoch outranks the version.
    assertOutcome(await evaluate(debian, openssh('9.9')), 'pass');
  });

  it('compares apk versions on Alpine', async () => {
    const openssh = (minVersion: string) => ({
      type: 'package',
      name: 'openssh-server',
      state: 'installed',
      minVersion,
    });
    assertOutcome(await evaluate(alpine, openssh('9.7_p1-r4')), 'pass');
    assertOutcome(await evaluate(alpine, openssh('9.7_p1')), 'pass');
    assertOutcome(await evaluate(alpine, openssh('9.7_p1-r5')), 'fail');
    assertOutcome(await evaluate(alpine, openssh('9.8')), 'fail');
  });

  it('judges presence, counting removed packages with configuration left as absent', async () => {
    assertOutcome(await evaluate(debian, { type: 'package', name: 'tftpd-hpa', state: 'absent' }), 'pass');
    assertOutcome(
      await evaluate(debian, { type: 'package', name: 'inetutils-telnetd', state: 'absent' }),
      'fail',
      /is installed and should not be/,
    );
    assertOutcome(
      await evaluate(alpine, { type: 'package', name: 'nftables', state: 'installed' }),
      'fail',
      /not installed/,
    );
    assertOutcome(
      await evaluate(empty, { type: 'package', name: 'nftables', state: 'installed' }),
      'error',
      /no package database/,
    );
  });
});

describe('firmware', () => {
  it('compares the DMI version with dpkg ordering', async () => {
    assertOutcome(
      await evaluate(debian, { type: 'firmware', minVersion: '5.2' }),
      'pass',
      /firmware 5\.19 \(dmi/,
    );
    assertOutcome(
      await evaluate(debian, { type: 'firmware', minVersion: '5.20' }),
      'fail',
      /is older than 5\.20/,
    );
  });

  it("compares a device tree's boot loader version from its first digit", async () => {
    assertOutcome(
      await evaluate(alpine, { type: 'firmware', minVersion: '2023.01' }),
      'pass',
      /U-Boot 2023\.04/,
    );
    assertOutcome(await evaluate(alpine, { type: 'firmware', minVersion: 'U-Boot 2024.01' }), 'fail');
    assertOutcome(
      await evaluate(empty, { type: 'firmware', minVersion: '1.0' }),
      'error',
      /no firmware version/,
    );
  });
});

describe('accounts', () => {
  it('finds UID 0 accounts other than root', async () => {
    assertOutcome(await evaluate(debian, { type: 'accounts', rule: 'no-extra-uid0' }), 'pass');
    assertOutcome(
      await evaluate(alpine, { type: 'accounts', rule: 'no-extra-uid0' }),
      'fail',
      /held by toor/,
    );
  });

  it('finds empty passwords in shadow and passwd, accepting locked accounts', async () => {
    assertOutcome(
      await evaluate(debian, { type: 'accounts', rule: 'no-empty-password' }),
      'fail',
      /without a password: kiosk \(\/etc\/shadow\)$/,
    );
    assertOutcome(await evaluate(alpine, { type: 'accounts', rule: 'no-empty-password' }), 'pass');
    const root = await freshCopy('alpine-like');
    await writeFile(
      join(root, 'etc/passwd'),
      'root:x:0:0:root:/root:/bin/ash\nguest::1001:1001::/home/guest:/bin/ash\n',
    );
    assertOutcome(
      await evaluate(root, { type: 'accounts', rule: 'no-empty-password' }),
      'fail',
      /guest \(\/etc\/passwd\)/,
    );
  });

  it('is an error when /etc/shadow cannot be read', async () => {
    const root = await freshCopy('debian-like');
    await rm(join(root, 'etc/shadow'));
    await mkdir(join(root, 'etc/shadow'));
    assertOutcome(
      await evaluate(root, { type: 'accounts', rule: 'no-empty-password' }),
      'error',
      /cannot read \/etc\/shadow/,
    );
    assertOutcome(
      await evaluate(empty, { type: 'accounts', rule: 'no-extra-uid0' }),
      'error',
      /\/etc\/passwd/,
    );
  });
});

describe('disk-encryption', () => {
  it('finds LUKS under a mapper device and under LVM, through escaped mount points', async () => {
    assertOutcome(
      await evaluate(debian, { type: 'disk-encryption', mounts: ['/var/lib/edge data', '/var/log'] }),
      'pass',
      /\/var\/lib\/edge data on \/dev\/mapper\/data_crypt: dm-0 is LUKS2; \/var\/log on \/dev\/mapper\/vg0-logs: dm-1 lies on dm-2 is LUKS2/,
    );
    assertOutcome(
      await evaluate(debian, { type: 'disk-encryption', mounts: ['/var/lib/edge data/db'] }),
      'pass',
      /lies on \/var\/lib\/edge data/,
    );
  });

  it('fails an LVM volume that spans a plain partition as well as a LUKS one', async () => {
    const root = await freshCopy('debian-like');
    await writeFile(join(root, 'sys/block/dm-1/slaves/sda5'), '../../sda/sda5\n');
    assertOutcome(
      await evaluate(root, { type: 'disk-encryption', mounts: ['/var/log'] }),
      'fail',
      /\/var\/log on \/dev\/mapper\/vg0-logs is not encrypted \(dm-1 is not LUKS\)/,
    );
  });

  it('fails a plain partition', async () => {
    assertOutcome(
      await evaluate(debian, { type: 'disk-encryption', mounts: ['/', '/var/log'] }),
      'fail',
      /^\/ on \/dev\/sda2 is not a device-mapper device$/,
    );
    assertOutcome(
      await evaluate(alpine, { type: 'disk-encryption', mounts: ['/home'] }),
      'fail',
      /\/home lies on \/ \(\/dev\/mmcblk0p2\)/,
    );
    assertOutcome(
      await evaluate(empty, { type: 'disk-encryption', mounts: ['/'] }),
      'error',
      /\/proc\/mounts/,
    );
  });
});

describe('logging', () => {
  it('passes journald with persistent storage set in a drop-in', async () => {
    assertOutcome(
      await evaluate(debian, { type: 'logging' }),
      'pass',
      /journald keeps logs on disk \(Storage=persistent from \/etc\/systemd\/journald\.conf\.d\/10-persistent\.conf\)/,
    );
  });

  it("fails busybox syslogd's memory ring buffer unless persistence is not required", async () => {
    assertOutcome(
      await evaluate(alpine, { type: 'logging' }),
      'fail',
      /syslogd \(process 210\) logs to a memory ring buffer/,
    );
    assertOutcome(await evaluate(alpine, { type: 'logging', persistent: false }), 'pass');
  });

  it('reads Storage=auto as persistent only where /var/log/journal exists', async () => {
    const root = await freshCopy('debian-like');
    await rm(join(root, 'etc/systemd/journald.conf.d'), { recursive: true });
    assertOutcome(
      await evaluate(root, { type: 'logging' }),
      'fail',
      /in memory only \(Storage=auto from journald's default, \/var\/log\/journal does not exist\)/,
    );
    await mkdir(join(root, 'var/log/journal'), { recursive: true });
    assertOutcome(await evaluate(root, { type: 'logging' }), 'pass');
    await writeFile(join(root, 'etc/systemd/journald.conf'), '[Journal]\nStorage=volatile\n');
    assertOutcome(await evaluate(root, { type: 'logging' }), 'fail');
  });
});

describe('time-sync', () => {
  it('passes when a time daemon runs, by unit or by OpenRC service', async () => {
    assertOutcome(await evaluate(debian, { type: 'time-sync' }), 'pass', /systemd-timesyncd\.service/);
    assertOutcome(await evaluate(alpine, { type: 'time-sync' }), 'pass', /OpenRC service chronyd is started/);
    assertOutcome(
      await evaluate(empty, { type: 'time-sync' }),
      'fail',
      /no time synchronization daemon runs/,
    );
  });

  it("on the live system, accepts timedatectl's NTPSynchronized=yes", async () => {
    const synchronized = scriptedRunner({
      'timedatectl show --property=NTPSynchronized --value': { exitCode: 0, stdout: 'yes\n' },
    });
    assertOutcome(
      await evaluate(empty, { type: 'time-sync' }, { live: true, run: synchronized }),
      'pass',
      /NTPSynchronized=yes/,
    );
    const not = scriptedRunner({
      'timedatectl show --property=NTPSynchronized --value': { exitCode: 0, stdout: 'no\n' },
    });
    assertOutcome(await evaluate(empty, { type: 'time-sync' }, { live: true, run: not }), 'fail');
  });
});

describe('world-writable', () => {
  it('lists files anyone may write, not sticky directories nor links', async () => {
    const root = await freshCopy('debian-like');
    await mkdir(join(root, 'etc/drop'), { recursive: true });
    await chmod(join(root, 'etc/drop'), 0o1777);
    await mkdir(join(root, 'etc/open'), { recursive: true });
    await chmod(join(root, 'etc/open'), 0o777);
    await symlink('/etc/passwd', join(root, 'etc/passwd-link'));
    await writeFile(join(root, 'proc/ww'), '');
    await chmod(join(root, 'proc/ww'), 0o666);
    const outcome = await evaluate(root, { type: 'world-writable', paths: ['/etc', '/usr/bin', '/bin'] });
    assertOutcome(outcome, 'fail', /^world-writable: \/etc\/cron\.d\/backup \(0666\), \/etc\/open \(0777\)$/);
    const everything = await evaluate(root, { type: 'world-writable', paths: ['/'] });
    assert.doesNotMatch(everything.detail, /\/proc/);
    assertOutcome(
      await evaluate(alpine, { type: 'world-writable', paths: ['/etc', '/usr', '/bin', '/sbin'] }),
      'pass',
      /no world-writable entry among \d+/,
    );
  });

  it('does not follow a link given as a starting point, and stops at maxFiles', async () => {
    const root = await freshCopy('debian-like');
    await symlink('etc', join(root, 'linked-etc'));
    assertOutcome(
      await evaluate(root, { type: 'world-writable', paths: ['/linked-etc'] }),
      'pass',
      /\/linked-etc is a symbolic link and was not followed/,
    );
    assertOutcome(
      await evaluate(root, { type: 'world-writable', paths: ['/usr'], maxFiles: 3 }),
      'pass',
      /stopped after 3 entries/,
    );
  });
});

describe('command', () => {
  it('does not apply to a tree that is not running', async () => {
    assertOutcome(await evaluate(debian, { type: 'command', run: ['true'] }), 'not-applicable');
  });

  it('judges the exit code and the output on the live system', async () => {
    const runner = scriptedRunner({
      'aa-status --enabled': { exitCode: 0 },
      getenforce: { exitCode: 0, stdout: 'Permissive\n' },
    });
    const live = { live: true, run: runner };
    assertOutcome(await evaluate(debian, { type: 'command', run: ['aa-status', '--enabled'] }, live), 'pass');
    assertOutcome(
      await evaluate(debian, { type: 'command', run: ['aa-status', '--enabled'], expectExit: 1 }, live),
      'fail',
      /exited with 0, expected 1/,
    );
    assertOutcome(
      await evaluate(debian, { type: 'command', run: ['getenforce'], expectOutput: '^Enforcing$' }, live),
      'fail',
      /does not match/,
    );
    assertOutcome(
      await evaluate(debian, { type: 'command', run: ['missing-tool'] }, live),
      'error',
      /could not run/,
    );
  });

  it('gives up at its timeout even when the runner does not', async () => {
    const hanging: CommandRunner = () => new Promise(() => undefined);
    const started = Date.now();
    const outcome = await evaluate(
      debian,
      { type: 'command', run: ['sleep', '600'], timeoutMs: 50 },
      { live: true, run: hanging },
    );
    assertOutcome(outcome, 'error', /did not finish within 50ms/);
    assert.ok(Date.now() - started < 5000);
  });
});
