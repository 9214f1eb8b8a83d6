import {
  diffInventory,
  type Inventory,
  type InventoryReply,
  inventoryChanges,
  isEdgewardError,
  PROTOCOL_VERSION,
} from '@edgeward/core';
import type { AgentFiles } from '../identity/agent-files.ts';
import type { ManagerClient } from '../transport/manager-client.ts';

interface LastReported {
  readonly version: number;
  readonly inventory: Inventory;
}

/**
 * Sends the inventory: a full snapshot first, then only the differences from what the manager holds.
 * The last acknowledged snapshot is kept on disk, so a restarted agent goes on with differences; when
 * the manager holds another version (a lost reply, a restored database), it sends a full snapshot again.
 * Only its version stays in memory: the snapshot (a device's packages, units and users, several hundred
 * kilobytes of objects on a typical Linux host) is read back from disk once per report, every few minutes.
 */
export class InventoryReporter {
  readonly #files: AgentFiles;
  #version: number | undefined;

  constructor(files: AgentFiles) {
    this.#files = files;
  }

  get version(): number {
    return this.#version ?? 0;
  }

  /** The inventory the manager last acknowledged, also across restarts. */
  async lastReported(): Promise<Inventory | undefined> {
    const last = await this.#files.readJson<LastReported>('inventory.json');
    this.#version = last?.version;
    return last?.inventory;
  }

  /** Returns true when something was sent, false when nothing changed since the last report. */
  async report(client: ManagerClient, inventory: Inventory): Promise<boolean> {
    const lastInventory = await this.lastReported();
    const lastVersion = this.#version;
    if (lastInventory !== undefined && inventoryChanges(lastInventory, inventory).length === 0) return false;
    let reply: InventoryReply;
    if (lastInventory === undefined || lastVersion === undefined) {
      reply = await this.#sendFull(client, inventory);
    } else {
      try {
        reply = (
          await client.post<InventoryReply>('/v1/inventory', {
            v: PROTOCOL_VERSION,
            kind: 'delta',
            baseVersion: lastVersion,
            delta: diffInventory(lastInventory, inventory),
          })
        ).body;
      } catch (error) {
        if (!isEdgewardError(error, 'EW_INVENTORY_BASE_MISMATCH')) throw error;
        reply = await this.#sendFull(client, inventory);
      }
    }
    const reported: LastReported = { version: reply.version, inventory };
    await this.#files.write('inventory.json', reported);
    this.#version = reply.version;
    return true;
  }

  async #sendFull(client: ManagerClient, inventory: Inventory): Promise<InventoryReply> {
    return (
      await client.post<InventoryReply>('/v1/inventory', { v: PROTOCOL_VERSION, kind: 'full', inventory })
    ).body;
  }
}
