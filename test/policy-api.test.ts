import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { zstdDecompressSync } from 'node:zlib';
import { ManagerClient } from '@edgeward/agent';
import {
  type CertificateGrant,
  type ComplianceFleetView,
  type ComplianceReport,
  createCsr,
  type DeviceComplianceView,
  exportPrivateKeyPem,
  generateDeviceKeyPair,
  type PolicyBundle,
  type PolicySourceFile,
  type PolicyVersionDetailView,
  type PolicyVersionView,
  PROTOCOL_VERSION,
  parseCrl,
  verifyPolicyBundle,
} from '@edgeward/core';
import { httpsJson } from './support/https-json.ts';
import { startTestManager, type TestManager } from './support/test-manager.ts';

let hub: TestManager;
const DAY_MS = 86_400_000;
const systemOperator = { id: 'test', name: 'test', role: 'admin' as const };

before(async () => {
  hub = await startTestManager();
});
after(async () => {
  await hub.close();
});

interface Reply<T = Record<string, unknown>> {
  status: number;
  body: T & { error?: { code: string; message: string; details?: Record<string, unknown> } };
}

function https<T>(
  base: string,
  method: string,
  path: string,
  options: { token?: string; tls?: { key: string; cert: string }; body?: unknown },
): Promise<Reply<T>> {
  return httpsJson<T>(new URL(path, base), { method, ca: hub.manager.pki.rootCaPem, ...options });
}

const operatorCall = <T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
  token = hub.adminToken,
) => https<T>(hub.operatorUrl, method, path, { token, body });

interface TestDevice {
  readonly grant: CertificateGrant;
  readonly tls: { key: string; cert: string };
  call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<Reply<T>>;
}

/** Enrolls over the real device API, as an agent does, and returns the grant and an mTLS caller. */
async function enrollDevice(labels: Record<string, string>): Promise<TestDevice> {
  const token = await hub.manager.services.tokens.create(systemOperator, labels, 3_600_000);
  const keys = await generateDeviceKeyPair();
  const enrolled = await https<CertificateGrant>(hub.deviceUrl, 'POST', '/v1/enroll', {
    body: {
      v: PROTOCOL_VERSION,
      token: token.token,
      csrPem: await createCsr({ keys, commonName: 'policy-test' }),
      hostname: 'policy-test',
      agentVersion: 'test',
      reportIntervalMs: 60_000,
    },
  });
  assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
  const grant = enrolled.body;
  const tls = {
    key: await exportPrivateKeyPem(keys.privateKey),
    cert: `${grant.certificatePem}${grant.chainPem}`,
  };
  return {
    grant,
    tls,
    call: (method, path, body) => https(hub.deviceUrl, method, path, { tls, body }),
  };
}

const linuxEdge = (telnetSeverity = 'critical') => `id: linux-edge
title: Linux edge baseline
checks:
  - id: ssh-no-root-login
    title: SSH refuses root logins
    severity: high
    rationale: Root logins bypass per-user accountability.
    check: {type: sshd, setting: PermitRootLogin, expect: {equals: 'no'}}
  - id: no-telnet
    title: Nothing listens on telnet
    severity: ${telnetSeverity}
    rationale: Telnet sends passwords in clear text.
    segments: [gateways]
    check: {type: listening-ports, forbidden: [23]}
`;

function folder(baseline = linuxEdge()): PolicySourceFile[] {
  return [
    { path: 'settings.yaml', text: 'bundleExpiry: 2d\n' },
    {
      path: 'segments/fleet.yaml',
      text: 'segments:\n  - id: gateways\n    title: Field gateways\n    priority: 50\n    selector: {function: gateway}\n',
    },
    { path: 'baselines/linux-edge.yaml', text: baseline },
  ];
}

function verified(device: TestDevice, bundle: unknown, inForce?: { version: number; issuedAt: number }) {
  const result = verifyPolicyBundle(bundle, {
    publicKeyPem: device.grant.policyPublicKeyPem,
    ...(inForce === undefined ? {} : { inForce }),
  });
  assert.ok(result.ok, result.ok ? '' : `${result.reason}: ${result.message}`);
  return result;
}

function report(
  version: number,
  results: [string, ComplianceReport['results'][number]['status']][],
): ComplianceReport {
  const now = Date.now();
  return {
    v: PROTOCOL_VERSION,
    bundleVersion: version,
    segment: 'ignored',
    evaluatedAt: now,
    stale: false,
    results: results.map(([checkId, status]) => ({
      checkId,
      status,
      detail: `${checkId}: ${status}`,
      evaluatedAt: now,
    })),
  };
}

describe('policy versions over the operator and device APIs', () => {
  let gateway: TestDevice;
  let kiosk: TestDevice;
  let first: PolicyBundle;

  test('a device gets 204 while no policy is applied', async () => {
    gateway = await enrollDevice({ function: 'gateway', site: 'plant-a' });
    kiosk = await enrollDevice({ function: 'kiosk' });
    const none = await gateway.call('GET', '/v1/policy');
    assert.equal(none.status, 204);
  });

  test('the enrollment grant pins the policy key kept 0600 in the pki folder', async () => {
    const publicKey = hub.manager.pki.policyPublicKeyPem;
    assert.equal(gateway.grant.policyPublicKeyPem, publicKey);
    assert.match(publicKey, /^-----BEGIN PUBLIC KEY-----/);
    const key = await stat(join(hub.dir, 'pki', 'policy-signing.key'));
    assert.equal(key.mode & 0o777, 0o600);
    await stat(join(hub.dir, 'pki', 'policy-signing.pub'));
  });

  test('an applied folder becomes version 1, which a device fetches and verifies with the pinned key', async () => {
    const applied = await operatorCall<PolicyVersionView>('POST', '/api/v1/policy/versions', {
      files: folder(),
      message: 'first baseline',
      gitCommit: '0123456789abcdef0123456789abcdef01234567',
    });
    assert.equal(applied.status, 201, JSON.stringify(applied.body));
    assert.equal(applied.body.version, 1);
    assert.equal(applied.body.author, 'admin');
    assert.equal(applied.body.inForce, true);

    const fetched = await gateway.call<{ v: number; bundle: PolicyBundle }>('GET', '/v1/policy');
    assert.equal(fetched.status, 200);
    const result = verified(gateway, fetched.body.bundle);
    assert.equal(result.fresh, true);
    assert.equal(result.payload.version, 1);
    assert.equal(result.payload.fleet, 'edgeward.local');
    assert.equal(result.payload.expiresAt - result.payload.issuedAt, 2 * DAY_MS);
    assert.deepEqual(result.payload.crlPems, [...hub.manager.services.revocations.crls]);
    assert.deepEqual(
      result.payload.policy.checks.map((check) => check.id),
      ['ssh-no-root-login', 'no-telnet'],
    );
    first = fetched.body.bundle;

    // Asked for it, the manager sends the bundle compressed; the agent's client reads it as it is.
    const compressed = await new Promise<{ encoding: string | undefined; body: Buffer }>(
      (resolve, reject) => {
        const outgoing = request(
          new URL('/v1/policy', hub.deviceUrl),
          {
            ca: hub.manager.pki.rootCaPem,
            agent: false,
            ...gateway.tls,
            headers: { 'accept-encoding': 'zstd' },
          },
          (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () =>
              resolve({ encoding: response.headers['content-encoding'], body: Buffer.concat(chunks) }),
            );
          },
        );
        outgoing.on('error', reject);
        outgoing.end();
      },
    );
    assert.equal(compressed.encoding, 'zstd');
    assert.ok(compressed.body.length < JSON.stringify(fetched.body).length);
    assert.deepEqual(JSON.parse(zstdDecompressSync(compressed.body).toString('utf8')), fetched.body);
    const client = new ManagerClient({
      managerUrl: hub.deviceUrl,
      ca: hub.manager.pki.rootCaPem,
      keyPem: gateway.tls.key,
      certChainPem: gateway.tls.cert,
      timeoutMs: 5000,
    });
    try {
      assert.deepEqual((await client.get('/v1/policy')).body, fetched.body);
    } finally {
      client.close();
    }

    const current = await gateway.call('GET', `/v1/policy?version=1&issuedAt=${first.payload.issuedAt}`);
    assert.equal(current.status, 204, 'the device holds the bundle in force');
    const halfQuery = await gateway.call('GET', '/v1/policy?version=1');
    assert.equal(halfQuery.status, 400);
  });

  test('a changed folder makes version 2; the same folder again is refused as unchanged', async () => {
    const second = await operatorCall<PolicyVersionView>('POST', '/api/v1/policy/versions', {
      files: folder(linuxEdge('high')),
      message: 'telnet is high, not critical',
    });
    assert.equal(second.status, 201);
    assert.equal(second.body.version, 2);
    const again = await operatorCall('POST', '/api/v1/policy/versions', {
      files: folder(linuxEdge('high')),
      message: 'again',
    });
    assert.equal(again.status, 409);
    assert.equal(again.body.error?.code, 'EW_POLICY_UNCHANGED');
    const { body } = await operatorCall<{ versions: PolicyVersionView[] }>('GET', '/api/v1/policy/versions');
    assert.deepEqual(
      body.versions.map((version) => [version.version, version.inForce, version.gitCommit]),
      [
        [2, true, null],
        [1, false, '0123456789abcdef0123456789abcdef01234567'],
      ],
    );
    const fetched = await gateway.call<{ bundle: PolicyBundle }>(
      'GET',
      `/v1/policy?version=1&issuedAt=${first.payload.issuedAt}`,
    );
    assert.equal(fetched.status, 200);
    const result = verified(gateway, fetched.body.bundle, { version: 1, issuedAt: first.payload.issuedAt });
    assert.equal(result.payload.version, 2);
    assert.equal(result.fresh, true);
  });

  test('an invalid folder is refused with EW_POLICY_INVALID naming file, line and field, and creates nothing', async () => {
    const invalid = await operatorCall('POST', '/api/v1/policy/versions', {
      files: folder(linuxEdge('extreme')),
      message: 'broken',
    });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.body.error?.code, 'EW_POLICY_INVALID');
    assert.match(invalid.body.error?.message ?? '', /baselines\/linux-edge\.yaml:11:\d+ checks\.1\.severity/);
    const problems = invalid.body.error?.details?.problems as { file: string; line: number; field: string }[];
    assert.deepEqual(
      problems.map((problem) => [problem.file, problem.line, problem.field]),
      [['baselines/linux-edge.yaml', 11, 'checks.1.severity']],
    );
    const plan = await operatorCall('POST', '/api/v1/policy/plan', { files: folder(linuxEdge('extreme')) });
    assert.equal(plan.body.error?.code, 'EW_POLICY_INVALID');
    const { body } = await operatorCall<{ versions: PolicyVersionView[] }>('GET', '/api/v1/policy/versions');
    assert.equal(body.versions[0]?.version, 2);
  });

  test('a plan shows the change against the version in force and the devices it reaches', async () => {
    const planned = await operatorCall<{
      plan: { summary: { change: number }; hasCurrent: boolean };
      text: string;
    }>('POST', '/api/v1/policy/plan', { files: folder(linuxEdge('low')) });
    assert.equal(planned.status, 200, JSON.stringify(planned.body));
    assert.equal(planned.body.plan.hasCurrent, true);
    assert.equal(planned.body.plan.summary.change, 1);
    assert.match(planned.body.text, /no-telnet/);
    assert.match(planned.body.text, /high/);
  });

  test('a rollback makes version 3 with the policy of version 1, recorded as the operator action', async () => {
    const rolledBack = await operatorCall<PolicyVersionView>('POST', '/api/v1/policy/rollback', {
      version: 1,
      message: 'back to the first baseline',
    });
    assert.equal(rolledBack.status, 201);
    assert.equal(rolledBack.body.version, 3);
    assert.equal(rolledBack.body.rollbackOf, 1);
    const [v1, v3] = await Promise.all([
      operatorCall<PolicyVersionDetailView>('GET', '/api/v1/policy/versions/1'),
      operatorCall<PolicyVersionDetailView>('GET', '/api/v1/policy/versions/3'),
    ]);
    assert.equal(v3.body.policyDigest, v1.body.policyDigest);
    assert.deepEqual(v3.body.policy, v1.body.policy);
    assert.deepEqual(v3.body.sourceFiles, v1.body.sourceFiles);
    assert.equal(v3.body.bundle.keyId, first.signature.keyId);
    assert.ok(v3.body.bundle.expiresAt > v3.body.bundle.issuedAt);

    const toInForce = await operatorCall('POST', '/api/v1/policy/rollback', { version: 3, message: 'x' });
    assert.equal(toInForce.body.error?.code, 'EW_POLICY_UNCHANGED');
    const missing = await operatorCall('POST', '/api/v1/policy/rollback', { version: 99, message: 'x' });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error?.code, 'EW_POLICY_VERSION_NOT_FOUND');
    assert.equal((await operatorCall('GET', '/api/v1/policy/versions/99')).status, 404);

    const { body } = await operatorCall<{
      actions: { action: string; target: string; details: { message?: string } }[];
    }>('GET', '/api/v1/actions?limit=50');
    const policyActions = body.actions.filter((action) => action.action.startsWith('policy.'));
    assert.deepEqual(
      policyActions.map((action) => [action.action, action.target]),
      [
        ['policy.rollback', 'policy/3'],
        ['policy.apply', 'policy/2'],
        ['policy.apply', 'policy/1'],
      ],
    );
    assert.equal(policyActions[0]?.details.message, 'back to the first baseline');
  });

  test('compliance reports are stored per device and summarized per segment and per check', async () => {
    const stored = await gateway.call<{ stored: number }>(
      'POST',
      '/v1/compliance',
      report(3, [
        ['ssh-no-root-login', 'pass'],
        ['no-telnet', 'fail'],
      ]),
    );
    assert.equal(stored.status, 200, JSON.stringify(stored.body));
    assert.deepEqual(stored.body, { v: PROTOCOL_VERSION, stored: 2 });
    const kioskReport = { ...report(3, [['ssh-no-root-login', 'fail']]), segment: 'default' };
    assert.equal((await kiosk.call('POST', '/v1/compliance', kioskReport)).status, 200);
    await gateway.call('POST', '/v1/compliance', {
      ...report(3, [
        ['ssh-no-root-login', 'pass'],
        ['no-telnet', 'fail'],
      ]),
      segment: 'gateways',
    });

    const older = await gateway.call<{ stored: number }>(
      'POST',
      '/v1/compliance',
      report(2, [['no-telnet', 'pass']]),
    );
    assert.deepEqual(
      older.body,
      { v: PROTOCOL_VERSION, stored: 0 },
      'a report for an older bundle is ignored',
    );
    const unknown = await gateway.call('POST', '/v1/compliance', report(99, []));
    assert.equal(unknown.status, 400);

    const fleet = await operatorCall<ComplianceFleetView>('GET', '/api/v1/compliance?days=7');
    assert.equal(fleet.status, 200);
    assert.equal(fleet.body.policyVersion, 3);
    assert.equal(fleet.body.devicesReporting, 2);
    assert.deepEqual(fleet.body.overall, { pass: 1, fail: 2, error: 0, notApplicable: 0, percent: 33.3 });
    assert.deepEqual(
      fleet.body.segments.map((segment) => [segment.segment, segment.devices, segment.percent]),
      [
        ['default', 1, 0],
        ['gateways', 1, 50],
      ],
    );
    assert.deepEqual(
      fleet.body.checks.map((check) => [check.checkId, check.title, check.pass, check.fail, check.percent]),
      [
        ['no-telnet', 'Nothing listens on telnet', 0, 1, 0],
        ['ssh-no-root-login', 'SSH refuses root logins', 1, 1, 50],
      ],
    );
    assert.equal(fleet.body.trend.length, 7);
    assert.equal(fleet.body.trend.at(-1)?.day, new Date().toISOString().slice(0, 10));
    assert.equal(fleet.body.trend.at(-1)?.percent, 33.3);
    assert.equal(fleet.body.trend[0]?.percent, null, 'nothing was evaluated a week ago');
    assert.deepEqual(fleet.body.staleDevices, { count: 0, devices: [] });

    const device = await operatorCall<DeviceComplianceView>(
      'GET',
      `/api/v1/compliance/devices/${gateway.grant.deviceId}`,
    );
    assert.equal(device.body.segment, 'gateways');
    assert.equal(device.body.bundleVersion, 3);
    assert.equal(device.body.stale, false);
    assert.equal(device.body.counts.percent, 50);
    assert.deepEqual(
      device.body.checks.map((check) => [check.checkId, check.status, check.severity, check.remediation]),
      [
        ['no-telnet', 'fail', 'critical', null],
        ['ssh-no-root-login', 'pass', 'high', null],
      ],
    );
    assert.ok(device.body.checks.every((check) => check.statusSince <= check.evaluatedAt));
    const nobody = await operatorCall('GET', '/api/v1/compliance/devices/dev-nobody');
    assert.equal(nobody.status, 404);
  });

  test('a bundle past half its lifetime is re-signed: same version, later issue time', async () => {
    const held = await gateway.call<{ bundle: PolicyBundle }>('GET', '/v1/policy');
    const before = held.body.bundle.payload;
    hub.clock.offsetMs = DAY_MS + 60_000;
    try {
      const fetched = await gateway.call<{ bundle: PolicyBundle }>(
        'GET',
        `/v1/policy?version=${before.version}&issuedAt=${before.issuedAt}`,
      );
      assert.equal(fetched.status, 200);
      const result = verified(gateway, fetched.body.bundle, before);
      assert.equal(result.fresh, true);
      assert.equal(result.payload.version, before.version);
      assert.ok(result.payload.issuedAt >= before.issuedAt + DAY_MS);
      assert.equal(result.payload.expiresAt, result.payload.issuedAt + 2 * DAY_MS);
      const again = await gateway.call(
        'GET',
        `/v1/policy?version=${before.version}&issuedAt=${result.payload.issuedAt}`,
      );
      assert.equal(again.status, 204, 're-signed once, not at every poll');
    } finally {
      hub.clock.offsetMs = 0;
    }
  });

  test('revoking a device re-signs the bundle with the new CRL, and the revoked device is refused', async () => {
    const held = await gateway.call<{ bundle: PolicyBundle }>('GET', '/v1/policy');
    const before = held.body.bundle.payload;
    const [certificate] = await hub.manager.store.certificates.listByDevice(kiosk.grant.deviceId);
    const serial = certificate?.serial.replaceAll(':', '').toLowerCase() ?? 'none';
    await hub.manager.services.devices.revoke(systemOperator, kiosk.grant.deviceId, 'lost');
    const fetched = await gateway.call<{ bundle: PolicyBundle }>(
      'GET',
      `/v1/policy?version=${before.version}&issuedAt=${before.issuedAt}`,
    );
    assert.equal(fetched.status, 200);
    const result = verified(gateway, fetched.body.bundle, before);
    assert.equal(result.payload.version, before.version);
    assert.ok(result.payload.issuedAt > before.issuedAt);
    const revokedSerials = result.payload.crlPems.flatMap((pem) =>
      parseCrl(pem).revoked.map((entry) => entry.serial),
    );
    assert.ok(revokedSerials.includes(serial), `${serial} in ${revokedSerials.join(',')}`);
    assert.deepEqual(result.payload.crlPems, [...hub.manager.services.revocations.crls]);

    await assert.rejects(kiosk.call('GET', '/v1/policy'));
    await assert.rejects(kiosk.call('POST', '/v1/compliance', report(3, [])));
    const fleet = await operatorCall<ComplianceFleetView>('GET', '/api/v1/compliance');
    assert.equal(fleet.body.devicesReporting, 1, 'revoked devices leave the figures');
    assert.equal(fleet.body.trend.length, 30);
  });

  test('a viewer reads policies and compliance but cannot apply or roll back', async () => {
    const created = await operatorCall<{ token: string }>('POST', '/api/v1/operators', {
      name: 'vic',
      role: 'viewer',
    });
    const viewer = created.body.token;
    assert.equal((await operatorCall('GET', '/api/v1/policy/versions/1', undefined, viewer)).status, 200);
    assert.equal((await operatorCall('GET', '/api/v1/compliance', undefined, viewer)).status, 200);
    const apply = await operatorCall(
      'POST',
      '/api/v1/policy/versions',
      { files: folder(), message: 'x' },
      viewer,
    );
    assert.equal(apply.status, 403);
    assert.equal(apply.body.error?.code, 'EW_OPERATOR_ROLE_INSUFFICIENT');
    const rollback = await operatorCall(
      'POST',
      '/api/v1/policy/rollback',
      { version: 2, message: 'x' },
      viewer,
    );
    assert.equal(rollback.status, 403);
    const { body } = await operatorCall<{ versions: PolicyVersionView[] }>('GET', '/api/v1/policy/versions');
    assert.equal(body.versions.length, 3);
  });
});
