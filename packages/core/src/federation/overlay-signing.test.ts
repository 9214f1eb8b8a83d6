import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generatePolicyKeyPair } from '../policy/policy-signing.ts';
import { authorizeSiteOverlay, signSiteOverlay } from './overlay-signing.ts';
import type { HubFederation, SiteOverlayPayload } from './site-overlay.schema.ts';

const NOW = 1_800_000_000_000;
const siteKeys = generatePolicyKeyPair();
const otherKeys = generatePolicyKeyPair();

const federation: HubFederation = {
  settings: {
    'settings.evaluationIntervalMs': {
      kind: 'maximum',
      mode: 'floor',
      value: 3_600_000,
      changedAt: { wallMs: NOW - 1000, counter: 0, node: 'hub' },
    },
  },
  sites: [
    {
      site: 'plant-1',
      overlayPublicKeyPem: siteKeys.publicKeyPem,
      settings: ['settings.evaluationIntervalMs'],
      maxOfflineMs: 86_400_000,
    },
  ],
  maxClockAheadMs: 60_000,
};

const payload: SiteOverlayPayload = {
  kind: 'site-overlay',
  fleet: 'acme.example',
  site: 'plant-1',
  version: 3,
  issuedAt: NOW - 100,
  expiresAt: NOW + 3_600_000,
  edits: [
    {
      setting: 'settings.evaluationIntervalMs',
      value: 600_000,
      at: { wallMs: NOW - 100, counter: 0, node: 'site/plant-1' },
      expiresAt: NOW + 3_600_000,
    },
  ],
};

const options = { fleet: 'acme.example', federation, nowMs: NOW };

describe('site overlay authorization', () => {
  it('accepts an overlay signed by the delegated key within its scope', () => {
    const result = authorizeSiteOverlay(signSiteOverlay(payload, siteKeys.privateKeyPem), options);
    assert.equal(result.ok, true);
  });

  it('refuses an overlay signed by a key the hub did not delegate', () => {
    const result = authorizeSiteOverlay(signSiteOverlay(payload, otherKeys.privateKeyPem), options);
    assert.deepEqual(result.ok ? 'accepted' : result.reason, 'wrong-key');
  });

  it('refuses an overlay altered after signing', () => {
    const overlay = signSiteOverlay(payload, siteKeys.privateKeyPem);
    const altered = { ...overlay, payload: { ...overlay.payload, version: 4 } };
    const result = authorizeSiteOverlay(altered, options);
    assert.deepEqual(result.ok ? 'accepted' : result.reason, 'bad-signature');
  });

  it('refuses a whole overlay that edits a setting outside its delegation', () => {
    const wider: SiteOverlayPayload = {
      ...payload,
      edits: [
        ...payload.edits,
        {
          ...(payload.edits[0] as SiteOverlayPayload['edits'][number]),
          setting: 'checks.ssh.remediate',
          value: 'off',
        },
      ],
    };
    const result = authorizeSiteOverlay(signSiteOverlay(wider, siteKeys.privateKeyPem), options);
    assert.deepEqual(
      result.ok ? 'accepted' : [result.reason, result.message.includes('checks.ssh.remediate')],
      ['out-of-scope', true],
    );
  });

  it('refuses an overlay for another site, fleet, or past its expiry, or older than the one in force', () => {
    const signed = (changes: Partial<SiteOverlayPayload>) =>
      signSiteOverlay({ ...payload, ...changes }, siteKeys.privateKeyPem);
    const reason = (overlay: unknown, extra = {}) => {
      const result = authorizeSiteOverlay(overlay, { ...options, ...extra });
      return result.ok ? 'accepted' : result.reason;
    };
    assert.equal(reason(signed({ site: 'plant-2' })), 'not-delegated');
    assert.equal(reason(signed({ fleet: 'other.example' })), 'wrong-fleet');
    assert.equal(reason(signed({ expiresAt: NOW })), 'expired');
    assert.equal(reason(signed({}), { inForceVersion: 4 }), 'older');
    assert.equal(reason({ payload }), 'malformed');
  });
});
