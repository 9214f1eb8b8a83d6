import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { AlertNotification } from '@edgeward/core';
import { createStore, type Store } from '@edgeward/store';
import fc from 'fast-check';
import pino from 'pino';
import type { AlertDestination, OutgoingNotification } from './alert-destination.ts';
import { AlertDeliveryWorker } from './delivery-worker.ts';

let store: Store;
const clock = { offsetMs: 0, now: () => 1_000_000 + clock.offsetMs };
const logger = pino({ level: 'silent' });

before(async () => {
  store = await createStore({ database: 'sqlite::memory:' });
});
after(() => store.close());

/** A destination that fails its first `failures` sends. */
function flaky(name: string, failures: number): AlertDestination & { sent: OutgoingNotification[] } {
  let left = failures;
  const sent: OutgoingNotification[] = [];
  return {
    name,
    type: 'webhook',
    tiers: new Set(['critical']),
    sent,
    async send(outgoing) {
      if (left-- > 0) throw new Error(`${name} is down`);
      sent.push(outgoing);
    },
    async close() {},
  };
}

function worker(destinations: AlertDestination[], random = () => 0.5) {
  return new AlertDeliveryWorker({
    store,
    clock,
    logger,
    destination: (name) => destinations.find((destination) => destination.name === name),
    pollMs: 10,
    timeoutMs: 1000,
    failingAfter: 3,
    retryMinMs: 1000,
    retryMaxMs: 8000,
    random,
  });
}

const notification = {
  v: 1,
  kind: 'digest',
  fleet: 'f',
  schedule: 'low',
  from: 0,
  to: 1,
  alerts: [],
  total: 0,
} as AlertNotification;

test('retry delays double from the minimum up to the cap, each between half and all of its step', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 60 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (attempts, draw) => {
        const delay = worker([], () => draw).retryDelayMs(attempts);
        const step = Math.min(8000, 1000 * 2 ** (attempts - 1));
        assert.ok(delay >= step / 2 && delay <= step, `${delay} for attempt ${attempts}`);
      },
    ),
  );
});

test('a failing send is retried after its backoff, shows as failing after three attempts, then is delivered once', async () => {
  const destination = flaky('hook', 3);
  const sender = worker([destination]);
  await store.alertDeliveries.enqueue([
    {
      id: 'd-1',
      alertId: null,
      digestKey: 'low@x',
      destination: 'hook',
      payload: notification,
      state: 'pending',
      createdAt: clock.now(),
    },
  ]);
  const states: string[] = [];
  for (let round = 0; round < 6; round++) {
    await sender.runOnce();
    const record = await store.alertDeliveries.get('d-1');
    states.push(`${record?.state}/${record?.attempts}`);
    // Not due again before its backoff has passed.
    assert.equal(await sender.runOnce(), 0);
    clock.offsetMs += 8000;
  }
  assert.deepEqual(states, [
    'pending/1',
    'pending/2',
    'failing/3',
    'delivered/4',
    'delivered/4',
    'delivered/4',
  ]);
  assert.deepEqual(
    destination.sent.map((outgoing) => outgoing.id),
    ['d-1'],
  );
});

test('a delivery to a destination no longer configured waits, failing, with what to do', async () => {
  const sender = worker([]);
  await store.alertDeliveries.enqueue([
    {
      id: 'd-2',
      alertId: null,
      digestKey: 'low@y',
      destination: 'gone',
      payload: notification,
      state: 'pending',
      createdAt: clock.now(),
    },
  ]);
  for (let round = 0; round < 3; round++) {
    await sender.runOnce();
    clock.offsetMs += 8000;
  }
  const record = await store.alertDeliveries.get('d-2');
  assert.equal(record?.state, 'failing');
  assert.match(
    record?.lastError ?? '',
    /destination gone is no longer configured; add it back to alertDestinations/,
  );
});
