// Security events as the agent really makes them, for the wire-size and backlog benchmarks: an
// authentication log written the way sshd, sudo and rsyslog write one on an exposed device, read by the
// real AuthLogCollector, and a generated /etc and /usr/local/bin changed in rounds (upgrades, edits,
// chmods, new and removed files) and scanned by the real FimCollector. Seeded: every run makes the same
// lines and the same tree, so runs compare.
import { chmod, mkdir, mkdtemp, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AuthLogCollector, FimCollector } from '@edgeward/agent';
import type { NewDeviceEvent } from '@edgeward/core';

export interface RealisticEvents {
  /** Authentication events, oldest first. */
  readonly auth: NewDeviceEvent[];
  /** File-integrity events, oldest first (the first scan's `fim.baseline` included). */
  readonly fim: NewDeviceEvent[];
  /** Both, merged by time, as one device would queue them. */
  readonly mixed: NewDeviceEvent[];
  /** Lines written to the generated auth.log (most carry no event: PAM, disconnects, cron). */
  readonly authLogLines: number;
}

export interface RealisticEventsOptions {
  /** Events wanted in all, about (the last session or scan round may add a few). */
  readonly events: number;
  /** Share of file-integrity events, 0–1 (default 0.15). */
  readonly fimShare?: number;
  /** Seed of the generator (default 1). */
  readonly seed?: number;
}

/** A small seeded generator (mulberry32): the same seed makes the same log and tree. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Starts the generated timelines: a fixed day, so that runs on different dates make the same bytes. */
const TIMELINE_START = Date.UTC(2026, 10, 20, 0, 0, 0);
const HOSTNAME = 'gw-lisbon-017';

/**
 * Writes the log and the tree in a temporary directory, runs the collectors over them and returns
 * their events (without sequence numbers: the queue gives those).
 */
export function generateRealisticEvents(options: RealisticEventsOptions): Promise<RealisticEvents> {
  // Benchmarks in one run share what they asked for alike: a generation takes seconds.
  const key = `${options.events}|${options.fimShare ?? 0.15}|${options.seed ?? 1}`;
  let generated = generatedBefore.get(key);
  if (generated === undefined) {
    generated = generate(options);
    generatedBefore.set(key, generated);
  }
  return generated;
}

const generatedBefore = new Map<string, Promise<RealisticEvents>>();

async function generate(options: RealisticEventsOptions): Promise<RealisticEvents> {
  const seed = options.seed ?? 1;
  const fimWanted = Math.round(options.events * (options.fimShare ?? 0.15));
  const authWanted = options.events - fimWanted;
  const dir = await mkdtemp(join(tmpdir(), 'edgeward-bench-realistic-'));
  try {
    const { lines, endTime } = await writeAuthLog(join(dir, 'root'), authWanted, seededRandom(seed));
    const auth = await collectAuthEvents(dir, authWanted);
    const fim = await collectFimEvents(dir, fimWanted, TIMELINE_START, endTime, seededRandom(seed + 1));
    const mixed = [...auth, ...fim].sort((a, b) => a.time - b.time);
    return { auth, fim, mixed, authLogLines: lines };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// --- authentication log --------------------------------------------------------------------------------

/** What brute-force bots try, most often first; root dominates. */
const botUsers = [
  'admin',
  'test',
  'user',
  'ubuntu',
  'pi',
  'oracle',
  'postgres',
  'git',
  'guest',
  'ftpuser',
  'support',
  'deploy',
  'hadoop',
  'minecraft',
  'steam',
  'ansible',
  'jenkins',
  'debian',
  'centos',
  'user1',
  'sol',
  'es',
  'nagios',
  'validator',
  'mysql',
];
const staff = [
  { user: 'alice', uid: 1000, key: 'SHA256:7H1k5oXq9b0wzGmV0cP3yYl2eL8uQx4Jr6sT1dNfA2E' },
  { user: 'bob', uid: 1001, key: 'SHA256:Qm4cV8nW2xZr0tB7yH5jK1pL9sD3fG6aE2uI8oR4wTc' },
  { user: 'deploy', uid: 1002, key: 'SHA256:b3JnYW5pYy1kZXBsb3kta2V5LWZvci1jaS1ydW5uZXI' },
  { user: 'backup', uid: 1003, key: 'SHA256:Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa9876543' },
];
const staffAddresses = ['10.20.0.15', '10.20.0.16', '10.20.4.101', '192.168.50.23', '10.8.0.6'];
const sudoCommands = [
  '/usr/bin/systemctl restart nginx',
  '/usr/bin/journalctl -u edgeward-agent -n 200',
  '/usr/bin/apt-get update',
  '/usr/bin/apt-get -y upgrade',
  '/usr/bin/tail -f /var/log/syslog',
  '/usr/sbin/reboot',
  '/usr/bin/vi /etc/nginx/conf.d/site.conf',
  '/usr/local/bin/backup-now --target s3://bucket/gw-lisbon-017',
  '/bin/bash',
];

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)] as T;
}

/** Addresses of scanning bots: mostly IPv4 from all over the space, some IPv6. */
function botAddresses(random: () => number, count: number): string[] {
  const addresses: string[] = [];
  while (addresses.length < count) {
    if (random() < 0.08) {
      const group = () => Math.floor(random() * 0x10000).toString(16);
      addresses.push(`2a0${Math.floor(random() * 10)}:${group()}:${group()}::${group()}`);
      continue;
    }
    const first = 1 + Math.floor(random() * 222);
    if (first === 10 || first === 127 || first === 172 || first === 192) continue;
    const octet = () => Math.floor(random() * 256);
    addresses.push(`${first}.${octet()}.${octet()}.${octet()}`);
  }
  return addresses;
}

/** rsyslog's high-precision format (Debian 12's default): `2026-11-20T00:00:01.123456+00:00`. */
function timestamp(ms: number, micros: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}.${String(micros).padStart(6, '0')}+00:00`;
}

/**
 * Writes `root/var/log/auth.log` with sessions until about `eventsWanted` of its lines carry an event:
 * password guessing by bots (known and unknown users, with the PAM and disconnect lines around them),
 * scanners that close before authenticating, staff logging in with keys, sudo (and now and then a
 * mistyped sudo password), cron sessions.
 */
async function writeAuthLog(
  root: string,
  eventsWanted: number,
  random: () => number,
): Promise<{ lines: number; endTime: number }> {
  const bots = botAddresses(random, 600);
  const lines: string[] = [];
  let time = TIMELINE_START;
  let pid = 41_000;
  let events = 0;
  const log = (program: string, processId: number, message: string) => {
    time += Math.floor(random() * 400);
    lines.push(
      `${timestamp(time, Math.floor(random() * 1_000_000))} ${HOSTNAME} ${program}[${processId}]: ${message}`,
    );
  };
  const nextPid = () => {
    pid += 1 + Math.floor(random() * 6);
    if (pid > 4_194_000) pid = 1000;
    return pid;
  };
  while (events < eventsWanted) {
    // Sessions arrive about every 4 s on average.
    time += Math.floor(-Math.log(1 - random()) * 4000);
    const kind = random();
    if (kind < 0.8) {
      // A bot keeps the same address for a while: the pool is small and skewed towards its head.
      const address = bots[Math.floor(random() ** 2 * bots.length)] ?? '198.51.100.1';
      const port = 1024 + Math.floor(random() * 64_000);
      const id = nextPid();
      const scanner = random() < 0.15;
      const user = random() < 0.45 ? 'root' : pick(random, botUsers);
      if (scanner) {
        log('sshd', id, `Connection closed by authenticating user root ${address} port ${port} [preauth]`);
        events += 1;
      } else if (user === 'root') {
        log(
          'sshd',
          id,
          `pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${address}  user=root`,
        );
        log('sshd', id, `Failed password for root from ${address} port ${port} ssh2`);
        log('sshd', id, `Received disconnect from ${address} port ${port}:11: Bye Bye [preauth]`);
        log('sshd', id, `Disconnected from authenticating user root ${address} port ${port} [preauth]`);
        events += 1;
      } else {
        log('sshd', id, `Invalid user ${user} from ${address} port ${port}`);
        log('sshd', id, 'pam_unix(sshd:auth): check pass; user unknown');
        log(
          'sshd',
          id,
          `pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${address}`,
        );
        log('sshd', id, `Failed password for invalid user ${user} from ${address} port ${port} ssh2`);
        log('sshd', id, `Received disconnect from ${address} port ${port}:11: Bye Bye [preauth]`);
        log('sshd', id, `Disconnected from invalid user ${user} ${address} port ${port} [preauth]`);
        events += 2;
      }
    } else if (kind < 0.9) {
      const person = pick(random, staff);
      const address = pick(random, staffAddresses);
      const port = 32_768 + Math.floor(random() * 28_000);
      const id = nextPid();
      log(
        'sshd',
        id,
        `Accepted publickey for ${person.user} from ${address} port ${port} ssh2: ED25519 ${person.key}`,
      );
      log(
        'sshd',
        id,
        `pam_unix(sshd:session): session opened for user ${person.user}(uid=${person.uid}) by (uid=0)`,
      );
      log('systemd-logind', 612, `New session ${id % 10_000} of user ${person.user}.`);
      events += 1;
    } else if (kind < 0.97) {
      const person = pick(random, staff.slice(0, 3));
      const id = nextPid();
      const tty = `pts/${Math.floor(random() * 4)}`;
      const command = pick(random, sudoCommands);
      if (random() < 0.08) {
        log(
          'sudo',
          id,
          `pam_unix(sudo:auth): authentication failure; logname=${person.user} uid=${person.uid} euid=0 tty=/dev/${tty} ruser=${person.user} rhost=  user=${person.user}`,
        );
        events += 1;
      }
      log(
        'sudo',
        id,
        `  ${person.user} : TTY=${tty} ; PWD=/home/${person.user} ; USER=root ; COMMAND=${command}`,
      );
      log(
        'sudo',
        id,
        `pam_unix(sudo:session): session opened for user root(uid=0) by ${person.user}(uid=${person.uid})`,
      );
      log('sudo', id, 'pam_unix(sudo:session): session closed for user root');
      events += 1;
    } else {
      const id = nextPid();
      log('CRON', id, 'pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)');
      log('CRON', id, 'pam_unix(cron:session): session closed for user root');
    }
  }
  const path = join(root, 'var/log/auth.log');
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${lines.join('\n')}\n`);
  const mtime = new Date(time + 1000);
  await utimes(path, mtime, mtime);
  return { lines: lines.length, endTime: time };
}

async function collectAuthEvents(dir: string, wanted: number): Promise<NewDeviceEvent[]> {
  const events: NewDeviceEvent[] = [];
  const collector = new AuthLogCollector({
    stateDir: join(dir, 'state-auth'),
    root: join(dir, 'root'),
    files: ['/var/log/auth.log'],
    startAt: 'beginning',
    watch: false,
    journal: 'never',
    emit: async (batch) => {
      events.push(...batch);
    },
  });
  await mkdir(join(dir, 'state-auth'), { recursive: true });
  await collector.poll();
  await collector.stop();
  if (events.length < wanted * 0.95) {
    throw new Error(
      `the auth log collector found ${events.length} events where about ${wanted} were written`,
    );
  }
  return events;
}

// --- file integrity ------------------------------------------------------------------------------------

interface TreeFile {
  path: string;
  kind: 'config' | 'binary';
}

function configText(random: () => number, name: string, revision: number): string {
  const lines = [`# ${name}, managed by ops (revision ${revision})`];
  const count = 8 + Math.floor(random() * 60);
  for (let index = 0; index < count; index++) {
    lines.push(`option_${index} = ${Math.floor(random() * 100_000)}`);
  }
  return `${lines.join('\n')}\n`;
}

function binaryBytes(random: () => number): Buffer {
  const bytes = Buffer.allocUnsafe(4 * (512 + Math.floor(random() * 4096)));
  for (let index = 0; index < bytes.length; index += 4)
    bytes.writeUInt32LE(Math.floor(random() * 2 ** 32), index);
  return bytes;
}

/**
 * A device's watched tree (about 900 files): accounts, sudoers, ssh, systemd units, nginx and
 * application configs, and tools in /usr/local/bin, changed in rounds until about `wanted` events came
 * out: a package upgrade rewriting tools, config edits, chmod slips, files created and removed.
 */
async function collectFimEvents(
  dir: string,
  wanted: number,
  startTime: number,
  endTime: number,
  random: () => number,
): Promise<NewDeviceEvent[]> {
  const root = join(dir, 'root');
  const files: TreeFile[] = [
    ...['passwd', 'shadow', 'group', 'gshadow', 'sudoers', 'hosts', 'fstab', 'crontab'].map((name) => ({
      path: `/etc/${name}`,
      kind: 'config' as const,
    })),
    ...Array.from({ length: 6 }, (_, i) => ({ path: `/etc/sudoers.d/team-${i}`, kind: 'config' as const })),
    ...['sshd_config', 'ssh_config', 'moduli', 'ssh_host_ed25519_key.pub', 'ssh_host_rsa_key.pub'].map(
      (name) => ({ path: `/etc/ssh/${name}`, kind: 'config' as const }),
    ),
    ...Array.from({ length: 220 }, (_, i) => ({
      path: `/etc/systemd/system/service-${i.toString(36)}.service`,
      kind: 'config' as const,
    })),
    ...Array.from({ length: 80 }, (_, i) => ({
      path: `/etc/nginx/conf.d/site-${i}.conf`,
      kind: 'config' as const,
    })),
    ...Array.from({ length: 260 }, (_, i) => ({
      path: `/etc/app/${['sensors', 'modbus', 'mqtt', 'vpn'][i % 4]}/unit-${i}.yaml`,
      kind: 'config' as const,
    })),
    ...Array.from({ length: 320 }, (_, i) => ({
      path: `/usr/local/bin/tool-${i.toString(36)}`,
      kind: 'binary' as const,
    })),
  ];
  const write = async (file: TreeFile, revision: number) => {
    const full = join(root, file.path);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(
      full,
      file.kind === 'binary' ? binaryBytes(random) : configText(random, file.path, revision),
    );
    await chmod(full, file.kind === 'binary' ? 0o755 : 0o644);
  };
  for (const file of files) await write(file, 0);

  // Scan rounds are spread over the authentication log's span, so that the mixed stream interleaves.
  let time = startTime;
  const events: NewDeviceEvent[] = [];
  const collector = new FimCollector({
    paths: ['/etc', '/usr/local/bin'],
    stateDir: join(dir, 'state-fim'),
    root,
    watch: false,
    now: () => time,
    emit: async (batch) => {
      events.push(...batch);
    },
  });
  await mkdir(join(dir, 'state-fim'), { recursive: true });
  await collector.scan();
  let revision = 1;
  let created = 0;
  while (events.length < wanted) {
    // Events per round so far tell how many rounds are left to share the remaining span.
    const perRound = Math.max(1, events.length / revision);
    const roundsLeft = Math.max(1, (wanted - events.length) / perRound);
    time += Math.floor(((endTime - time) / roundsLeft) * (0.5 + random()));
    const round = random();
    const live = [...files];
    if (round < 0.3) {
      // An upgrade: a third of the tools rewritten at once.
      for (const file of live) if (file.kind === 'binary' && random() < 0.33) await write(file, revision);
    } else if (round < 0.75) {
      // Config edits.
      for (const file of live) if (file.kind === 'config' && random() < 0.08) await write(file, revision);
    } else if (round < 0.9) {
      // Permissions changed by hand or by a misbehaving script.
      for (const file of live) {
        if (random() < 0.04) await chmod(join(root, file.path), file.kind === 'binary' ? 0o775 : 0o664);
      }
    } else {
      // Files created and removed.
      for (let index = 0; index < 20; index++) {
        const file: TreeFile = { path: `/etc/app/drop-in/new-${created++}.yaml`, kind: 'config' };
        files.push(file);
        await write(file, revision);
      }
      for (let index = 0; index < 10 && files.length > 50; index++) {
        const [gone] = files.splice(Math.floor(random() * files.length), 1);
        if (gone !== undefined) await unlink(join(root, gone.path));
      }
    }
    revision++;
    await collector.scan();
  }
  await collector.stop();
  return events;
}
