import * as z from 'zod/mini';
import { EdgewardError } from '../errors/edgeward-error.ts';
import {
  connectionSummarySchema,
  firmwareSchema,
  groupSchema,
  type Inventory,
  interfaceSchema,
  inventorySchema,
  kernelModuleSchema,
  listenerSchema,
  osSchema,
  packageSchema,
  unitSchema,
  userSchema,
} from './inventory.schema.ts';
import {
  canonicalizeInventory,
  type InventoryListItem,
  type InventoryListSection,
  inventoryItemKey,
  inventoryListSections,
  inventoryScalarSections,
  jsonEqual,
} from './inventory-keys.ts';

function listDeltaSchema<T extends z.ZodMiniType>(item: T) {
  return z.object({
    /** Items whose key the base did not hold. */
    added: z.array(item),
    /** Keys (see `inventoryItemKey`) of items the base held and the new inventory does not. */
    removed: z.array(z.string()),
    /** Whole new items for keys whose item differs from the base's. */
    changed: z.array(item),
  });
}

/**
 * What changed between two inventories, to send instead of a full snapshot. A section that is absent
 * did not change; a scalar section present is the new value; a list section present holds its added,
 * removed and changed items. `collectedAt` and `uptimeSeconds` always travel.
 */
export const inventoryDeltaSchema = z.object({
  collectedAt: inventorySchema.shape.collectedAt,
  uptimeSeconds: inventorySchema.shape.uptimeSeconds,
  hostname: z.optional(z.string()),
  os: z.optional(osSchema),
  kernel: z.optional(inventorySchema.shape.kernel),
  architecture: z.optional(z.string()),
  firmware: z.optional(firmwareSchema),
  cpu: z.optional(inventorySchema.shape.cpu),
  memory: z.optional(inventorySchema.shape.memory),
  connections: z.optional(connectionSummarySchema),
  interfaces: z.optional(listDeltaSchema(interfaceSchema)),
  listeners: z.optional(listDeltaSchema(listenerSchema)),
  packages: z.optional(listDeltaSchema(packageSchema)),
  units: z.optional(listDeltaSchema(unitSchema)),
  users: z.optional(listDeltaSchema(userSchema)),
  groups: z.optional(listDeltaSchema(groupSchema)),
  kernelModules: z.optional(listDeltaSchema(kernelModuleSchema)),
});

export type InventoryDelta = z.infer<typeof inventoryDeltaSchema>;

export interface InventoryListDelta<T> {
  readonly added: readonly T[];
  readonly removed: readonly string[];
  readonly changed: readonly T[];
}

function keyed<S extends InventoryListSection>(
  section: S,
  items: readonly InventoryListItem<S>[],
): Map<string, InventoryListItem<S>> {
  return new Map(items.map((item) => [inventoryItemKey(section, item), item]));
}

function diffList<S extends InventoryListSection>(
  section: S,
  before: readonly InventoryListItem<S>[],
  after: readonly InventoryListItem<S>[],
): InventoryListDelta<InventoryListItem<S>> | undefined {
  const old = keyed(section, before);
  const added: InventoryListItem<S>[] = [];
  const changed: InventoryListItem<S>[] = [];
  const kept = new Set<string>();
  for (const item of after) {
    const key = inventoryItemKey(section, item);
    kept.add(key);
    const previous = old.get(key);
    if (previous === undefined) added.push(item);
    else if (!jsonEqual(previous, item)) changed.push(item);
  }
  const removed = [...old.keys()].filter((key) => !kept.has(key));
  if (added.length === 0 && removed.length === 0 && changed.length === 0) return undefined;
  return { added, removed, changed };
}

/**
 * The delta that turns `before` into `after` (both taken in canonical form, see
 * `canonicalizeInventory`): `applyInventoryDelta(before, diffInventory(before, after))` equals the
 * canonical form of `after`.
 */
export function diffInventory(before: Inventory, after: Inventory): InventoryDelta {
  const a = canonicalizeInventory(before);
  const b = canonicalizeInventory(after);
  // Built loosely, section by section; every value put in comes from a typed Inventory.
  const delta: Record<string, unknown> = { collectedAt: b.collectedAt, uptimeSeconds: b.uptimeSeconds };
  for (const section of inventoryScalarSections) {
    if (!jsonEqual(a[section], b[section])) delta[section] = b[section];
  }
  for (const section of inventoryListSections) {
    const list = diffList(section, a[section], b[section]);
    if (list !== undefined) delta[section] = list;
  }
  return delta as InventoryDelta;
}

/** True when the delta changes nothing but `collectedAt` and `uptimeSeconds`. */
export function isEmptyInventoryDelta(delta: InventoryDelta): boolean {
  return (
    inventoryScalarSections.every((section) => delta[section] === undefined) &&
    inventoryListSections.every((section) => delta[section] === undefined)
  );
}

function baseMismatch(section: string, key: string, reason: string): EdgewardError {
  return new EdgewardError(
    'EW_INVENTORY_BASE_MISMATCH',
    `inventory delta does not fit its base: ${section} item "${key}" ${reason}; send a full snapshot`,
    { details: { section, key } },
  );
}

function applyList<S extends InventoryListSection>(
  section: S,
  before: readonly InventoryListItem<S>[],
  delta: InventoryListDelta<InventoryListItem<S>>,
): InventoryListItem<S>[] {
  const items = keyed(section, before);
  for (const key of delta.removed) {
    if (!items.delete(key)) throw baseMismatch(section, key, 'to remove is not in the base');
  }
  for (const item of delta.changed) {
    const key = inventoryItemKey(section, item);
    if (!items.has(key)) throw baseMismatch(section, key, 'to change is not in the base');
    items.set(key, item);
  }
  for (const item of delta.added) {
    const key = inventoryItemKey(section, item);
    if (items.has(key)) throw baseMismatch(section, key, 'to add is already in the base');
    items.set(key, item);
  }
  return [...items.values()];
}

/**
 * Applies a delta to the inventory it was computed from and returns the new inventory in canonical
 * form. Throws `EW_INVENTORY_BASE_MISMATCH` when the delta cannot have come from this base (it removes
 * or changes a key the base lacks, or adds one the base holds), rather than guessing.
 */
export function applyInventoryDelta(before: Inventory, delta: InventoryDelta): Inventory {
  const base = canonicalizeInventory(before);
  const next: Record<string, unknown> = {
    ...base,
    collectedAt: delta.collectedAt,
    uptimeSeconds: delta.uptimeSeconds,
  };
  for (const section of inventoryScalarSections) {
    if (delta[section] !== undefined) next[section] = delta[section];
  }
  for (const section of inventoryListSections) {
    const list = delta[section];
    if (list !== undefined) {
      next[section] = applyList(
        section,
        base[section],
        list as InventoryListDelta<InventoryListItem<typeof section>>,
      );
    }
  }
  return canonicalizeInventory(next as Inventory);
}
