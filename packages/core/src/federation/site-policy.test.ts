import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { policyDigest } from '../policy/canonical-json.ts';
import { type CompiledPolicy, DEFAULT_POLICY_SETTINGS } from '../policy/policy.schema.ts';
import type { PolicyBundlePayload } from '../policy/policy-bundle.schema.ts';
import { sitePolicyOf } from './site-policy.ts';

const NOW = 1_800_000_000_000;
const policy: CompiledPolicy = {
  segments: [],
  checks: [
    {
      id: 'ports',
      baseline: 'network',
      title: 'No telnet or Modbus exposed',
      severity: 'high',
      rationale: '',
      segments: [],
      spec: { type: 'listening-ports', protocol: 'tcp', forbidden: [23] },
      remediate: 'off',
      watch: [],
    },
  ],
  windows: [],
  settings: DEFAULT_POLICY_SETTINGS,
  rules: [],
};
const hub: PolicyBundlePayload = {
  fleet: 'acme.example',
  version: 7,
  issuedAt: NOW - 1000,
  expiresAt: NOW + 86_400_000,
  crlPems: [],
  policyDigest: policyDigest(policy),
  policy,
  federation: {
    settings: {
      'checks.ports.forbidden': {
        kind: 'deny-list',
        mode: 'floor',
        value: ['23'],
        changedAt: { wallMs: NOW - 1000, counter: 0, node: 'hub' },
      },
      'settings.evaluationIntervalMs': {
        kind: 'maximum',
        mode: 'site-owned',
        value: 3_600_000,
        changedAt: { wallMs: NOW - 1000, counter: 0, node: 'hub' },
      },
    },
    sites: [],
    maxClockAheadMs: 60_000,
  },
};

describe('site policy', () => {
  it('writes the merged settings into the policy the devices enforce', () => {
    const { policy: merged, merge } = sitePolicyOf(
      hub,
      {
        kind: 'site-overlay',
        fleet: 'acme.example',
        site: 'plant-1',
        version: 1,
        issuedAt: NOW,
        expiresAt: NOW + 1000,
        edits: [
          {
            setting: 'checks.ports.forbidden',
            value: ['502'],
            at: { wallMs: NOW, counter: 0, node: 'site/plant-1' },
            expiresAt: NOW + 1000,
          },
          {
            setting: 'settings.evaluationIntervalMs',
            value: 600_000,
            at: { wallMs: NOW, counter: 0, node: 'site/plant-1' },
            expiresAt: NOW + 1000,
          },
        ],
      },
      NOW,
    );
    const check = merged.checks[0];
    assert.deepEqual(check?.spec.type === 'listening-ports' ? check.spec.forbidden : undefined, [23, 502]);
    assert.equal(merged.settings.evaluationIntervalMs, 600_000);
    assert.deepEqual(
      merge.outcomes.map((outcome) => outcome.kind),
      ['loosens-floor', 'applied'],
    );
    // The hub's own policy object is not changed.
    assert.equal(policy.settings.evaluationIntervalMs, 3_600_000);
  });

  it('enforces the hub policy as it is without an overlay', () => {
    const { policy: merged, merge } = sitePolicyOf(hub, undefined, NOW);
    assert.equal(merged.settings.evaluationIntervalMs, 3_600_000);
    assert.deepEqual(merge.outcomes, []);
  });
});
