/**
 * Policy as code end to end, with real processes: `edgeward policy apply` from a git repository, an
 * `edgeward agent run` on its own fixture root behind a FaultProxy, and the manager in this process.
 * The agent enforces the signed bundle, remediates, keeps enforcing and remediating while cut off, and
 * delivers what happened once the link returns.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  certificateFingerprint,
  type DeviceComplianceView,
  type EventListView,
  type PolicyVersionListView,
} from '@edgeward/core';
import { FaultProxy } from '@edgeward/sim';
import {
  e2eAgentEnv,
  enrollWithCli,
  type LongRunning,
  runEdgeward,
  startEdgeward,
} from './support/cli-process.ts';
import { eventually, startTestManager, type TestManager } from './support/test-manager.ts';

const agentEnv = {
  ...e2eAgentEnv,
  EDGEWARD_REPORT_INTERVAL_MS: '1000',
  EDGEWARD_POLICY_POLL_MS: '1000',
};

const BANNER = 'Authorised use only. Activity is logged.\n';

const baseline = (maxAuthTries: number) => `id: device
title: E2E device baseline
checks:
  - id: banner-present
    title: The SSH banner is in place
    severity: medium
    rationale: The legal notice must be shown before login.
    check: {type: file, path: /etc/issue.net, contains: 'Authorised use only'}
    remediate: auto
    remediation: {type: file-content, path: /etc/issue.net, content: ${JSON.stringify(BANNER)}, mode: '0644'}
  - id: ssh-no-root-login
    title: SSH refuses root logins
    severity: high
    rationale: Root logins bypass per-user accountability.
    check: {type: sshd, setting: PermitRootLogin, expect: {equals: 'no'}}
    remediate: manual
    remediation: {type: file-line, path: /etc/ssh/sshd_config, match: '^\\s*#?\\s*PermitRootLogin\\b', line: PermitRootLogin no}
  - id: ssh-max-auth-tries
    title: SSH limits authentication attempts
    severity: medium
    rationale: Slows down password guessing.
    check: {type: sshd, setting: MaxAuthTries, expect: {atMost: ${maxAuthTries}}}
`;

let work: string;
let hub: TestManager;
let proxy: FaultProxy;
let agent: LongRunning | undefined;
let policyDir: string;
let root: string;
let dataDir: string;
let deviceId: string;

function api(): string[] {
  return ['--api', hub.operatorUrl, '--data-dir', hub.dir, '--token', hub.adminToken];
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'ew-policy-e2e-'));
  hub = await startTestManager();
  proxy = await FaultProxy.start({
    target: { host: '127.0.0.1', port: Number(new URL(hub.deviceUrl).port) },
  });
  policyDir = join(work, 'policy');
  root = join(work, 'root');
  dataDir = join(work, 'agent');
  await mkdir(join(policyDir, 'baselines'), { recursive: true });
  await writeFile(join(policyDir, 'baselines', 'device.yaml'), baseline(6));
  execFileSync('git', ['init', '-q', policyDir]);
  execFileSync('git', ['-C', policyDir, 'add', '.']);
  execFileSync('git', [
    '-C',
    policyDir,
    '-c',
    'user.name=t',
    '-c',
    'user.email=t@example.com',
    'commit',
    '-qm',
    'v1',
  ]);
  await mkdir(join(root, 'etc', 'ssh'), { recursive: true });
  await mkdir(join(root, 'etc', 'edgeward-e2e'), { recursive: true });
  await mkdir(join(root, 'var', 'log'), { recursive: true });
  await writeFile(join(root, 'var', 'log', 'auth.log'), '');
  await writeFile(join(root, 'etc', 'ssh', 'sshd_config'), 'PermitRootLogin yes\nMaxAuthTries 5\n');
});

after(async () => {
  await agent?.stop('SIGTERM');
  await proxy?.close();
  await hub?.close();
  await rm(work, { recursive: true, force: true });
});

test('a policy applied from git reaches the agent, which enforces it online and offline', async () => {
  // Apply version 1 from the git repository: the commit is recorded with the version.
  const applied = await runEdgeward(['policy', 'apply', policyDir, '-m', 'first baseline', ...api()]);
  assert.equal(applied.code, 0, applied.stderr);
  const head = execFileSync('git', ['-C', policyDir, 'rev-parse', 'HEAD']).toString().trim();
  const history = await runEdgeward(['policy', 'history', '--json', ...api()]);
  const versions = JSON.parse(history.stdout) as PolicyVersionListView['versions'];
  assert.deepEqual(
    versions.map((version) => [version.version, version.message, version.gitCommit]),
    [[1, 'first baseline', head]],
  );

  // Enroll through the proxy and run the agent on its fixture root.
  const token = await runEdgeward(['tokens', 'create', '--label', 'function=gateway', '--json', ...api()]);
  assert.equal(token.code, 0, token.stderr);
  const fingerprint = await certificateFingerprint(
    await readFile(join(hub.dir, 'pki', 'root-ca.crt'), 'utf8'),
  );
  deviceId = await enrollWithCli({
    managerUrl: proxy.url,
    token: (JSON.parse(token.stdout) as { token: string }).token,
    caFingerprint: fingerprint,
    dataDir,
  });
  agent = startEdgeward(['agent', 'run', '--data-dir', dataDir, '--root', root], agentEnv);

  // The banner is missing: auto remediation writes it; the root login stays failing (manual).
  const first = await eventually(async () => {
    const view = await compliance();
    return view.bundleVersion === 1 && view.checks.length === 3 ? view : undefined;
  }, `the first compliance report\n${agent.output()}`);
  assert.equal(await readFile(join(root, 'etc', 'issue.net'), 'utf8'), BANNER);
  assert.deepEqual(
    first.checks.map((check) => [check.checkId, check.status, check.remediation?.outcome ?? null]),
    [
      ['banner-present', 'pass', 'fixed'],
      ['ssh-max-auth-tries', 'pass', null],
      ['ssh-no-root-login', 'fail', null],
    ],
  );

  // Cut the link; the banner is removed (drift). The agent notices the change on its own, puts the
  // file back and queues what it did.
  proxy.cut();
  await unlink(join(root, 'etc', 'issue.net'));
  await eventually(
    () => readFile(join(root, 'etc', 'issue.net'), 'utf8').then((text) => text === BANNER),
    `the agent to restore the banner while offline\n${agent.output()}`,
  );
  assert.equal((await events('policy.config_drift')).events.length, 0, 'nothing can have arrived yet');

  // The link returns: drift and remediation arrive, and the report shows the remediation again.
  proxy.restore();
  const drift = await eventually(async () => {
    const page = await events('policy.config_drift');
    return page.events.length === 1 ? page.events[0] : undefined;
  }, `the drift event after the link returned\n${agent.output()}`);
  assert.equal(drift.data.checkId, 'banner-present');
  assert.equal(drift.severity, 'medium');
  await eventually(async () => (await events('policy.remediated')).events.length === 2, 'both remediations');

  // A tighter version 2: MaxAuthTries 5 now fails, and the device reports under version 2.
  await writeFile(join(policyDir, 'baselines', 'device.yaml'), baseline(4));
  const plan = await runEdgeward(['policy', 'plan', policyDir, ...api()]);
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(plan.stdout, /ssh-max-auth-tries/);
  const second = await runEdgeward(['policy', 'apply', policyDir, '-m', 'fewer tries', ...api()]);
  assert.equal(second.code, 0, second.stderr);
  const tightened = await eventually(async () => {
    const view = await compliance();
    return view.bundleVersion === 2 ? view : undefined;
  }, 'the report under version 2');
  assert.equal(tightened.checks.find((check) => check.checkId === 'ssh-max-auth-tries')?.status, 'fail');

  const summary = await runEdgeward(['compliance', '--json', ...api()]);
  assert.equal(summary.code, 0, summary.stderr);
  const fleet = JSON.parse(summary.stdout) as { policyVersion: number; devicesReporting: number };
  assert.equal(fleet.policyVersion, 2);
  assert.equal(fleet.devicesReporting, 1);
});

async function compliance(): Promise<DeviceComplianceView> {
  const run = await runEdgeward(['compliance', 'device', deviceId, '--json', ...api()]);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as DeviceComplianceView;
}

async function events(type: string): Promise<EventListView> {
  const run = await runEdgeward(['events', '--device', deviceId, '--type', type, '--json', ...api()]);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as EventListView;
}

test('validate names file, line and field; rollback makes a new version equal to an old one', async () => {
  const broken = join(work, 'broken');
  await mkdir(join(broken, 'baselines'), { recursive: true });
  await writeFile(
    join(broken, 'baselines', 'bad.yaml'),
    'checks:\n  - id: x\n    title: X\n    severity: severe\n    check: {type: file, path: /etc/x, prot: 1}\n',
  );
  const validated = await runEdgeward(['policy', 'validate', broken]);
  assert.equal(validated.code, 2);
  assert.match(validated.stderr, /baselines\/bad\.yaml:4:\d+: checks\.0\.severity:/);
  assert.match(
    validated.stderr,
    /baselines\/bad\.yaml:5:\d+: checks\.0\.check(\.prot)?: .*unknown field `prot`/,
  );
  assert.match(validated.stderr, /EW_POLICY_INVALID/);

  const history = await runEdgeward(['policy', 'history', '--json', ...api()]);
  const latest = (JSON.parse(history.stdout) as PolicyVersionListView['versions'])[0];
  assert.equal(latest?.version, 2);
  assert.match(latest?.gitCommit ?? '', /^[0-9a-f]{40}\+dirty$/, 'uncommitted changes are marked');

  const rolledBack = await runEdgeward(['policy', 'rollback', '1', '-m', 'too strict', ...api()]);
  assert.equal(rolledBack.code, 0, rolledBack.stderr);
  const shown = await runEdgeward(['policy', 'show', '3', '--json', ...api()]);
  const [one, three] = await Promise.all(
    ['1', '3'].map(async (version) => {
      const run = await runEdgeward(['policy', 'show', version, '--json', ...api()]);
      return JSON.parse(run.stdout) as { policyDigest: string; rollbackOf: number | null };
    }),
  );
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal(three?.policyDigest, one?.policyDigest);
  assert.equal(three?.rollbackOf, 1);
  const restored = await eventually(async () => {
    const view = await compliance();
    return view.bundleVersion === 3 ? view : undefined;
  }, 'the device to enforce version 3');
  assert.equal(restored.checks.find((check) => check.checkId === 'ssh-max-auth-tries')?.status, 'pass');
});
