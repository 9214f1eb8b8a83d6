import { type BaselineContext, type CheckOutcome, outcome, type SpecOf } from '../check-outcome.ts';
import { listInRoot, readTextInRoot, resolveInRoot } from '../root-files.ts';

interface Mount {
  readonly device: string;
  readonly mountPoint: string;
}

/** /proc/mounts escapes space, tab, newline and backslash as octal (`\040`). */
const unescapeMount = (field: string) =>
  field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));

export function parseMounts(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const [device, mountPoint] = line.trim().split(/\s+/);
    if (device === undefined || mountPoint === undefined || device === '') continue;
    mounts.push({ device: unescapeMount(device), mountPoint: unescapeMount(mountPoint) });
  }
  return mounts;
}

/** The mount that holds `path`: the longest mount point above it, the last mounted where stacked. */
function mountOf(mounts: readonly Mount[], path: string): Mount | undefined {
  let best: Mount | undefined;
  for (const mount of mounts) {
    const point = mount.mountPoint;
    const holds = point === '/' || path === point || path.startsWith(`${point}/`);
    if (holds && (best === undefined || point.length >= best.mountPoint.length)) best = mount;
  }
  return best;
}

const readFirst = async (root: string, path: string) => {
  const read = await readTextInRoot(root, path);
  return read.kind === 'text' ? read.text.trim() : undefined;
};

/**
 * The device-mapper node (`dm-3`) behind a mount's device: /dev/dm-N itself, the node a /dev/mapper or
 * LVM link points to, or the dm device whose `dm/name` is the mapper name (a fixture or an offline
 * root has no /dev links).
 */
async function dmNodeOf(root: string, device: string): Promise<string | undefined> {
  const direct = /^\/dev\/(dm-\d+)$/.exec(device)?.[1];
  if (direct !== undefined) return direct;
  if (!device.startsWith('/dev/')) return undefined;
  const resolved = await resolveInRoot(root, device);
  const linked = resolved.ok ? /^\/dev\/(dm-\d+)$/.exec(resolved.path)?.[1] : undefined;
  if (linked !== undefined) return linked;
  const lvm = /^\/dev\/([^/]+)\/([^/]+)$/.exec(device);
  const mapperName = device.startsWith('/dev/mapper/')
    ? device.slice('/dev/mapper/'.length)
    : lvm !== null && lvm[1] !== 'disk'
      ? `${lvm[1]!.replaceAll('-', '--')}-${lvm[2]!.replaceAll('-', '--')}`
      : undefined;
  if (mapperName === undefined) return undefined;
  const blocks = await listInRoot(root, '/sys/block');
  if (blocks.kind !== 'found') return undefined;
  for (const entry of blocks.entries) {
    if (
      entry.name.startsWith('dm-') &&
      (await readFirst(root, `/sys/block/${entry.name}/dm/name`)) === mapperName
    ) {
      return entry.name;
    }
  }
  return undefined;
}

/**
 * Whether a dm node is a LUKS mapping (`dm/uuid` starts with CRYPT-LUKS), or lies entirely on such
 * mappings (LVM on LUKS: every device under it, followed through `slaves`, is one).
 */
async function luksBeneath(root: string, node: string, depth = 0): Promise<string | undefined> {
  const uuid = await readFirst(root, `/sys/block/${node}/dm/uuid`);
  if (uuid?.startsWith('CRYPT-LUKS')) return `${node} is ${uuid.split('-').slice(1, 2).join('')}`;
  if (depth >= 8) return undefined;
  const slaves = await listInRoot(root, `/sys/block/${node}/slaves`);
  if (slaves.kind !== 'found' || slaves.entries.length === 0) return undefined;
  const found: string[] = [];
  for (const slave of slaves.entries) {
    const below = slave.name.startsWith('dm-') ? await luksBeneath(root, slave.name, depth + 1) : undefined;
    if (below === undefined) return undefined;
    found.push(below);
  }
  return `${node} lies on ${found.join(' and ')}`;
}

/** Each mount point must sit on dm-crypt LUKS, read from /proc/mounts and /sys/block under the root. */
export async function evaluateDiskEncryption(
  spec: SpecOf<'disk-encryption'>,
  context: BaselineContext,
): Promise<CheckOutcome> {
  const read = await readTextInRoot(context.root, '/proc/mounts');
  if (read.kind !== 'text') {
    return outcome(
      'error',
      `cannot read /proc/mounts: ${read.kind === 'unreadable' ? read.reason : 'it does not exist'}`,
    );
  }
  const mounts = parseMounts(read.text);
  const plain: string[] = [];
  const encrypted: string[] = [];
  for (const path of spec.mounts) {
    const mount = mountOf(mounts, path);
    if (mount === undefined) {
      plain.push(`${path} is on no mounted file system`);
      continue;
    }
    const where =
      mount.mountPoint === path
        ? `${path} on ${mount.device}`
        : `${path} lies on ${mount.mountPoint} (${mount.device})`;
    const node = await dmNodeOf(context.root, mount.device);
    const luks = node === undefined ? undefined : await luksBeneath(context.root, node);
    if (luks !== undefined) encrypted.push(`${where}: ${luks}`);
    else
      plain.push(
        `${where} is not ${node === undefined ? 'a device-mapper device' : `encrypted (${node} is not LUKS)`}`,
      );
  }
  if (plain.length > 0) return outcome('fail', plain.join('; '));
  return outcome('pass', encrypted.join('; '));
}
