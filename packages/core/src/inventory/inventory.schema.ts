import * as z from 'zod/mini';

/**
 * A device's inventory: what the agent's collector reads from a Linux root. Lists are keyed (see
 * `inventoryItemKey` in inventory-keys.ts) so that two snapshots can be compared item by item.
 */
export const osSchema = z.object({
  id: z.string(),
  name: z.string(),
  version: z.string(),
  versionId: z.string(),
  prettyName: z.string(),
});

export const firmwareSchema = z.object({
  /** Where the figures were read: SMBIOS/DMI, the device tree, a configured file, or nowhere. */
  source: z.enum(['dmi', 'device-tree', 'file', 'none']),
  vendor: z.optional(z.string()),
  version: z.optional(z.string()),
  date: z.optional(z.string()),
  model: z.optional(z.string()),
});

export const interfaceSchema = z.object({
  name: z.string(),
  mac: z.optional(z.string()),
  /** Addresses in CIDR notation, IPv4 and IPv6. */
  addresses: z.array(z.string()),
  up: z.optional(z.boolean()),
});

export const listenerSchema = z.object({
  protocol: z.enum(['tcp', 'udp']),
  address: z.string(),
  port: z.number().check(z.int(), z.minimum(0), z.maximum(65535)),
  process: z.optional(z.object({ pid: z.number().check(z.int()), name: z.string() })),
});

export const connectionSummarySchema = z.object({
  established: z.number().check(z.int(), z.minimum(0)),
  /** The busiest remote addresses, most connections first. */
  topRemotes: z.array(z.object({ address: z.string(), count: z.number().check(z.int(), z.minimum(1)) })),
});

export const packageSchema = z.object({
  name: z.string(),
  version: z.string(),
  manager: z.enum(['dpkg', 'apk', 'rpm', 'opkg']),
  architecture: z.optional(z.string()),
});

export const unitSchema = z.object({
  name: z.string(),
  /** systemd's ActiveState (active, inactive, failed, …) or `unknown` when read from files only. */
  activeState: z.string(),
  /** systemd's UnitFileState (enabled, disabled, static, masked, …). */
  enabledState: z.string(),
});

export const userSchema = z.object({
  name: z.string(),
  uid: z.number().check(z.int()),
  gid: z.number().check(z.int()),
  home: z.string(),
  shell: z.string(),
});

export const groupSchema = z.object({
  name: z.string(),
  gid: z.number().check(z.int()),
  members: z.array(z.string()),
});

export const kernelModuleSchema = z.object({
  name: z.string(),
  sizeBytes: z.number().check(z.int(), z.minimum(0)),
});

export const inventorySchema = z.object({
  /** Device clock, milliseconds since the epoch. */
  collectedAt: z.number().check(z.int()),
  hostname: z.string(),
  os: osSchema,
  kernel: z.object({ release: z.string(), version: z.string() }),
  architecture: z.string(),
  firmware: firmwareSchema,
  cpu: z.object({ model: z.string(), cores: z.number().check(z.int(), z.minimum(0)) }),
  memory: z.object({ totalBytes: z.number().check(z.int(), z.minimum(0)) }),
  uptimeSeconds: z.number().check(z.minimum(0)),
  interfaces: z.array(interfaceSchema),
  listeners: z.array(listenerSchema),
  connections: connectionSummarySchema,
  packages: z.array(packageSchema),
  units: z.array(unitSchema),
  users: z.array(userSchema),
  groups: z.array(groupSchema),
  kernelModules: z.array(kernelModuleSchema),
});

export type Inventory = z.infer<typeof inventorySchema>;
export type InventoryListener = z.infer<typeof listenerSchema>;
export type InventoryPackage = z.infer<typeof packageSchema>;
export type InventoryUser = z.infer<typeof userSchema>;
export type InventoryGroup = z.infer<typeof groupSchema>;
export type InventoryInterface = z.infer<typeof interfaceSchema>;
export type InventoryUnit = z.infer<typeof unitSchema>;
export type InventoryKernelModule = z.infer<typeof kernelModuleSchema>;
export type InventoryFirmware = z.infer<typeof firmwareSchema>;
