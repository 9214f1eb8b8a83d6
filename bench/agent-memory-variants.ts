// `npx node bench/agent-memory-variants.ts VARIANTS.json [--seconds 180] [--window 120]`: runs the device
// bundle under several sets of Node flags and environment side by side, each enrolled with one real manager
// (SQLite, loopback) and doing the same work (heartbeat every 10 s, inventory every 60 s), beside a bare
// Node 24 with TLS, and prints the median VmRSS and RssAnon of each over the last `window` seconds. For
// trying memory settings against each other in one run; these machines are noisy, so run a variant twice.
// VARIANTS.json: `[{ "label": "…", "flags": ["--lite-mode", …], "env": { "MALLOC_ARENA_MAX": "1" } }, …]`;
// each starts from the launcher's malloc settings and runs without NODE_EXTRA_CA_CERTS, as on a device.
// A variant's optional `"bundle"` names another build of the entry (a copy of packages/cli/dist from an
// earlier commit), to measure a change against the code before it in the same run.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as z from 'zod/mini';
import { buildAgentBundle, deviceMallocSettings } from '../scripts/build-agent.ts';
import {
  deviceEnvironment,
  enrollBundle,
  median,
  readMemory,
  sleep,
  spawnBareNode,
  startBenchManager,
  stopChild,
} from './support.ts';

const variantsSchema = z.array(
  z.object({
    label: z.string(),
    flags: z.array(z.string()),
    env: z.optional(z.record(z.string(), z.string())),
    bundle: z.optional(z.string()),
  }),
);

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string', default: '180' },
    window: { type: 'string', default: '120' },
  },
});
const [variantsPath] = positionals;
if (variantsPath === undefined) {
  process.stderr.write(
    'usage: npx node bench/agent-memory-variants.ts VARIANTS.json [--seconds 180] [--window 120]\n',
  );
  process.exit(2);
}
const variants = variantsSchema.parse(JSON.parse(await readFile(variantsPath, 'utf8')));
const seconds = Number(values.seconds);
const windowSeconds = Number(values.window);

const { path: bundle } = await buildAgentBundle();
const dir = await mkdtemp(join(tmpdir(), 'edgeward-bench-variants-'));
const { manager, deviceUrl } = await startBenchManager(join(dir, 'manager'));
const measured: { label: string; child: ChildProcess }[] = [];
try {
  for (const [index, variant] of variants.entries()) {
    const dataDir = join(dir, `agent-${index}`);
    const variantBundle = variant.bundle ?? bundle;
    await enrollBundle({ bundle: variantBundle, manager, managerUrl: deviceUrl, dataDir });
    const args = ['run', '--data-dir', dataDir, '--report-interval', '10s', '--inventory-interval', '60s'];
    const child = spawn(process.execPath, [...variant.flags, variantBundle, ...args, '--log-level', 'warn'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: deviceEnvironment({ ...deviceMallocSettings, ...variant.env }),
    });
    measured.push({ label: variant.label, child });
  }
  measured.push({ label: 'bare Node 24 with TLS loaded', child: spawnBareNode() });

  const samples = new Map<ChildProcess, { vmRssKb: number; rssAnonKb: number }[]>();
  const endAt = Date.now() + seconds * 1000;
  while (Date.now() < endAt) {
    await sleep(5000);
    if (endAt - Date.now() > windowSeconds * 1000) continue;
    for (const { child } of measured) {
      if (child.exitCode !== null)
        throw new Error(`a measured process exited early (code ${child.exitCode})`);
      samples.set(child, [...(samples.get(child) ?? []), await readMemory(child.pid ?? 0)]);
    }
  }
  const mb = (kb: number) => (kb / 1024).toFixed(1);
  process.stdout.write(`| process | VmRSS MB | RssAnon MB |\n| --- | --- | --- |\n`);
  for (const { label, child } of measured) {
    const list = samples.get(child) ?? [];
    const vmRss = median(list.map((sample) => sample.vmRssKb));
    const rssAnon = median(list.map((sample) => sample.rssAnonKb));
    process.stdout.write(`| ${label} | ${mb(vmRss)} | ${mb(rssAnon)} |\n`);
  }
} finally {
  await Promise.all(measured.map(({ child }) => stopChild(child)));
  await manager.close();
  await rm(dir, { recursive: true, force: true });
}
