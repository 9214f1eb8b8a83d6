/**
 * IPv4 and IPv6 addresses and networks as 16 bytes (IPv4 as IPv4-mapped IPv6, `::ffff:a.b.c.d`), so
 * that one comparison serves both families and sshd's `::ffff:10.0.0.5` falls into `10.0.0.0/8`.
 */

export interface IpNetwork {
  readonly bytes: Uint8Array;
  /** Prefix length over the 128 bits. */
  readonly prefix: number;
}

/** Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address (a /32 or /128). */
export function parseCidr(text: string): IpNetwork | undefined {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text.trim() : text.slice(0, slash).trim();
  const bytes = parseIp(address);
  if (bytes === undefined) return undefined;
  const v4 = !address.includes(':');
  const width = v4 ? 32 : 128;
  let length = width;
  if (slash !== -1) {
    const written = text.slice(slash + 1).trim();
    if (!/^\d{1,3}$/.test(written)) return undefined;
    length = Number(written);
    if (length > width) return undefined;
  }
  const prefix = v4 ? 96 + length : length;
  // Host bits are cleared so that `10.1.2.3/8` and `10.0.0.0/8` are the same network.
  const network = new Uint8Array(bytes);
  for (let bit = prefix; bit < 128; bit += 1) {
    const index = bit >> 3;
    network[index] = (network[index] ?? 0) & ~(0x80 >> (bit & 7));
  }
  return { bytes: network, prefix };
}

/** The network in its usual notation (`10.0.0.0/8`, `2001:db8::/32`). */
export function formatCidr(network: IpNetwork): string {
  const { bytes, prefix } = network;
  if (isMappedV4(bytes) && prefix >= 96) {
    return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}/${prefix - 96}`;
  }
  const groups: string[] = [];
  for (let index = 0; index < 16; index += 2) {
    groups.push((((bytes[index] ?? 0) << 8) | (bytes[index + 1] ?? 0)).toString(16));
  }
  return `${groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}/${prefix}`;
}

export function networkContains(network: IpNetwork, address: Uint8Array): boolean {
  const whole = network.prefix >> 3;
  for (let index = 0; index < whole; index += 1) {
    if (network.bytes[index] !== address[index]) return false;
  }
  const rest = network.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((network.bytes[whole] ?? 0) & mask) === ((address[whole] ?? 0) & mask);
}

/** 16 bytes of an IPv4 or IPv6 address (brackets and a `%zone` allowed), or undefined. */
export function parseIp(text: string): Uint8Array | undefined {
  let address = text;
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
  const zone = address.indexOf('%');
  if (zone !== -1) address = address.slice(0, zone);
  if (!address.includes(':')) {
    const v4 = parseIpv4(address);
    if (v4 === undefined) return undefined;
    const bytes = new Uint8Array(16);
    bytes[10] = 0xff;
    bytes[11] = 0xff;
    bytes.set(v4, 12);
    return bytes;
  }
  return parseIpv6(address);
}

function parseIpv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    bytes.push(value);
  }
  return bytes;
}

function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : (halves[0] ?? '').split(':');
  const tail = halves.length === 2 ? (halves[1] === '' ? [] : (halves[1] ?? '').split(':')) : [];
  const groups: number[] = [];
  const readGroups = (parts: readonly string[], into: number[]): boolean => {
    for (const [index, part] of parts.entries()) {
      if (index === parts.length - 1 && part.includes('.')) {
        const v4 = parseIpv4(part);
        if (v4 === undefined) return false;
        into.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return false;
      into.push(Number.parseInt(part, 16));
    }
    return true;
  };
  const tailGroups: number[] = [];
  // Only the last group of the address may be dotted IPv4.
  if (halves.length === 2 && head.some((part) => part.includes('.'))) return undefined;
  if (!readGroups(head, groups)) return undefined;
  if (!readGroups(tail, tailGroups)) return undefined;
  const missing = 8 - groups.length - tailGroups.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...groups, ...new Array<number>(missing).fill(0), ...tailGroups];
  const bytes = new Uint8Array(16);
  for (const [index, group] of all.entries()) {
    bytes[index * 2] = group >> 8;
    bytes[index * 2 + 1] = group & 0xff;
  }
  return bytes;
}

function isMappedV4(bytes: Uint8Array): boolean {
  for (let index = 0; index < 10; index += 1) if (bytes[index] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}
