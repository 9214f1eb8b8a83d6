import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseCrl } from '@edgeward/core';
import { createStore, type Store } from '@edgeward/store';
import pino from 'pino';
import { FleetPki } from '../pki/fleet-pki.ts';
import { RevocationService } from './revocation.service.ts';

const HOUR = 3_600_000;
let dir: string;
let store: Store;
let pki: FleetPki;
const clock = { offsetMs: 0, now: () => Date.now() + clock.offsetMs };
const logger = pino({ level: 'silent' });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeward-revocation-'));
  store = await createStore({ database: 'sqlite::memory:' });
  ({ pki } = await FleetPki.open({
    dir,
    fleet: 'edgeward.local',
    serverNames: ['localhost'],
    clock,
    logger,
  }));
});
after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

test('CRLs are re-issued well before they expire, and only when due or changed', async () => {
  const service = new RevocationService({ store, clock, pki, logger, crlValidityMs: 7 * 24 * HOUR });
  const issued: (readonly string[])[] = [];
  service.onChange((crls) => issued.push(crls));
  await service.publish();
  assert.equal(issued.length, 1);
  assert.equal(service.crls.length, 2, 'one CRL per CA in the chain');
  assert.ok(service.crls.every((crl) => crl.startsWith('-----BEGIN X509 CRL-----')));
  const firstNextUpdate = parseCrl(service.crls[1] ?? '').nextUpdate ?? 0;

  await service.refreshIfNeeded(HOUR);
  assert.equal(issued.length, 1, 'nothing changed and the CRLs are fresh');

  clock.offsetMs = HOUR + 1000;
  await service.refreshIfNeeded(HOUR);
  assert.equal(issued.length, 2, 're-issued once the refresh period passed');
  assert.ok((parseCrl(service.crls[1] ?? '').nextUpdate ?? 0) > firstNextUpdate);
});

test('a revocation written by another replica reaches this listener at the next poll', async () => {
  const service = new RevocationService({ store, clock, pki, logger, crlValidityMs: 7 * 24 * HOUR });
  await service.publish();
  const now = clock.now();
  await store.devices.create({
    id: 'dev-replica',
    name: 'r',
    labels: {},
    enrolledAt: now,
    enrollmentTokenId: null,
    lastSeenAt: now,
    reportIntervalMs: 60_000,
    agentVersion: 't',
    inventoryVersion: 0,
    revokedAt: null,
  });
  await store.certificates.create({
    serial: '0abc',
    deviceId: 'dev-replica',
    notBefore: now - 1000,
    notAfter: now + 24 * HOUR,
    issuedAt: now,
    fingerprint: 'f'.repeat(64),
    revokedAt: null,
  });
  await store.certificates.revokeAllForDevice('dev-replica', now);
  await service.refreshIfNeeded(24 * HOUR);
  const revoked = parseCrl(service.crls[1] ?? '').revoked.map((entry) => entry.serial);
  assert.deepEqual(revoked, ['0abc']);
});
