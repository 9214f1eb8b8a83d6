import { X509Certificate } from 'node:crypto';
import { hostname } from 'node:os';
import {
  type CaBundle,
  type CertificateGrant,
  certificateFingerprint,
  createCsr,
  EdgewardError,
  exportPrivateKeyPem,
  generateDeviceKeyPair,
  normalizeFingerprint,
  PROTOCOL_VERSION,
} from '@edgeward/core';
import { ManagerClient } from '../transport/manager-client.ts';
import { pinTufRoot } from '../updates/tuf-trust.ts';
import { AgentFiles, type Enrollment } from './agent-files.ts';

export interface EnrollOptions {
  readonly managerUrl: string;
  readonly token: string;
  /** SHA-256 of the fleet root CA, as the manager printed it; the agent trusts nothing else. */
  readonly caFingerprint: string;
  readonly dataDir: string;
  readonly hostname?: string;
  readonly agentVersion: string;
  readonly reportIntervalMs: number;
  readonly timeoutMs: number;
  readonly now?: () => number;
}

/**
 * Enrolls this device: pins the fleet CA by fingerprint, creates the device key here (it never leaves),
 * sends a CSR with the one-time token over a connection verified against the pinned CA, and stores the
 * certificate it gets back.
 */
export async function enrollAgent(options: EnrollOptions): Promise<Enrollment> {
  const files = new AgentFiles(options.dataDir);
  if (await files.isEnrolled()) {
    throw new EdgewardError(
      'EW_AGENT_ALREADY_ENROLLED',
      `${options.dataDir} already holds an enrollment; use another --data-dir or remove it to enroll again`,
    );
  }
  const pinned = normalizeFingerprint(options.caFingerprint);
  const now = options.now ?? Date.now;

  // Trust on first use, checked against the fingerprint the operator copied from the manager.
  const discovery = new ManagerClient({
    managerUrl: options.managerUrl,
    ca: undefined,
    timeoutMs: options.timeoutMs,
  });
  let bundle: CaBundle;
  try {
    bundle = (await discovery.get<CaBundle>('/v1/ca')).body;
  } finally {
    discovery.close();
  }
  const offered = await certificateFingerprint(bundle.rootCaPem);
  if (offered !== pinned) {
    throw new EdgewardError(
      'EW_CA_FINGERPRINT_MISMATCH',
      `the manager at ${options.managerUrl} presents fleet CA ${offered}, not the pinned ${pinned}; check the URL and the fingerprint`,
    );
  }
  // At a site under a region the issuing CA hangs below the region's: each link must verify, from the root.
  const path = [bundle.rootCaPem, ...(bundle.intermediateCaPems ?? []), bundle.issuingCaPem];
  let issuingProblem: string | undefined;
  for (let index = 1; index < path.length && issuingProblem === undefined; index++) {
    issuingProblem = issuedBy(path[index] as string, path[index - 1] as string, now());
  }
  if (issuingProblem !== undefined) {
    throw new EdgewardError(
      'EW_CA_FINGERPRINT_MISMATCH',
      `the manager's issuing CA does not chain to the pinned root: ${issuingProblem}`,
    );
  }

  await files.ensureDir();
  const keys = await generateDeviceKeyPair();
  const keyPem = await exportPrivateKeyPem(keys.privateKey);
  const deviceName = options.hostname ?? hostname();
  const csrPem = await createCsr({ keys, commonName: deviceName });

  const client = new ManagerClient({
    managerUrl: options.managerUrl,
    ca: path.join(''),
    timeoutMs: options.timeoutMs,
  });
  let grant: CertificateGrant;
  try {
    grant = (
      await client.post<CertificateGrant>('/v1/enroll', {
        v: PROTOCOL_VERSION,
        token: options.token,
        csrPem,
        hostname: deviceName,
        agentVersion: options.agentVersion,
        reportIntervalMs: options.reportIntervalMs,
      })
    ).body;
  } finally {
    client.close();
  }

  const enrollment: Enrollment = {
    deviceId: grant.deviceId,
    fleet: grant.fleet,
    spiffeId: grant.spiffeId,
    managerUrl: options.managerUrl,
    enrolledAt: now(),
    labels: grant.labels,
    policyPublicKeyPem: grant.policyPublicKeyPem,
  };
  // Key and certificates first; enrollment.json last marks the directory as enrolled.
  await files.write('key.pem', keyPem);
  await files.write('cert.pem', grant.certificatePem);
  await files.write('chain.pem', grant.chainPem);
  await files.write('ca.pem', grant.rootCaPem);
  if (grant.tufRootJson !== undefined) await pinTufRoot(options.dataDir, grant.tufRootJson);
  await files.write('enrollment.json', enrollment);
  return enrollment;
}

/**
 * Why `certPem` is not a CA certificate issued by `issuerPem` and valid at `at`, or undefined. Node's own
 * X.509 support suffices here, and keeps the full X.509 library off the device.
 */
function issuedBy(certPem: string, issuerPem: string, at: number): string | undefined {
  const certificate = new X509Certificate(certPem);
  const issuer = new X509Certificate(issuerPem);
  if (!certificate.ca) return 'it is not a CA certificate';
  if (!certificate.checkIssued(issuer) || !certificate.verify(issuer.publicKey))
    return 'its signature does not verify';
  if (at < Date.parse(certificate.validFrom) || at > Date.parse(certificate.validTo))
    return 'it is not valid now';
  return undefined;
}
