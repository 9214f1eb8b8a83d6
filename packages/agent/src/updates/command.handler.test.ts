import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isEdgewardError } from '@edgeward/core';
import { CommandHandler } from './command.handler.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeward-command-handler-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('runs the installer commands with the target in the environment, and a failing one is an install failure', async () => {
  const log = join(dir, 'log');
  const file = join(dir, 'bundle.raucb');
  await writeFile(file, 'bundle');
  const handler = new CommandHandler({
    commands: {
      install: `echo "install $EDGEWARD_NAME $EDGEWARD_VERSION $EDGEWARD_FILE" >> ${log}`,
      commit: `echo "commit $EDGEWARD_VERSION" >> ${log}`,
      rollback: `echo "rollback $EDGEWARD_VERSION" >> ${log}`,
      health: 'test "$EDGEWARD_VERSION" != "6.6.6"',
      version: 'echo 2.4.1',
    },
    timeoutMs: 5000,
    recordedVersion: async () => null,
  });
  const target = { name: 'gw-image', version: '2.4.1', file };
  await handler.install(target);
  assert.equal(await handler.healthCheck(target, 5000), true);
  assert.equal(await handler.healthCheck({ ...target, version: '6.6.6' }, 5000), false);
  await handler.commit(target);
  await handler.rollback(target);
  assert.equal(await handler.currentVersion('gw-image'), '2.4.1');
  assert.equal(await readFile(log, 'utf8'), `install gw-image 2.4.1 ${file}\ncommit 2.4.1\nrollback 2.4.1\n`);
  const failing = new CommandHandler({
    commands: { install: 'echo "no space left" >&2; exit 3', commit: 'true', rollback: 'true' },
    timeoutMs: 5000,
    recordedVersion: async () => '2.4.0',
  });
  await assert.rejects(failing.install(target), (error) => {
    assert.ok(isEdgewardError(error, 'EW_UPDATE_INSTALL_FAILED'));
    assert.match(error.message, /no space left/);
    return true;
  });
  assert.equal(await failing.currentVersion('gw-image'), '2.4.0');
});
