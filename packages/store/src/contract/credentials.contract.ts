import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { action, type ContractContext, certificate, device, operator } from './fixtures.ts';

export function certificatesContract(ctx: ContractContext): void {
  describe('certificates', () => {
    beforeEach(async () => {
      await ctx.store().devices.create(device('dev-1'));
      await ctx.store().devices.create(device('dev-2'));
    });

    it('round-trips a certificate by serial', async () => {
      const { certificates } = ctx.store();
      const record = certificate('0a1b2c', 'dev-1', { revokedAt: 7_000 });
      await certificates.create(record);
      assert.deepEqual(await certificates.findBySerial('0a1b2c'), record);
      assert.equal(await certificates.findBySerial('ffff'), undefined);
    });

    it('refuses a certificate for a device that does not exist', async () => {
      await assert.rejects(ctx.store().certificates.create(certificate('0a', 'dev-unknown')));
      assert.equal(await ctx.store().certificates.findBySerial('0a'), undefined);
    });

    it('listByDevice lists only that device, newest first', async () => {
      const { certificates } = ctx.store();
      await certificates.create(certificate('01', 'dev-1', { issuedAt: 1_000 }));
      await certificates.create(certificate('03', 'dev-1', { issuedAt: 3_000 }));
      await certificates.create(certificate('02', 'dev-1', { issuedAt: 2_000 }));
      await certificates.create(certificate('04', 'dev-2', { issuedAt: 4_000 }));
      assert.deepEqual(
        (await certificates.listByDevice('dev-1')).map((record) => record.serial),
        ['03', '02', '01'],
      );
      assert.deepEqual(await certificates.listByDevice('dev-unknown'), []);
    });

    it('revokeAllForDevice revokes only that device’s unrevoked certificates and counts them', async () => {
      const { certificates } = ctx.store();
      await certificates.create(certificate('01', 'dev-1'));
      await certificates.create(certificate('02', 'dev-1'));
      await certificates.create(certificate('03', 'dev-1', { revokedAt: 1_500 }));
      await certificates.create(certificate('04', 'dev-2'));
      assert.equal(await certificates.revokeAllForDevice('dev-1', 9_000), 2);
      assert.equal(await certificates.revokeAllForDevice('dev-1', 9_500), 0);
      assert.equal((await certificates.findBySerial('01'))?.revokedAt, 9_000);
      assert.equal((await certificates.findBySerial('03'))?.revokedAt, 1_500);
      assert.equal((await certificates.findBySerial('04'))?.revokedAt, null);
    });

    it('listRevoked lists revoked certificates still valid at now, including one expiring exactly then', async () => {
      const { certificates } = ctx.store();
      await certificates.create(certificate('01', 'dev-1', { notAfter: 20_000, revokedAt: 5_000 }));
      await certificates.create(certificate('02', 'dev-1', { notAfter: 9_999, revokedAt: 5_000 }));
      await certificates.create(certificate('03', 'dev-2', { notAfter: 10_000, revokedAt: 6_000 }));
      await certificates.create(certificate('04', 'dev-2', { notAfter: 20_000 }));
      assert.deepEqual(
        (await certificates.listRevoked(10_000)).map((record) => record.serial),
        ['01', '03'],
      );
      assert.deepEqual(
        (await certificates.listRevoked(20_001)).map((record) => record.serial),
        [],
      );
    });
  });
}

export function operatorsContract(ctx: ContractContext): void {
  describe('operators', () => {
    it('round-trips an operator by id and by token hash', async () => {
      const { operators } = ctx.store();
      const record = operator('op-1', { role: 'admin', revokedAt: 9_000 });
      await operators.create(record);
      assert.deepEqual(await operators.findById('op-1'), record);
      assert.deepEqual(await operators.findByTokenHash('token-hash-op-1'), record);
      assert.equal(await operators.findById('op-unknown'), undefined);
      assert.equal(await operators.findByTokenHash('unknown'), undefined);
    });

    it('refuses a second operator with the same token hash', async () => {
      const { operators } = ctx.store();
      await operators.create(operator('op-1', { tokenHash: 'same' }));
      await assert.rejects(operators.create(operator('op-2', { tokenHash: 'same' })));
    });

    it('list is oldest first and hides revoked operators unless asked', async () => {
      const { operators } = ctx.store();
      await operators.create(operator('op-late', { createdAt: 3_000 }));
      await operators.create(operator('op-early', { createdAt: 1_000 }));
      await operators.create(operator('op-gone', { createdAt: 2_000, revokedAt: 2_500 }));
      const ids = async (includeRevoked?: boolean) =>
        (await operators.list(includeRevoked === undefined ? {} : { includeRevoked })).map(
          (record) => record.id,
        );
      assert.deepEqual(await ids(), ['op-early', 'op-late']);
      assert.deepEqual(await ids(true), ['op-early', 'op-gone', 'op-late']);
    });

    it('revoke succeeds once, keeps the first time, and is false for an unknown operator', async () => {
      const { operators } = ctx.store();
      await operators.create(operator('op-1'));
      assert.equal(await operators.revoke('op-1', 5_000), true);
      assert.equal(await operators.revoke('op-1', 6_000), false);
      assert.equal(await operators.revoke('op-unknown', 5_000), false);
      assert.equal((await operators.findById('op-1'))?.revokedAt, 5_000);
    });

    it('countActiveAdmins counts unrevoked admins only', async () => {
      const { operators } = ctx.store();
      assert.equal(await operators.countActiveAdmins(), 0);
      await operators.create(operator('admin-1', { role: 'admin' }));
      await operators.create(operator('admin-2', { role: 'admin' }));
      await operators.create(operator('admin-gone', { role: 'admin', revokedAt: 2_000 }));
      await operators.create(operator('op-1', { role: 'operator' }));
      await operators.create(operator('viewer-1', { role: 'viewer' }));
      assert.equal(await operators.countActiveAdmins(), 2);
      await operators.revoke('admin-2', 3_000);
      assert.equal(await operators.countActiveAdmins(), 1);
    });
  });

  describe('operator actions', () => {
    it('round-trips an action with nested details', async () => {
      const { actions } = ctx.store();
      const record = action('act-1', {
        details: { reason: 'stolen', labels: { site: 'a' }, count: 2, ok: true },
      });
      await actions.record(record);
      assert.deepEqual(await actions.list(), [record]);
    });

    it('lists newest first, keeping recording order among actions of the same millisecond', async () => {
      const { actions } = ctx.store();
      await actions.record(action('act-b', { at: 2_000 }));
      await actions.record(action('act-c', { at: 2_000 }));
      await actions.record(action('act-a', { at: 2_000 }));
      await actions.record(action('act-old', { at: 1_000 }));
      await actions.record(action('act-new', { at: 3_000 }));
      assert.deepEqual(
        (await actions.list()).map((record) => record.id),
        ['act-new', 'act-a', 'act-c', 'act-b', 'act-old'],
      );
    });

    it('filters by operator and by target, and honours limit', async () => {
      const { actions } = ctx.store();
      await actions.record(action('act-1', { at: 1_000, operatorId: 'op-1', target: 'dev-1' }));
      await actions.record(action('act-2', { at: 2_000, operatorId: 'op-2', target: 'dev-1' }));
      await actions.record(action('act-3', { at: 3_000, operatorId: 'op-1', target: 'dev-2' }));
      const ids = async (options: { limit?: number; operatorId?: string; target?: string }) =>
        (await actions.list(options)).map((record) => record.id);
      assert.deepEqual(await ids({ operatorId: 'op-1' }), ['act-3', 'act-1']);
      assert.deepEqual(await ids({ target: 'dev-1' }), ['act-2', 'act-1']);
      assert.deepEqual(await ids({ operatorId: 'op-1', target: 'dev-1' }), ['act-1']);
      assert.deepEqual(await ids({ limit: 2 }), ['act-3', 'act-2']);
      assert.deepEqual(await ids({ limit: 0 }), []);
    });
  });
}
