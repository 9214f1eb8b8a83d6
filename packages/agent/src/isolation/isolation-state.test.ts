import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import type { EnforcementResult, IsolationEnforcer } from './isolation-enforcer.ts';
import type { IsolationSpec } from './isolation-policy.ts';
import { type IsolationChange, IsolationManager } from './isolation-state.ts';

const spec: IsolationSpec = {
  manager: { host: '10.0.0.1', port: 8443 },
  resolvedManagerAddresses: ['10.0.0.1'],
  allowDns: false,
  allow: [],
};

/** A firewall in memory: whether our rules are loaded, and with which spec. */
class FakeEnforcer implements IsolationEnforcer {
  readonly mode = 'nftables';
  loaded: IsolationSpec | undefined;
  isolateCalls = 0;
  releaseCalls = 0;
  failIsolate = false;
  failRelease = false;

  async isolate(next: IsolationSpec): Promise<EnforcementResult> {
    this.isolateCalls++;
    if (this.failIsolate) throw new Error('nft exited with 1: Operation not permitted');
    this.loaded = next;
    return { mode: this.mode, applied: true, detail: 'loaded', commands: '' };
  }

  async release(): Promise<EnforcementResult> {
    this.releaseCalls++;
    if (this.failRelease) throw new Error('nft exited with 1: busy');
    this.loaded = undefined;
    return { mode: this.mode, applied: true, detail: 'removed', commands: '' };
  }

  async status() {
    return { isolated: this.loaded !== undefined, detail: '' };
  }
}

async function setup(
  t: TestContext,
  options: { enforcer?: FakeEnforcer; now?: () => number; dataDir?: string } = {},
) {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'edgeward-isolation-')));
  if (options.dataDir === undefined) t.after(() => rm(dataDir, { recursive: true, force: true }));
  const enforcer = options.enforcer ?? new FakeEnforcer();
  const changes: IsolationChange[] = [];
  const warnings: string[] = [];
  const manager = new IsolationManager({
    dataDir,
    enforcer,
    now: options.now ?? Date.now,
    log: { info() {}, warn: (_details, message) => warnings.push(message) },
    emit: async (change) => {
      changes.push(change);
    },
  });
  t.after(() => manager.stop());
  await manager.start();
  return { dataDir, enforcer, manager, changes, warnings };
}

const persisted = async (dataDir: string) =>
  JSON.parse(await readFile(join(dataDir, 'isolation.json'), 'utf8'));

test('isolating persists the decision and loads the rules; isolating again replaces them', async (t) => {
  let clock = 1_000;
  const { dataDir, enforcer, manager, changes } = await setup(t, { now: () => clock });
  await manager.isolate(spec, 'ransomware suspected', 'alice');
  clock = 2_000;
  const wider = {
    ...spec,
    allow: [{ name: 'scada', address: '10.1.0.9', protocol: 'tcp', direction: 'out' }],
  } as const;
  await manager.isolate(wider, 'let SCADA through', 'bob');
  assert.deepEqual(enforcer.loaded, wider);
  assert.deepEqual(manager.state(), {
    isolated: true,
    since: 1_000,
    reason: 'let SCADA through',
    by: 'bob',
    releaseAt: null,
    mode: 'nftables',
  });
  assert.deepEqual((await persisted(dataDir)).isolation, {
    spec: wider,
    since: 1_000,
    reason: 'let SCADA through',
    by: 'bob',
  });
  assert.deepEqual(
    changes.map((change) => [change.action, change.by]),
    [
      ['isolated', 'alice'],
      ['isolated', 'bob'],
    ],
  );
});

test('a restart loads the persisted isolation again (the firewall lost it)', async (t) => {
  const first = await setup(t);
  await first.manager.isolate(spec, 'incident 7', 'alice');
  first.manager.stop();
  const rebooted = new FakeEnforcer();
  const second = await setup(t, { enforcer: rebooted, dataDir: first.dataDir });
  assert.deepEqual(rebooted.loaded, spec);
  assert.equal(second.manager.state().isolated, true);
  assert.equal(second.manager.state().reason, 'incident 7');
  assert.deepEqual(
    second.changes.map((change) => [change.action, change.by]),
    [['reapplied', 'agent-start']],
  );
});

test('a dead-man time that passed while the agent was down releases at start', async (t) => {
  let clock = 10_000;
  const first = await setup(t, { now: () => clock });
  await first.manager.isolate({ ...spec, releaseAt: 20_000 }, 'incident 7', 'alice');
  first.manager.stop();
  clock = 25_000;
  const enforcer = new FakeEnforcer();
  enforcer.loaded = spec; // the rules survived: no reboot
  const second = await setup(t, { enforcer, dataDir: first.dataDir, now: () => clock });
  assert.equal(enforcer.loaded, undefined);
  assert.equal(enforcer.isolateCalls, 0, 'not re-applied first');
  assert.equal(second.manager.state().isolated, false);
  assert.equal((await persisted(first.dataDir)).isolation, null);
  assert.equal(second.changes[0]?.by, 'dead-man-timer');
  assert.match(second.changes[0]?.reason ?? '', /while the agent was stopped/);
});

test('the dead-man timer releases when its time comes, and not before', async (t) => {
  const { enforcer, manager, changes } = await setup(t);
  const releaseAt = Date.now() + 150;
  await manager.isolate({ ...spec, releaseAt }, 'incident 7', 'alice');
  assert.equal(manager.state().releaseAt, releaseAt);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(manager.state().isolated, true);
  const deadline = Date.now() + 2_000;
  while (manager.state().isolated && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(manager.state().isolated, false);
  assert.ok(Date.now() >= releaseAt);
  assert.equal(enforcer.loaded, undefined);
  assert.equal(changes.at(-1)?.by, 'dead-man-timer');
});

test('a new isolation without a dead-man time cancels the earlier timer', async (t) => {
  const { manager } = await setup(t);
  await manager.isolate({ ...spec, releaseAt: Date.now() + 80 }, 'first', 'alice');
  await manager.isolate(spec, 'until further notice', 'alice');
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(manager.state().isolated, true);
});

test('a refused isolation restores the previous decision and says so', async (t) => {
  const { dataDir, enforcer, manager, changes } = await setup(t);
  enforcer.failIsolate = true;
  await assert.rejects(manager.isolate(spec, 'incident 7', 'alice'), /Operation not permitted/);
  assert.equal(manager.state().isolated, false);
  assert.equal((await persisted(dataDir)).isolation, null);
  assert.equal(changes.at(-1)?.action, 'failed');
  assert.equal(changes.at(-1)?.applied, false);
});

test('a refused release keeps the device isolated, on disk too', async (t) => {
  const { dataDir, enforcer, manager } = await setup(t);
  await manager.isolate(spec, 'incident 7', 'alice');
  enforcer.failRelease = true;
  await assert.rejects(manager.release('all clear', 'alice'), /busy/);
  assert.equal(manager.state().isolated, true);
  assert.notEqual((await persisted(dataDir)).isolation, null);
  enforcer.failRelease = false;
  await manager.release('all clear', 'alice');
  assert.equal(manager.state().isolated, false);
  assert.equal(enforcer.loaded, undefined);
});

test('rules left behind without a decision are removed at start', async (t) => {
  const enforcer = new FakeEnforcer();
  enforcer.loaded = spec;
  const { changes } = await setup(t, { enforcer });
  assert.equal(enforcer.loaded, undefined);
  assert.equal(changes[0]?.action, 'released');
});

test('an unreadable decision leaves the firewall alone and is reported', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'edgeward-isolation-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  await writeFile(join(dataDir, 'isolation.json'), '{"version": 1, "isol');
  const enforcer = new FakeEnforcer();
  enforcer.loaded = spec;
  const { warnings, manager } = await setup(t, { enforcer, dataDir });
  assert.deepEqual(enforcer.loaded, spec);
  assert.equal(enforcer.releaseCalls, 0);
  assert.equal(manager.state().isolated, false);
  assert.match(warnings.join('\n'), /unreadable isolation state/);
});

test('concurrent requests run one at a time, last one wins', async (t) => {
  const { enforcer, manager } = await setup(t);
  await Promise.all([
    manager.isolate(spec, 'a', 'alice'),
    manager.release('b', 'bob'),
    manager.isolate({ ...spec, allowDns: true }, 'c', 'carol'),
  ]);
  assert.deepEqual(enforcer.loaded, { ...spec, allowDns: true });
  assert.equal(manager.state().reason, 'c');
});
