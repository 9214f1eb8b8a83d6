import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { readLines, writeLinesAtomic } from './state-file.ts';

async function collect(lines: AsyncIterable<string> | undefined): Promise<string[]> {
  assert.ok(lines !== undefined, 'the file should exist');
  const all: string[] = [];
  for await (const line of lines) all.push(line);
  return all;
}

describe('readLines', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgeward-state-file-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives each line without its line end, CRLF too, and a last line without one', async () => {
    const path = join(dir, 'a.txt');
    await writeFile(path, 'one\ntwo\r\n\nthree');
    assert.deepEqual(await collect(await readLines(path)), ['one', 'two', '', 'three']);
  });

  it('gives no empty line after a final line end, and none for an empty file', async () => {
    const path = join(dir, 'b.txt');
    await writeFile(path, 'only\n');
    assert.deepEqual(await collect(await readLines(path)), ['only']);
    await writeFile(path, '');
    assert.deepEqual(await collect(await readLines(path)), []);
  });

  it('is undefined for a file that does not exist', async () => {
    assert.equal(await readLines(join(dir, 'missing.txt')), undefined);
  });

  it('keeps lines and multi-byte characters whole across the chunks it reads', async () => {
    // Lines longer than a read chunk (64 KiB), made of 3-byte characters so that chunk ends fall inside them.
    const lines = Array.from({ length: 5 }, (_, index) => `${index}:${'€'.repeat(30_000 + index)}`);
    const path = join(dir, 'long.jsonl');
    await writeLinesAtomic(path, lines);
    assert.deepEqual(await collect(await readLines(path)), lines);
  });

  it('closes the file when the reader stops early', async () => {
    const path = join(dir, 'c.txt');
    await writeLinesAtomic(
      path,
      Array.from({ length: 50_000 }, (_, index) => `line ${index}`),
    );
    const openFiles = async () => (await readdir('/proc/self/fd')).length;
    const before = await openFiles();
    const lines = await readLines(path);
    assert.ok(lines !== undefined);
    for await (const line of lines) {
      assert.equal(line, 'line 0');
      break;
    }
    // The stream closes its file asynchronously after it is destroyed.
    for (let attempt = 0; attempt < 50 && (await openFiles()) > before; attempt++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(await openFiles(), before);
  });
});
