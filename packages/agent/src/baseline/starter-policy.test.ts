import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  type CompiledPolicy,
  checksForSegment,
  compilePolicy,
  type PolicySourceFile,
  segmentOf,
} from '@edgeward/core';
import type { BaselineContext, CheckOutcome } from './check-outcome.ts';
import { evaluateCheck } from './evaluate-check.ts';
import { copyFixture, type FixtureName, fixtureContext } from './fixture-roots.fixture.ts';
import { remediate } from './remediate.ts';

const starterDir = fileURLToPath(new URL('../../../../policies/starter/', import.meta.url));

async function readFolder(dir: string): Promise<PolicySourceFile[]> {
  const files: PolicySourceFile[] = [];
  const walk = async (current: string) => {
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.name.endsWith('.yaml'))
        files.push({ path: relative(dir, path), text: await readFile(path, 'utf8') });
    }
  };
  await walk(dir);
  return files;
}

let scratch: string;
let policy: CompiledPolicy;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'edgeward-starter-'));
  const compiled = compilePolicy(await readFolder(starterDir));
  assert.ok(compiled.ok, compiled.ok ? '' : JSON.stringify(compiled.problems, null, 2));
  assert.deepEqual(compiled.warnings, []);
  policy = compiled.policy;
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** Each fixture is a device of its own segment: the Debian gateway is labelled high-risk. */
const devices: Record<FixtureName, { labels: Record<string, string>; segment: string }> = {
  'debian-like': { labels: { risk: 'high', function: 'gateway' }, segment: 'critical-ot' },
  'alpine-like': { labels: { function: 'sensor-hub' }, segment: 'default' },
};

async function evaluateAll(name: FixtureName, context: BaselineContext): Promise<Map<string, CheckOutcome>> {
  const segment = segmentOf(policy, devices[name].labels);
  assert.equal(segment, devices[name].segment);
  const outcomes = new Map<string, CheckOutcome>();
  for (const check of checksForSegment(policy, segment))
    outcomes.set(check.id, await evaluateCheck(check, context));
  return outcomes;
}

const withStatus = (outcomes: Map<string, CheckOutcome>, status: CheckOutcome['status']) =>
  [...outcomes]
    .filter(([, outcome]) => outcome.status === status)
    .map(([id]) => id)
    .sort();

const expectedFailures: Record<FixtureName, string[]> = {
  'debian-like': [
    'no-empty-passwords',
    'no-legacy-tcp-services',
    'no-world-writable-system-files',
    'ssh-max-auth-tries',
    'ssh-modern-macs',
    'ssh-no-password-auth',
    'ssh-no-root-login',
    'ssh-no-x11-forwarding',
    'sysctl-no-icmp-redirects',
  ],
  'alpine-like': [
    'firewall-active',
    'logging-persistent',
    'no-extra-uid0',
    'no-legacy-network-services',
    'no-tftp',
    'shadow-file-mode',
    'ssh-modern-ciphers',
    'ssh-modern-kex',
    'sysctl-aslr',
  ],
};

/** What remains once every `remediate: auto` check has been remediated. */
const expectedAfterAutoRemediation: Record<FixtureName, string[]> = {
  'debian-like': [
    'no-empty-passwords',
    'no-legacy-tcp-services',
    'no-world-writable-system-files',
    'ssh-modern-macs',
    'ssh-no-password-auth',
  ],
  'alpine-like': [
    'firewall-active',
    'logging-persistent',
    'no-extra-uid0',
    'no-legacy-network-services',
    'no-tftp',
    'ssh-modern-ciphers',
    'ssh-modern-kex',
  ],
};

describe('the starter policy', () => {
  it('compiles into 29 checks, one segment and two maintenance windows', () => {
    assert.equal(policy.checks.length, 29);
    assert.deepEqual(
      policy.segments.map((s) => [s.id, s.evaluationIntervalMs]),
      [['critical-ot', 15 * 60_000]],
    );
    assert.deepEqual(
      policy.windows.map((w) => w.id),
      ['critical-ot-weekend', 'monthly-patch-night'],
    );
  });

  for (const name of ['debian-like', 'alpine-like'] as const) {
    it(`fails exactly the drift built into the ${name} fixture, and errs on nothing`, async () => {
      const root = await copyFixture(name, scratch, 'evaluate');
      const outcomes = await evaluateAll(name, fixtureContext(root));
      const report = [...outcomes].map(([id, o]) => `${id}: ${o.status} ${o.detail}`).join('\n');
      assert.deepEqual(withStatus(outcomes, 'fail'), expectedFailures[name], report);
      assert.deepEqual(withStatus(outcomes, 'error'), [], report);
      assert.deepEqual(withStatus(outcomes, 'not-applicable'), [], report);
    });

    it(`fixes every failing remediate-auto check of ${name}, and only those`, async () => {
      const root = await copyFixture(name, scratch, 'remediate');
      const context = fixtureContext(root);
      const segment = devices[name].segment;
      for (const check of checksForSegment(policy, segment)) {
        if (check.remediate !== 'auto') continue;
        const result = await remediate(check, context);
        assert.equal(result.outcome, 'fixed', `${check.id}: ${result.detail}`);
      }
      const outcomes = await evaluateAll(name, context);
      assert.deepEqual(withStatus(outcomes, 'fail'), expectedAfterAutoRemediation[name]);
    });
  }
});
