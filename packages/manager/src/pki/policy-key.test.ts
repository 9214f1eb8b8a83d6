import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { generatePolicyKeyPair, isEdgewardError, policyKeyId } from '@edgeward/core';
import pino from 'pino';
import { openPolicySigningKey } from './policy-key.ts';

const logger = pino({ level: 'silent' });
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeward-policy-key-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const refusedAs = (code: string) => (error: unknown) =>
  isEdgewardError(error) && error.code === code && error.message.includes(dir);

test('the first start creates the key pair, 0600 for the private half; later starts load the same key', async () => {
  const created = await openPolicySigningKey(dir, logger);
  assert.equal((await stat(join(dir, 'policy-signing.key'))).mode & 0o777, 0o600);
  assert.equal(await readFile(join(dir, 'policy-signing.pub'), 'utf8'), created.publicKeyPem);
  assert.equal(created.keyId, policyKeyId(created.publicKeyPem));
  const loaded = await openPolicySigningKey(dir, logger);
  assert.deepEqual(loaded, created);
});

test('a lost public key is written again from the private key', async () => {
  const created = await openPolicySigningKey(dir, logger);
  await unlink(join(dir, 'policy-signing.pub'));
  assert.deepEqual(await openPolicySigningKey(dir, logger), created);
  assert.equal(await readFile(join(dir, 'policy-signing.pub'), 'utf8'), created.publicKeyPem);
});

test('a public key without its private key is refused, never replaced by a new pair', async () => {
  const created = await openPolicySigningKey(dir, logger);
  await unlink(join(dir, 'policy-signing.key'));
  await assert.rejects(openPolicySigningKey(dir, logger), refusedAs('EW_PKI_FILE_INVALID'));
  assert.equal(await readFile(join(dir, 'policy-signing.pub'), 'utf8'), created.publicKeyPem);
});

test('a public key that is not the half of the private key is refused', async () => {
  await openPolicySigningKey(dir, logger);
  await writeFile(join(dir, 'policy-signing.pub'), generatePolicyKeyPair().publicKeyPem);
  await assert.rejects(openPolicySigningKey(dir, logger), refusedAs('EW_PKI_FILE_INVALID'));
});

test('a private key readable by others, or not Ed25519, is refused', async () => {
  await openPolicySigningKey(dir, logger);
  const keyPath = join(dir, 'policy-signing.key');
  await chmod(keyPath, 0o644);
  await assert.rejects(openPolicySigningKey(dir, logger), refusedAs('EW_PKI_FILE_MODE_UNSAFE'));
  await rm(keyPath);
  await rm(join(dir, 'policy-signing.pub'));
  await writeFile(keyPath, 'not a key', { mode: 0o600 });
  await assert.rejects(openPolicySigningKey(dir, logger), refusedAs('EW_PKI_FILE_INVALID'));
});
