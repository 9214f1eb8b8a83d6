import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type LongRunning, runEdgeward, startEdgeward } from './support/cli-process.ts';
import { eventually } from './support/test-manager.ts';

/**
 * The user's first hour, with real processes: `edgeward manager start`, `agent enroll`, `agent run`,
 * then the operator commands, all over real TLS on 127.0.0.1.
 */
let work: string;
let managerDir: string;
let agentDir: string;
let manager: LongRunning;
let agent: LongRunning | undefined;
let operatorUrl: string;
let deviceUrl: string;
let fingerprint: string;
let enrollmentToken: string;
let adminToken: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'edgeward-e2e-'));
  managerDir = join(work, 'manager');
  agentDir = join(work, 'agent');
  manager = startEdgeward([
    'manager',
    'start',
    '--data-dir',
    managerDir,
    '--host',
    '127.0.0.1',
    '--device-port',
    '0',
    '--operator-port',
    '0',
    '--log-level',
    'warn',
  ]);
  await manager.waitFor(/export EDGEWARD_TOKEN=\S+/);
  deviceUrl = ((await manager.waitFor(/device API \(mTLS\)\s+(\S+)/))[1] ?? '').replace(
    'localhost',
    '127.0.0.1',
  );
  operatorUrl = (await manager.waitFor(/operator API\s+(\S+)/))[1] ?? '';
  fingerprint = (await manager.waitFor(/fleet CA fingerprint (\S+)/))[1] ?? '';
  enrollmentToken = (await manager.waitFor(/enrollment token \(single use[^\n]*\n\s+(\S+)/))[1] ?? '';
  adminToken = (await manager.waitFor(/export EDGEWARD_TOKEN=(\S+)/))[1] ?? '';
});

after(async () => {
  await agent?.stop();
  await manager.stop();
  await rm(work, { recursive: true, force: true });
});

const api = () => ['--api', operatorUrl, '--data-dir', managerDir];

test('the first start creates the CAs and keys with mode 0600 and prints the enroll command', async () => {
  for (const key of ['root-ca.key', 'issuing-ca.key', 'server.key']) {
    const info = await stat(join(managerDir, 'pki', key));
    assert.equal(info.mode & 0o777, 0o600, `${key} mode`);
  }
  assert.match(fingerprint, /^[0-9a-f]{64}$/);
  assert.match(
    manager.output(),
    /npx edgeward agent enroll --manager https:\/\/\S+ --token \S+ --ca-fingerprint [0-9a-f]{64}/,
  );
  assert.equal(await readFile(join(managerDir, 'admin.token'), 'utf8'), `${adminToken}\n`);
});

test('an agent enrolls over mTLS with the CLI, keeps its key at 0600 and reports its inventory', async () => {
  const enrolled = await runEdgeward([
    'agent',
    'enroll',
    '--manager',
    deviceUrl,
    '--token',
    enrollmentToken,
    '--ca-fingerprint',
    fingerprint,
    '--data-dir',
    agentDir,
    '--json',
  ]);
  assert.equal(enrolled.code, 0, enrolled.stderr);
  const enrollment = JSON.parse(enrolled.stdout) as { deviceId: string; spiffeId: string };
  assert.match(enrollment.spiffeId, new RegExp(`^spiffe://edgeward.local/device/${enrollment.deviceId}$`));
  assert.equal((await stat(join(agentDir, 'key.pem'))).mode & 0o777, 0o600);

  agent = startEdgeward([
    'agent',
    'run',
    '--data-dir',
    agentDir,
    '--report-interval',
    '1s',
    '--log-level',
    'warn',
  ]);
  const listed = await eventually(async () => {
    const run = await runEdgeward(['devices', 'list', '--json', ...api()]);
    const page = JSON.parse(run.stdout) as {
      devices: { id: string; status: string; inventoryVersion: number }[];
    };
    const device = page.devices.find((candidate) => candidate.id === enrollment.deviceId);
    return device !== undefined && device.inventoryVersion >= 1 && device.status === 'online'
      ? device
      : undefined;
  }, 'the device to report its inventory');
  assert.equal(listed.status, 'online');

  const table = await runEdgeward(['devices', 'list', ...api()]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, new RegExp(`${enrollment.deviceId}\\s+\\S+\\s+online`));

  const shown = await runEdgeward(['devices', 'show', enrollment.deviceId, '--json', ...api()]);
  const detail = JSON.parse(shown.stdout) as {
    inventory: { hostname: string; packages: unknown[] };
    certificates: unknown[];
  };
  assert.ok(detail.inventory.hostname.length > 0);
  assert.ok(detail.inventory.packages.length > 0, 'this machine has installed packages');
  assert.equal(detail.certificates.length, 1);

  const history = await runEdgeward(['devices', 'history', enrollment.deviceId, ...api()]);
  assert.equal(history.code, 0, history.stderr);

  const status = await runEdgeward(['agent', 'status', '--data-dir', agentDir, '--json']);
  const agentStatus = JSON.parse(status.stdout) as {
    state: string;
    running: boolean;
    lastContactAt: number;
    certificateNotAfter: number;
  };
  assert.equal(agentStatus.state, 'running');
  assert.equal(agentStatus.running, true);
  assert.ok(agentStatus.lastContactAt > Date.now() - 60_000);
  assert.ok(agentStatus.certificateNotAfter > Date.now() + 29 * 86_400_000);
  assert.equal(typeof (agentStatus as unknown as { queuedEvents: unknown }).queuedEvents, 'number');
});

test('a used token is refused by name with a stable code and exit code, and nothing is created', async () => {
  const again = await runEdgeward([
    'agent',
    'enroll',
    '--manager',
    deviceUrl,
    '--token',
    enrollmentToken,
    '--ca-fingerprint',
    fingerprint,
    '--data-dir',
    join(work, 'second-agent'),
  ]);
  assert.equal(again.code, 4);
  assert.match(again.stderr, /EW_ENROLLMENT_TOKEN_USED/);
  await assert.rejects(stat(join(work, 'second-agent', 'enrollment.json')), { code: 'ENOENT' });
});

test('a wrong CA fingerprint stops enrollment before the token is sent', async () => {
  const created = await runEdgeward(['tokens', 'create', '--label', 'site=plant-a', '--json', ...api()]);
  const token = (JSON.parse(created.stdout) as { token: string }).token;
  const wrong = await runEdgeward([
    'agent',
    'enroll',
    '--manager',
    deviceUrl,
    '--token',
    token,
    '--ca-fingerprint',
    'ab'.repeat(32),
    '--data-dir',
    join(work, 'third-agent'),
  ]);
  assert.equal(wrong.code, 4);
  assert.match(wrong.stderr, /EW_CA_FINGERPRINT_MISMATCH/);
  const tokens = await runEdgeward(['tokens', 'list', '--json', ...api()]);
  const listed = JSON.parse(tokens.stdout) as { id: string; state: string }[];
  assert.equal(listed.find((entry) => token.startsWith(`${entry.id}.`))?.state, 'active');
});

test('operator commands without a token are refused with exit code 4', async () => {
  const refused = await runEdgeward([
    'devices',
    'list',
    '--api',
    operatorUrl,
    '--ca-file',
    join(managerDir, 'pki', 'root-ca.crt'),
    '--data-dir',
    work,
  ]);
  assert.equal(refused.code, 4);
  assert.match(refused.stderr, /EW_OPERATOR_TOKEN_MISSING/);
});

test('the manager stops cleanly on SIGTERM', async () => {
  await agent?.stop();
  agent = undefined;
  const code = await manager.stop('SIGTERM');
  assert.equal(code, 0);
});
