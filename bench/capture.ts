// `npx node bench/capture.ts`: a forensic capture of this machine (volatile data, logs, the default files)
// and of a 32 MiB file, each uploaded to a real manager on SQLite (port 0) over mutual TLS in 256 KiB
// chunks and verified there: capture time, bundle size, upload-and-verify time and throughput. Prints
// JSON. Standalone (not a section of `npm run bench`).
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureEvidence, EvidenceUploader, enrollAgent, ManagerClient } from '@edgeward/agent';
import pino from 'pino';
import { startBenchManager } from './support.ts';

const CHUNK_BYTES = 256 * 1024;
const BIG_FILE_BYTES = 32 * 1024 * 1024;

const work = await mkdtemp(join(tmpdir(), 'edgeward-bench-capture-'));
const { manager, deviceUrl } = await startBenchManager(join(work, 'manager'));
try {
  const dataDir = join(work, 'agent');
  const token = (
    await manager.services.tokens.create({ id: 'bench', name: 'bench', role: 'admin' }, {}, 3_600_000)
  ).token;
  const { deviceId } = await enrollAgent({
    managerUrl: deviceUrl,
    token,
    caFingerprint: manager.pki.caFingerprint,
    dataDir,
    hostname: 'bench-capture',
    agentVersion: 'bench',
    reportIntervalMs: 60_000,
    timeoutMs: 10_000,
  });
  const read = (name: string) => readFile(join(dataDir, name), 'utf8');
  const [key, cert, chain, ca] = await Promise.all([
    read('key.pem'),
    read('cert.pem'),
    read('chain.pem'),
    read('ca.pem'),
  ]);
  const client = new ManagerClient({
    managerUrl: deviceUrl,
    ca: `${ca}${chain}`,
    keyPem: key,
    certChainPem: `${cert}${chain}`,
    timeoutMs: 30_000,
  });
  const big = join(work, 'fixture');
  await mkdir(big, { recursive: true });
  await writeFile(join(big, 'big.bin'), randomBytes(BIG_FILE_BYTES));

  const measure = async (label: string, root: string, files: string[]) => {
    const dir = join(work, `evidence-${label}`);
    const capturedAt = performance.now();
    const bundle = await captureEvidence({
      root,
      dir,
      deviceId,
      signingKeyPem: key,
      files,
      capBytes: 64 * 1024 * 1024,
      chunkBytes: CHUNK_BYTES,
      logTailBytes: 256 * 1024,
      authLogFiles: ['/var/log/auth.log', '/var/log/secure'],
      recentEvents: () => [],
      now: () => Date.now(),
      trigger: { kind: 'rule', ruleId: 'bench' },
      reason: 'bench',
    });
    const captureMs = performance.now() - capturedAt;
    const uploader = new EvidenceUploader({
      dir,
      certificatePem: async () => cert,
      transport: () => client,
      retryInitialMs: 100,
      retryMaxMs: 1000,
      log: pino({ level: 'silent' }),
    });
    const uploadedAt = performance.now();
    const state = await uploader.upload(bundle.manifest.id);
    const uploadMs = performance.now() - uploadedAt;
    const { totalBytes, items } = bundle.manifest;
    return {
      label,
      items: items.length,
      bytes: totalBytes,
      processes: items.find((item) => item.name === 'volatile/processes.json')?.bytes ?? 0,
      captureMs: Math.round(captureMs),
      uploadAndVerifyMs: Math.round(uploadMs),
      uploadMiBPerSecond: Number((totalBytes / 1_048_576 / (uploadMs / 1000)).toFixed(1)),
      state: state.state,
    };
  };
  const results = [
    await measure('this machine', '/', ['/etc/passwd', '/etc/group', '/etc/hosts']),
    await measure('32 MiB file', big, ['/big.bin']),
  ];
  client.close();
  process.stdout.write(
    `${JSON.stringify({ node: process.version, chunkBytes: CHUNK_BYTES, results }, null, 2)}\n`,
  );
} finally {
  await manager.close();
  await rm(work, { recursive: true, force: true });
}
