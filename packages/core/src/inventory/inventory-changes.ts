import type { InventoryChangeKind } from '../fleet/records.ts';
import type { Inventory, InventoryListener } from './inventory.schema.ts';
import {
  canonicalizeInventory,
  canonicalList,
  compareStrings,
  type InventoryListItem,
  type InventoryListSection,
  type InventoryScalarSection,
  type InventorySection,
  inventoryItemKey,
  inventoryListSections,
  inventoryScalarSections,
  jsonEqual,
} from './inventory-keys.ts';

/** One change for the device's history; the manager stores it as an `InventoryChangeRecord`. */
export interface InventoryChange {
  readonly section: InventorySection;
  /** `inventoryItemKey` for list items; the section name for scalar sections. */
  readonly key: string;
  readonly kind: InventoryChangeKind;
  /** The item or value before; `null` when added. */
  readonly before: unknown;
  /** The item or value after; `null` when removed. */
  readonly after: unknown;
}

/**
 * Scalar sections that make history. `connections` is left out: it is a moving count of established
 * sockets and would make a change record at every collection.
 */
const historyScalarSections = inventoryScalarSections.filter(
  (section): section is Exclude<InventoryScalarSection, 'connections'> => section !== 'connections',
);

/** Schema order, so that a device's history reads top to bottom the same way every time. */
const historyListSections = inventoryListSections;

const driftSections: ReadonlySet<string> = new Set<InventorySection>([
  'listeners',
  'packages',
  'firmware',
  'users',
  'kernelModules',
]);

/**
 * Whether a change in this section is security drift: a listening port, a package, the firmware, a
 * user account (a new UID 0 account among them) or a kernel module appeared, vanished or changed.
 * Other sections (interfaces, units, groups, os, …) are history only.
 */
export function isDriftSection(section: string): boolean {
  return driftSections.has(section);
}

/** The part of a listener that is not volatile: a restarted daemon gets a new pid, not a new identity. */
function stableListener(listener: InventoryListener): unknown {
  return listener.process === undefined
    ? listener
    : { ...listener, process: { name: listener.process.name } };
}

function sameItem<S extends InventoryListSection>(
  section: S,
  a: InventoryListItem<S>,
  b: InventoryListItem<S>,
): boolean {
  if (section === 'listeners') {
    return jsonEqual(stableListener(a as InventoryListener), stableListener(b as InventoryListener));
  }
  return jsonEqual(a, b);
}

function listChanges<S extends InventoryListSection>(
  section: S,
  before: readonly InventoryListItem<S>[],
  after: readonly InventoryListItem<S>[],
): InventoryChange[] {
  const old = new Map(before.map((item) => [inventoryItemKey(section, item), item]));
  const now = new Map(after.map((item) => [inventoryItemKey(section, item), item]));
  const keys = [...new Set([...old.keys(), ...now.keys()])].sort(compareStrings);
  const changes: InventoryChange[] = [];
  for (const key of keys) {
    const a = old.get(key);
    const b = now.get(key);
    if (a === undefined) changes.push({ section, key, kind: 'added', before: null, after: b });
    else if (b === undefined) changes.push({ section, key, kind: 'removed', before: a, after: null });
    else if (!sameItem(section, a, b)) changes.push({ section, key, kind: 'changed', before: a, after: b });
  }
  return changes;
}

/**
 * The changes from `before` to `after` worth keeping in a device's history, in section order then key
 * order. With no `before` (a first snapshot) every item and scalar is `added`. Volatile figures make no
 * record: `collectedAt`, `uptimeSeconds`, the connection summary and listener pids; a listener whose
 * process name changed does.
 */
export function inventoryChanges(before: Inventory | undefined, after: Inventory): InventoryChange[] {
  const b = canonicalizeInventory(after);
  const a = before === undefined ? undefined : canonicalizeInventory(before);
  const changes: InventoryChange[] = [];
  for (const section of historyScalarSections) {
    if (a === undefined) {
      changes.push({ section, key: section, kind: 'added', before: null, after: b[section] });
    } else if (!jsonEqual(a[section], b[section])) {
      changes.push({ section, key: section, kind: 'changed', before: a[section], after: b[section] });
    }
  }
  for (const section of historyListSections) {
    changes.push(...listChanges(section, a === undefined ? [] : a[section], b[section]));
  }
  return changes;
}

/**
 * The changes of one list section from `before` to `after`, as `inventoryChanges` gives them for that
 * section: for a caller that keeps only some sections of an inventory.
 */
export function inventoryListChanges<S extends InventoryListSection>(
  section: S,
  before: readonly InventoryListItem<S>[],
  after: readonly InventoryListItem<S>[],
): InventoryChange[] {
  return listChanges(section, canonicalList(section, before), canonicalList(section, after));
}
