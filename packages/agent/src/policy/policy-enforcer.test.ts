import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import {
  type CompiledCheck,
  type CompiledPolicy,
  compilePolicy,
  generatePolicyKeyPair,
  type NewDeviceEvent,
  type PolicyBundle,
  policyDigest,
  signPolicyBundle,
  signSiteOverlay,
} from '@edgeward/core';
import { silentLog } from '../collectors/collector-events.ts';
import { type BaselineRunner, type CheckOutcome, PolicyEnforcer } from './policy-enforcer.ts';

const HOUR = 3_600_000;
const keys = generatePolicyKeyPair();
const otherKeys = generatePolicyKeyPair();

function compile(extra: Record<string, string> = {}): CompiledPolicy {
  const result = compilePolicy([
    {
      path: 'baselines/base.yaml',
      text: `checks:
  - id: motd-present
    title: The login banner exists
    severity: low
    rationale: Users see the legal notice.
    check: {type: file, path: /etc/motd}
    remediate: auto
    remediation: {type: file-content, path: /etc/motd, content: "authorised use only\\n"}
  - id: no-telnet
    title: telnet is not installed
    severity: high
    rationale: Clear-text logins.
    check: {type: package, name: telnetd, state: absent}
`,
    },
    ...Object.entries(extra).map(([path, text]) => ({ path, text })),
  ]);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
  return result.policy;
}

function bundle(
  policy: CompiledPolicy,
  version: number,
  issuedAt: number,
  privateKeyPem = keys.privateKeyPem,
  lifetimeMs = 7 * 24 * HOUR,
): PolicyBundle {
  return signPolicyBundle(
    {
      fleet: 'test',
      version,
      issuedAt,
      expiresAt: issuedAt + lifetimeMs,
      crlPems: [],
      policyDigest: policyDigest(policy),
      policy,
    },
    privateKeyPem,
  );
}

/** A device whose checks fail until remediated, and whose motd can be removed again. */
class FakeDevice implements BaselineRunner {
  readonly present = new Set<string>();
  remediations = 0;
  async evaluate(check: CompiledCheck): Promise<CheckOutcome> {
    if (check.id === 'no-telnet') return { status: 'pass', detail: 'telnetd is not installed' };
    return this.present.has(check.id)
      ? { status: 'pass', detail: '/etc/motd exists' }
      : { status: 'fail', detail: '/etc/motd is missing' };
  }
  async remediate(check: CompiledCheck) {
    this.remediations += 1;
    this.present.add(check.id);
    return { outcome: 'fixed' as const, detail: 'wrote /etc/motd', after: await this.evaluate(check) };
  }
}

let dir: string;
let now: number;
let events: NewDeviceEvent[];
let device: FakeDevice;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ew-policy-'));
  now = Date.parse('2026-03-04T10:00:00Z'); // a Wednesday
  events = [];
  device = new FakeDevice();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function enforcer(options: { publicKeyPem?: string | undefined; remediationEnabled?: boolean } = {}) {
  return new PolicyEnforcer({
    dir,
    publicKeyPem: 'publicKeyPem' in options ? options.publicKeyPem : keys.publicKeyPem,
    labels: { function: 'gateway' },
    runner: device,
    emit: async (batch) => {
      events.push(...batch);
    },
    now: () => now,
    log: silentLog,
    root: dir,
    remediationEnabled: options.remediationEnabled ?? true,
    watch: false,
  });
}

const types = () => events.map((event) => event.type);

test('a valid bundle is applied, evaluated, remediated and reported', async () => {
  const policy = enforcer();
  await policy.start();
  assert.equal(await policy.offer(bundle(compile(), 1, now)), 'applied');
  assert.deepEqual(types(), ['policy.bundle_applied', 'policy.remediated']);
  assert.equal(device.remediations, 1);
  const report = policy.pendingReport();
  assert.ok(report);
  assert.equal(report.bundleVersion, 1);
  assert.equal(report.stale, false);
  assert.deepEqual(
    report.results.map((result) => [result.checkId, result.status, result.remediation?.outcome]),
    [
      ['motd-present', 'pass', 'fixed'],
      ['no-telnet', 'pass', undefined],
    ],
  );
  await policy.reportDelivered(report);
  assert.equal(policy.pendingReport(), undefined);
  await policy.stop();
});

test('tampered, foreign-key and older bundles are refused with the reason, and the bundle in force stays', async () => {
  const policy = enforcer();
  await policy.start();
  await policy.offer(bundle(compile(), 2, now));
  events = [];

  const tampered = bundle(compile(), 3, now + 1);
  const altered = structuredClone(tampered);
  altered.payload.policy.checks[0] = {
    ...altered.payload.policy.checks[0],
    severity: 'info',
  } as CompiledCheck;
  assert.equal(await policy.offer(altered), 'refused');
  assert.equal(await policy.offer(bundle(compile(), 3, now + 1, otherKeys.privateKeyPem)), 'refused');
  assert.equal(await policy.offer(bundle(compile(), 1, now + 2)), 'refused');
  const unsigned = { payload: tampered.payload };
  assert.equal(await policy.offer(unsigned), 'refused');

  assert.deepEqual(
    events.map((event) => [event.type, event.data.reason]),
    [
      ['policy.bundle_refused', 'bad-signature'],
      ['policy.bundle_refused', 'wrong-key'],
      ['policy.bundle_refused', 'older'],
      ['policy.bundle_refused', 'unsigned'],
    ],
  );
  assert.equal(policy.inForce?.version, 2);
  // The same bad bundle offered again is the same fact: no second event.
  assert.equal(await policy.offer(bundle(compile(), 1, now + 2)), 'refused');
  assert.equal(events.length, 4);
  await policy.stop();
});

test('an agent without a pinned key refuses every bundle', async () => {
  const policy = enforcer({ publicKeyPem: undefined });
  await policy.start();
  assert.equal(await policy.offer(bundle(compile(), 1, now)), 'refused');
  assert.equal(policy.inForce, undefined);
  await policy.stop();
});

test('without a manager the agent enforces the bundle kept on disk, and an altered file on disk is refused', async () => {
  const first = enforcer();
  await first.start();
  await first.offer(bundle(compile(), 4, now));
  await first.stop();

  // Restart with no manager at all: the kept bundle is verified again and enforced, and a file that
  // passed before the restart and is gone now is drift.
  device.present.clear();
  events = [];
  const second = enforcer();
  await second.start();
  assert.equal(second.inForce?.version, 4);
  assert.deepEqual(types(), ['policy.config_drift', 'policy.remediated']);
  assert.ok(second.pendingReport());
  await second.stop();

  const stored = JSON.parse(await readFile(join(dir, 'bundle.json'), 'utf8')) as PolicyBundle;
  stored.payload.expiresAt += HOUR;
  await writeFile(join(dir, 'bundle.json'), JSON.stringify(stored));
  events = [];
  const third = enforcer();
  await third.start();
  assert.equal(third.inForce, undefined);
  assert.deepEqual(
    events.map((event) => [event.type, event.data.source, event.data.reason]),
    [['policy.bundle_refused', 'disk', 'bad-signature']],
  );
  await third.stop();
});

test('drift outside a window is reported and remediated; inside a window it is an expected change', async () => {
  const windowed = compile({
    'windows/weekly.yaml': `windows:
  - id: wednesday-morning
    timeZone: UTC
    weekly:
      - {days: [wed], start: '09:00', end: '11:00'}
`,
  });
  const policy = enforcer();
  await policy.start();
  now = Date.parse('2026-03-04T12:00:00Z'); // after the window
  await policy.offer(bundle(windowed, 1, now));
  assert.equal(device.remediations, 1);

  events = [];
  device.present.clear();
  await policy.evaluateNow('test');
  assert.deepEqual(types(), ['policy.config_drift', 'policy.remediated']);
  assert.equal(events[0]?.severity, 'low', 'drift carries the check severity');
  assert.equal(events[0]?.data.before, '/etc/motd exists');
  assert.equal(events[0]?.data.after, '/etc/motd is missing');

  events = [];
  device.present.clear();
  now = Date.parse('2026-03-11T10:00:00Z'); // next Wednesday, inside the window
  await policy.evaluateNow('test');
  assert.deepEqual(types(), ['policy.expected_change']);
  assert.equal(events[0]?.data.window, 'wednesday-morning');
  assert.equal(device.remediations, 2, 'no remediation inside the window');

  events = [];
  now = Date.parse('2026-03-11T11:30:00Z'); // the window closed: the change is now remediated
  await policy.evaluateNow('test');
  assert.deepEqual(types(), ['policy.remediated']);
  await policy.stop();
});

test('report-only devices never remediate', async () => {
  const policy = enforcer({ remediationEnabled: false });
  await policy.start();
  await policy.offer(bundle(compile(), 1, now));
  assert.equal(device.remediations, 0);
  assert.equal(
    policy.pendingReport()?.results.find((result) => result.checkId === 'motd-present')?.status,
    'fail',
  );
  await policy.stop();
});

test('an expired bundle stays in force and raises policy.stale once', async () => {
  const policy = enforcer();
  await policy.start();
  await policy.offer(bundle(compile(), 1, now, keys.privateKeyPem, HOUR));
  events = [];
  now += 2 * HOUR;
  await policy.evaluateNow('schedule');
  await policy.evaluateNow('schedule');
  assert.deepEqual(types(), ['policy.stale']);
  assert.equal(policy.inForce?.version, 1);
  assert.equal(policy.pendingReport()?.stale, true);

  // A re-signed bundle of the same version refreshes it without a new evaluation.
  assert.equal(await policy.offer(bundle(compile(), 1, now)), 'refreshed');
  assert.equal(policy.pendingReport()?.stale, false);
  await policy.stop();
});

test('a site overlay authorized by the bundle tightens what the device enforces; a forged one is refused', async () => {
  const siteKeys = generatePolicyKeyPair();
  const changedAt = { wallMs: now - HOUR, counter: 0, node: 'hub' };
  const policy = compile();
  const federated = signPolicyBundle(
    {
      fleet: 'test',
      version: 1,
      issuedAt: now,
      expiresAt: now + HOUR,
      crlPems: [],
      policyDigest: policyDigest(policy),
      policy,
      federation: {
        settings: {
          'settings.evaluationIntervalMs': { kind: 'maximum', mode: 'floor', value: HOUR, changedAt },
        },
        sites: [
          {
            site: 'plant-1',
            overlayPublicKeyPem: siteKeys.publicKeyPem,
            settings: ['settings.evaluationIntervalMs'],
            maxOfflineMs: 24 * HOUR,
          },
        ],
        maxClockAheadMs: 60_000,
      },
    },
    keys.privateKeyPem,
  );
  const overlay = (value: number, signer = siteKeys.privateKeyPem) =>
    signSiteOverlay(
      {
        kind: 'site-overlay',
        fleet: 'test',
        site: 'plant-1',
        version: 1,
        issuedAt: now,
        expiresAt: now + HOUR,
        edits: [
          {
            setting: 'settings.evaluationIntervalMs',
            value,
            at: { wallMs: now, counter: 0, node: 'site/plant-1' },
            hubSeen: changedAt,
            expiresAt: now + HOUR,
          },
        ],
      },
      signer,
    );
  const enforcing = enforcer();
  await enforcing.start();
  await enforcing.offer(federated);
  assert.equal(enforcing.acceptsOverlay, true);
  assert.equal(await enforcing.offerOverlay(overlay(600_000, otherKeys.privateKeyPem)), 'refused');
  assert.equal(enforcing.effectiveSettings?.evaluationIntervalMs, HOUR);
  assert.equal(await enforcing.offerOverlay(overlay(600_000)), 'applied');
  assert.equal(enforcing.effectiveSettings?.evaluationIntervalMs, 600_000);
  await enforcing.stop();
  // Kept on disk and authorized again at the next start.
  const restarted = enforcer();
  await restarted.start();
  assert.equal(restarted.effectiveSettings?.evaluationIntervalMs, 600_000);
  await restarted.stop();
});
