import { randomBytes } from 'node:crypto';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** What a forensic fixture tree holds, for assertions. */
export interface ForensicRoot {
  readonly root: string;
  /** The content of /usr/sbin/sshd, the executable of the one process. */
  readonly sshdBinary: Buffer;
  /** /var/lib/app/data.bin: random, large enough for many upload chunks. */
  readonly dataFile: Buffer;
}

/**
 * A small Linux tree for captures: one process (sshd, pid 1, listening on port 22), a kernel module,
 * memory and load figures, a mount, an authentication log and a data file.
 */
export async function writeForensicRoot(root: string, dataBytes = 300 * 1024): Promise<ForensicRoot> {
  const sshdBinary = Buffer.from('\u007fELF fixture sshd binary');
  const dataFile = randomBytes(dataBytes);
  const files: Record<string, string | Buffer> = {
    'proc/stat': 'cpu  1 2 3 4\nbtime 1764000000\n',
    'proc/1/cmdline': '/usr/sbin/sshd\0-D\0',
    'proc/1/status': 'Name:\tsshd\nPPid:\t0\nUid:\t0\t0\t0\t0\n',
    'proc/1/stat': '1 (sshd) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 250 0 0',
    'proc/net/tcp':
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n' +
      '   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n',
    'proc/modules': 'nf_tables 245760 0 - Live 0x0000000000000000\n',
    'proc/meminfo': 'MemTotal:        1024000 kB\nMemAvailable:     512000 kB\n',
    'proc/loadavg': '0.10 0.20 0.30 1/100 1234\n',
    'proc/uptime': '100.00 50.00\n',
    'proc/mounts': '/dev/root / ext4 rw,relatime 0 0\n',
    'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
    'var/log/auth.log':
      'Dec  7 06:00:00 plc-gw sshd[1]: Accepted password for root from 203.0.113.9 port 50000 ssh2\n',
    'usr/sbin/sshd': sshdBinary,
    'var/lib/app/data.bin': dataFile,
  };
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  await mkdir(join(root, 'proc/1/fd'), { recursive: true });
  await symlink('/usr/sbin/sshd', join(root, 'proc/1/exe'));
  await symlink('socket:[12345]', join(root, 'proc/1/fd/3'));
  return { root, sshdBinary, dataFile };
}
