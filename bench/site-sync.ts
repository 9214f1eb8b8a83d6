// `npx node bench/site-sync.ts [--devices 500 --events-per-device 200 --batch 5000]`: how fast a site that
// was cut off for a day converges with its hub. A real hub and a real site (both on SQLite, in this
// process, over mTLS on loopback: the site enrolled with the hub and got its delegated CA); the site's
// store is filled with a day's events of every device as if its agents had delivered them while the link
// was down; then the site's uplink starts and the clock runs until the hub has acknowledged every event.
// Prints events per second and the wall time to converge, and checks that the hub holds each event once.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { DeviceEvent } from '@edgeward/core';
import { buildManager, resolveManagerConfig } from '@edgeward/manager';
import pino from 'pino';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '500' },
    'events-per-device': { type: 'string', default: '200' },
    batch: { type: 'string', default: '5000' },
  },
});
const devices = Number(values.devices);
const perDevice = Number(values['events-per-device']);
const batch = Number(values.batch);
const DAY_MS = 86_400_000;

const work = await mkdtemp(join(tmpdir(), 'edgeward-site-sync-'));
const logger = pino({ level: 'warn' });
const hub = await buildManager(
  resolveManagerConfig([
    {
      source: 'bench',
      values: { dataDir: join(work, 'hub'), host: '127.0.0.1', devicePort: 0, operatorPort: 0 },
    },
  ]),
  { logger },
);
const { deviceUrl } = await hub.listen();
const sites = hub.services.sites;
if (sites === undefined) throw new Error('the hub has no site service');
const created = await sites.create(
  { id: 'bench', name: 'bench', role: 'admin' },
  {
    id: 'bench-site',
    maxOfflineMs: 2 * DAY_MS,
    ttlMs: 3_600_000,
  },
);
const site = await buildManager(
  resolveManagerConfig([
    {
      source: 'bench',
      values: {
        role: 'site',
        dataDir: join(work, 'site'),
        host: '127.0.0.1',
        devicePort: 0,
        operatorPort: 0,
        upstreamUrl: deviceUrl.replace('localhost', '127.0.0.1'),
        upstreamToken: created.token,
        upstreamCaFingerprint: hub.pki.caFingerprint,
        upstreamSyncMs: 200,
        upstreamBatchEvents: batch,
      },
    },
  ]),
  { logger },
);

// A day offline: every device's events, as the site stored them from its agents.
const fillStarted = performance.now();
const dayAgo = Date.now() - DAY_MS;
for (let index = 0; index < devices; index++) {
  const id = `dev-bench-${String(index).padStart(4, '0')}`;
  await site.store.devices.create({
    id,
    name: id,
    labels: { function: 'gateway' },
    enrolledAt: dayAgo,
    enrollmentTokenId: null,
    lastSeenAt: Date.now(),
    reportIntervalMs: 60_000,
    agentVersion: 'bench',
    inventoryVersion: 0,
    revokedAt: null,
  });
  const events: DeviceEvent[] = [];
  for (let seq = 1; seq <= perDevice; seq++) {
    events.push({
      seq,
      id: `${id}-${seq}`,
      type: 'auth.login_failed',
      severity: 'medium',
      time: dayAgo + Math.floor((seq * DAY_MS) / perDevice),
      data: { user: `user${seq % 17}`, source: `203.0.113.${seq % 250}`, port: 22, service: 'sshd' },
    });
  }
  await site.store.events.ingest(id, events, Date.now());
}
const total = devices * perDevice;
const fillSeconds = (performance.now() - fillStarted) / 1000;

const started = performance.now();
await site.listen();
for (;;) {
  if ((await site.store.sites.uplinkBacklog()) === 0) break;
  await new Promise((resolve) => setTimeout(resolve, 50));
}
const seconds = (performance.now() - started) / 1000;

let held = 0;
for (let index = 0; index < devices; index++) {
  held += (await hub.store.events.deliveryState(`dev-bench-${String(index).padStart(4, '0')}`)).ackedSeq;
}
const stored = (await hub.store.events.query({ limit: total + 10 })).filter((event) =>
  event.deviceId.startsWith('dev-bench-'),
).length;
await site.close();
await hub.close();
await rm(work, { recursive: true, force: true });

process.stdout.write(
  `${JSON.stringify(
    {
      devices,
      eventsPerDevice: perDevice,
      events: total,
      batchEvents: batch,
      fillSeconds: Number(fillSeconds.toFixed(1)),
      convergeSeconds: Number(seconds.toFixed(2)),
      eventsPerSecond: Math.round(total / seconds),
      hubAcknowledged: held,
      hubStored: stored,
    },
    null,
    2,
  )}\n`,
);
if (held !== total || stored !== total) process.exitCode = 1;
