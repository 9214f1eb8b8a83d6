import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { exposedFullCollection, MemoryReclaimer } from './memory-reclaimer.ts';

const MB = 1024 * 1024;

function reclaimer(heap: { bytes: number }, options: { minIntervalMs?: number } = {}) {
  const runs: number[] = [];
  const memory = new MemoryReclaimer({
    collect: () => {
      runs.push(heap.bytes);
      heap.bytes = 10 * MB;
    },
    residentBytes: () => heap.bytes,
    growthBytes: MB,
    delayMs: 20,
    minIntervalMs: options.minIntervalMs ?? 0,
  });
  return { memory, runs };
}

test('a process that grew by the threshold is collected once, after the last work of a burst', async () => {
  const heap = { bytes: 10 * MB };
  const { memory, runs } = reclaimer(heap);
  memory.workDone();
  await sleep(40);
  assert.deepEqual(runs, [], 'no growth, no collection');
  heap.bytes = 12 * MB;
  memory.workDone();
  await sleep(10);
  memory.workDone();
  memory.workDone();
  assert.deepEqual(runs, [], 'the collection waits until the work has settled');
  await sleep(60);
  assert.deepEqual(runs, [12 * MB]);
  assert.equal(memory.collections, 1);
  // Measured from the heap after that collection: half a megabyte more is not worth another.
  heap.bytes = 10.5 * MB;
  memory.workDone();
  await sleep(40);
  assert.equal(memory.collections, 1);
  memory.stop();
});

test('collections keep the minimum interval between them', async () => {
  const heap = { bytes: 10 * MB };
  const { memory, runs } = reclaimer(heap, { minIntervalMs: 150 });
  heap.bytes = 12 * MB;
  memory.workDone();
  await sleep(50);
  assert.equal(runs.length, 1);
  heap.bytes = 13 * MB;
  memory.workDone();
  await sleep(60);
  assert.equal(runs.length, 1, 'too soon after the first');
  await sleep(120);
  assert.equal(runs.length, 2);
  memory.stop();
});

test('stop cancels a collection that was due', async () => {
  const heap = { bytes: 10 * MB };
  const { memory, runs } = reclaimer(heap);
  heap.bytes = 12 * MB;
  memory.workDone();
  memory.stop();
  await sleep(50);
  assert.deepEqual(runs, []);
});

test('without --expose-gc there is nothing to collect with, and the reclaimer does nothing', () => {
  assert.equal(exposedFullCollection(), undefined);
  const memory = new MemoryReclaimer({ collect: undefined, residentBytes: () => 100 * MB, delayMs: 0 });
  memory.workDone();
  assert.equal(memory.collections, 0);
});

test("under --expose-gc the memory-reducing collection runs and gives a grown heap's pages back", () => {
  // A child process: this one has no --expose-gc, as tests should not depend on it.
  const script = `
    const { getHeapStatistics } = require('node:v8');
    const { exposedFullCollection } = require(${JSON.stringify(new URL('./memory-reclaimer.ts', import.meta.url).pathname)});
    const collect = exposedFullCollection();
    if (collect === undefined) throw new Error('no collection under --expose-gc');
    collect();
    const before = getHeapStatistics().total_heap_size;
    let garbage = [];
    for (let index = 0; index < 200000; index++) garbage.push({ index, text: 'x'.repeat(20) + index });
    const grown = getHeapStatistics().total_heap_size;
    garbage = undefined;
    collect();
    const after = getHeapStatistics().total_heap_size;
    process.stdout.write(JSON.stringify({ before, grown, after }));
  `;
  const child = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  const { before, grown, after } = JSON.parse(child.stdout) as {
    before: number;
    grown: number;
    after: number;
  };
  assert.ok(grown > before + 4 * MB, `the heap grew: ${before} → ${grown}`);
  assert.ok(after < before + MB, `and shrank back: ${grown} → ${after} (from ${before})`);
});
