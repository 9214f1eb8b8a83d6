import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exportPrivateKeyPem, verifyEvidence } from '@edgeward/core';
import { type ForensicRoot, writeForensicRoot } from '../../../../test/support/forensic-root.ts';
import { createTestFleetCa, issueTestDevice } from '../../../core/src/pki/fleet-ca.fixture.ts';
import { type CaptureOptions, captureEvidence, pendingBundles } from './capture.ts';

let work: string;
let fixture: ForensicRoot;
let keyPem: string;
let certificatePem: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'ew-capture-'));
  fixture = await writeForensicRoot(join(work, 'root'), 200 * 1024);
  const device = await issueTestDevice(await createTestFleetCa(), { id: 'dev-1' });
  keyPem = await exportPrivateKeyPem(device.keys.privateKey);
  certificatePem = device.certPem;
});
after(() => rm(work, { recursive: true, force: true }));

function options(overrides: Partial<CaptureOptions> = {}): CaptureOptions {
  return {
    root: fixture.root,
    dir: join(work, 'evidence'),
    deviceId: 'dev-1',
    signingKeyPem: keyPem,
    files: ['/var/lib/app/data.bin', '/etc/passwd', '/etc/missing'],
    capBytes: 16 * 1024 * 1024,
    chunkBytes: 8192,
    logTailBytes: 64 * 1024,
    authLogFiles: ['/var/log/auth.log'],
    recentEvents: () => [{ type: 'agent.started', time: 1 }],
    now: () => 1_765_000_000_000,
    trigger: { kind: 'command', commandId: '00000000-0000-4000-8000-000000000001' },
    reason: 'suspected compromise',
    ...overrides,
  };
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('forensic capture', () => {
  test('takes volatile data before files, hashes each item and signs a manifest that verifies', async () => {
    const bundle = await captureEvidence(options());
    const { manifest } = bundle;
    const names = manifest.items.map((item) => item.name);
    assert.deepEqual(names, [
      'volatile/processes.json',
      'volatile/connections.json',
      'volatile/sessions.json',
      'volatile/kernel-modules.json',
      'volatile/memory-load.json',
      'volatile/mounts.json',
      'logs/auth/var/log/auth.log',
      'agent/recent-events.json',
      'files/var/lib/app/data.bin',
      'files/etc/passwd',
    ]);
    assert.deepEqual(manifest.skipped, [{ path: '/etc/missing', reason: 'missing or unreadable' }]);
    const bytes = await readFile(join(bundle.path, 'bundle.bin'));
    assert.deepEqual(verifyEvidence(manifest, bundle.signature, certificatePem, bytes), { ok: true });
    const item = (name: string) => {
      const found = manifest.items.find((entry) => entry.name === name);
      assert.ok(found, name);
      return bytes.subarray(found.offset, found.offset + found.bytes);
    };
    assert.equal(sha256(item('files/var/lib/app/data.bin')), sha256(fixture.dataFile));
    const [process] = JSON.parse(item('volatile/processes.json').toString()) as {
      pid: number;
      commandLine: string[];
      user: string;
      startedAt: number;
      executable: string;
      executableSha256: string;
    }[];
    assert.deepEqual(
      { ...process },
      {
        ...process,
        pid: 1,
        commandLine: ['/usr/sbin/sshd', '-D'],
        user: 'root',
        startedAt: 1_764_000_000_000 + 2_500,
        executable: '/usr/sbin/sshd',
        executableSha256: sha256(fixture.sshdBinary),
      },
    );
    const [connection] = JSON.parse(item('volatile/connections.json').toString()) as {
      localPort: number;
      state: string;
      process: { pid: number; name: string };
    }[];
    assert.equal(connection?.localPort, 22);
    assert.equal(connection?.state, 'listen');
    assert.deepEqual(connection?.process, { pid: 1, name: 'sshd' });
    assert.equal(manifest.chunks.length, Math.ceil(manifest.totalBytes / 8192));
    assert.deepEqual(await pendingBundles(join(work, 'evidence')), [manifest.id]);
  });

  test('stays within the size cap: volatile data first, a file cut short, later files skipped', async () => {
    const capBytes = 100 * 1024;
    const { manifest } = await captureEvidence(options({ capBytes, dir: join(work, 'capped') }));
    assert.ok(manifest.totalBytes <= capBytes, `${manifest.totalBytes} bytes`);
    assert.equal(manifest.totalBytes, capBytes, 'the data file fills what the volatile data left');
    const data = manifest.items.find((item) => item.name === 'files/var/lib/app/data.bin');
    assert.equal(data?.truncated, true);
    assert.ok(manifest.items.slice(0, 6).every((item) => item.kind === 'volatile' && !item.truncated));
    assert.ok(
      manifest.skipped.some((entry) => entry.path === '/etc/passwd' && /size cap/.test(entry.reason)),
    );
  });

  test('a manifest changed after signing, or a changed byte, no longer verifies', async () => {
    const { manifest, signature, path } = await captureEvidence(options({ dir: join(work, 'tamper') }));
    const bytes = await readFile(join(path, 'bundle.bin'));
    assert.deepEqual(verifyEvidence(manifest, signature, certificatePem, bytes), { ok: true });
    const flipped = Buffer.from(bytes);
    flipped[100] = (flipped[100] ?? 0) ^ 1;
    assert.equal(verifyEvidence(manifest, signature, certificatePem, flipped).ok, false);
    assert.equal(
      verifyEvidence({ ...manifest, reason: 'nothing to see' }, signature, certificatePem, bytes).ok,
      false,
    );
  });

  test('captures the live machine: this very process with its executable hash', async () => {
    const { manifest, path } = await captureEvidence(
      options({ root: '/', files: [], authLogFiles: [], capBytes: 8 * 1024 * 1024, dir: join(work, 'live') }),
    );
    const bytes = await readFile(join(path, 'bundle.bin'));
    const item = manifest.items.find((entry) => entry.name === 'volatile/processes.json');
    assert.ok(item !== undefined && !item.truncated);
    const processes = JSON.parse(bytes.subarray(item.offset, item.offset + item.bytes).toString()) as {
      pid: number;
      executableSha256: string | null;
      startedAt: number | null;
    }[];
    const self = processes.find((entry) => entry.pid === process.pid);
    assert.equal(self?.executableSha256, sha256(await readFile(process.execPath)));
    assert.ok((self?.startedAt ?? 0) <= Date.now());
  });
});
