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
 */
export class InventoryReporter {
  readonly #files: AgentFiles;
  #last: LastReported | undefined;
  #loaded = false;

  constructor(files: AgentFiles) {
    this.#files = files;
  }

  get version(): number {
    return this.#last?.version ?? 0;
  }

  /** The inventory the manager last acknowledged, also across restarts. */
  async lastReported(): Promise<Inventory | undefined> {
    if (!this.#loaded) {
      this.#last = await this.#files.readJson<LastReported>('inventory.json');
      this.#loaded = true;
    }
    return this.#last?.inventory;
  }

  /** Returns true when something was sent, false when nothing changed since the last report. */
  async report(client: ManagerClient, inventory: Inventory): Promise<boolean> {
    await this.lastReported();
    const last = this.#last;
    if (last !== undefined && inventoryChanges(last.inventory, inventory).length === 0) return false;
    let reply: InventoryReply;
    if (last === undefined) {
      reply = await this.#sendFull(client, inventory);
    } else {
      try {
        reply = (
          await client.post<InventoryReply>('/v1/inventory', {
            v: PROTOCOL_VERSION,
            kind: 'delta',
            baseVersion: last.version,
            delta: diffInventory(last.inventory, inventory),
          })
        ).body;
      } catch (error) {
        if (!isEdgewardError(error, 'EW_INVENTORY_BASE_MISMATCH')) throw error;
        reply = await this.#sendFull(client, inventory);
      }
    }
    this.#last = { version: reply.version, inventory };
    await this.#files.write('inventory.json', this.#last);
    return true;
  }

  async #sendFull(client: ManagerClient, inventory: Inventory): Promise<InventoryReply> {
    return (
      await client.post<InventoryReply>('/v1/inventory', { v: PROTOCOL_VERSION, kind: 'full', inventory })
    ).body;
  }
}
