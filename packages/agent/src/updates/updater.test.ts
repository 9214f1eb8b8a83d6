import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import { AbSlotsHandler } from './ab-slots.handler.ts';
import { Updater, type UpdaterRecord } from './updater.ts';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeward-updater-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A device with 1.0 committed in slot a, and 2.0 installed in slot b and switched to, not committed. */
async function slotsAfterInstall(healthy: boolean) {
  const slots = new AbSlotsHandler({ dir: join(dir, 'slots'), healthCheck: async () => healthy });
  for (const version of ['1.0', '2.0']) {
    const file = join(dir, `fw-${version}`);
    await writeFile(file, `firmware ${version}`);
    await slots.install({ name: 'fw', version, file });
    if (version === '1.0') await slots.commit({ name: 'fw', version, file });
  }
  return slots;
}

async function interruptedIn(state: 'installing' | 'awaiting-health', attempts: number) {
  const record: Partial<UpdaterRecord> = {
    state,
    rolloutId: 'ro-1',
    name: 'fw',
    version: '2.0',
    targetPath: 'fw/2.0',
    sha256: 'x',
    length: 10,
    previousVersion: '1.0',
    attempts,
    detail: '',
    reported: true,
    fellBackFrom: null,
  };
  await mkdir(join(dir, 'updates'), { recursive: true });
  await writeFile(join(dir, 'updates', 'state.json'), JSON.stringify(record));
}

function updater(slots: AbSlotsHandler, maxAttempts: number, assignment: unknown = null) {
  const posted: {
    path: string;
    body: { state?: string; payload?: { version: string; fellBackFrom: string } };
  }[] = [];
  const instance = new Updater({
    dataDir: dir,
    deviceId: 'dev-1',
    managerUrl: 'https://127.0.0.1:1',
    tls: { ca: '', key: keyPem, cert: '' },
    keyPem,
    client: {
      get: async () => ({ body: { v: 1, update: assignment } as never }),
      post: async (path, body) => {
        posted.push({ path, body: body as never });
        return { body: undefined as never };
      },
    },
    handler: slots,
    artifactNames: ['fw'],
    labels: {},
    pollMs: 3_600_000,
    healthDeadlineMs: 1000,
    maxAttempts,
    requestTimeoutMs: 1000,
    clock: { now: () => 5_000 },
    logger: pino({ level: 'silent' }),
  });
  return { instance, posted };
}

describe('the updater after a restart', () => {
  it('runs the pending health check again and commits when it passes', async () => {
    const slots = await slotsAfterInstall(true);
    await interruptedIn('awaiting-health', 0);
    const { instance, posted } = updater(slots, 3);
    await instance.start();
    await instance.stop();
    assert.equal(instance.record.state, 'committed');
    assert.equal(await slots.currentVersion('fw'), '2.0');
    assert.ok(posted.some((call) => call.path === '/v1/update/report' && call.body.state === 'committed'));
  });

  it('goes back to the previous slot once it has started too often without a commit, and reports the fall-back signed', async () => {
    const slots = await slotsAfterInstall(true);
    await interruptedIn('awaiting-health', 2);
    const { instance, posted } = updater(slots, 2);
    await instance.start();
    await instance.stop();
    assert.equal(instance.record.state, 'rolled-back');
    assert.equal(instance.record.fellBackFrom, '2.0');
    assert.equal(await readlink(join(dir, 'slots', 'fw', 'current')), 'a');
    assert.equal(await slots.currentVersion('fw'), '1.0');
    const running = posted.find((call) => call.path === '/v1/update/running');
    assert.deepEqual([running?.body.payload?.version, running?.body.payload?.fellBackFrom], ['1.0', '2.0']);
  });

  it('a failing health check switches back to the previous slot', async () => {
    const slots = await slotsAfterInstall(false);
    await interruptedIn('awaiting-health', 0);
    const { instance } = updater(slots, 3);
    await instance.start();
    await instance.stop();
    assert.equal(instance.record.state, 'rolled-back');
    assert.equal(await slots.currentVersion('fw'), '1.0');
  });

  it('rolls a committed update back when the manager asks, and reports it', async () => {
    const slots = await slotsAfterInstall(true);
    await interruptedIn('awaiting-health', 0);
    const first = updater(slots, 3);
    await first.instance.start();
    await first.instance.stop();
    assert.equal(first.instance.record.state, 'committed');
    const rollback = {
      rolloutId: 'ro-1',
      action: 'rollback',
      name: 'fw',
      version: '2.0',
      targetPath: 'fw/2.0',
    };
    const { instance, posted } = updater(slots, 3, rollback);
    await instance.start();
    await instance.pollNow();
    await instance.stop();
    assert.equal(instance.record.state, 'rolled-back');
    assert.equal(await slots.currentVersion('fw'), '1.0');
    assert.ok(posted.some((call) => call.path === '/v1/update/report' && call.body.state === 'rolled-back'));
  });
});
