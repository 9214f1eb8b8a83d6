/**
 * The repository contract: one suite, run on every engine. An engine that cannot run (PostgreSQL
 * down) fails its tests with what to do; it is never skipped.
 */
import { after, afterEach, before, beforeEach, describe } from 'node:test';
import type { Store } from '../store.ts';
import { alertDeliveriesContract } from './alert-deliveries.contract.ts';
import { alertsContract } from './alerts.contract.ts';
import { auditContract } from './audit.contract.ts';
import { complianceContract } from './compliance.contract.ts';
import { certificatesContract, operatorsContract } from './credentials.contract.ts';
import { deviceCommandsContract } from './device-commands.contract.ts';
import { devicesContract } from './devices.contract.ts';
import { contractEngines } from './engines.ts';
import { eventsContract } from './events.contract.ts';
import type { ContractContext } from './fixtures.ts';
import { fleetFiguresContract } from './fleet-figures.contract.ts';
import { incidentsContract } from './incidents.contract.ts';
import { inventoryContract } from './inventory.contract.ts';
import { migrationsContract, transactionsContract } from './lifecycle.contract.ts';
import { policiesContract } from './policies.contract.ts';
import { metaContract, tokensContract } from './registry.contract.ts';
import { sitesContract } from './sites.contract.ts';
import { syslogOutboxContract } from './syslog-outbox.contract.ts';
import { updatesContract } from './updates.contract.ts';

for (const makeEngine of contractEngines) {
  const engine = makeEngine();
  describe(`store contract on ${engine.name}`, () => {
    let current: Store | undefined;
    const ctx: ContractContext = {
      engine: engine.name,
      store() {
        if (current === undefined) throw new Error('the store opens in beforeEach');
        return current;
      },
      async reopen() {
        await current?.close();
        current = await engine.open();
        return current;
      },
      openAnother: () => engine.open(),
    };

    // A setup failure is reported by every test rather than once as cancelled tests.
    let unusable: unknown;
    before(async () => {
      await engine.setUp().catch((error: unknown) => {
        unusable = error;
      });
    });
    after(() => engine.tearDown());
    beforeEach(async () => {
      if (unusable !== undefined) throw unusable;
      await engine.reset();
      current = await engine.open();
    });
    afterEach(async () => {
      await current?.close();
      current = undefined;
    });

    metaContract(ctx);
    tokensContract(ctx);
    devicesContract(ctx);
    fleetFiguresContract(ctx);
    certificatesContract(ctx);
    inventoryContract(ctx);
    eventsContract(ctx);
    operatorsContract(ctx);
    syslogOutboxContract(ctx);
    policiesContract(ctx);
    complianceContract(ctx);
    alertsContract(ctx);
    alertDeliveriesContract(ctx);
    auditContract(ctx);
    deviceCommandsContract(ctx);
    updatesContract(ctx, engine);
    incidentsContract(ctx);
    sitesContract(ctx);
    transactionsContract(ctx);
    migrationsContract(ctx, engine);
  });
}
