import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const runTests = new URL('../scripts/run-tests.ts', import.meta.url).pathname;

function runRunner(pattern: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // Without the variable that marks a process as one of a run's test files, which would make the
    // runner refuse to start another run.
    const { NODE_TEST_CONTEXT: _context, ...env } = process.env;
    const child = spawn(process.execPath, [runTests, pattern], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

/**
 * The runner must count every result of every file: a result it lost could be a failure. Many short
 * files in two processes at a time are where Node's runner used to lose the last results of a file
 * (nodejs/node#64833).
 */
test('the test runner counts every result of many short files, and fails on one failure among them', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeward-runner-'));
  try {
    const files = 30;
    const perFile = 40;
    await mkdir(join(dir, 'cases'));
    for (let file = 0; file < files; file++) {
      const lines = ["import { test } from 'node:test';"];
      for (let index = 0; index < perFile; index++)
        lines.push(`test('file ${file} case ${index}, with a name long enough to fill the pipe', () => {});`);
      // The last result of the last file fails.
      if (file === files - 1)
        lines.push("test('the one that fails', () => { throw new Error('expected'); });");
      await writeFile(join(dir, 'cases', `f${file}.test.mjs`), lines.join('\n'));
    }
    const { code, output } = await runRunner(join(dir, 'cases', '*.test.mjs'));
    assert.match(output, new RegExp(`ℹ tests ${files * perFile + 1}\\n`));
    assert.match(output, new RegExp(`ℹ pass ${files * perFile}\\n`));
    assert.match(output, /ℹ fail 1\n/);
    assert.equal(code, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
