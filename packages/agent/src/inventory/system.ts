import { machine, hostname as osHostname } from 'node:os';
import type { Inventory, InventoryFirmware, InventoryKernelModule } from '@edgeward/core';
import { firstLine, parseKeyValues, type RootFs } from './root-fs.ts';

export async function readHostname(fs: RootFs): Promise<string> {
  // The kernel's name is the one in use; etc/hostname is only what the next boot will set.
  const name =
    firstLine(await fs.text('proc/sys/kernel/hostname')) ?? firstLine(await fs.text('etc/hostname'));
  return name ?? (fs.live ? osHostname() : '');
}

export async function readOs(fs: RootFs): Promise<Inventory['os']> {
  const text = (await fs.text('etc/os-release')) ?? (await fs.text('usr/lib/os-release'));
  const values = parseKeyValues(text);
  // Defaults are the ones os-release(5) prescribes for a missing field.
  const name = values.get('NAME') ?? 'Linux';
  const versionId = values.get('VERSION_ID') ?? '';
  return {
    id: values.get('ID') ?? 'linux',
    name,
    // Alpine and OpenWrt leave VERSION out; VERSION_ID is then the only version there is.
    version: values.get('VERSION') ?? versionId,
    versionId,
    prettyName: values.get('PRETTY_NAME') ?? name,
  };
}

export async function readKernel(fs: RootFs): Promise<Inventory['kernel']> {
  const banner = firstLine(await fs.text('proc/version')) ?? '';
  return {
    release:
      firstLine(await fs.text('proc/sys/kernel/osrelease')) ?? /^Linux version (\S+)/.exec(banner)?.[1] ?? '',
    // uname -v: build number, flags and date, which tell two builds of one release apart.
    version: firstLine(await fs.text('proc/sys/kernel/version')) ?? /\s(#\d+.*)$/.exec(banner)?.[1] ?? '',
  };
}

export async function readArchitecture(fs: RootFs): Promise<string> {
  // The kernel's machine name (x86_64, aarch64, armv7l); process.arch would name Node's build instead.
  const arch = firstLine(await fs.text('proc/sys/kernel/arch'));
  if (arch !== undefined) return arch;
  if (fs.live) return machine();
  return firstLine(await fs.text('etc/apk/arch')) ?? 'unknown';
}

/** Strings in the device tree end in NUL; lists of strings are NUL-separated. */
function dtStrings(value: string | undefined): string[] {
  return (value ?? '')
    .split('\0')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function withDefined(
  firmware: InventoryFirmware,
  fields: Record<string, string | undefined>,
): InventoryFirmware {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields))
    if (value !== undefined && value !== '') out[key] = value;
  return { ...firmware, ...out };
}

/**
 * Firmware from the configured file (an operator who names one knows best), else SMBIOS/DMI (PCs and
 * industrial PCs), else the device tree (ARM boards), else nothing. The configured file holds
 * `VENDOR=`, `VERSION=`, `DATE=` and `MODEL=` lines, or only the version on its first line; its path
 * is taken inside the root.
 */
export async function readFirmware(fs: RootFs, firmwareFile: string | undefined): Promise<InventoryFirmware> {
  if (firmwareFile !== undefined) {
    const text = await fs.text(firmwareFile);
    const values = parseKeyValues(text);
    const get = (key: string) => values.get(key) ?? values.get(key.toLowerCase());
    const fields = { vendor: get('VENDOR'), version: get('VERSION'), date: get('DATE'), model: get('MODEL') };
    if (Object.values(fields).some((v) => v !== undefined)) return withDefined({ source: 'file' }, fields);
    // A vendor's version file often holds the bare version and nothing else.
    const bare = values.size === 0 ? firstLine(text) : undefined;
    if (bare !== undefined) return { source: 'file', version: bare };
  }
  const dmi = async (name: string) => firstLine(await fs.text(`sys/class/dmi/id/${name}`));
  const fromDmi = {
    vendor: await dmi('bios_vendor'),
    version: await dmi('bios_version'),
    date: await dmi('bios_date'),
    model: await dmi('product_name'),
  };
  if (Object.values(fromDmi).some((v) => v !== undefined)) return withDefined({ source: 'dmi' }, fromDmi);

  for (const base of ['proc/device-tree', 'sys/firmware/devicetree/base']) {
    const model = dtStrings(await fs.text(`${base}/model`))[0];
    const compatible = dtStrings(await fs.text(`${base}/compatible`))[0];
    if (model === undefined && compatible === undefined) continue;
    return withDefined(
      { source: 'device-tree' },
      {
        // The first compatible string is `vendor,board`: the closest a device tree comes to a vendor.
        vendor: compatible?.split(',')[0],
        // U-Boot records its own version under /chosen; other boot loaders leave no version.
        version: dtStrings(await fs.text(`${base}/chosen/u-boot,version`))[0],
        model: model ?? compatible,
      },
    );
  }
  return { source: 'none' };
}

export async function readCpu(fs: RootFs): Promise<Inventory['cpu']> {
  const fields = new Map<string, string>();
  let cores = 0;
  for (const line of (await fs.text('proc/cpuinfo'))?.split('\n') ?? []) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    if (key === 'processor') cores++;
    if (!fields.has(key)) fields.set(key, line.slice(colon + 1).trim());
  }
  // x86 says `model name`; 32-bit ARM `Processor`; MIPS `cpu model`; many ARM boards only `Hardware`.
  const model = ['model name', 'Processor', 'cpu model', 'Hardware'].map((k) => fields.get(k)).find((v) => v);
  return { model: model ?? '', cores };
}

export async function readMemory(fs: RootFs): Promise<Inventory['memory']> {
  const kib = /^MemTotal:\s+(\d+)\s*kB/m.exec((await fs.text('proc/meminfo')) ?? '')?.[1];
  return { totalBytes: kib === undefined ? 0 : Number(kib) * 1024 };
}

export async function readUptimeSeconds(fs: RootFs): Promise<number> {
  const seconds = Number.parseFloat((await fs.text('proc/uptime')) ?? '');
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : 0;
}

export async function readKernelModules(fs: RootFs): Promise<InventoryKernelModule[]> {
  const modules: InventoryKernelModule[] = [];
  for (const line of (await fs.text('proc/modules'))?.split('\n') ?? []) {
    const [name, size] = line.split(' ');
    if (name === undefined || name === '' || size === undefined || !/^\d+$/.test(size)) continue;
    modules.push({ name, sizeBytes: Number(size) });
  }
  return modules;
}
