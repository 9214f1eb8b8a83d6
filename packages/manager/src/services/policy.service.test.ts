/**
 * Two manager replicas on one PostgreSQL schema, sharing the pki directory as they must: the bundle in
 * force is re-signed once however many replicas find it due, and a replica whose CRLs lag behind never
 * replaces a newer bundle.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isEdgewardError, type PolicySourceFile, verifyPolicyBundle } from '@edgeward/core';
import { createStore, type Store } from '@edgeward/store';
import pg from 'pg';
import pino from 'pino';
import { FleetPki } from '../pki/fleet-pki.ts';
import { AuditTrail } from './audit-trail.ts';
import { PolicyService } from './policy.service.ts';
import { RevocationService } from './revocation.service.ts';

const DAY_MS = 86_400_000;
const url = process.env.EDGEWARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `Ew Policy ${process.pid}-${Date.now()}`;
const clock = { offsetMs: 0, now: () => Date.now() + clock.offsetMs };
const logger = pino({ level: 'silent' });
const operator = { id: 'op-1', name: 'ada', role: 'operator' as const };

interface Replica {
  readonly store: Store;
  readonly revocations: RevocationService;
  readonly policies: PolicyService;
}

let dir: string;
let pki: FleetPki;
let a: Replica;
let b: Replica;

async function replica(): Promise<Replica> {
  const store = await createStore({ database: url, schema });
  const revocations = new RevocationService({ store, clock, pki, logger, crlValidityMs: 7 * DAY_MS });
  await revocations.publish();
  const policies = new PolicyService({
    store,
    clock,
    pki,
    revocations,
    audit: new AuditTrail(clock),
    logger,
  });
  return { store, revocations, policies };
}

function folder(severity: string): PolicySourceFile[] {
  return [
    {
      path: 'baselines/base.yaml',
      text: `checks:\n  - id: time-sync\n    title: The clock is synchronized\n    severity: ${severity}\n    rationale: Logs need true times.\n    check: {type: time-sync}\n`,
    },
  ];
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeward-policy-'));
  ({ pki } = await FleetPki.open({
    dir,
    fleet: 'edgeward.local',
    serverNames: ['localhost'],
    clock,
    logger,
  }));
  a = await replica();
  b = await replica();
});

after(async () => {
  await a?.store.close();
  await b?.store.close();
  await rm(dir, { recursive: true, force: true });
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

test('two replicas applying at once make two versions, and the same policy twice is refused', async () => {
  const [first, second] = await Promise.all([
    a.policies.apply(operator, folder('high'), 'from a', undefined),
    b.policies.apply(operator, folder('medium'), 'from b', undefined),
  ]);
  assert.deepEqual([first.version, second.version].sort(), [1, 2]);
  const inForce = first.version === 2 ? 'high' : 'medium';
  await assert.rejects(a.policies.apply(operator, folder(inForce), 'again', undefined), (error) =>
    isEdgewardError(error, 'EW_POLICY_UNCHANGED'),
  );
  assert.equal((await b.policies.history()).versions.length, 2);
});

test('replicas that find the bundle due at once re-sign it once and serve the same bundle', async () => {
  const before = await a.policies.currentBundle();
  assert.ok(before);
  clock.offsetMs = 4 * DAY_MS;
  // The hourly CRL refresh of each replica, which a four-day jump skipped.
  await Promise.all([a.revocations.publish(), b.revocations.publish()]);
  const [fromA, fromB] = await Promise.all([a.policies.currentBundle(), b.policies.currentBundle()]);
  assert.ok(fromA && fromB);
  assert.deepEqual(fromA, fromB);
  assert.equal(fromA.payload.version, before.payload.version);
  assert.ok(fromA.payload.issuedAt >= before.payload.issuedAt + 4 * DAY_MS);
  const verified = verifyPolicyBundle(fromA, {
    publicKeyPem: pki.policyPublicKeyPem,
    inForce: before.payload,
  });
  assert.ok(verified.ok && verified.fresh);
  const [againA, againB] = await Promise.all([a.policies.currentBundle(), b.policies.currentBundle()]);
  assert.equal(againA?.payload.issuedAt, fromA.payload.issuedAt, 'not due any more');
  assert.equal(againB?.payload.issuedAt, fromA.payload.issuedAt);
});

test('a revocation on one replica re-signs there; a replica with older CRLs serves that bundle as it is', async () => {
  const now = clock.now();
  await a.store.devices.create({
    id: 'dev-lost',
    name: 'lost',
    labels: {},
    enrolledAt: now,
    enrollmentTokenId: null,
    lastSeenAt: null,
    reportIntervalMs: 60_000,
    agentVersion: 'test',
    inventoryVersion: 0,
    revokedAt: null,
  });
  await a.store.certificates.create({
    serial: '0a1b2c3d',
    deviceId: 'dev-lost',
    notBefore: now,
    notAfter: now + 30 * DAY_MS,
    issuedAt: now,
    fingerprint: 'fp',
    revokedAt: null,
  });
  const before = await b.policies.currentBundle();
  assert.ok(before);
  await a.store.certificates.revokeAllForDevice('dev-lost', now);
  await a.revocations.publish();
  const resigned = await a.policies.currentBundle();
  assert.ok(resigned);
  assert.ok(resigned.payload.issuedAt > before.payload.issuedAt);
  assert.deepEqual(resigned.payload.crlPems, [...a.revocations.crls]);
  assert.notDeepEqual(resigned.payload.crlPems, before.payload.crlPems);

  assert.notEqual(b.revocations.revokedDigest, a.revocations.revokedDigest, 'b has not polled yet');
  assert.deepEqual(await b.policies.currentBundle(), resigned, 'b does not put its older CRLs back');
  await b.revocations.refreshIfNeeded(3_600_000);
  assert.equal(b.revocations.revokedDigest, a.revocations.revokedDigest);
  assert.deepEqual(await b.policies.currentBundle(), resigned, 'the same revocations: nothing to re-sign');
});
