import assert from 'node:assert/strict';
import type { webcrypto } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent, enrollAgent, ManagerClient, resolveAgentConfig } from '@edgeward/agent';
import {
  createCsr,
  createIssuingCa,
  createRootCa,
  type EdgewardError,
  exportPrivateKeyPem,
  generateDeviceKeyPair,
  importPrivateKeyPem,
  issueDeviceCertificate,
  PROTOCOL_VERSION,
  parseCertificate,
} from '@edgeward/core';
import { fixtureInventory } from './support/fixture-inventory.ts';
import {
  eventually,
  ShiftableClock,
  silentLogger,
  startTestManager,
  type TestManager,
} from './support/test-manager.ts';

let hub: TestManager;
let work: string;
const systemOperator = { id: 'test', name: 'test', role: 'admin' as const };

before(async () => {
  hub = await startTestManager();
  work = await mkdtemp(join(tmpdir(), 'edgeward-agents-'));
});
after(async () => {
  await hub.close();
  await rm(work, { recursive: true, force: true });
});

let agentCount = 0;
async function enroll(token?: string, options: { dataDir?: string } = {}) {
  const dataDir = options.dataDir ?? join(work, `agent-${++agentCount}`);
  const secret =
    token ?? (await hub.manager.services.tokens.create(systemOperator, { site: 'lab' }, 3_600_000)).token;
  const enrollment = await enrollAgent({
    managerUrl: hub.deviceUrl,
    token: secret,
    caFingerprint: hub.manager.pki.caFingerprint,
    dataDir,
    hostname: `host-${agentCount}`,
    agentVersion: 'test',
    reportIntervalMs: 1000,
    timeoutMs: 5000,
  });
  return { enrollment, dataDir };
}

async function mtlsClient(dataDir: string) {
  const read = (name: string) => readFile(join(dataDir, name), 'utf8');
  const [key, cert, chain, ca] = await Promise.all([
    read('key.pem'),
    read('cert.pem'),
    read('chain.pem'),
    read('ca.pem'),
  ]);
  return new ManagerClient({
    managerUrl: hub.deviceUrl,
    ca: `${ca}${chain}`,
    keyPem: key,
    certChainPem: `${cert}${chain}`,
    timeoutMs: 5000,
  });
}

const heartbeat = () => ({
  v: PROTOCOL_VERSION,
  agentVersion: 'test',
  reportIntervalMs: 1000,
  sentAt: Date.now(),
});

/** A raw mTLS request; resolves with the HTTP status, or rejects when the server drops the connection. */
function rawRequest(path: string, tls: { key?: string; cert?: string }, body?: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      new URL(path, hub.deviceUrl),
      {
        method: body === undefined ? 'GET' : 'POST',
        ca: hub.manager.pki.rootCaPem,
        ...tls,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        agent: false,
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** A device certificate signed by `issuer`, outside the manager's knowledge (another CA, or back-dated). */
async function deviceCertificate(
  issuer: { certPem: string; privateKey: webcrypto.CryptoKey },
  id: string,
  now: number,
) {
  const keys = await generateDeviceKeyPair();
  const issued = await issueDeviceCertificate({
    csrPem: await createCsr({ keys, commonName: id }),
    issuer,
    spiffeId: `spiffe://edgeward.local/device/${id}`,
    commonName: id,
    now,
    validityMs: 86_400_000,
  });
  return { key: await exportPrivateKeyPem(keys.privateKey), cert: `${issued.certPem}${issuer.certPem}` };
}

/** The server drops the connection once the handshake ends, before reading the request. */
async function assertRefusedAtHandshake(tls: { key: string; cert: string }): Promise<void> {
  await assert.rejects(
    rawRequest('/v1/heartbeat', tls, heartbeat()),
    (error: NodeJS.ErrnoException) =>
      ['ECONNRESET', 'EPIPE'].includes(error.code ?? '') || /socket hang up|disconnected/.test(error.message),
  );
}

describe('enrollment tokens', () => {
  async function refusedWith(token: string, code: string) {
    const devicesBefore = await hub.manager.store.devices.count({ includeRevoked: true });
    const dataDir = join(work, `refused-${++agentCount}`);
    await assert.rejects(enroll(token, { dataDir }), (error: EdgewardError) => {
      assert.equal(error.code, code);
      return true;
    });
    assert.equal(
      await hub.manager.store.devices.count({ includeRevoked: true }),
      devicesBefore,
      'no device created',
    );
    const left: string[] = await readdir(dataDir).catch(() => []);
    assert.ok(
      !left.includes('enrollment.json') && !left.includes('key.pem'),
      `nothing enrolled in ${left.join(',')}`,
    );
  }

  test('an unknown token is refused as unknown', async () => {
    await refusedWith('et-0000000000000000.not-a-secret', 'EW_ENROLLMENT_TOKEN_UNKNOWN');
  });

  test('a token with a wrong secret is refused as unknown', async () => {
    const created = await hub.manager.services.tokens.create(systemOperator, {}, 3_600_000);
    await refusedWith(`${created.id}.wrong-secret`, 'EW_ENROLLMENT_TOKEN_UNKNOWN');
  });

  test('an expired token is refused as expired', async () => {
    const created = await hub.manager.services.tokens.create(systemOperator, {}, 60_000);
    hub.clock.offsetMs = 120_000;
    try {
      await refusedWith(created.token, 'EW_ENROLLMENT_TOKEN_EXPIRED');
    } finally {
      hub.clock.offsetMs = 0;
    }
  });

  test('a revoked token is refused as revoked', async () => {
    const created = await hub.manager.services.tokens.create(systemOperator, {}, 3_600_000);
    await hub.manager.services.tokens.revoke(systemOperator, created.id);
    await refusedWith(created.token, 'EW_ENROLLMENT_TOKEN_REVOKED');
  });

  test('a token is single-use, even when two devices race for it', async () => {
    const created = await hub.manager.services.tokens.create(systemOperator, {}, 3_600_000);
    const results = await Promise.allSettled([enroll(created.token), enroll(created.token)]);
    assert.equal(results.filter((result) => result.status === 'fulfilled').length, 1);
    const refused = results.find((result) => result.status === 'rejected');
    assert.ok(refused?.status === 'rejected');
    assert.equal((refused.reason as EdgewardError).code, 'EW_ENROLLMENT_TOKEN_USED');
    await refusedWith(created.token, 'EW_ENROLLMENT_TOKEN_USED');
  });

  test('the device gets the labels of its token and a certificate the manager composed', async () => {
    const created = await hub.manager.services.tokens.create(
      systemOperator,
      { site: 'plant-a', risk: 'high' },
      3_600_000,
    );
    const { enrollment, dataDir } = await enroll(created.token);
    assert.deepEqual(enrollment.labels, { site: 'plant-a', risk: 'high' });
    const certificate = await parseCertificate(await readFile(join(dataDir, 'cert.pem'), 'utf8'));
    assert.deepEqual(certificate.uris, [`spiffe://edgeward.local/device/${enrollment.deviceId}`]);
    assert.ok(
      certificate.notAfter - Date.now() > 29 * 86_400_000 &&
        certificate.notAfter - Date.now() <= 30 * 86_400_000,
    );
  });
});

describe('policy and compliance endpoints', () => {
  test('the enrollment grant carries the policy key the device pins', async () => {
    const created = await hub.manager.services.tokens.create(systemOperator, {}, 3_600_000);
    const client = new ManagerClient({
      managerUrl: hub.deviceUrl,
      ca: hub.manager.pki.rootCaPem,
      timeoutMs: 5000,
    });
    try {
      const keys = await generateDeviceKeyPair();
      const grant = await client.post<{ policyPublicKeyPem: string }>('/v1/enroll', {
        v: PROTOCOL_VERSION,
        token: created.token,
        csrPem: await createCsr({ keys, commonName: 'pinning' }),
        hostname: 'pinning',
        agentVersion: 'test',
        reportIntervalMs: 1000,
      });
      assert.equal(grant.body.policyPublicKeyPem, hub.manager.pki.policyPublicKeyPem);
      assert.equal(
        grant.body.policyPublicKeyPem,
        await readFile(join(hub.dir, 'pki', 'policy-signing.pub'), 'utf8'),
      );
    } finally {
      client.close();
    }
  });

  test('enrollment pins the TUF root the manager serves as the one its update client starts from', async () => {
    const { dataDir } = await enroll();
    const served = (await hub.manager.store.artifacts.latestTufMetadata('root'))?.body;
    assert.ok(served !== undefined, 'the manager has a TUF root');
    assert.equal((JSON.parse(served) as { signed: { _type: string } }).signed._type, 'root');
    assert.equal(await readFile(join(dataDir, 'updates', 'tuf', 'root.json'), 'utf8'), served);
  });

  test('policy and compliance need a fleet device certificate', async () => {
    const anonymous = new ManagerClient({
      managerUrl: hub.deviceUrl,
      ca: hub.manager.pki.rootCaPem,
      timeoutMs: 5000,
    });
    try {
      await assert.rejects(anonymous.get('/v1/policy'), { code: 'EW_CLIENT_CERT_REQUIRED' });
      await assert.rejects(anonymous.post('/v1/compliance', {}), { code: 'EW_CLIENT_CERT_REQUIRED' });
    } finally {
      anonymous.close();
    }
  });

  test('a malformed compliance report is refused by field, and a device gets 204 while no policy is applied', async () => {
    const { dataDir } = await enroll();
    const client = await mtlsClient(dataDir);
    try {
      await assert.rejects(
        client.post('/v1/compliance', {
          v: PROTOCOL_VERSION,
          bundleVersion: 0,
          segment: 'x',
          evaluatedAt: 1,
          stale: false,
          results: [],
        }),
        (error: EdgewardError) => error.code === 'EW_REQUEST_INVALID' && /bundleVersion/.test(error.message),
      );
      const none = await client.get('/v1/policy');
      assert.equal(none.body, undefined);
    } finally {
      client.close();
    }
  });
});

describe('CSR checks', () => {
  test('a CSR with an RSA key is refused and does not burn the token', async () => {
    const created = await hub.manager.services.tokens.create(systemOperator, {}, 3_600_000);
    const rsa = await crypto.subtle.generateKey(
      {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      },
      true,
      ['sign', 'verify'],
    );
    const { x509 } = await import('./support/x509.ts');
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=rsa-device',
      keys: rsa,
      signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    });
    const status = await rawRequest(
      '/v1/enroll',
      {},
      {
        v: PROTOCOL_VERSION,
        token: created.token,
        csrPem: csr.toString('pem'),
        hostname: 'rsa',
        agentVersion: 'test',
        reportIntervalMs: 1000,
      },
    );
    assert.equal(status, 400);
    const tokens = await hub.manager.services.tokens.list(false);
    assert.equal(tokens.find((token) => token.id === created.id)?.state, 'active');
    await enroll(created.token);
  });

  test('a CSR that is not a CSR is refused with EW_CSR_INVALID', async () => {
    const created = await hub.manager.services.tokens.create(systemOperator, {}, 3_600_000);
    const client = new ManagerClient({
      managerUrl: hub.deviceUrl,
      ca: hub.manager.pki.rootCaPem,
      timeoutMs: 5000,
    });
    await assert.rejects(
      client.post('/v1/enroll', {
        v: PROTOCOL_VERSION,
        token: created.token,
        csrPem: 'garbage',
        hostname: 'x',
        agentVersion: 'test',
        reportIntervalMs: 1000,
      }),
      { code: 'EW_CSR_INVALID' },
    );
    client.close();
  });
});

describe('mutual TLS at the handshake', () => {
  test('an enrolled device is served; a client without a certificate may not call device endpoints', async () => {
    const { dataDir } = await enroll();
    const client = await mtlsClient(dataDir);
    const reply = await client.post<{ serverTime: number }>('/v1/heartbeat', heartbeat());
    assert.ok(reply.body.serverTime > 0);
    client.close();
    const anonymous = new ManagerClient({
      managerUrl: hub.deviceUrl,
      ca: hub.manager.pki.rootCaPem,
      timeoutMs: 5000,
    });
    await assert.rejects(anonymous.post('/v1/heartbeat', heartbeat()), { code: 'EW_CLIENT_CERT_REQUIRED' });
    anonymous.close();
  });

  test('a client certificate from another CA is refused at the handshake', async () => {
    const { dataDir } = await enroll();
    const read = (name: string) => readFile(join(dataDir, name), 'utf8');
    const genuine = {
      key: await read('key.pem'),
      cert: `${await read('cert.pem')}${await read('chain.pem')}`,
    };
    assert.equal(
      await rawRequest('/v1/heartbeat', genuine, heartbeat()),
      200,
      'the same request with a fleet certificate passes',
    );
    const now = Date.now();
    const rootKeys = await generateDeviceKeyPair();
    const rootPem = await createRootCa({ fleet: 'edgeward.local', keys: rootKeys, now });
    const issuingKeys = await generateDeviceKeyPair();
    const issuingPem = await createIssuingCa({
      fleet: 'edgeward.local',
      root: { certPem: rootPem, privateKey: rootKeys.privateKey },
      keys: issuingKeys,
      now,
    });
    await assertRefusedAtHandshake(
      await deviceCertificate(
        { certPem: issuingPem, privateKey: issuingKeys.privateKey },
        'dev-intruder',
        now,
      ),
    );
  });

  test('an expired device certificate is refused at the handshake', async () => {
    const issuingKey = await importPrivateKeyPem(
      await readFile(join(hub.dir, 'pki', 'issuing-ca.key'), 'utf8'),
    );
    const twoDaysAgo = Date.now() - 2 * 86_400_000;
    await assertRefusedAtHandshake(
      await deviceCertificate(
        { certPem: hub.manager.pki.issuingCaPem, privateKey: issuingKey },
        'dev-expired',
        twoDaysAgo,
      ),
    );
  });

  test('a revoked device is refused from its next handshake on, without restarting the manager', async () => {
    const { enrollment, dataDir } = await enroll();
    const client = await mtlsClient(dataDir);
    await client.post('/v1/heartbeat', heartbeat());
    const revokedAt = Date.now();
    await hub.manager.services.devices.revoke(systemOperator, enrollment.deviceId, 'test');
    client.close();
    const fresh = await mtlsClient(dataDir);
    await assert.rejects(fresh.post('/v1/heartbeat', heartbeat()), { code: 'EW_MANAGER_UNREACHABLE' });
    fresh.close();
    assert.ok(Date.now() - revokedAt < 5000, 'refused within seconds');
    const detail = await hub.manager.services.devices.show(enrollment.deviceId);
    assert.equal(detail.status, 'revoked');
    assert.ok(detail.certificates.every((certificate) => certificate.revokedAt !== null));
  });
});

describe('agent runtime', () => {
  test('the agent renews its certificate on its own after two thirds of its validity', async () => {
    const { enrollment, dataDir } = await enroll();
    const before = await parseCertificate(await readFile(join(dataDir, 'cert.pem'), 'utf8'));
    const clock = new ShiftableClock();
    const agent = new Agent({
      config: resolveAgentConfig([
        {
          source: 'test',
          values: {
            dataDir,
            reportIntervalMs: 1000,
            inventoryIntervalMs: 60_000,
            retryInitialMs: 100,
            retryMaxMs: 1000,
            requestTimeoutMs: 5000,
            shutdownGraceMs: 2000,
          },
        },
      ]),
      logger: silentLogger,
      agentVersion: 'test',
      collectInventory: async () => fixtureInventory(enrollment.deviceId),
      clock,
    });
    await agent.start();
    try {
      await eventually(() => agent.lastContactAt !== null || undefined, 'first contact');
      clock.offsetMs = 21 * 86_400_000;
      const renewed = await eventually(async () => {
        const current = await parseCertificate(await readFile(join(dataDir, 'cert.pem'), 'utf8'));
        return current.serial !== before.serial ? current : undefined;
      }, 'a renewed certificate');
      assert.deepEqual(renewed.uris, before.uris);
      const certificates = await hub.manager.store.certificates.listByDevice(enrollment.deviceId);
      assert.equal(certificates.length, 2);
      const contactAfterRenewal = agent.lastContactAt ?? 0;
      await eventually(
        () => ((agent.lastContactAt ?? 0) > contactAfterRenewal ? true : undefined),
        'contact with the new certificate',
      );
    } finally {
      await agent.stop();
    }
    assert.equal(agent.state, 'stopped');
  });

  test('an agent whose queue passes 80% of its limit records one queue-pressure event', async () => {
    const { enrollment, dataDir } = await enroll();
    const agent = new Agent({
      config: resolveAgentConfig([
        {
          source: 'test',
          values: {
            dataDir,
            reportIntervalMs: 1000,
            inventoryIntervalMs: 60_000,
            queueMaxBytes: 1_048_576,
            // Nothing is sent during the test: the batch waits a minute.
            batchMaxAgeMs: 60_000,
            shutdownGraceMs: 1000,
          },
        },
      ]),
      logger: silentLogger,
      agentVersion: 'test',
      collectInventory: async () => fixtureInventory(enrollment.deviceId),
      eventSources: 'none',
    });
    await agent.start();
    try {
      const filler = 'x'.repeat(1000);
      const event = (index: number) => ({
        type: 'auth.login_failed',
        severity: 'info' as const,
        time: Date.now(),
        data: { index, filler },
      });
      // About 88% of the limit: above the pressure mark, below eviction — an eviction would raise a
      // high-severity loss report, which the forwarder sends at once, draining the queue before the check.
      await agent.emit(Array.from({ length: 760 }, (_, index) => event(index)));
      assert.ok((agent.events.queue?.bytes ?? 0) > 0.8 * 1_048_576);
      assert.equal(agent.events.queue?.bySeverity.high, 0, 'nothing was evicted');
      const queue = await eventually(() => {
        const stats = agent.events.queue;
        return stats !== undefined && stats.bySeverity.medium >= 1 ? stats : undefined;
      }, 'a queue-pressure event');
      assert.equal(queue.bySeverity.medium, 1);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(agent.events.queue?.bySeverity.medium, 1, 'reported once while the pressure lasts');
    } finally {
      await agent.stop();
    }
  });

  test('the device goes offline after three silent intervals and online again at its next contact', async () => {
    const { enrollment, dataDir } = await enroll();
    const client = await mtlsClient(dataDir);
    await client.post('/v1/heartbeat', heartbeat());
    assert.equal((await hub.manager.services.devices.show(enrollment.deviceId)).status, 'online');
    hub.clock.offsetMs = 3500;
    try {
      assert.equal((await hub.manager.services.devices.show(enrollment.deviceId)).status, 'offline');
      await client.post('/v1/heartbeat', heartbeat());
      assert.equal((await hub.manager.services.devices.show(enrollment.deviceId)).status, 'online');
    } finally {
      hub.clock.offsetMs = 0;
      client.close();
    }
  });
});

describe('inventory over the device API', () => {
  test('a delta with a new port, package, firmware, UID 0 user and module becomes drift records with before and after', async () => {
    const { enrollment, dataDir } = await enroll();
    const client = await mtlsClient(dataDir);
    try {
      const first = fixtureInventory('drifting');
      const full = await client.post<{ version: number; changed: boolean }>('/v1/inventory', {
        v: PROTOCOL_VERSION,
        kind: 'full',
        inventory: first,
      });
      assert.deepEqual(full.body, { v: PROTOCOL_VERSION, version: 1, changed: true });
      const second = structuredClone(first);
      second.collectedAt += 60_000;
      second.uptimeSeconds += 60;
      second.listeners.push({ protocol: 'tcp', address: '0.0.0.0', port: 4444 });
      second.packages.push({
        name: 'netcat-traditional',
        version: '1.10-47',
        manager: 'dpkg',
        architecture: 'amd64',
      });
      second.firmware = { ...second.firmware, version: '1.16.3' };
      second.users.push({ name: 'toor', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' });
      second.kernelModules.push({ name: 'rootkit', sizeBytes: 4096 });
      const { diffInventory } = await import('@edgeward/core');
      const delta = await client.post<{ version: number; changed: boolean }>('/v1/inventory', {
        v: PROTOCOL_VERSION,
        kind: 'delta',
        baseVersion: 1,
        delta: diffInventory(first, second),
      });
      assert.equal(delta.body.version, 2);
      const history = await hub.manager.services.devices.history(enrollment.deviceId, { limit: 50 });
      const summary = history.map((change) => [change.section, change.kind, change.key, change.drift]).sort();
      assert.deepEqual(summary, [
        ['firmware', 'changed', 'firmware', true],
        ['kernelModules', 'added', 'rootkit', true],
        ['listeners', 'added', 'tcp/0.0.0.0:4444', true],
        ['packages', 'added', 'dpkg/netcat-traditional:amd64', true],
        ['users', 'added', 'toor', true],
      ]);
      const firmware = history.find((change) => change.section === 'firmware');
      assert.ok(firmware !== undefined);
      assert.equal((firmware.before as { version: string }).version, '1.16.2');
      assert.equal((firmware.after as { version: string }).version, '1.16.3');
      const stored = await hub.manager.services.devices.show(enrollment.deviceId);
      assert.equal((stored.inventory as { users: unknown[] }).users.length, 3);

      const stale = client.post('/v1/inventory', {
        v: PROTOCOL_VERSION,
        kind: 'delta',
        baseVersion: 1,
        delta: diffInventory(first, second),
      });
      await assert.rejects(stale, { code: 'EW_INVENTORY_BASE_MISMATCH' });
      const unchanged = await client.post<{ version: number; changed: boolean }>('/v1/inventory', {
        v: PROTOCOL_VERSION,
        kind: 'full',
        inventory: { ...second, uptimeSeconds: second.uptimeSeconds + 600 },
      });
      assert.deepEqual(unchanged.body, { v: PROTOCOL_VERSION, version: 2, changed: false });
    } finally {
      client.close();
    }
  });

  test('a report with an unknown protocol version is refused by name', async () => {
    const { dataDir } = await enroll();
    const client = await mtlsClient(dataDir);
    try {
      await assert.rejects(client.post('/v1/heartbeat', { ...heartbeat(), v: 99 }), {
        code: 'EW_PROTOCOL_VERSION_UNSUPPORTED',
      });
    } finally {
      client.close();
    }
  });
});
