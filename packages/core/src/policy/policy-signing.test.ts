import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isEdgewardError } from '../errors/edgeward-error.ts';
import { canonicalJson, policyDigest } from './canonical-json.ts';
import { type CompiledPolicy, DEFAULT_POLICY_SETTINGS } from './policy.schema.ts';
import type { PolicyBundle, PolicyBundlePayload } from './policy-bundle.schema.ts';
import {
  generatePolicyKeyPair,
  isBundleExpired,
  policyKeyId,
  policyPublicKeyOf,
  signPolicyBundle,
  verifyPolicyBundle,
} from './policy-signing.ts';

const keys = generatePolicyKeyPair();
const otherKeys = generatePolicyKeyPair();

const policy: CompiledPolicy = {
  segments: [
    {
      id: 'gateways',
      title: 'Field gateways',
      priority: 50,
      selector: { function: 'gateway', risk: ['high', 'critical'], site: '*' },
      evaluationIntervalMs: 900_000,
    },
  ],
  checks: [
    {
      id: 'ssh-no-root-login',
      baseline: 'linux-edge',
      title: 'SSH refuses root logins',
      severity: 'high',
      rationale: 'Root logins bypass per-user accountability.',
      segments: ['gateways'],
      spec: {
        type: 'sshd',
        setting: 'PermitRootLogin',
        expect: { equals: 'no' },
        configPath: '/etc/ssh/sshd_config',
      },
      remediate: 'auto',
      remediation: {
        action: {
          type: 'file-line',
          path: '/etc/ssh/sshd_config',
          match: '^\\s*#?\\s*PermitRootLogin\\b',
          line: 'PermitRootLogin no',
        },
        timeoutMs: 30_000,
      },
      watch: ['/etc/ssh/sshd_config'],
    },
    {
      id: 'no-telnet',
      baseline: 'linux-edge',
      title: 'Nothing listens on telnet',
      severity: 'critical',
      rationale: 'Telnet sends credentials in clear text.',
      segments: [],
      spec: { type: 'listening-ports', protocol: 'tcp', forbidden: [23] },
      remediate: 'off',
      watch: [],
    },
  ],
  windows: [
    {
      id: 'weekend',
      segments: ['gateways'],
      timeZone: 'Europe/Berlin',
      schedule: { kind: 'weekly', ranges: [{ days: ['sat', 'sun'], start: '02:00', end: '05:00' }] },
    },
  ],
  settings: DEFAULT_POLICY_SETTINGS,
  rules: [{ path: 'rules/ssh.yaml', text: 'title: ssh brute force\n' }],
};

function payload(overrides: Partial<PolicyBundlePayload> = {}): PolicyBundlePayload {
  return {
    fleet: 'edgeward.local',
    version: 3,
    issuedAt: 1_700_000_000_000,
    expiresAt: 1_700_000_000_000 + DEFAULT_POLICY_SETTINGS.bundleExpiryMs,
    crlPems: ['-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n'],
    policyDigest: policyDigest(policy),
    policy,
    ...overrides,
  };
}

const pinned = { publicKeyPem: keys.publicKeyPem };

/** A bundle signed over `signed` with `privateKeyPem`, whatever the payload holds (signPolicyBundle checks it). */
function handSigned(signed: unknown, privateKeyPem: string, keyId: string): PolicyBundle {
  const value = sign(null, Buffer.from(canonicalJson(signed)), createPrivateKey(privateKeyPem)).toString(
    'base64url',
  );
  return { payload: signed as PolicyBundlePayload, signature: { alg: 'Ed25519', keyId, value } };
}

function refusal(result: ReturnType<typeof verifyPolicyBundle>): string {
  assert.equal(result.ok, false, 'the bundle is refused');
  return result.ok ? '' : result.reason;
}

/** Every path to a value in `value`, objects and arrays included (the root excluded). */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [];
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((item, index) => [index, item])
    : Object.entries(value);
  return entries.flatMap(([key, member]) => [[...prefix, key], ...pathsOf(member, [...prefix, key])]);
}

function mutated(value: unknown): unknown {
  if (typeof value === 'string') return `${value}x`;
  if (typeof value === 'number') return value + 1;
  if (typeof value === 'boolean') return !value;
  if (Array.isArray(value)) return [...value, value[0] ?? 'extra'];
  return { ...(value as object), extra: 1 };
}

describe('policy keys', () => {
  it('makes Ed25519 pairs as PKCS#8 and SPKI PEM, the public half derivable from the private', () => {
    assert.match(keys.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(keys.publicKeyPem, /^-----BEGIN PUBLIC KEY-----\n/);
    assert.equal(createPrivateKey(keys.privateKeyPem).asymmetricKeyType, 'ed25519');
    assert.equal(policyPublicKeyOf(keys.privateKeyPem), keys.publicKeyPem);
  });

  it('names a key by the base64url SHA-256 of its SubjectPublicKeyInfo', () => {
    assert.match(policyKeyId(keys.publicKeyPem), /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(policyKeyId(keys.publicKeyPem), policyKeyId(otherKeys.publicKeyPem));
  });

  it('refuses keys that are not Ed25519 as EW_POLICY_KEY_INVALID', () => {
    const ec = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const invalid = (error: unknown) => isEdgewardError(error, 'EW_POLICY_KEY_INVALID');
    assert.throws(() => signPolicyBundle(payload(), ec.privateKey), invalid);
    assert.throws(() => verifyPolicyBundle({}, { publicKeyPem: ec.publicKey }), invalid);
    assert.throws(() => policyKeyId('not a key'), invalid);
  });
});

describe('signing and verifying policy bundles', () => {
  it('a signed bundle verifies with the pinned key, also after a JSON round trip', () => {
    const bundle = signPolicyBundle(payload(), keys.privateKeyPem);
    assert.equal(bundle.signature.alg, 'Ed25519');
    assert.equal(bundle.signature.keyId, policyKeyId(keys.publicKeyPem));
    const result = verifyPolicyBundle(JSON.parse(JSON.stringify(bundle)), pinned);
    assert.deepEqual(result, { ok: true, payload: payload(), fresh: true });
  });

  it('refuses to sign a payload whose digest is not its policy digest, or that breaks the schema', () => {
    const internal = (error: unknown) => isEdgewardError(error, 'EW_INTERNAL');
    assert.throws(
      () => signPolicyBundle(payload({ policyDigest: 'f'.repeat(64) }), keys.privateKeyPem),
      internal,
    );
    assert.throws(() => signPolicyBundle(payload({ version: 0 }), keys.privateKeyPem), internal);
    // Without the default the schema fills in, an agent's parsed copy would not be what was signed.
    const withoutDefault = structuredClone(policy);
    const telnet = withoutDefault.checks[1];
    assert.ok(telnet?.spec.type === 'listening-ports');
    delete (telnet.spec as { protocol?: string }).protocol;
    assert.throws(
      () =>
        signPolicyBundle(
          payload({ policy: withoutDefault, policyDigest: policyDigest(withoutDefault) }),
          keys.privateKeyPem,
        ),
      internal,
    );
  });

  it('refuses any single change to a signed payload', () => {
    const bundle = signPolicyBundle(payload(), keys.privateKeyPem);
    const paths = pathsOf(bundle.payload);
    fc.assert(
      fc.property(fc.constantFrom(...paths), fc.constantFrom('change', 'remove'), (path, change) => {
        const altered = structuredClone(bundle) as { payload: unknown };
        type Node = Record<string | number, unknown>;
        const parent = path.slice(0, -1).reduce((node, key) => node[key] as Node, altered.payload as Node);
        const key = path.at(-1) as string | number;
        if (change === 'remove' && Array.isArray(parent)) parent.splice(key as number, 1);
        else if (change === 'remove') delete parent[key];
        else parent[key] = mutated(parent[key]);
        const result = verifyPolicyBundle(altered, pinned);
        assert.ok(
          ['malformed', 'bad-signature'].includes(refusal(result)),
          `${change} ${path.join('.')}: ${JSON.stringify(result)}`,
        );
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a bundle signed by another key as wrong-key', () => {
    const bundle = signPolicyBundle(payload(), otherKeys.privateKeyPem);
    const result = verifyPolicyBundle(bundle, pinned);
    assert.equal(refusal(result), 'wrong-key');
    assert.match(result.ok ? '' : result.message, new RegExp(policyKeyId(keys.publicKeyPem)));
  });

  it('refuses a signature forged with another key under the pinned key id as bad-signature', () => {
    const forged = handSigned(payload(), otherKeys.privateKeyPem, policyKeyId(keys.publicKeyPem));
    assert.equal(refusal(verifyPolicyBundle(forged, pinned)), 'bad-signature');
    const garbage = { ...forged, signature: { ...forged.signature, value: 'AAAA' } };
    assert.equal(refusal(verifyPolicyBundle(garbage, pinned)), 'bad-signature');
  });

  it('refuses a correctly signed payload whose policy does not match its digest as digest-mismatch', () => {
    const lying = handSigned(
      payload({ policyDigest: 'f'.repeat(64) }),
      keys.privateKeyPem,
      policyKeyId(keys.publicKeyPem),
    );
    assert.equal(refusal(verifyPolicyBundle(lying, pinned)), 'digest-mismatch');
  });

  it('refuses a bundle without a signature, or with an empty one, as unsigned', () => {
    const bundle = signPolicyBundle(payload(), keys.privateKeyPem);
    assert.equal(refusal(verifyPolicyBundle({ payload: bundle.payload }, pinned)), 'unsigned');
    const empty = { ...bundle, signature: { ...bundle.signature, value: '' } };
    assert.equal(refusal(verifyPolicyBundle(empty, pinned)), 'unsigned');
  });

  it('refuses a malformed bundle before anything else, naming the field', () => {
    assert.equal(refusal(verifyPolicyBundle('bundle', pinned)), 'malformed');
    const unsignedAndBroken = { payload: { ...payload(), version: 0 } };
    const result = verifyPolicyBundle(unsignedAndBroken, pinned);
    assert.equal(refusal(result), 'malformed');
    assert.match(result.ok ? '' : result.message, /payload\.version/);
    const bundle = signPolicyBundle(payload(), keys.privateKeyPem);
    const rsa = { ...bundle, signature: { ...bundle.signature, alg: 'RS256' } };
    const wrongAlg = verifyPolicyBundle(rsa, pinned);
    assert.equal(refusal(wrongAlg), 'malformed');
    assert.match(wrongAlg.ok ? '' : wrongAlg.message, /signature\.alg/);
  });

  it('refuses a bundle older than the one it enforces: a lower version, or the same version issued earlier', () => {
    const bundle = signPolicyBundle(payload(), keys.privateKeyPem);
    const { version, issuedAt } = bundle.payload;
    assert.equal(
      refusal(verifyPolicyBundle(bundle, { ...pinned, inForce: { version: version + 1, issuedAt: 0 } })),
      'older',
    );
    assert.equal(
      refusal(verifyPolicyBundle(bundle, { ...pinned, inForce: { version, issuedAt: issuedAt + 1 } })),
      'older',
    );
  });

  it('accepts the bundle in force again as not fresh, and a newer one as fresh', () => {
    const bundle = signPolicyBundle(payload(), keys.privateKeyPem);
    const { version, issuedAt } = bundle.payload;
    const same = verifyPolicyBundle(bundle, { ...pinned, inForce: { version, issuedAt } });
    assert.equal(same.ok && same.fresh, false);
    assert.equal(same.ok, true);
    const resigned = verifyPolicyBundle(bundle, { ...pinned, inForce: { version, issuedAt: issuedAt - 1 } });
    assert.equal(resigned.ok && resigned.fresh, true);
    const next = verifyPolicyBundle(bundle, {
      ...pinned,
      inForce: { version: version - 1, issuedAt: issuedAt + 9 },
    });
    assert.equal(next.ok && next.fresh, true);
  });

  it('a bundle expires at expiresAt', () => {
    const { expiresAt } = payload();
    assert.equal(isBundleExpired(payload(), expiresAt - 1), false);
    assert.equal(isBundleExpired(payload(), expiresAt), true);
  });
});
