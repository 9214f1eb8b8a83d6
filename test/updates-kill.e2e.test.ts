import assert from 'node:assert/strict';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createRolloutRequestSchema, type RolloutView } from '@edgeward/core';
import { enrollWithCli, type LongRunning, startEdgeward } from './support/cli-process.ts';
import { eventually, startTestManager, type TestManager } from './support/test-manager.ts';

/**
 * The real agent process, with the `command` handler, killed with SIGKILL while its installer runs: after
 * a restart the update ends committed or rolled back, and what the device's state file says agrees with
 * what the installer did.
 */

const operator = { id: 'op-test', name: 'test', role: 'admin' } as const;
let hub: TestManager;
let agent: LongRunning | undefined;

before(async () => {
  hub = await startTestManager({ rolloutTickMs: 100, logLevel: 'silent' });
});

after(async () => {
  await agent?.stop('SIGKILL');
  await hub?.close();
});

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

test('an agent killed with SIGKILL during the install ends committed or rolled back after its restart, never in between', async () => {
  const work = join(hub.dir, 'kill-test');
  const marks = join(work, 'marks');
  const dataDir = join(work, 'agent');
  const root = join(work, 'root');
  await mkdir(marks, { recursive: true });
  await mkdir(join(root, 'var', 'log'), { recursive: true });
  const token = (await hub.manager.services.tokens.create(operator, { kill: 'yes' }, 600_000)).token;
  await enrollWithCli({
    managerUrl: hub.deviceUrl,
    token,
    caFingerprint: hub.manager.pki.caFingerprint,
    dataDir,
  });
  // The first install hangs (it is where the kill lands); run again after the restart, it finishes.
  const env = {
    EDGEWARD_UPDATE_HANDLER: 'command',
    EDGEWARD_UPDATE_POLL_MS: '300',
    EDGEWARD_UPDATE_INSTALL_COMMAND: `if [ -f ${marks}/started ]; then touch ${marks}/installed; exit 0; fi; touch ${marks}/started; sleep 20`,
    EDGEWARD_UPDATE_COMMIT_COMMAND: `touch ${marks}/committed`,
    EDGEWARD_UPDATE_ROLLBACK_COMMAND: `touch ${marks}/rolled-back`,
    EDGEWARD_UPDATE_ARTIFACTS: 'gw-image',
    EDGEWARD_ISOLATION: 'off',
    EDGEWARD_AUTH_LOG_FILES: '/var/log/auth.log',
    EDGEWARD_FIM_PATHS: '/etc/edgeward-e2e',
    EDGEWARD_RETRY_INITIAL_MS: '100',
    EDGEWARD_RETRY_MAX_MS: '500',
    EDGEWARD_LOG_LEVEL: 'warn',
  };
  const run = () => startEdgeward(['agent', 'run', '--data-dir', dataDir, '--root', root], env);
  agent = run();
  await hub.manager.services.artifacts.upload(operator, Buffer.from('image 2.4.1'), {
    name: 'gw-image',
    version: '2.4.1',
    severity: 'high',
    compat: {},
  });
  const rollout = (await hub.manager.services.rollouts.create(
    operator,
    createRolloutRequestSchema.parse({
      artifact: { name: 'gw-image', version: '2.4.1' },
      selector: { kill: 'yes' },
      phases: '100%',
      gates: { maxFailures: 0, minSuccessPercent: 100 },
    }),
  )) as RolloutView;
  await hub.manager.services.rollouts.act(operator, rollout.id, 'start');
  await eventually(
    async () => (await exists(join(marks, 'started'))) || undefined,
    `the install to start\n${agent.output()}`,
  );
  const onDisk = JSON.parse(await readFile(join(dataDir, 'updates', 'state.json'), 'utf8')) as {
    state: string;
  };
  assert.equal(onDisk.state, 'installing', 'the kill lands during the install');
  await agent.stop('SIGKILL');

  agent = run();
  const [row] = await eventually(async () => {
    const rows = (await hub.manager.services.rollouts.devices(rollout.id)).devices;
    return rows[0] !== undefined && ['committed', 'rolled-back'].includes(rows[0].state) ? rows : undefined;
  }, `the device to finish\n${agent.output()}`);
  const final = JSON.parse(await readFile(join(dataDir, 'updates', 'state.json'), 'utf8')) as {
    state: string;
    attempts: number;
  };
  assert.equal(final.state, row?.state);
  if (row?.state === 'committed') {
    assert.ok(await exists(join(marks, 'installed')), 'the install was repeated to its end');
    assert.ok(await exists(join(marks, 'committed')));
  } else {
    assert.ok(await exists(join(marks, 'rolled-back')));
  }
});
