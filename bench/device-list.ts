// The dashboard's device table at fleet scale: a manager on SQLite holding `devices` devices (labels,
// a compliance report each), and the operator API's /api/v1/devices timed over HTTPS as the dashboard
// calls it: first pages under each sort, a page deep in the list by its keyset cursor, each filter,
// and the overview's figures. The same keep-alive client and admin token for every request.
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeviceRecord } from '@edgeward/core';
import { buildManager, resolveManagerConfig } from '@edgeward/manager';
import { createStore } from '@edgeward/store';
import pino from 'pino';

export interface DeviceListFigures {
  readonly devices: number;
  readonly populateSeconds: number;
  readonly rows: {
    readonly query: string;
    readonly total: number;
    readonly medianMs: number;
    readonly p95Ms: number;
  }[];
}

const sites = 20;
const segments = ['critical-ot', 'gateways', 'kiosks', 'default'];

function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? 0;
}

export async function measureDeviceList(options: {
  devices: number;
  requests: number;
  progress: (line: string) => void;
}): Promise<DeviceListFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'ew-bench-device-list-'));
  const store = await createStore({ database: `sqlite:${join(dir, 'edgeward.db')}` });
  const populateStarted = performance.now();
  const now = Date.now();
  const records: DeviceRecord[] = [];
  // Names in another order than ids, a third of the fleet silent, so every sort and filter has work.
  for (let index = 0; index < options.devices; index++) {
    records.push({
      id: `dev-${index.toString(16).padStart(16, '0')}`,
      name: `host-${((index * 7919) % options.devices).toString().padStart(6, '0')}`,
      labels: { site: `plant-${index % sites}`, risk: ['low', 'medium', 'high'][index % 3] ?? 'low' },
      enrolledAt: now - options.devices + index,
      enrollmentTokenId: null,
      lastSeenAt: index % 3 === 0 ? now - 3_600_000 : now - (index % 1000),
      reportIntervalMs: 60_000,
      agentVersion: '0.1.0',
      inventoryVersion: 1,
      revokedAt: null,
    });
  }
  const batch = 2000;
  for (let start = 0; start < records.length; start += batch) {
    await store.transaction(async (tx) => {
      for (const record of records.slice(start, start + batch)) {
        await tx.devices.create(record);
        await tx.compliance.saveReport(record.id, {
          bundleVersion: 1,
          segment: segments[Number.parseInt(record.id.slice(4), 16) % segments.length] ?? 'default',
          evaluatedAt: now,
          stale: false,
          receivedAt: now,
          results: [{ checkId: 'ssh-root', status: 'pass', detail: 'ok', evaluatedAt: now }],
        });
      }
    });
    if ((start / batch) % 10 === 0) options.progress(`populated ${start + batch} devices`);
  }
  const populateSeconds = (performance.now() - populateStarted) / 1000;
  // Closed and opened again by the manager, as after a restart: closing runs SQLite's PRAGMA optimize,
  // whose statistics the planner uses for the partial indexes, as it does on any manager that ran a while.
  await store.close();

  const config = resolveManagerConfig([
    { source: 'bench', values: { dataDir: dir, host: '127.0.0.1', devicePort: 0, operatorPort: 0 } },
  ]);
  const manager = await buildManager(config, { logger: pino({ level: 'warn' }) });
  const { operatorUrl } = await manager.listen();
  const token = manager.firstStart?.adminToken.token ?? '';
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: manager.pki.rootCaPem });
  const get = (path: string) =>
    new Promise<{ total?: number; devices?: { total: number } }>((resolve, reject) => {
      request(
        new URL(path, operatorUrl),
        { agent, headers: { authorization: `Bearer ${token}` } },
        (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => {
            text += chunk;
          });
          response.on('end', () =>
            response.statusCode === 200 ? resolve(JSON.parse(text)) : reject(new Error(`${path}: ${text}`)),
          );
        },
      )
        .on('error', reject)
        .end();
    });

  // A cursor halfway down the name order, as the dashboard would hold after 1,000 pages of 50.
  const middle = [...records].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))[
    Math.floor(records.length / 2)
  ];
  const deepCursor = Buffer.from(JSON.stringify([middle?.name, middle?.id])).toString('base64url');
  const queries: [string, string][] = [
    ['first page, by name', '/api/v1/devices?limit=50&sort=name'],
    ['first page, by last contact, newest first', '/api/v1/devices?limit=50&sort=lastSeen&order=desc'],
    ['page 1,001, by name (keyset cursor)', `/api/v1/devices?limit=50&sort=name&cursor=${deepCursor}`],
    ['site=plant-7 (label)', '/api/v1/devices?limit=50&sort=name&label=site%3Dplant-7'],
    ['status=offline', '/api/v1/devices?limit=50&sort=name&status=offline'],
    ['segment=kiosks', '/api/v1/devices?limit=50&sort=name&segment=kiosks'],
    ['search "host-0123"', '/api/v1/devices?limit=50&sort=name&search=host-0123'],
    [
      'site + status + segment',
      '/api/v1/devices?limit=50&sort=name&label=site%3Dplant-1&status=online&segment=gateways',
    ],
    ['fleet overview (all figures)', '/api/v1/fleet/overview'],
  ];
  const rows: DeviceListFigures['rows'][number][] = [];
  try {
    for (const [label, path] of queries) {
      const first = await get(path);
      const timings: number[] = [];
      for (let round = 0; round < options.requests; round++) {
        const started = performance.now();
        await get(path);
        timings.push(performance.now() - started);
      }
      const row = {
        query: label,
        total: first.total ?? first.devices?.total ?? 0,
        medianMs: percentile(timings, 0.5),
        p95Ms: percentile(timings, 0.95),
      };
      rows.push(row);
      options.progress(`${label}: median ${row.medianMs.toFixed(1)} ms, p95 ${row.p95Ms.toFixed(1)} ms`);
    }
  } finally {
    agent.destroy();
    await manager.close();
    await rm(dir, { recursive: true, force: true });
  }
  return { devices: options.devices, populateSeconds, rows };
}
