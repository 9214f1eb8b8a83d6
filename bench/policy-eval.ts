// Policy figures: how long the agent takes to evaluate the starter baseline on this machine, beside
// `lynis audit system --quick` in the same run, and the size and verification time of a signed bundle
// with 1,000 checks.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { constants, gzipSync, zstdCompressSync } from 'node:zlib';
import { createBaselineRunnerOnDemand } from '@edgeward/agent';
import {
  checksForSegment,
  compilePolicy,
  DEFAULT_SEGMENT_ID,
  generatePolicyKeyPair,
  type PolicySourceFile,
  policyDigest,
  signPolicyBundle,
  verifyPolicyBundle,
} from '@edgeward/core';

export interface PolicyEvaluationFigures {
  readonly checks: number;
  readonly oursMs: number[];
  readonly lynis:
    | { readonly ms: number[]; readonly version: string; readonly tests: number }
    | { readonly missing: string };
}

async function readFolder(dir: string): Promise<PolicySourceFile[]> {
  const files: PolicySourceFile[] = [];
  const walk = async (current: string) => {
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) files.push({ path: relative(dir, path), text: await readFile(path, 'utf8') });
    }
  };
  await walk(dir);
  return files;
}

export async function measurePolicyEvaluation(options: {
  rounds: number;
  lynisRounds: number;
  progress: (line: string) => void;
}): Promise<PolicyEvaluationFigures> {
  const compiled = compilePolicy(await readFolder(new URL('../policies/starter', import.meta.url).pathname));
  if (!compiled.ok)
    throw new Error(`the starter policy does not compile: ${JSON.stringify(compiled.problems)}`);
  const checks = checksForSegment(compiled.policy, DEFAULT_SEGMENT_ID);
  const runner = createBaselineRunnerOnDemand({ root: '/', live: true, now: Date.now });
  const oursMs: number[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const started = performance.now();
    for (const check of checks) await runner.evaluate(check);
    oursMs.push(performance.now() - started);
    options.progress(`starter baseline, round ${round + 1}: ${oursMs.at(-1)?.toFixed(0)} ms`);
  }

  const version = spawnSync('lynis', ['show', 'version'], { encoding: 'utf8' });
  if (version.error !== undefined || version.status !== 0) {
    return { checks: checks.length, oursMs, lynis: { missing: 'lynis is not installed' } };
  }
  const work = await mkdtemp(join(tmpdir(), 'ew-bench-lynis-'));
  const lynisMs: number[] = [];
  let tests = 0;
  try {
    for (let round = 0; round < options.lynisRounds; round++) {
      const report = join(work, `report-${round}.dat`);
      const started = performance.now();
      const run = spawnSync(
        'lynis',
        [
          'audit',
          'system',
          '--quick',
          '--no-colors',
          '--logfile',
          join(work, `lynis-${round}.log`),
          '--report-file',
          report,
        ],
        { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      );
      lynisMs.push(performance.now() - started);
      if (run.status !== 0) throw new Error(`lynis failed: ${run.stderr}`);
      const performed = (await readFile(report, 'utf8')).match(/^tests_executed=(.*)$/m)?.[1] ?? '';
      tests = performed.split('|').filter((test) => test !== '').length;
      options.progress(`lynis --quick, round ${round + 1}: ${lynisMs.at(-1)?.toFixed(0)} ms, ${tests} tests`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { checks: checks.length, oursMs, lynis: { ms: lynisMs, version: version.stdout.trim(), tests } };
}

export interface BundleFigures {
  readonly checks: number;
  readonly compileMs: number;
  readonly jsonBytes: number;
  readonly gzipBytes: number;
  readonly zstdBytes: number;
  readonly signMs: number;
  readonly verifyMs: number[];
}

/** A policy folder with `count` checks of every kind a real baseline has, each with its own values. */
function largePolicy(count: number): PolicySourceFile[] {
  const kinds = [
    (n: number) => `{type: sshd, setting: MaxAuthTries, expect: {atMost: ${(n % 6) + 1}}}`,
    (n: number) =>
      `{type: file, path: /etc/app/${n}.conf, maxMode: '0640', owner: root, contains: 'enabled=${n}'}`,
    (n: number) => `{type: sysctl, key: net.ipv4.conf.eth${n % 8}.rp_filter, expect: {oneOf: ['1', '2']}}`,
    (n: number) => `{type: package, name: pkg-${n}, state: installed, minVersion: '1.${n}.0-1'}`,
    (n: number) => `{type: service, names: [svc-${n}], state: running}`,
    (n: number) => `{type: listening-ports, protocol: tcp, forbidden: [${1000 + n}, ${2000 + n}]}`,
  ];
  const lines = ['id: large', 'checks:'];
  for (let n = 0; n < count; n++) {
    lines.push(
      `  - id: check-${String(n).padStart(4, '0')}`,
      `    title: Generated check number ${n} of the large baseline`,
      `    severity: ${['low', 'medium', 'high', 'critical'][n % 4]}`,
      `    rationale: Keeps setting ${n} at its hardened value, as the site standard requires.`,
      `    check: ${kinds[n % kinds.length]?.(n)}`,
    );
    if (n % 3 === 0) {
      lines.push(
        '    remediate: auto',
        `    remediation: {type: file-line, path: /etc/app/${n}.conf, match: '^enabled=', line: enabled=${n}, timeout: 30s}`,
      );
    }
  }
  return [{ path: 'baselines/large.yaml', text: `${lines.join('\n')}\n` }];
}

export function measureBundle(options: { checks: number; rounds: number }): BundleFigures {
  const files = largePolicy(options.checks);
  const compileStarted = performance.now();
  const compiled = compilePolicy(files);
  const compileMs = performance.now() - compileStarted;
  if (!compiled.ok)
    throw new Error(
      `the generated policy does not compile: ${JSON.stringify(compiled.problems.slice(0, 3))}`,
    );
  const keys = generatePolicyKeyPair();
  const now = Date.now();
  const signStarted = performance.now();
  const bundle = signPolicyBundle(
    {
      fleet: 'bench.local',
      version: 1,
      issuedAt: now,
      expiresAt: now + 7 * 86_400_000,
      crlPems: [],
      policyDigest: policyDigest(compiled.policy),
      policy: compiled.policy,
    },
    keys.privateKeyPem,
  );
  const signMs = performance.now() - signStarted;
  const json = Buffer.from(JSON.stringify({ v: 1, bundle }));
  const verifyMs: number[] = [];
  for (let round = 0; round < options.rounds; round++) {
    // As the agent receives it: bytes off the wire, parsed, then verified.
    const started = performance.now();
    const parsed = JSON.parse(json.toString('utf8')) as { bundle: unknown };
    const verification = verifyPolicyBundle(parsed.bundle, { publicKeyPem: keys.publicKeyPem });
    verifyMs.push(performance.now() - started);
    if (!verification.ok) throw new Error(`the bundle does not verify: ${verification.message}`);
  }
  return {
    checks: compiled.policy.checks.length,
    compileMs,
    jsonBytes: json.length,
    gzipBytes: gzipSync(json).length,
    zstdBytes: zstdCompressSync(json, { params: { [constants.ZSTD_c_compressionLevel]: 3 } }).length,
    signMs,
    verifyMs,
  };
}
