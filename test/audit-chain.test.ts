import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import type { AuditEntriesView } from '@edgeward/core';
import { runEdgeward } from './support/cli-process.ts';
import { startTestManager, type TestManager } from './support/test-manager.ts';

let hub: TestManager;
let api: string[];
const admin = { id: 'op-test-admin', name: 'auditor-test', role: 'admin' } as const;

before(async () => {
  hub = await startTestManager({ auditCheckpointEvery: 4 });
  api = [
    '--api',
    hub.operatorUrl,
    '--token',
    hub.adminToken,
    '--ca-file',
    join(hub.dir, 'pki', 'root-ca.crt'),
  ];
  const { tokens, operators } = hub.manager.services;
  const token = await tokens.create(admin, { site: 'berlin' }, 3_600_000);
  await operators.create(admin, 'vera', 'viewer');
  await tokens.revoke(admin, token.id);
});
after(async () => {
  await hub?.close();
});

/** Runs a change to the SQLite file behind the manager's back, then undoes it. */
async function tampered<T>(change: (db: DatabaseSync) => void, probe: () => Promise<T>): Promise<T> {
  const db = new DatabaseSync(join(hub.dir, 'edgeward.db'));
  const backup = db.prepare('SELECT * FROM audit_entries ORDER BY seq').all();
  try {
    change(db);
    return await probe();
  } finally {
    db.exec('DELETE FROM audit_entries');
    const insert = db.prepare(
      'INSERT INTO audit_entries (seq, at, kind, actor, subject, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    for (const row of backup) {
      insert.run(
        row.seq as number,
        row.at as number,
        row.kind as string,
        row.actor as string,
        row.subject as string,
        row.details as string,
        row.prev_hash as string,
        row.hash as string,
      );
    }
    db.close();
  }
}

describe('audit chain', () => {
  it('records every operator action in the chain, with its kind, actor and subject', async () => {
    const run = await runEdgeward(['audit', 'log', '--json', ...api]);
    assert.equal(run.code, 0, run.stderr);
    const { entries } = JSON.parse(run.stdout) as AuditEntriesView;
    const actions = hub.manager.store.actions;
    assert.equal(entries.length, (await actions.list({ limit: 1000 })).length);
    assert.deepEqual(
      entries.map((entry) => entry.seq),
      entries.map((_, index) => entries.length - index),
    );
    const revoke = entries.find((entry) => entry.details.action === 'token.revoke');
    assert.equal(revoke?.kind, 'operator.action');
    assert.equal(revoke?.actor, `operator:${admin.id}`);
    const created = entries.find(
      (entry) => entry.details.action === 'operator.create' && entry.actor !== 'system',
    );
    assert.deepEqual(created?.details.details, { name: 'vera', role: 'viewer' });
  });

  it('verifies through the API, and a viewer may verify but not export', async () => {
    const run = await runEdgeward(['audit', 'verify', ...api]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /the audit chain verifies: \d+ entries, 1 checkpoints \(last: seq 4\)/);
    const viewer = await hub.manager.services.operators.create(admin, 'vic', 'viewer');
    const asViewer = [...api.slice(0, 2), '--token', viewer.token, ...api.slice(4)];
    assert.equal((await runEdgeward(['audit', 'verify', ...asViewer])).code, 0);
    const refused = await runEdgeward(['audit', 'export', ...asViewer]);
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /EW_OPERATOR_ROLE_INSUFFICIENT/);
  });

  it('names the first bad seq when a details column was edited in the database', async () => {
    const run = await tampered(
      (db) => {
        db.prepare('UPDATE audit_entries SET details = ? WHERE seq = 2').run('{"action":"nothing to see"}');
      },
      () => runEdgeward(['audit', 'verify', ...api]),
    );
    assert.equal(run.code, 5, run.stderr);
    assert.match(run.stderr, /EW_AUDIT_CHAIN_BROKEN/);
    assert.match(run.stderr, /at seq 2 \(edited\)/);
  });

  it('names the first bad seq when a row was deleted', async () => {
    const run = await tampered(
      (db) => {
        db.prepare('DELETE FROM audit_entries WHERE seq = 3').run();
      },
      () => runEdgeward(['audit', 'verify', ...api]),
    );
    assert.equal(run.code, 5, run.stderr);
    assert.match(run.stderr, /at seq 3 \(deleted\)/);
  });

  it("names the first bad seq when two rows' contents were swapped", async () => {
    const run = await tampered(
      (db) => {
        const read = db.prepare('SELECT * FROM audit_entries WHERE seq = ?');
        const write = db.prepare(
          'UPDATE audit_entries SET at = ?, kind = ?, actor = ?, subject = ?, details = ?, prev_hash = ?, hash = ? WHERE seq = ?',
        );
        const second = read.get(2) as Record<string, string | number>;
        const fourth = read.get(4) as Record<string, string | number>;
        for (const [row, seq] of [
          [fourth, 2],
          [second, 4],
        ] as const) {
          write.run(
            row.at!,
            row.kind!,
            row.actor!,
            row.subject!,
            row.details!,
            row.prev_hash!,
            row.hash!,
            seq,
          );
        }
      },
      () => runEdgeward(['audit', 'verify', ...api]),
    );
    assert.equal(run.code, 5, run.stderr);
    assert.match(run.stderr, /at seq 2 \(reordered\)/);
  });

  it('reports truncation when the tail after a checkpoint was cut off', async () => {
    const run = await tampered(
      (db) => {
        db.prepare('DELETE FROM audit_entries WHERE seq >= 4').run();
      },
      () => runEdgeward(['audit', 'verify', ...api]),
    );
    assert.equal(run.code, 5, run.stderr);
    assert.match(run.stderr, /at seq 4 \(truncated\)/);
  });

  it('exports a file that verifies offline with the public key, and fails after one flipped byte', async () => {
    const exported = await runEdgeward(['audit', 'export', '--since', '7d', ...api]);
    assert.equal(exported.code, 0, exported.stderr);
    const file = join(hub.dir, 'audit-export.json');
    await writeFile(file, exported.stdout);
    const key = join(hub.dir, 'pki', 'audit-signing.pub');
    // No manager flags at all: the file and the key are everything the auditor needs.
    const offline = await runEdgeward(['audit', 'verify', '--file', file, '--key', key]);
    assert.equal(offline.code, 0, offline.stderr);
    assert.match(offline.stdout, /verifies: fleet \S+, entries 1–\d+/);

    const bytes = await readFile(file);
    const position = bytes.indexOf('"subject"') + 12;
    bytes[position] = (bytes[position] as number) ^ 0x01;
    await writeFile(file, bytes);
    const flipped = await runEdgeward(['audit', 'verify', '--file', file, '--key', key]);
    assert.equal(flipped.code, 5, flipped.stderr);
    assert.match(flipped.stderr, /EW_AUDIT_CHAIN_BROKEN/);
    assert.match(flipped.stderr, /at seq 1 \(edited\)/);
  });
});
