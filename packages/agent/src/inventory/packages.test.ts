import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CommandRunner } from './command-runner.ts';
import { readPackages } from './packages.ts';
import { createRootFs } from './root-fs.ts';

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'edgeward-packages-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function tree(name: string, files: Record<string, string>): Promise<string> {
  const root = join(scratch, name);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}

describe('readPackages', () => {
  it('asks rpm for its database on the live root, with a timeout, and keeps epochs', async () => {
    const root = await tree('rpm', { 'usr/bin/rpm': '', 'var/lib/rpm/rpmdb.sqlite': '' });
    const seen: { args: readonly string[]; timeoutMs: number }[] = [];
    const rpm: CommandRunner = async (file, args, { timeoutMs }) => {
      assert.equal(file, 'rpm');
      seen.push({ args, timeoutMs });
      return {
        exitCode: 0,
        stdout:
          'openssl\t1:3.0.7-27.el9\tx86_64\nbash\t5.1.8-9.el9\tx86_64\ngpg-pubkey\t3228467c-613798eb\t(none)\n',
      };
    };
    assert.deepStrictEqual(await readPackages(createRootFs(root, true), rpm), [
      { name: 'openssl', version: '1:3.0.7-27.el9', manager: 'rpm', architecture: 'x86_64' },
      { name: 'bash', version: '5.1.8-9.el9', manager: 'rpm', architecture: 'x86_64' },
      { name: 'gpg-pubkey', version: '3228467c-613798eb', manager: 'rpm' },
    ]);
    assert.equal(seen.length, 1);
    assert.deepStrictEqual(seen[0]!.args.slice(0, 2), ['-qa', '--qf']);
    assert.ok(seen[0]!.timeoutMs > 0);
  });

  it('does not run rpm without an rpm database, nor for another root, nor when it times out', async () => {
    const refuse: CommandRunner = async () => assert.fail('rpm ran');
    const toolOnly = await tree('rpm-tool-only', { 'usr/bin/rpm': '' });
    assert.deepStrictEqual(await readPackages(createRootFs(toolOnly, true), refuse), []);
    const image = await tree('rpm-image', { 'usr/bin/rpm': '', 'var/lib/rpm/Packages': '' });
    assert.deepStrictEqual(await readPackages(createRootFs(image, false), refuse), []);
    const timedOut: CommandRunner = async () => {
      throw Object.assign(new Error('rpm timed out'), { killed: true });
    };
    assert.deepStrictEqual(await readPackages(createRootFs(image, true), timedOut), []);
  });

  it('reads the opkg status file of OpenWrt-like roots, leaving out removed packages', async () => {
    const root = await tree('opkg', {
      'usr/lib/opkg/status': [
        'Package: dropbear',
        'Version: 2022.82-6',
        'Depends: libc',
        'Status: install user installed',
        'Architecture: mipsel_24kc',
        'Installed-Time: 1700000000',
        '',
        'Package: luci-app-old',
        'Version: 1.0',
        'Status: deinstall user not-installed',
        'Architecture: all',
        '',
        'Package: libc',
        'Version: 1.2.4-4',
        'Status: install hold installed',
        'Architecture: mipsel_24kc',
        '',
      ].join('\n'),
    });
    assert.deepStrictEqual(await readPackages(createRootFs(root, false), undefined), [
      { name: 'dropbear', version: '2022.82-6', manager: 'opkg', architecture: 'mipsel_24kc' },
      { name: 'libc', version: '1.2.4-4', manager: 'opkg', architecture: 'mipsel_24kc' },
    ]);
  });
});
