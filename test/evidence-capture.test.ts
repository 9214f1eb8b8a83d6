import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Agent,
  captureEvidence,
  EvidenceUploader,
  enrollAgent,
  ManagerClient,
  resolveAgentConfig,
} from '@edgeward/agent';
import {
  type AuditEntriesView,
  type EvidenceDetailView,
  type EvidenceUploadState,
  isEdgewardError,
  PROTOCOL_VERSION,
  verifyEvidence,
} from '@edgeward/core';
import { FaultProxy } from '@edgeward/sim';
import { runEdgeward } from './support/cli-process.ts';
import { fixtureInventory } from './support/fixture-inventory.ts';
import { type ForensicRoot, writeForensicRoot } from './support/forensic-root.ts';
import { httpsJson } from './support/https-json.ts';
import { eventually, silentLogger, startTestManager, type TestManager } from './support/test-manager.ts';

const CHUNK_BYTES = 16 * 1024;
let hub: TestManager;
let proxy: FaultProxy;
let work: string;
let fixture: ForensicRoot;
const agents: Agent[] = [];
const systemOperator = { id: 'test', name: 'test', role: 'admin' as const };

before(async () => {
  hub = await startTestManager();
  const devicePort = Number(new URL(hub.deviceUrl).port);
  proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: devicePort } });
  work = await mkdtemp(join(tmpdir(), 'edgeward-evidence-'));
  fixture = await writeForensicRoot(join(work, 'root'), 600 * 1024);
});
after(async () => {
  await Promise.allSettled(agents.map((agent) => agent.stop(1000)));
  await proxy.close();
  await hub.close();
  await rm(work, { recursive: true, force: true });
});

let agentCount = 0;
/** An agent that reaches the manager only through the fault proxy, reading the fixture tree. */
async function startAgent(values: Record<string, unknown> = {}) {
  const dataDir = join(work, `agent-${++agentCount}`);
  const hostname = `plc-gw-${agentCount}`;
  const token = (await hub.manager.services.tokens.create(systemOperator, {}, 3_600_000)).token;
  const enrollment = await enrollAgent({
    managerUrl: proxy.url,
    token,
    caFingerprint: hub.manager.pki.caFingerprint,
    dataDir,
    hostname,
    agentVersion: 'test',
    reportIntervalMs: 60_000,
    timeoutMs: 5000,
  });
  const agent = new Agent({
    config: resolveAgentConfig([
      {
        source: 'test',
        values: {
          dataDir,
          root: fixture.root,
          reportIntervalMs: 60_000,
          inventoryIntervalMs: 3_600_000,
          policyPollMs: 3_600_000,
          retryInitialMs: 100,
          retryMaxMs: 500,
          requestTimeoutMs: 3000,
          shutdownGraceMs: 2000,
          isolation: 'report-only',
          authLogFiles: '/var/log/auth.log',
          captureFiles: '/var/lib/app/data.bin',
          captureChunkBytes: CHUNK_BYTES,
          ...values,
        },
      },
    ]),
    logger: silentLogger,
    agentVersion: 'test',
    collectInventory: async () => fixtureInventory(hostname),
    eventSources: 'none',
  });
  agents.push(agent);
  await agent.start();
  await eventually(
    () => hub.manager.deviceServer.push.isConnected(enrollment.deviceId),
    'the push connection',
    10_000,
  );
  return { agent, deviceId: enrollment.deviceId, dataDir };
}

function call<T = Record<string, unknown>>(method: string, path: string, body?: unknown) {
  return httpsJson<T & { error?: { code: string } }>(new URL(path, hub.operatorUrl), {
    method,
    ca: hub.manager.pki.rootCaPem,
    token: hub.adminToken,
    body,
  });
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const evidenceOf = async (deviceId: string) => (await hub.manager.store.evidence.list({ deviceId }))[0];

async function custodyOf(evidenceId: string, commandId?: string): Promise<string[]> {
  const { body } = await call<AuditEntriesView>('GET', '/api/v1/audit/entries?limit=1000');
  return body.entries
    .filter(
      (entry) =>
        entry.subject === `evidence/${evidenceId}` ||
        (commandId !== undefined &&
          entry.details.details !== undefined &&
          (entry.details.details as { commandId?: string }).commandId === commandId),
    )
    .reverse()
    .map((entry) => entry.kind);
}

describe('forensic capture over a broken link', () => {
  test('a capture cut midway resumes where the manager stands, and its signature and hashes verify on the manager', async () => {
    const { deviceId } = await startAgent();
    // Slow enough that the test can cut the link while chunks are on the way.
    proxy.delay(40);
    const issued = await call<{ id: string; status: string }>('POST', `/api/v1/devices/${deviceId}/capture`, {
      reason: 'beaconing to a known C2',
    });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    const started = await eventually(async () => {
      const record = await evidenceOf(deviceId);
      return record !== undefined && record.receivedBytes > 0 ? record : undefined;
    }, 'the first chunks');
    proxy.cut();
    const total = started.manifest.totalBytes;
    assert.ok(total > 20 * CHUNK_BYTES, `${total} bytes make many chunks`);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const during = await evidenceOf(deviceId);
    assert.equal(during?.state, 'uploading');
    assert.ok((during?.receivedBytes ?? 0) < total, `cut midway: ${during?.receivedBytes} of ${total} bytes`);
    const heldAtCut = during?.receivedBytes ?? 0;
    assert.equal(heldAtCut % CHUNK_BYTES, 0, 'what the manager holds ends at a chunk boundary');

    proxy.restore();
    const verified = await eventually(
      async () => {
        const record = await evidenceOf(deviceId);
        return record?.state === 'verified' ? record : undefined;
      },
      'the verified bundle',
      30_000,
    );
    assert.equal(verified.receivedBytes, total);
    assert.equal(verified.manifest.commandId, issued.body.id);

    const detail = await call<EvidenceDetailView>('GET', `/api/v1/evidence/${verified.id}`);
    const content = await readFile(
      join(hub.dir, 'evidence', 'objects', verified.manifest.sha256.slice(0, 2), verified.manifest.sha256),
    );
    assert.deepEqual(
      verifyEvidence(detail.body.manifest, detail.body.signature, detail.body.certificatePem, content),
      { ok: true },
      'stored by its SHA-256, and it verifies with the device certificate',
    );
    const data = detail.body.manifest.items.find((item) => item.name === 'files/var/lib/app/data.bin');
    assert.equal(data?.sha256, sha256(fixture.dataFile));
    const processes = detail.body.manifest.items.find((item) => item.name === 'volatile/processes.json');
    assert.ok(processes !== undefined);
    assert.match(
      content.subarray(processes.offset, processes.offset + processes.bytes).toString(),
      new RegExp(sha256(fixture.sshdBinary)),
    );

    assert.deepEqual(await custodyOf(verified.id, issued.body.id), [
      'evidence.requested',
      'evidence.collected',
      'evidence.uploaded',
      'evidence.verified',
    ]);
    const audit = await call<{ ok: boolean }>('GET', '/api/v1/audit/verify');
    assert.equal(audit.body.ok, true);
    const [command] = (await hub.manager.store.commands.listByDevice(deviceId)).filter(
      (entry) => entry.id === issued.body.id,
    );
    assert.equal(command?.status, 'done');
    assert.match(command?.result?.detail ?? '', new RegExp(`evidence bundle ${verified.id}`));
  });

  test('a tampered chunk is refused and nothing of it stored; a changed manifest is refused; the rest still completes', async () => {
    const { deviceId, dataDir } = await startAgent();
    const read = (name: string) => readFile(join(dataDir, name), 'utf8');
    const [key, cert, chain, ca] = await Promise.all([
      read('key.pem'),
      read('cert.pem'),
      read('chain.pem'),
      read('ca.pem'),
    ]);
    const client = new ManagerClient({
      managerUrl: hub.deviceUrl,
      ca: `${ca}${chain}`,
      keyPem: key,
      certChainPem: `${cert}${chain}`,
      timeoutMs: 5000,
    });
    try {
      const dir = join(work, 'hand-made');
      const bundle = await captureEvidence({
        root: fixture.root,
        dir,
        deviceId,
        signingKeyPem: key,
        files: ['/var/lib/app/data.bin'],
        capBytes: 16 * 1024 * 1024,
        chunkBytes: CHUNK_BYTES,
        logTailBytes: 4096,
        authLogFiles: [],
        recentEvents: () => [],
        now: () => Date.now(),
        trigger: { kind: 'rule', ruleId: 'test-rule' },
        reason: 'hand-made',
      });
      const { manifest, signature } = bundle;
      const forged = await client
        .post('/v1/evidence', {
          v: PROTOCOL_VERSION,
          manifest: { ...manifest, reason: 'nothing to see here' },
          signature,
          certificatePem: cert,
        })
        .then(
          () => 'accepted',
          (error: unknown) => (isEdgewardError(error) ? error.code : String(error)),
        );
      assert.equal(forged, 'EW_EVIDENCE_INVALID');
      assert.equal(await hub.manager.store.evidence.get(manifest.id), undefined);

      const offered = await client.post<EvidenceUploadState>('/v1/evidence', {
        v: PROTOCOL_VERSION,
        manifest,
        signature,
        certificatePem: cert,
      });
      assert.deepEqual(offered.body, { v: 1, id: manifest.id, receivedBytes: 0, state: 'uploading' });
      const bytes = await readFile(join(bundle.path, 'bundle.bin'));
      const first = Buffer.from(bytes.subarray(0, CHUNK_BYTES));
      first[1000] = (first[1000] ?? 0) ^ 0x20;
      const tampered = await client.put(`/v1/evidence/${manifest.id}/content?offset=0`, first).then(
        () => 'accepted',
        (error: unknown) => (isEdgewardError(error) ? error.code : String(error)),
      );
      assert.equal(tampered, 'EW_EVIDENCE_CHUNK_INVALID');
      assert.equal((await hub.manager.store.evidence.get(manifest.id))?.receivedBytes, 0);
      const ahead = await client
        .put(
          `/v1/evidence/${manifest.id}/content?offset=${CHUNK_BYTES}`,
          bytes.subarray(CHUNK_BYTES, 2 * CHUNK_BYTES),
        )
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      assert.ok(isEdgewardError(ahead, 'EW_EVIDENCE_OFFSET_MISMATCH'));
      assert.equal(ahead.details?.receivedBytes, 0);

      const uploader = new EvidenceUploader({
        dir,
        certificatePem: async () => cert,
        transport: () => client,
        retryInitialMs: 100,
        retryMaxMs: 500,
        log: silentLogger,
      });
      const done = await uploader.upload(manifest.id);
      assert.equal(done.state, 'verified');
      assert.deepEqual(await custodyOf(manifest.id), [
        'evidence.collected',
        'evidence.chunk_refused',
        'evidence.uploaded',
        'evidence.verified',
      ]);
    } finally {
      client.close();
    }
  });
});

describe('capture for a device without a push connection', () => {
  test('waits as pending and is carried out at the next heartbeat', async () => {
    const dataDir = join(work, 'no-push');
    const token = (await hub.manager.services.tokens.create(systemOperator, {}, 3_600_000)).token;
    const { deviceId } = await enrollAgent({
      managerUrl: hub.deviceUrl,
      token,
      caFingerprint: hub.manager.pki.caFingerprint,
      dataDir,
      hostname: 'no-push',
      agentVersion: 'test',
      reportIntervalMs: 2000,
      timeoutMs: 5000,
    });
    const agent = new Agent({
      config: resolveAgentConfig([
        {
          source: 'test',
          values: {
            dataDir,
            root: fixture.root,
            pushEnabled: false,
            reportIntervalMs: 2000,
            inventoryIntervalMs: 3_600_000,
            policyPollMs: 3_600_000,
            isolation: 'report-only',
            authLogFiles: '/var/log/auth.log',
            captureFiles: '/etc/passwd',
          },
        },
      ]),
      logger: silentLogger,
      agentVersion: 'test',
      collectInventory: async () => fixtureInventory('no-push'),
      eventSources: 'none',
    });
    agents.push(agent);
    await agent.start();
    await eventually(() => agent.lastContactAt, 'the first contact');
    const issued = await call<{ status: string }>('POST', `/api/v1/devices/${deviceId}/capture`, {
      reason: 'slow path',
    });
    assert.equal(issued.body.status, 'pending');
    const record = await eventually(async () => {
      const found = await evidenceOf(deviceId);
      return found?.state === 'verified' ? found : undefined;
    }, 'the bundle after the next heartbeat');
    assert.ok(record.manifest.items.some((item) => item.name === 'files/etc/passwd'));
  });
});

describe('a bundle damaged on the device', () => {
  test('is set aside once the manager refuses its chunk, and the bundles after it still go', async () => {
    const { deviceId, dataDir } = await startAgent();
    const read = (name: string) => readFile(join(dataDir, name), 'utf8');
    const [key, cert, chain, ca] = await Promise.all([
      read('key.pem'),
      read('cert.pem'),
      read('chain.pem'),
      read('ca.pem'),
    ]);
    const client = new ManagerClient({
      managerUrl: hub.deviceUrl,
      ca: `${ca}${chain}`,
      keyPem: key,
      certChainPem: `${cert}${chain}`,
      timeoutMs: 5000,
    });
    try {
      const dir = join(work, 'damaged');
      const capture = (reason: string) =>
        captureEvidence({
          root: fixture.root,
          dir,
          deviceId,
          signingKeyPem: key,
          files: [],
          capBytes: 1024 * 1024,
          chunkBytes: CHUNK_BYTES,
          logTailBytes: 4096,
          authLogFiles: [],
          recentEvents: () => [],
          now: () => Date.now(),
          trigger: { kind: 'rule', ruleId: 'test-rule' },
          reason,
        });
      const damaged = await capture('damaged');
      await new Promise((resolve) => setTimeout(resolve, 20));
      const sound = await capture('sound');
      const bundlePath = join(damaged.path, 'bundle.bin');
      const bytes = await readFile(bundlePath);
      bytes[5] = (bytes[5] ?? 0) ^ 0xff;
      await writeFile(bundlePath, bytes);
      const finished: string[] = [];
      const uploader = new EvidenceUploader({
        dir,
        certificatePem: async () => cert,
        transport: () => client,
        retryInitialMs: 100,
        retryMaxMs: 500,
        log: silentLogger,
        onFinished: (id, state) => {
          finished.push(`${id === damaged.manifest.id ? 'damaged' : 'sound'} ${state}`);
        },
      });
      uploader.kick();
      await eventually(() => finished.length === 2, 'both bundles handled');
      await uploader.stop();
      assert.deepEqual(finished, ['damaged rejected', 'sound verified']);
      assert.equal((await hub.manager.store.evidence.get(damaged.manifest.id))?.receivedBytes, 0);
      assert.equal((await hub.manager.store.evidence.get(sound.manifest.id))?.state, 'verified');
      await readFile(join(dir, 'refused', damaged.manifest.id, 'manifest.json'));
    } finally {
      client.close();
    }
  });
});

describe('capture as a local rule response', () => {
  test('a rule asking for isolate and capture captures first, then isolates, without the manager', async () => {
    // Rules evaluate soon after an event arrives, so the wait below is the response, not the rule engine's slack.
    const { agent, deviceId, dataDir } = await startAgent({
      policyPollMs: 1000,
      ruleLatenessMs: 200,
      ruleFlushMs: 200,
    });
    const rule = [
      'title: Dropper started',
      'id: test-dropper-started',
      'logsource:',
      '  product: edgeward',
      '  service: host',
      'detection:',
      '  selection:',
      '    type: host.executable_started',
      '  condition: selection',
      'level: critical',
      'edgeward:',
      '  scope: agent',
      '  response: [isolate, capture]',
    ].join('\n');
    await hub.manager.services.policies.apply(
      systemOperator,
      [{ path: 'rules/dropper.yml', text: rule }],
      'dropper rule',
      undefined,
    );
    await eventually(() => (agent.policy?.inForce?.version ?? 0) >= 1, 'the policy on the agent', 15_000);
    // Offline: the response must not need the manager.
    proxy.cut();
    try {
      await agent.emit([
        {
          type: 'host.executable_started',
          severity: 'medium',
          time: Date.now(),
          data: { path: '/tmp/.x/dropper', pid: 4242 },
        },
      ]);
      const isolation = JSON.parse(
        await eventually(
          async () => {
            const text = await readFile(join(dataDir, 'isolation.json'), 'utf8').catch(() => undefined);
            return text !== undefined && (JSON.parse(text) as { isolation: unknown }).isolation !== null
              ? text
              : undefined;
          },
          'the isolation',
          60_000,
        ),
      ) as { isolation: { since: number } };
      proxy.restore();
      const evidence = await eventually(
        async () => {
          const record = await evidenceOf(deviceId);
          return record?.state === 'verified' ? record : undefined;
        },
        'the rule capture on the manager',
        30_000,
      );
      assert.equal(evidence.manifest.trigger, 'rule');
      assert.equal(evidence.manifest.ruleId, 'test-dropper-started');
      assert.ok(
        evidence.manifest.collectedAt <= isolation.isolation.since,
        'the capture finished before the isolation began',
      );
    } finally {
      proxy.restore();
    }
  });
});

describe('capture and evidence through the CLI', () => {
  test('edgeward devices capture, evidence list, show, verify and download', async () => {
    const { deviceId } = await startAgent();
    const api = [
      '--api',
      hub.operatorUrl,
      '--token',
      hub.adminToken,
      '--ca-file',
      join(hub.dir, 'pki', 'root-ca.crt'),
    ];
    const captured = await runEdgeward([
      'devices',
      'capture',
      deviceId,
      '--reason',
      'ransom note on the HMI',
      '--files',
      '/etc/passwd',
      ...api,
    ]);
    assert.equal(captured.code, 0, captured.stderr);
    assert.match(captured.stdout, /capture .*sent over its push connection/);
    const record = await eventually(
      async () => {
        const found = await evidenceOf(deviceId);
        return found?.state === 'verified' ? found : undefined;
      },
      'the verified bundle',
      30_000,
    );

    const listed = await runEdgeward(['evidence', 'list', '--device', deviceId, ...api]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`${record.id}\\s+${deviceId}\\s+verified\\s+command`));
    const shown = await runEdgeward(['evidence', 'show', record.id, ...api]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /files\/etc\/passwd/);
    assert.match(shown.stdout, /volatile\/processes\.json/);
    const verified = await runEdgeward(['evidence', 'verify', record.id, ...api]);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /verifies: signed by device/);

    const out = join(work, 'case-1');
    const downloaded = await runEdgeward(['evidence', 'download', record.id, '--out', out, ...api]);
    assert.equal(downloaded.code, 0, downloaded.stderr);
    assert.equal(
      await readFile(join(out, 'items', 'files', 'etc', 'passwd'), 'utf8'),
      await readFile(join(fixture.root, 'etc', 'passwd'), 'utf8'),
    );
    const offline = await runEdgeward(['evidence', 'verify', '--dir', out]);
    assert.equal(offline.code, 0, offline.stderr);
    const bundle = await readFile(join(out, 'bundle.bin'));
    bundle[10] = (bundle[10] ?? 0) ^ 1;
    await writeFile(join(out, 'bundle.bin'), bundle);
    const broken = await runEdgeward(['evidence', 'verify', '--dir', out]);
    assert.equal(broken.code, 2, broken.stdout);
    assert.match(broken.stderr, /EW_EVIDENCE_INVALID/);
  });
});
