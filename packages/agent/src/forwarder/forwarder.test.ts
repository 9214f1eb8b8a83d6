import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type DeviceEvent, type NewDeviceEvent, queuedEventId, type Severity } from '@edgeward/core';
import pino from 'pino';
import { EventQueue, type EventQueueOptions, storedEventBytes } from '../queue/event-queue.ts';
import { ManagerClient } from '../transport/manager-client.ts';
import { Forwarder, type ForwarderOptions, RETRY_BATCH_BYTES } from './forwarder.ts';
import { startTestManager, type TestManager } from './test-manager.fixture.ts';

let dir: string;
let files = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeward-forwarder-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function event(severity: Severity, time = Date.now(), text = 'x'.repeat(100)): NewDeviceEvent {
  return { type: 'syslog.message', severity, time, data: { text } };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Rig {
  readonly manager: TestManager;
  readonly queue: EventQueue;
  readonly forwarder: Forwarder;
  readonly close: () => Promise<void>;
}

/** A real queue file, a ManagerClient over mutual TLS, and the test manager behind it. */
async function rig(
  options: Partial<Omit<ForwarderOptions, 'queue' | 'client' | 'logger'>> = {},
  queueOptions: Partial<Omit<EventQueueOptions, 'path'>> = {},
): Promise<Rig> {
  const manager = await startTestManager();
  const client = new ManagerClient(manager.clientOptions);
  files += 1;
  const queue = EventQueue.open({ path: join(dir, `queue-${files}.sqlite`), ...queueOptions });
  const forwarder = new Forwarder({
    queue,
    client,
    logger: pino({ level: 'silent' }),
    retryInitialMs: 20,
    retryMaxMs: 200,
    batchMaxAgeMs: 50,
    pollIntervalMs: 20,
    ...options,
  });
  return {
    manager,
    queue,
    forwarder,
    close: async () => {
      await forwarder.stop(1000);
      client.close();
      queue.close();
      await manager.close();
    },
  };
}

describe('Forwarder', { timeout: 60_000 }, () => {
  it('sends compact (v2) batches, and v1 batches from the moment a manager refuses v2 by its version, losing nothing', async () => {
    const { manager, queue, forwarder, close } = await rig();
    try {
      const first = queue.append(Array.from({ length: 50 }, () => event('info'))).accepted;
      forwarder.start();
      await manager.waitFor(() => manager.stored.size === 50);
      assert.ok(manager.arrivals.every((arrival) => arrival.version === 2));
      manager.acceptsCompact = false;
      const second = queue.append(Array.from({ length: 50 }, () => event('info'))).accepted;
      forwarder.wake();
      await manager.waitFor(() => manager.stored.size === 100 && queue.stats().events === 0);
      assert.equal(manager.arrivals.at(-1)?.version, 1);
      for (const appended of [...first, ...second])
        assert.deepEqual(
          manager.stored.get(appended.seq),
          appended,
          `seq ${appended.seq} stored as appended`,
        );
      assert.equal(forwarder.stats().failures, 0, 'the refusal is not counted as a failed attempt');
    } finally {
      await close();
    }
  });

  it('delivers every event exactly once across a dropped connection, 503 replies and lost replies', async () => {
    const { manager, queue, forwarder, close } = await rig({ batchMaxBytes: 4096 });
    try {
      const first = queue.append(
        Array.from({ length: 200 }, (_, index) =>
          event(index % 10 === 0 ? 'high' : 'info', Date.now() - 1000),
        ),
      ).accepted;
      manager.faults.push(
        'drop-mid-batch',
        undefined,
        'unavailable',
        'lose-reply',
        undefined,
        'drop-mid-batch',
        'lose-reply',
        'unavailable',
        'lose-reply',
      );
      forwarder.start();
      await manager.waitFor(() => manager.arrivals.length >= 4);
      const second = queue.append(Array.from({ length: 100 }, () => event('low'))).accepted;
      forwarder.wake();
      await manager.waitFor(() => manager.stored.size === 300 && queue.stats().events === 0);

      assert.equal(manager.faults.length, 0, 'every fault was served');
      for (const appended of [...first, ...second]) {
        assert.equal(
          manager.stored.get(appended.seq)?.id,
          appended.id,
          `seq ${appended.seq} stored as appended`,
        );
      }
      assert.ok(manager.duplicates > 0, 'batches whose reply was lost were sent again and ignored');
      assert.deepEqual(manager.ackState(), { ackedSeq: 300, heldAbove: [] });
      const stats = forwarder.stats();
      assert.equal(stats.sent, 300, 'each event is counted once, when a reply confirms it');
      assert.equal(stats.backlog, 0);
      assert.equal(stats.ackedSeq, 300);
      assert.ok(stats.lastAckAt !== null && stats.batches > 5);
      assert.equal(stats.failures, 0);
    } finally {
      await close();
    }
  });

  it('drains a backlog oldest first in batches of at most batchMaxBytes, each in sequence order', async () => {
    const { manager, queue, forwarder, close } = await rig({ batchMaxBytes: 2048 });
    try {
      queue.append(
        Array.from({ length: 200 }, (_, index) => event(index % 2 ? 'info' : 'medium', Date.now() - 60_000)),
      );
      forwarder.start();
      await manager.waitFor(() => manager.stored.size === 200);
      assert.ok(manager.arrivals.length > 10);
      assert.deepEqual(
        manager.arrivals.flatMap((arrival) => arrival.seqs),
        Array.from({ length: 200 }, (_, index) => index + 1),
      );
      for (const arrival of manager.arrivals)
        assert.ok(arrival.jsonBytes <= 2048, `${arrival.jsonBytes} bytes`);
    } finally {
      await close();
    }
  });

  it('sends a high-severity event that arrives during a backlog drain ahead of the rest of the backlog', async () => {
    const { manager, queue, forwarder, close } = await rig({ batchMaxBytes: 2048 });
    try {
      manager.replyDelayMs = 20;
      queue.append(Array.from({ length: 300 }, () => event('info', Date.now() - 60_000)));
      forwarder.start();
      await manager.waitFor(() => manager.arrivals.length >= 3);
      const arrivalsBefore = manager.arrivals.length;
      const [high] = queue.append([event('high')]).accepted;
      assert.ok(high);
      forwarder.wake();
      await manager.waitFor(() => manager.stored.has(high.seq));
      const index = manager.arrivals.findIndex((arrival) => arrival.seqs.includes(high.seq));
      // The batch in flight when it was appended is already chosen; the next one carries it.
      assert.ok(
        index <= arrivalsBefore,
        `sent in batch ${index}, appended after batch ${arrivalsBefore - 1}`,
      );
      const infoSentBefore = manager.arrivals
        .slice(0, index + 1)
        .reduce((sum, arrival) => sum + arrival.seqs.filter((seq) => seq !== high.seq).length, 0);
      assert.ok(300 - infoSentBefore > 150, `${300 - infoSentBefore} older events were still waiting`);
      const carrying = manager.arrivals[index]?.seqs ?? [];
      assert.deepEqual(
        carrying,
        [...carrying].sort((a, b) => a - b),
        'the batch is in sequence order',
      );
      await manager.waitFor(() => manager.stored.size === 301);
    } finally {
      await close();
    }
  });

  it('holds a lone low-severity event until it is batchMaxAgeMs old, and sends a high-severity one at once', async () => {
    const { manager, queue, forwarder, close } = await rig({ batchMaxAgeMs: 400, pollIntervalMs: 1000 });
    try {
      forwarder.start();
      const queuedAt = performance.now();
      queue.append([event('low')]);
      forwarder.wake();
      await sleep(200);
      assert.equal(manager.arrivals.length, 0, 'not sent while young');
      await manager.waitFor(() => manager.stored.size === 1, 2000);
      assert.ok(performance.now() - queuedAt >= 380, 'sent once old enough');

      const raisedAt = performance.now();
      queue.append([event('critical')]);
      forwarder.wake();
      await manager.waitFor(() => manager.stored.size === 2, 2000);
      assert.ok(performance.now() - raisedAt < 200, `critical sent after ${performance.now() - raisedAt} ms`);
    } finally {
      await close();
    }
  });

  it('retries with exponentially growing delays while the manager fails, then resets', async () => {
    const { manager, queue, forwarder, close } = await rig({
      retryInitialMs: 100,
      retryMaxMs: 1000,
      random: () => 0,
    });
    try {
      manager.faults.push('unavailable', 'unavailable', 'unavailable', 'unavailable');
      queue.append([event('high')]);
      forwarder.start();
      await manager.waitFor(() => forwarder.stats().sent === 1);
      const gaps = manager.arrivals
        .slice(1)
        .map((arrival, index) => arrival.at - (manager.arrivals[index]?.at ?? 0));
      // Equal jitter with random() = 0: half of 100, 200, 400, 800 ms.
      const expected = [50, 100, 200, 400];
      assert.equal(gaps.length, expected.length);
      gaps.forEach((gap, index) => {
        const wanted = expected[index] ?? 0;
        assert.ok(
          gap >= wanted - 5 && gap < wanted + 150,
          `retry ${index + 1} after ${gap} ms, expected ${wanted}`,
        );
      });
      assert.equal(forwarder.stats().failures, 0);
      assert.equal(forwarder.stats().lastError, null);
    } finally {
      await close();
    }
  });

  it('starts with a small batch, retries with small ones while the manager is unreachable, and sends full ones once a batch got through', async () => {
    const { manager, queue, forwarder, close } = await rig({ batchMaxBytes: 64 * 1024 });
    try {
      manager.faults.push('unavailable', 'unavailable');
      queue.append(Array.from({ length: 200 }, () => event('info', Date.now() - 60_000, 'y'.repeat(1000))));
      forwarder.start();
      await manager.waitFor(() => manager.stored.size === 200 && queue.stats().events === 0);
      const sizes = manager.arrivals.map((arrival) => arrival.jsonBytes);
      assert.ok(
        (sizes[0] ?? Number.POSITIVE_INFINITY) <= RETRY_BATCH_BYTES,
        `the first attempt, before the link is known to work, is small: ${sizes}`,
      );
      assert.ok(
        (sizes[1] ?? Number.POSITIVE_INFINITY) <= RETRY_BATCH_BYTES &&
          (sizes[2] ?? Number.POSITIVE_INFINITY) <= RETRY_BATCH_BYTES,
        `the retries after each failure are small: ${sizes}`,
      );
      assert.ok((sizes[3] ?? 0) > 32 * 1024, `after the small batch got through, full ones again: ${sizes}`);
      assert.equal(manager.duplicates, 0);
    } finally {
      await close();
    }
  });

  it('sends smaller batches after the manager refuses one as too large', async () => {
    const { manager, queue, forwarder, close } = await rig({ batchMaxBytes: 64 * 1024 });
    try {
      // The first, small batch gets through; the first full one is refused.
      manager.faults.push(undefined, 'too-large');
      queue.append(Array.from({ length: 100 }, () => event('info', Date.now() - 60_000, 'y'.repeat(1000))));
      forwarder.start();
      await manager.waitFor(() => manager.stored.size === 100);
      assert.ok((manager.arrivals[0]?.jsonBytes ?? Number.POSITIVE_INFINITY) <= RETRY_BATCH_BYTES);
      assert.ok((manager.arrivals[1]?.jsonBytes ?? 0) > 32 * 1024);
      for (const arrival of manager.arrivals.slice(2)) assert.ok(arrival.jsonBytes <= 32 * 1024);
    } finally {
      await close();
    }
  });

  it('holds the upload rate, counted on compressed bodies, within 20% of maxBytesPerSecond', async (t) => {
    const cap = 40_000;
    const { manager, queue, forwarder, close } = await rig({ batchMaxBytes: 8192, maxBytesPerSecond: cap });
    try {
      // Random text barely compresses, so the compressed size is large and predictable.
      const count = 150;
      queue.append(
        Array.from({ length: count }, () =>
          event('info', Date.now() - 60_000, randomBytes(750).toString('base64')),
        ),
      );
      const startedAt = performance.now();
      forwarder.start();
      await manager.waitFor(() => manager.stored.size === count, 20_000);
      const wire = manager.arrivals.reduce((sum, arrival) => sum + arrival.wireBytes, 0);
      const json = manager.arrivals.reduce((sum, arrival) => sum + arrival.jsonBytes, 0);
      const seconds = ((manager.arrivals.at(-1)?.at ?? 0) - startedAt) / 1000;
      const rate = wire / seconds;
      t.diagnostic(
        `${wire} bytes compressed (${json} as JSON) in ${seconds.toFixed(2)} s: ${Math.round(rate)} B/s`,
      );
      assert.ok(seconds > 2.5, `the transfer took ${seconds.toFixed(2)} s`);
      assert.ok(wire < json, 'bodies were compressed');
      assert.ok(Math.abs(rate - cap) / cap <= 0.2, `${Math.round(rate)} B/s against a cap of ${cap} B/s`);
    } finally {
      await close();
    }
  });

  it('keeps the batch on the wire out of eviction, so a full queue never reports lost an event the manager stored', async () => {
    const old = Date.now() - 60_000;
    // Room for exactly ten of these events.
    const budget =
      10 * storedEventBytes(JSON.stringify({ seq: 10, id: queuedEventId(10), ...event('info', old) }));
    const lost = (report: DeviceEvent | undefined) =>
      ((report?.data.seqRanges ?? []) as [number, number][]).flatMap(([from, to]) =>
        Array.from({ length: to - from + 1 }, (_, index) => from + index),
      );

    const slow = await rig({ batchMaxEvents: 5 }, { queueMaxBytes: budget, lossReportIntervalMs: 0 });
    try {
      slow.manager.replyDelayMs = 400;
      slow.queue.append(Array.from({ length: 10 }, () => event('info', old)));
      slow.forwarder.start();
      await slow.manager.waitFor(() => slow.manager.arrivals.length === 1);
      const onTheWire = slow.manager.arrivals[0]?.seqs ?? [];
      assert.deepEqual(onTheWire, [1, 2, 3, 4, 5]);
      // The queue is full while the batch waits for its reply: the next oldest make room instead.
      const during = slow.queue.append(Array.from({ length: 3 }, () => event('info', old)));
      assert.equal(during.accepted.length, 3);
      // The loss report takes room too, so more than three may go; none of them from the wire.
      const evicted = lost(during.lossReport);
      assert.equal(evicted[0], 6);
      assert.ok(evicted.length >= 3 && evicted.every((seq) => seq > 5), `evicted ${evicted.join(',')}`);
      await slow.manager.waitFor(() => onTheWire.every((seq) => slow.manager.stored.has(seq)));
    } finally {
      await slow.close();
    }

    // After a failed upload the batch is released: while the forwarder waits to retry, the oldest go first.
    const failing = await rig(
      { batchMaxEvents: 5, retryInitialMs: 10_000, retryMaxMs: 10_000 },
      { queueMaxBytes: budget, lossReportIntervalMs: 0 },
    );
    try {
      failing.manager.faults.push('unavailable');
      failing.queue.append(Array.from({ length: 10 }, () => event('info', old)));
      failing.forwarder.start();
      await failing.manager.waitFor(() => failing.forwarder.stats().failures === 1);
      const after = failing.queue.append([event('info', old)]);
      assert.equal(lost(after.lossReport)[0], 1);
    } finally {
      await failing.close();
    }
  });

  it('on stop, finishes the batch in flight and acknowledges it, then sends nothing more', async () => {
    const { manager, queue, forwarder, close } = await rig();
    try {
      manager.replyDelayMs = 300;
      queue.append(Array.from({ length: 5 }, () => event('info', Date.now() - 60_000)));
      forwarder.start();
      await manager.waitFor(() => manager.arrivals.length === 1);
      queue.append([event('high')]);
      await forwarder.stop(2000);
      assert.equal(forwarder.state, 'stopped');
      assert.deepEqual(manager.arrivals[0]?.seqs, [1, 2, 3, 4, 5]);
      assert.equal(queue.stats().events, 1, 'the batch in flight was acknowledged; the new event waits');
      await sleep(100);
      assert.equal(manager.arrivals.length, 1);
    } finally {
      await close();
    }
  });

  it('on stop, gives up on a batch in flight after the grace period and keeps it queued', async () => {
    const { manager, queue, forwarder, close } = await rig();
    try {
      manager.replyDelayMs = 1500;
      queue.append(Array.from({ length: 5 }, () => event('info', Date.now() - 60_000)));
      forwarder.start();
      await manager.waitFor(() => manager.arrivals.length === 1);
      const stopping = performance.now();
      await forwarder.stop(200);
      const took = performance.now() - stopping;
      assert.ok(took >= 190 && took < 600, `stop took ${took} ms`);
      assert.equal(queue.stats().events, 5, 'unconfirmed events stay queued, to be sent again');
    } finally {
      await close();
    }
  });
});
