/**
 * A child process for the crash test: opens the queue at argv[2] and appends small mixed-severity batches
 * until it is killed. After each append returns it writes the highest sequence number it was given to
 * stdout with a synchronous write, so the parent knows which appends were reported durable.
 */
import { writeSync } from 'node:fs';
import type { NewDeviceEvent, Severity } from '@edgeward/core';
import { EventQueue } from './event-queue.ts';

const [path, maxBytes] = process.argv.slice(2);
if (path === undefined || maxBytes === undefined)
  throw new Error('usage: append-loop.fixture.ts PATH MAX_BYTES');

const queue = EventQueue.open({ path, queueMaxBytes: Number(maxBytes), lossReportIntervalMs: 20 });
writeSync(1, 'ready\n');
const mix: Severity[] = ['info', 'info', 'info', 'low', 'low', 'medium', 'medium', 'info', 'low', 'high'];
for (let round = 0; ; round += 1) {
  const events: NewDeviceEvent[] = Array.from({ length: 1 + (round % 4) }, (_, index) => ({
    type: 'syslog.message',
    severity: mix[(round * 7 + index) % mix.length] ?? 'info',
    time: Date.now(),
    data: { round, text: 'x'.repeat(50 + ((round * 13) % 200)) },
  }));
  const { accepted } = queue.append(events);
  const last = accepted.at(-1);
  if (last !== undefined) writeSync(1, `${last.seq}\n`);
}
