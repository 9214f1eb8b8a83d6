import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { agentLauncherPath, buildAgentBundle } from '../scripts/build-agent.ts';

/**
 * The device binary carries the agent and nothing of the manager: each of these would cost a device
 * megabytes of memory (the X.509 library, classic zod) or does not belong there at all.
 */
test('the device bundle holds none of the manager, the database drivers, the X.509 library or classic zod', async () => {
  const { inputs } = await buildAgentBundle();
  assert.ok(inputs.some((input) => input.startsWith('packages/agent/src/runtime/agent.ts')));
  const forbidden = inputs.filter((input) =>
    /packages\/(manager|store|sim|web)\/|node_modules\/(fastify|pg|@peculiar\/x509|tsyringe|pino-pretty)\/|node_modules\/zod\/v4\/classic\//.test(
      input,
    ),
  );
  assert.deepEqual(forbidden, []);
});

test('every file of the device bundle is ASCII, so V8 holds its source as a one-byte string (half the memory of two-byte)', async () => {
  const { files } = await buildAgentBundle();
  const { readFile } = await import('node:fs/promises');
  for (const file of files) {
    const bytes = await readFile(file.path);
    const at = bytes.findIndex((byte) => byte > 0x7f);
    const near = bytes.subarray(Math.max(0, at - 40), at + 10).toString('latin1');
    assert.equal(at, -1, `a non-ASCII byte in ${file.path} near: ${JSON.stringify(near)}`);
  }
});

test('a running agent loads the TUF client only when an update is pending, the YAML parser and the rule engine only for rules, the baseline checks only for checks, the cron parser only for cron windows, and never the locales of zod but English', async () => {
  const { path, files } = await buildAgentBundle();
  const byPath = new Map(files.map((file) => [file.path, file]));
  const agentChunk = files.find((file) => file.inputs.includes('packages/agent/src/runtime/agent.ts'));
  assert.ok(agentChunk !== undefined, 'no file holds the agent runtime');
  // What `run` loads before any code asks for more: the entry, the agent's chunk and their static imports.
  const loaded = new Set<string>();
  const pending = [path, agentChunk.path];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (loaded.has(next)) continue;
    loaded.add(next);
    pending.push(...(byPath.get(next)?.staticImports ?? []));
  }
  const inputsAtRun = [...loaded].flatMap((file) => byPath.get(file)?.inputs ?? []);
  assert.ok(inputsAtRun.includes('packages/agent/src/queue/event-queue.ts'));
  const onDemand = inputsAtRun.filter((input) =>
    /node_modules\/(tuf-js|@tufjs\/models|minimatch|yaml|croner)\/|packages\/core\/src\/rules\/(sigma-rule|rule-engine|sigma-detection|correlation)\.ts|packages\/agent\/src\/baseline\/(baseline-runner|evaluate-check|remediate)\.ts|node_modules\/zod\/v4\/locales\/(?!en\.js)|packages\/agent\/src\/updates\/tuf-verifier\.ts/.test(
      input,
    ),
  );
  assert.deepEqual(onDemand, []);
  // They are in the bundle all the same, for the device that needs them.
  const all = files.flatMap((file) => file.inputs);
  assert.ok(all.some((input) => input.includes('node_modules/tuf-js/')));
  assert.ok(all.some((input) => input.includes('packages/agent/src/updates/tuf-verifier.ts')));
  assert.ok(all.some((input) => input.includes('node_modules/yaml/')));
  assert.ok(all.some((input) => input.includes('packages/core/src/rules/rule-engine.ts')));
  assert.ok(all.some((input) => input.includes('node_modules/croner/')));
  assert.ok(all.some((input) => input.includes('packages/agent/src/baseline/evaluate-check.ts')));
});

test('the code `run` loads takes none of the Node modules the agent does not use: worker threads, assert, readline, performance timing, the DNS resolver, Web Crypto, the argument parser, the address block list', async () => {
  const { path, files } = await buildAgentBundle();
  const agentChunk = files.find((file) => file.inputs.includes('packages/agent/src/runtime/agent.ts'));
  assert.ok(agentChunk !== undefined, 'no file holds the agent runtime');
  const { pathToFileURL } = await import('node:url');
  // The entry with `--version` (exit is stubbed, as it would end the process), then the agent's chunk.
  const script = `process.exit = () => {}; process.argv = [process.execPath, ${JSON.stringify(path)}, '--version']; await import(${JSON.stringify(pathToFileURL(path).href)}); await import(${JSON.stringify(pathToFileURL(agentChunk.path).href)}); process.stdout.write(JSON.stringify(process.moduleLoadList));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const modules = JSON.parse(run.stdout.slice(run.stdout.indexOf('['))) as string[];
  assert.ok(modules.includes('NativeModule sqlite'), 'the queue database should be loaded');
  const unused = modules.filter((module) =>
    /^NativeModule (worker_threads|assert|readline|perf_hooks|dns\/promises|internal\/crypto\/webcrypto|internal\/util\/parse_args\/parse_args|internal\/util\/diff|internal\/blocklist)$/.test(
      module,
    ),
  );
  assert.deepEqual(unused, []);
});

test('none of our code in the device bundle calls toISOString, whose first call loads the time-zone data of ICU (isoTime writes the same text)', async () => {
  const { inputs } = await buildAgentBundle();
  const { readFile } = await import('node:fs/promises');
  const ours = inputs.filter((input) => input.startsWith('packages/'));
  assert.ok(ours.includes('packages/core/src/events/compact-batch.ts'));
  const callers: string[] = [];
  for (const input of ours) {
    if ((await readFile(input, 'utf8')).includes('.toISOString(')) callers.push(input);
  }
  assert.deepEqual(callers, []);
});

test('every chunk of the device bundle loads, and every chunk a file loads on demand is there', async () => {
  const { path, files } = await buildAgentBundle();
  const { readFile } = await import('node:fs/promises');
  const { dirname: directoryOf, resolve } = await import('node:path');
  const { pathToFileURL } = await import('node:url');
  const paths = new Set(files.map((file) => file.path));
  for (const file of files) {
    const text = await readFile(file.path, 'utf8');
    for (const [, specifier] of text.matchAll(/import\("(\.[^"]+)"\)/g)) {
      const target = resolve(directoryOf(file.path), specifier ?? '');
      assert.ok(paths.has(target), `${file.path} imports ${specifier}, which the build did not write`);
    }
  }
  // The entry runs the command line; every other file is a module that must evaluate on its own.
  const chunks = files.filter((file) => file.path !== path);
  const script = chunks
    .map((file) => `await import(${JSON.stringify(pathToFileURL(file.path).href)});`)
    .join('');
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
});

test('the device launcher runs the bundle with its memory settings', async () => {
  await buildAgentBundle();
  const dataDir = await mkdtemp(join(tmpdir(), 'edgeward-bundle-'));
  try {
    const run = spawnSync('/bin/sh', [agentLauncherPath, 'status', '--data-dir', dataDir, '--json'], {
      env: { ...process.env, EDGEWARD_NODE: process.execPath },
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { state: string }).state, 'not enrolled');
    const { readFile } = await import('node:fs/promises');
    assert.match(
      await readFile(agentLauncherPath, 'utf8'),
      /exec "\$\{EDGEWARD_NODE:-node\}" --max-semi-space-size=1 --lite-mode --bytecode-old-age=1 --expose-gc /,
    );
    assert.match(
      await readFile(agentLauncherPath, 'utf8'),
      /export MALLOC_MMAP_THRESHOLD_="\$\{MALLOC_MMAP_THRESHOLD_:-131072\}"/,
    );
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
