import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LiveUpdate } from '@edgeward/core';
import pino from 'pino';
import { LiveFeed } from './live-feed.ts';

function feed(counts: { total: number; online: number; offline: number }, reads: { count: number }) {
  return new LiveFeed({
    fleetCounts: async () => {
      reads.count++;
      return { ...counts };
    },
    pollMs: 20,
    coalesceMs: 30,
    logger: pino({ level: 'silent' }),
  });
}

test('a burst of alert changes reaches a listener as one message naming each alert once', async () => {
  const live = feed({ total: 1, online: 1, offline: 0 }, { count: 0 });
  const heard: LiveUpdate[] = [];
  const stop = live.subscribe(
    (update) => heard.push(update),
    () => {},
  );
  live.alertsChanged(['al-1']);
  live.alertsChanged(['al-2', 'al-1']);
  await sleep(200);
  const alerts = heard.filter((update) => update.topic === 'alerts');
  assert.deepEqual(alerts, [{ topic: 'alerts', alertIds: ['al-1', 'al-2'] }]);
  stop();
  live.close();
});

test('a command result is sent at once, and its device as a device change after the pause', async () => {
  const live = feed({ total: 1, online: 1, offline: 0 }, { count: 0 });
  const heard: LiveUpdate[] = [];
  live.subscribe(
    (update) => heard.push(update),
    () => {},
  );
  live.commandChanged({ deviceId: 'dev-1', commandId: 'c-1', status: 'done' });
  assert.deepEqual(
    heard.filter((update) => update.topic === 'commands'),
    [{ topic: 'commands', deviceId: 'dev-1', commandId: 'c-1', status: 'done' }],
  );
  await sleep(200);
  assert.deepEqual(
    heard.filter((update) => update.topic === 'devices'),
    [{ topic: 'devices', deviceIds: ['dev-1'] }],
  );
  live.close();
});

test('device changes heard from this process or another replica reach a listener as one device message', async () => {
  const live = feed({ total: 2, online: 2, offline: 0 }, { count: 0 });
  const heard: LiveUpdate[] = [];
  live.subscribe(
    (update) => heard.push(update),
    () => {},
  );
  live.devicesChanged(['dev-1']);
  live.receive({ topic: 'devices', deviceIds: ['dev-2', 'dev-1'] });
  await sleep(200);
  assert.deepEqual(
    heard.filter((update) => update.topic === 'devices'),
    [{ topic: 'devices', deviceIds: ['dev-1', 'dev-2'] }],
  );
  live.close();
});

test('the fleet counts are read only while someone listens, and sent again only when they change', async () => {
  const counts = { total: 2, online: 2, offline: 0 };
  const reads = { count: 0 };
  const live = feed(counts, reads);
  await sleep(60);
  assert.equal(reads.count, 0, 'nobody listens: no reads');
  const heard: LiveUpdate[] = [];
  const stop = live.subscribe(
    (update) => heard.push(update),
    () => {},
  );
  await sleep(80);
  assert.equal(
    heard.filter((update) => update.topic === 'fleet').length,
    1,
    'the counts once, at subscription',
  );
  counts.online = 1;
  counts.offline = 1;
  await sleep(80);
  const fleet = heard.filter((update) => update.topic === 'fleet');
  assert.equal(fleet.length, 2);
  assert.deepEqual(fleet[1], { topic: 'fleet', total: 2, online: 1, offline: 1 });
  stop();
  const readsAfterStop = reads.count;
  await sleep(60);
  assert.equal(reads.count, readsAfterStop, 'the last listener gone: reads stop');
  live.close();
});

test('closing the feed ends every open stream', () => {
  const live = feed({ total: 0, online: 0, offline: 0 }, { count: 0 });
  let ended = 0;
  live.subscribe(
    () => {},
    () => ended++,
  );
  live.subscribe(
    () => {},
    () => ended++,
  );
  live.close();
  assert.equal(ended, 2);
  assert.equal(live.listeners, 0);
});
