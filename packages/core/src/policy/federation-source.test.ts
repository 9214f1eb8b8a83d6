import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePolicy } from './compile-policy.ts';

describe('federation.yaml', () => {
  it('compiles governed settings and delegations in a stable order', () => {
    const result = compilePolicy([
      {
        path: 'federation.yaml',
        text: `settings:
  checks.ports.forbidden: { kind: deny-list, mode: floor, value: ['502', '23', '23'] }
  settings.evaluationIntervalMs: { kind: maximum, mode: site-owned, value: 3600000 }
delegate:
  plant-1: [settings.evaluationIntervalMs, checks.ports.forbidden]
`,
      },
    ]);
    assert.ok(result.ok, result.ok ? '' : JSON.stringify(result.problems));
    assert.deepEqual(result.policy.federation, {
      maxClockAheadMs: 300_000,
      settings: {
        'checks.ports.forbidden': { kind: 'deny-list', mode: 'floor', value: ['23', '502'] },
        'settings.evaluationIntervalMs': { kind: 'maximum', mode: 'site-owned', value: 3_600_000 },
      },
      delegate: { 'plant-1': ['checks.ports.forbidden', 'settings.evaluationIntervalMs'] },
    });
  });

  it('refuses a floor without an order, a value of the wrong kind, and delegating a locked or unknown setting', () => {
    const result = compilePolicy([
      {
        path: 'federation.yaml',
        text: `settings:
  tz: { kind: value, mode: floor, value: UTC }
  settings.bundleExpiryMs: { kind: maximum, mode: lock, value: fast }
delegate:
  '*': [settings.bundleExpiryMs, nothing.here]
`,
      },
    ]);
    assert.equal(result.ok, false);
    const messages = result.ok
      ? []
      : result.problems.map((problem) => `${problem.field}: ${problem.message}`);
    // In the order of the file.
    assert.deepEqual(messages, [
      'settings.tz.mode: a plain value has no order: lock it or make it site-owned',
      'settings.settings.bundleExpiryMs.value: a value of kind maximum',
      'delegate.*.0: `settings.bundleExpiryMs` is locked: a site cannot edit it',
      'delegate.*.1: `nothing.here` is not a governed setting',
    ]);
  });

  it('leaves a policy without federation.yaml without a federation block', () => {
    const result = compilePolicy([]);
    assert.ok(result.ok);
    assert.equal(result.policy.federation, undefined);
  });
});
