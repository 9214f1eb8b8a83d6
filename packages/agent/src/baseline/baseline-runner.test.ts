import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CommandRunner } from '../inventory/command-runner.ts';
import { createBaselineRunner } from './baseline-runner.ts';
import { checkOf, copyFixture } from './fixture-roots.fixture.ts';

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'edgeward-runner-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('createBaselineRunner', () => {
  it('binds evaluation and remediation to one root, given relative to the working directory', async () => {
    const root = await copyFixture('alpine-like', scratch, 'runner');
    const runner = createBaselineRunner({ root: relative(process.cwd(), root), live: false, now: () => 0 });
    const check = checkOf(
      { type: 'file', path: '/etc/shadow', maxMode: '0640' },
      {
        remediate: 'auto',
        remediation: { action: { type: 'chmod', path: '/etc/shadow', mode: '0640' }, timeoutMs: 5000 },
      },
    );
    assert.equal((await runner.evaluate(check)).status, 'fail');
    const result = await runner.remediate(check);
    assert.equal(result.outcome, 'fixed', result.detail);
    assert.equal((await runner.evaluate(check)).status, 'pass');
  });

  it('never runs programs for a root that is not live', async () => {
    const root = await copyFixture('debian-like', scratch, 'not-live');
    const refuse: CommandRunner = async () => assert.fail('a program ran');
    const runner = createBaselineRunner({ root, live: false, now: () => 0, run: refuse });
    assert.equal(
      (await runner.evaluate(checkOf({ type: 'command', run: ['true'] }))).status,
      'not-applicable',
    );
    assert.equal((await runner.evaluate(checkOf({ type: 'time-sync' }))).status, 'pass');
  });
});
