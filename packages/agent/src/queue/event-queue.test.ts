import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import {
  type DeviceEvent,
  isEdgewardError,
  type NewDeviceEvent,
  queuedEventId,
  type Severity,
  severities,
} from '@edgeward/core';
import { EventQueue, type EventQueueOptions, storedEventBytes } from './event-queue.ts';

let dir: string;
let files = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeward-queue-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function queuePath(): string {
  files += 1;
  return join(dir, `queue-${files}.sqlite`);
}

function openQueue(options: Partial<EventQueueOptions> = {}): EventQueue {
  return EventQueue.open({ path: queuePath(), ...options });
}

/** An event with `padding` characters of data, so sizes are easy to reason about. */
function event(severity: Severity, time: number, padding = 100): NewDeviceEvent {
  return { type: 'syslog.message', severity, time, data: { text: 'x'.repeat(padding) } };
}

function allEvents(queue: EventQueue): DeviceEvent[] {
  return queue
    .peekBatch({ maxBytes: Number.MAX_SAFE_INTEGER, maxEvents: 1_000_000 })
    .sort((a, b) => a.seq - b.seq);
}

/** What `n` events like `event(severity, time)` occupy when stored with seqs of the same digit count. */
function sizeOf(sample: NewDeviceEvent, seq: number): number {
  return storedEventBytes(JSON.stringify({ seq, id: crypto.randomUUID(), ...sample }));
}

describe('EventQueue', () => {
  it('numbers appended events from 1 without gaps, keeps given ids, and continues the numbering after a reopen', () => {
    const path = queuePath();
    let queue = EventQueue.open({ path });
    const first = queue.append([event('info', 1), { ...event('low', 2), id: 'given-id' }, event('info', 3)]);
    assert.deepEqual(
      first.accepted.map((stored) => stored.seq),
      [1, 2, 3],
    );
    assert.equal(first.accepted[1]?.id, 'given-id');
    // Without a given id, the sequence number's: the manager derives it again, so it need not travel.
    assert.equal(first.accepted[0]?.id, queuedEventId(1));
    assert.equal(first.accepted[2]?.id, queuedEventId(3));
    queue.close();

    queue = EventQueue.open({ path });
    assert.equal(queue.stats().nextSeq, 4);
    assert.deepEqual(
      queue.append([event('info', 4)]).accepted.map((stored) => stored.seq),
      [4],
    );
    assert.deepEqual(
      allEvents(queue).map((stored) => [stored.seq, stored.id === 'given-id', stored.time]),
      [
        [1, false, 1],
        [2, true, 2],
        [3, false, 3],
        [4, false, 4],
      ],
    );
    queue.close();
  });

  it('refuses a malformed event with EW_EVENT_INVALID and stores nothing of its batch', () => {
    const queue = openQueue();
    const bad = { ...event('info', 1), type: 'Not A Type' };
    assert.throws(
      () => queue.append([event('info', 1), bad]),
      (error: unknown) => isEdgewardError(error, 'EW_EVENT_INVALID') && /Not A Type/.test(error.message),
    );
    assert.throws(
      () => queue.append([{ ...event('info', 1), time: 1.5 }]),
      (error: unknown) => isEdgewardError(error, 'EW_EVENT_INVALID'),
    );
    assert.equal(queue.stats().events, 0);
    assert.equal(queue.stats().nextSeq, 1);
    queue.close();
  });

  it('counts events and stored bytes per severity, as a second reader of the file sees them too', () => {
    const path = queuePath();
    const queue = EventQueue.open({ path });
    const { accepted } = queue.append([
      event('info', 10, 10),
      event('critical', 20, 300),
      event('info', 30, 20),
      event('medium', 40),
    ]);
    const expectedBytes = accepted.reduce((sum, stored) => sum + storedEventBytes(JSON.stringify(stored)), 0);
    const stats = queue.stats();
    assert.deepEqual(stats, {
      events: 4,
      bytes: expectedBytes,
      oldestTime: 10,
      bySeverity: { info: 2, low: 0, medium: 1, high: 0, critical: 1 },
      nextSeq: 5,
      lowSeverityPaused: false,
    });
    const reader = EventQueue.open({ path });
    assert.deepEqual(reader.stats(), stats);
    reader.close();
    const raw = new DatabaseSync(path);
    assert.equal((raw.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal');
    raw.close();
    queue.close();
  });

  it('when full, evicts the oldest events of the lowest severity first and records the loss in one high-severity report', () => {
    const layout: Severity[] = [
      'info',
      'low',
      'info',
      'medium',
      'high',
      'info',
      'info',
      'low',
      'info',
      'medium',
      'info',
    ];
    const initial = layout.map((severity, index) => event(severity, 1000 + index, 600));
    // Exactly full after the first append.
    const budget = initial.reduce((sum, sample, index) => sum + sizeOf(sample, index + 1), 0);
    const queue = openQueue({ queueMaxBytes: budget, lossReportIntervalMs: 0 });
    assert.equal(queue.append(initial).evicted, 0);
    assert.equal(queue.stats().events, 11);

    const result = queue.append([event('medium', 2000, 600), event('medium', 2001, 600)]);
    assert.deepEqual(
      result.accepted.map((stored) => stored.seq),
      [12, 13],
    );
    const report = result.lossReport;
    assert.ok(report, 'a loss report was written');
    assert.equal(report.type, 'agent.loss_report');
    assert.equal(report.severity, 'high');
    assert.equal(report.seq, 14);
    const kept = new Set(allEvents(queue).map((stored) => stored.seq));
    // Info events are seq 1, 3, 6, 7, 9, 11: the oldest go first, and nothing else goes before them.
    const evicted = [1, 3, 6, 7, 9, 11].filter((seq) => !kept.has(seq));
    assert.ok(evicted.length >= 2 && evicted.length === result.evicted, `evicted ${evicted.join(',')}`);
    assert.deepEqual(evicted, [1, 3, 6, 7, 9, 11].slice(0, evicted.length));
    for (const seq of [2, 4, 5, 8, 10, 12, 13, 14]) assert.ok(kept.has(seq), `seq ${seq} is kept`);
    assert.deepEqual(report.data.evicted, { info: evicted.length });
    assert.deepEqual(report.data.refused, {});
    assert.equal(report.data.reason, 'queue-full');
    assert.equal(report.data.firstTime, 1000);
    assert.equal(report.data.lastTime, 1000 + (evicted.at(-1) ?? 0) - 1);
    const ranges = report.data.seqRanges as [number, number][];
    assert.deepEqual(
      ranges.flatMap(([from, to]) => Array.from({ length: to - from + 1 }, (_, index) => from + index)),
      evicted,
    );
    assert.ok(queue.stats().bytes <= budget);
    queue.close();
  });

  it('never evicts high or critical events: with only those left it refuses lower severities, still takes high ones, and reports the refusals once space frees', () => {
    let now = 1_000_000;
    const sample = event('high', 0, 300);
    const size = sizeOf(sample, 1);
    const queue = openQueue({ queueMaxBytes: 3 * size + 10, clock: { now: () => now } });
    const highs = queue.append([event('high', 1, 300), event('critical', 2, 300), event('high', 3, 300)]);
    assert.equal(highs.accepted.length, 3);

    const refusedLow = queue.append([event('info', 4, 300), event('medium', 5, 300)]);
    assert.equal(refusedLow.accepted.length, 0);
    assert.deepEqual(
      refusedLow.refused.map((refused) => refused.severity),
      ['info', 'medium'],
    );
    assert.equal(queue.stats().lowSeverityPaused, true);
    // The first loss is reported at once; the report is high severity, so it goes in beyond the budget.
    assert.deepEqual(refusedLow.lossReport?.data.refused, { info: 1, medium: 1 });
    assert.deepEqual(refusedLow.lossReport?.data.evicted, {});

    now += 1000;
    const critical = queue.append([event('critical', 6, 300)]);
    assert.deepEqual(
      critical.accepted.map((stored) => stored.seq),
      [5],
    );
    assert.equal(critical.evicted, 0);
    assert.ok(queue.stats().bytes > 3 * size, 'high and critical events go in beyond the budget');
    assert.deepEqual(
      allEvents(queue).map((stored) => stored.severity),
      ['high', 'critical', 'high', 'high', 'critical'],
    );
    const later = queue.append([event('low', 7, 300)]);
    assert.equal(later.refused.length, 1);
    assert.equal(later.lossReport, undefined, 'within the interval, refusals wait for the next report');

    queue.acknowledge(0, [1, 2, 3, 4]);
    assert.equal(queue.stats().lowSeverityPaused, false);
    const reports = allEvents(queue).filter((stored) => stored.type === 'agent.loss_report');
    assert.equal(reports.length, 1, 'the pending refusal is reported once space frees');
    assert.deepEqual(reports[0]?.data.refused, { low: 1 });
    assert.equal(reports[0]?.data.firstTime, 7);
    assert.equal(reports[0]?.data.lastTime, 7);
    assert.equal(queue.append([event('low', 8, 10)]).accepted.length, 1);
    queue.close();
  });

  it('coalesces losses into at most one report per interval, keeping the tally in the file across a reopen', () => {
    let now = 1_000_000;
    const clock = { now: () => now };
    const path = queuePath();
    const sample = event('info', 0, 200);
    const options = { path, queueMaxBytes: 20 * sizeOf(sample, 10), lossReportIntervalMs: 60_000, clock };
    let queue = EventQueue.open(options);
    let reports = 0;
    let evicted = 0;
    for (let round = 0; round < 40; round += 1) {
      const result = queue.append([event('info', round, 200)]);
      evicted += result.evicted;
      if (result.lossReport !== undefined) reports += 1;
    }
    assert.ok(evicted > 10);
    assert.equal(reports, 1, 'the first eviction is reported at once, the next ones wait for the interval');
    queue.close();

    queue = EventQueue.open(options);
    now += 60_000;
    const due = queue.append([event('info', 99, 200)]);
    assert.ok(due.lossReport);
    const listed = allEvents(queue).filter((stored) => stored.type === 'agent.loss_report');
    assert.equal(listed.length, 2);
    const reported = listed.reduce(
      (sum, stored) => sum + Number((stored.data.evicted as { info?: number }).info),
      0,
    );
    assert.equal(reported, evicted + due.evicted);
    assert.equal(queue.flushLossReport(), undefined, 'nothing is left to report');
    queue.close();
  });

  it('peekBatch returns high and critical events first, then the rest, each oldest first, within maxBytes and maxEvents', () => {
    const queue = openQueue();
    queue.append([
      event('info', 1),
      event('medium', 2),
      event('high', 3),
      event('low', 4),
      event('critical', 5),
      event('info', 6),
    ]);
    const order = (batch: DeviceEvent[]) => batch.map((stored) => stored.seq);
    assert.deepEqual(order(queue.peekBatch({ maxBytes: 1_000_000, maxEvents: 100 })), [3, 5, 1, 2, 4, 6]);
    assert.deepEqual(order(queue.peekBatch({ maxBytes: 1_000_000, maxEvents: 3 })), [3, 5, 1]);
    const [high, critical] = queue.peekBatch({ maxBytes: 1_000_000, maxEvents: 2 });
    const twoEvents = JSON.stringify({ v: 1, events: [high, critical] }).length;
    assert.deepEqual(order(queue.peekBatch({ maxBytes: twoEvents, maxEvents: 100 })), [3, 5]);
    assert.deepEqual(order(queue.peekBatch({ maxBytes: twoEvents - 1, maxEvents: 100 })), [3]);
    assert.deepEqual(
      order(queue.peekBatch({ maxBytes: 1, maxEvents: 100 })),
      [3],
      'one event even if larger',
    );
    // A body of what peekBatch returned stays within maxBytes.
    const batch = queue.peekBatch({ maxBytes: 500, maxEvents: 100 });
    assert.ok(JSON.stringify({ v: 1, events: batch }).length <= 500);
    queue.append([event('high', 7)]);
    assert.deepEqual(order(queue.peekBatch({ maxBytes: 1_000_000, maxEvents: 4 })), [3, 5, 7, 1]);
    queue.close();
  });

  it('keeps a batch held in flight out of eviction until it is acknowledged or released, so no delivered event is reported lost', () => {
    const size = sizeOf(event('info', 1000, 600), 10);
    // Room for ten events (seqs below 10 take a byte less); seqs 1–10 are info, oldest first.
    const queue = openQueue({ queueMaxBytes: 10 * size, lossReportIntervalMs: 0 });
    queue.append(Array.from({ length: 10 }, (_, index) => event('info', 1000 + index, 600)));
    const inFlight = queue.peekBatch({ maxBytes: 3 * size, maxEvents: 100, holdInFlight: true });
    assert.deepEqual(
      inFlight.map((stored) => stored.seq),
      [1, 2, 3],
    );

    // Full: two new events evict the oldest events that are not on the wire (4 and 5, not 1 and 2).
    const during = queue.append([event('info', 2000, 600), event('info', 2001, 600)]);
    assert.deepEqual(
      during.accepted.map((stored) => stored.seq),
      [11, 12],
    );
    const lost = (report: DeviceEvent | undefined) =>
      ((report?.data.seqRanges ?? []) as [number, number][]).flatMap(([from, to]) =>
        Array.from({ length: to - from + 1 }, (_, index) => from + index),
      );
    const evictedDuring = lost(during.lossReport);
    assert.ok(evictedDuring.length >= 2, `evicted ${evictedDuring.join(',')}`);
    for (const seq of evictedDuring)
      assert.ok(seq > 3, `seq ${seq} was on the wire and is not reported lost`);
    const kept = new Set(allEvents(queue).map((stored) => stored.seq));
    for (const seq of [1, 2, 3]) assert.ok(kept.has(seq), `seq ${seq} is still queued`);

    // When only the held events are left to evict, a new low event is refused rather than taking them.
    const heldOnly = openQueue({ queueMaxBytes: 2 * size, lossReportIntervalMs: 0 });
    heldOnly.append([event('info', 1, 600), event('info', 2, 600)]);
    heldOnly.peekBatch({ maxBytes: 1_000_000, maxEvents: 100, holdInFlight: true });
    const refused = heldOnly.append([event('info', 3, 600)]);
    assert.equal(refused.accepted.length, 0);
    assert.equal(refused.evicted, 0);
    assert.deepEqual(refused.lossReport?.data.refused, { info: 1 });
    // Released (the upload failed), they are the oldest again and go first.
    heldOnly.releaseInFlight();
    const afterRelease = heldOnly.append([event('info', 4, 600)]);
    assert.equal(afterRelease.accepted.length, 1);
    assert.ok(afterRelease.evicted >= 1);
    assert.ok(!new Set(allEvents(heldOnly).map((stored) => stored.seq)).has(1), 'seq 1 was evicted');
    heldOnly.close();

    // Acknowledged, the held events are gone and the oldest of the rest go next.
    assert.equal(queue.acknowledge(0, [1, 2, 3]), 3);
    const oldestInfo = allEvents(queue).find((stored) => stored.severity === 'info')?.seq;
    const next = queue.append(Array.from({ length: 5 }, (_, index) => event('info', 3000 + index, 600)));
    assert.equal(lost(next.lossReport)[0], oldestInfo);
    queue.close();
  });

  it('acknowledge deletes every event up to the acked seq and the sent events beyond a gap', () => {
    const queue = openQueue();
    queue.append(Array.from({ length: 10 }, (_, index) => event('info', index)));
    assert.equal(queue.acknowledge(3, [3, 7, 9]), 5);
    assert.deepEqual(
      allEvents(queue).map((stored) => stored.seq),
      [4, 5, 6, 8, 10],
    );
    assert.equal(queue.remove([4, 10, 11]), 2);
    assert.deepEqual(
      allEvents(queue).map((stored) => stored.seq),
      [5, 6, 8],
    );
    assert.equal(queue.stats().events, 3);
    assert.equal(queue.stats().oldestTime, 4);
    queue.close();
  });

  it('moves its numbering past an acknowledgement beyond it, so a lost queue file does not reuse numbers the manager ignores', () => {
    const queue = openQueue();
    queue.append([event('info', 1)]);
    queue.acknowledge(500, [1]);
    assert.equal(queue.stats().nextSeq, 501);
    assert.deepEqual(
      queue.append([event('info', 2)]).accepted.map((stored) => stored.seq),
      [501],
    );
    queue.close();
  });

  it('survives SIGKILL at any instant: after 25 kills mid-append it opens, keeps every append it reported, and every seq is kept or reported lost, once', async (t) => {
    const path = queuePath();
    const fixture = new URL('./append-loop.fixture.ts', import.meta.url).pathname;
    const kills = 25;
    let reportedSeq = 0;
    let appendsSeen = 0;
    let midAppendKills = 0;
    for (let kill = 0; kill < kills; kill += 1) {
      const child = spawn(process.execPath, [fixture, path, String(64 * 1024)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        child.on('exit', (_, signal) => resolve(signal)),
      );
      const ready = new Promise<void>((resolve) => {
        let buffered = '';
        child.stdout.on('data', (chunk: Buffer) => {
          buffered += chunk.toString();
          const lines = buffered.split('\n');
          buffered = lines.pop() ?? '';
          for (const line of lines) {
            if (line === 'ready') resolve();
            else {
              appendsSeen += 1;
              reportedSeq = Math.max(reportedSeq, Number(line));
            }
          }
        });
      });
      // A third of the kills land while the process starts and opens the file, the rest mid-append.
      if (kill % 3 === 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * 150));
      else {
        await Promise.race([ready, exited]);
        // On a loaded machine the first append may take a while: the kill must land after it began.
        const before = appendsSeen;
        for (let waited = 0; appendsSeen === before && waited < 5000; waited += 5) {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        midAppendKills += 1;
        await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 60));
      }
      child.kill('SIGKILL');
      const signal = await exited;
      assert.equal(signal, 'SIGKILL', `the child died of the kill, not on its own: ${stderr}`);
      if (kill % 5 === 4) EventQueue.open({ path }).close();
    }
    assert.ok(
      appendsSeen > midAppendKills,
      `the children appended before each mid-append kill (${appendsSeen} appends reported, ${midAppendKills} such kills)`,
    );

    const queue = EventQueue.open({ path });
    queue.flushLossReport();
    const stats = queue.stats();
    const kept = allEvents(queue);
    assert.ok(
      stats.nextSeq > reportedSeq,
      `every reported append is durable (${stats.nextSeq} > ${reportedSeq})`,
    );
    const keptSeqs = kept.map((stored) => stored.seq);
    assert.equal(new Set(keptSeqs).size, keptSeqs.length, 'no seq twice');
    assert.equal(new Set(kept.map((stored) => stored.id)).size, kept.length, 'no id twice');
    const reports = kept.filter((stored) => stored.type === 'agent.loss_report');
    assert.ok(reports.length > 0, 'the crash run overflowed the queue');
    let evictedCount = 0;
    const evictedSeqs = new Set<number>();
    for (const report of reports) {
      evictedCount += Object.values(report.data.evicted as Record<string, number>).reduce(
        (sum, n) => sum + n,
        0,
      );
      if (report.data.seqRangesTruncated === true) continue;
      for (const [from, to] of report.data.seqRanges as [number, number][]) {
        for (let seq = from; seq <= to; seq += 1) {
          assert.ok(!evictedSeqs.has(seq), `seq ${seq} reported lost once`);
          evictedSeqs.add(seq);
        }
      }
    }
    for (const seq of keptSeqs) assert.ok(!evictedSeqs.has(seq), `kept seq ${seq} is not reported lost`);
    assert.equal(
      kept.length + evictedCount,
      stats.nextSeq - 1,
      'every seq below nextSeq is kept or reported lost',
    );
    assert.ok(Math.max(...keptSeqs, ...evictedSeqs) < stats.nextSeq);
    // The totals kept by triggers still match the rows.
    assert.equal(
      stats.bytes,
      kept.reduce((sum, stored) => sum + storedEventBytes(JSON.stringify(stored)), 0),
    );
    for (const severity of severities) {
      assert.equal(stats.bySeverity[severity], kept.filter((stored) => stored.severity === severity).length);
    }
    t.diagnostic(
      `${kills} kills, ${appendsSeen} appends reported, next seq ${stats.nextSeq}, ${kept.length} kept, ${evictedCount} evicted in ${reports.length} reports`,
    );
    queue.close();
  });
});
