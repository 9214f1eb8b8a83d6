import type { Inventory } from './inventory.schema.ts';

/**
 * How inventory sections are identified and ordered. Lists are keyed sets: two snapshots are compared
 * item by item through `inventoryItemKey`, and the canonical form sorts every list by that key so that
 * the order in which a collector happened to read things never looks like a change.
 */

export const inventoryListSections = [
  'interfaces',
  'listeners',
  'packages',
  'units',
  'users',
  'groups',
  'kernelModules',
] as const;
export type InventoryListSection = (typeof inventoryListSections)[number];

/** Sections replaced whole when they differ. */
export const inventoryScalarSections = [
  'hostname',
  'os',
  'kernel',
  'architecture',
  'firmware',
  'cpu',
  'memory',
  'connections',
] as const;
export type InventoryScalarSection = (typeof inventoryScalarSections)[number];

export type InventorySection = InventoryListSection | InventoryScalarSection;

/** Every comparable section in schema order; `collectedAt` and `uptimeSeconds` are not sections. */
export const inventorySections: readonly InventorySection[] = [
  'hostname',
  'os',
  'kernel',
  'architecture',
  'firmware',
  'cpu',
  'memory',
  'interfaces',
  'listeners',
  'connections',
  'packages',
  'units',
  'users',
  'groups',
  'kernelModules',
];

export type InventoryListItem<S extends InventoryListSection> = Inventory[S][number];

const byName = (item: { name: string }): string => item.name;

const itemKeys: { [S in InventoryListSection]: (item: InventoryListItem<S>) => string } = {
  interfaces: byName,
  // Brackets keep an IPv6 address apart from its port: `tcp/[::]:22`, `udp/0.0.0.0:68`.
  listeners: (l) => `${l.protocol}/${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`,
  // dpkg's own multi-arch notation, so that libc6:amd64 and libc6:i386 stay two items.
  packages: (p) => `${p.manager}/${p.name}${p.architecture === undefined ? '' : `:${p.architecture}`}`,
  units: byName,
  users: byName,
  groups: byName,
  kernelModules: byName,
};

/**
 * The key of an item inside its list section: `eth0`, `tcp/0.0.0.0:22`, `tcp/[::]:22`,
 * `dpkg/openssl:amd64`, `apk/busybox:x86_64`, `sshd.service`, `root`. Change records use the same keys.
 */
export function inventoryItemKey<S extends InventoryListSection>(
  section: S,
  item: InventoryListItem<S>,
): string {
  return (itemKeys[section] as (item: InventoryListItem<S>) => string)(item);
}

/** Plain code-unit order: the same on every machine and locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedUnique(values: readonly string[]): string[] {
  return [...new Set(values)].sort(compareStrings);
}

/** Items with lists inside them: interface addresses and group members are sets, sorted and unique. */
const canonicalItems: { [S in InventoryListSection]?: (item: InventoryListItem<S>) => InventoryListItem<S> } =
  {
    interfaces: (i) => ({ ...i, addresses: sortedUnique(i.addresses) }),
    groups: (g) => ({ ...g, members: sortedUnique(g.members) }),
  };

/**
 * One list section in canonical form: sorted by key, and of two items with the same key only the first
 * survives, as keys name one item; interface addresses and group members sorted and unique.
 */
export function canonicalList<S extends InventoryListSection>(
  section: S,
  items: readonly InventoryListItem<S>[],
): InventoryListItem<S>[] {
  const canonicalItem = canonicalItems[section] as
    | ((item: InventoryListItem<S>) => InventoryListItem<S>)
    | undefined;
  const byKey = new Map<string, InventoryListItem<S>>();
  for (const item of items) {
    const key = inventoryItemKey(section, item);
    if (!byKey.has(key)) byKey.set(key, canonicalItem === undefined ? item : canonicalItem(item));
  }
  return [...byKey.keys()].sort(compareStrings).map((key) => byKey.get(key)!);
}

/**
 * The canonical form of an inventory: lists sorted by key without duplicate keys, interface addresses
 * and group members sorted and unique, busiest remotes by count then address. Diffs, deltas and change
 * records are all computed on this form, so two inventories that differ only in order are equal.
 */
export function canonicalizeInventory(inventory: Inventory): Inventory {
  return {
    ...inventory,
    interfaces: canonicalList('interfaces', inventory.interfaces),
    listeners: canonicalList('listeners', inventory.listeners),
    connections: {
      ...inventory.connections,
      topRemotes: [...inventory.connections.topRemotes].sort(
        (a, b) => b.count - a.count || compareStrings(a.address, b.address),
      ),
    },
    packages: canonicalList('packages', inventory.packages),
    units: canonicalList('units', inventory.units),
    users: canonicalList('users', inventory.users),
    groups: canonicalList('groups', inventory.groups),
    kernelModules: canonicalList('kernelModules', inventory.kernelModules),
  };
}

/**
 * Structural equality of JSON-like values. A property holding `undefined` counts as absent, as it does
 * once serialized, so an optional field left out and one set to undefined compare equal.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((value, index) => jsonEqual(value, b[index]));
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const leftKeys = Object.keys(left).filter((key) => left[key] !== undefined);
  const rightKeys = Object.keys(right).filter((key) => right[key] !== undefined);
  if (leftKeys.length !== rightKeys.length) return false;
  return leftKeys.every((key) => jsonEqual(left[key], right[key]));
}
