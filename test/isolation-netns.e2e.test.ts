/**
 * Network isolation on real kernel networking: network namespaces `manager` (10.77.0.1), `device`
 * (10.77.0.2), `third` (10.77.0.3) and `ipt` (10.77.0.4, the iptables fallback), each with a veth to
 * a bridge in a `switch` namespace, TCP echo servers in them, and the real IsolationManager run inside
 * the device's namespace by a driver process, one process per agent life. Needs root, `ip netns` and
 * nft (iptables for the fallback); skips naming what is missing otherwise.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const root = join(import.meta.dirname, '..');
const driver = join(root, 'packages/agent/src/isolation/isolation-driver.fixture.ts');
const node = process.execPath;

const id = `${process.pid % 100000}`;
const ns = {
  switch: `ew-sw-${id}`,
  manager: `ew-mgr-${id}`,
  device: `ew-dev-${id}`,
  third: `ew-3rd-${id}`,
  ipt: `ew-ipt-${id}`,
};
const hosts = [
  { name: ns.manager, address: '10.77.0.1' },
  { name: ns.device, address: '10.77.0.2' },
  { name: ns.third, address: '10.77.0.3' },
  { name: ns.ipt, address: '10.77.0.4' },
];
const MANAGER_PORT = 7443;
const THIRD_PORT = 9000;
const DEVICE_PORT = 8000;
const IPT_PORT = 8001;
/** A dropped SYN is never answered: this is how long "unreachable" takes to conclude. */
const CONNECT_TIMEOUT_MS = 600;

const echoServer = `import { createServer } from 'node:net';
createServer((socket) => { socket.on('error', () => {}); socket.pipe(socket); })
  .listen(Number(process.argv[2]), '0.0.0.0', () => process.stdout.write('ready\\n'));
`;

const probeClient = `import { connect } from 'node:net';
const [host, port, timeout] = process.argv.slice(2);
const socket = connect({ host, port: Number(port) });
const done = (answer) => { process.stdout.write(answer); socket.destroy(); process.exit(0); };
socket.setTimeout(Number(timeout), () => done('timeout'));
socket.on('error', (error) => done(error.code ?? 'error'));
socket.on('connect', () => socket.write('ping'));
socket.on('data', (data) => done(data.toString() === 'ping' ? 'ok' : 'garbled'));
`;

/** Connects, says `connected`, then on the word `go` on stdin sends `ping` and reports the echo. */
const holdingClient = `import { connect } from 'node:net';
const [host, port, timeout] = process.argv.slice(2);
const socket = connect({ host, port: Number(port) });
const done = (answer) => { process.stdout.write(answer + '\\n'); socket.destroy(); process.exit(0); };
socket.on('error', (error) => done(error.code ?? 'error'));
socket.on('connect', () => process.stdout.write('connected\\n'));
process.stdin.once('data', () => {
  socket.setTimeout(Number(timeout), () => done('timeout'));
  socket.write('ping');
});
socket.on('data', (data) => done(data.toString() === 'ping' ? 'ok' : 'garbled'));
`;

let skipReason: string | undefined;
let dir = '';
const servers: ChildProcess[] = [];
const created: string[] = [];

async function run(file: string, args: readonly string[], input?: string): Promise<string> {
  const child = execFileAsync(file, [...args], { encoding: 'utf8' });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  const { stdout } = await child;
  return stdout;
}

const inNs = (name: string, ...args: string[]) => run('ip', ['netns', 'exec', name, ...args]);

/** `ok` when `from` completes a TCP echo with `to:port`, else why not (`timeout`, `ECONNREFUSED`). */
async function reach(from: string, to: string, port: number): Promise<string> {
  return inNs(from, node, join(dir, 'probe.mjs'), to, String(port), String(CONNECT_TIMEOUT_MS));
}

async function drive(mode: 'nftables' | 'iptables', name: string, ...args: string[]) {
  const stdout = await inNs(name, node, driver, mode, join(dir, `data-${name}`), ...args);
  return JSON.parse(stdout) as { isolated: boolean; releaseAt: number | null; mode: string };
}

async function startServer(name: string, port: number): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', name, node, join(dir, 'echo-server.mjs'), String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  servers.push(child);
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`echo server in ${name} exited with ${code}`)));
    child.stdout?.once('data', () => resolve());
  });
}

async function missing(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'not root: network namespaces and firewall rules need root';
  for (const [tool, args] of [
    ['ip', ['-V']],
    ['nft', ['--version']],
  ] as const) {
    try {
      await run(tool, args);
    } catch {
      return `${tool} is not installed`;
    }
  }
  try {
    await run('ip', ['netns', 'add', ns.switch]);
    created.push(ns.switch);
  } catch (error) {
    return `\`ip netns add\` fails here (${(error as Error).message.split('\n')[0]})`;
  }
  return undefined;
}

before(async () => {
  skipReason = await missing();
  if (skipReason !== undefined) return;
  dir = await mkdtemp(join(tmpdir(), 'edgeward-isolation-'));
  await writeFile(join(dir, 'echo-server.mjs'), echoServer);
  await writeFile(join(dir, 'probe.mjs'), probeClient);
  await writeFile(join(dir, 'holding.mjs'), holdingClient);
  await run('ip', ['-n', ns.switch, 'link', 'add', 'br0', 'type', 'bridge']);
  await run('ip', ['-n', ns.switch, 'link', 'set', 'br0', 'up']);
  for (const [index, host] of hosts.entries()) {
    await run('ip', ['netns', 'add', host.name]);
    created.push(host.name);
    const port = `p${index}`;
    await run('ip', [
      '-n',
      host.name,
      'link',
      'add',
      'eth0',
      'type',
      'veth',
      'peer',
      'name',
      port,
      'netns',
      ns.switch,
    ]);
    await run('ip', ['-n', ns.switch, 'link', 'set', port, 'master', 'br0', 'up']);
    await run('ip', ['-n', host.name, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', host.name, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', host.name, 'link', 'set', 'lo', 'up']);
  }
  await Promise.all([
    startServer(ns.manager, MANAGER_PORT),
    startServer(ns.third, THIRD_PORT),
    startServer(ns.device, DEVICE_PORT),
    startServer(ns.ipt, IPT_PORT),
  ]);
});

after(async () => {
  for (const server of servers) server.kill();
  for (const name of created.reverse()) await run('ip', ['netns', 'del', name]).catch(() => undefined);
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

const managerOnly = {
  manager: { host: '10.77.0.1', port: MANAGER_PORT },
  resolvedManagerAddresses: ['10.77.0.1'],
  allowDns: true,
  allow: [] as object[],
};

test('nftables isolation keeps the manager reachable, cuts everyone else, survives a restart and releases cleanly', async (t) => {
  if (skipReason !== undefined) {
    t.skip(skipReason);
    return;
  }
  // Someone else's rules, which isolation and release must leave exactly as they are.
  await run(
    'ip',
    ['netns', 'exec', ns.device, 'nft', '-f', '-'],
    // Its `ct` rule turns connection tracking on in the namespace, as on any host with a firewall: only
    // then is a connection opened before the isolation tracked as established.
    'table inet site_rules {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    ct state established accept\n    tcp dport 12345 accept\n  }\n}\n',
  );
  const rulesetBefore = await inNs(ns.device, 'nft', 'list', 'ruleset');

  assert.equal(await reach(ns.device, '10.77.0.1', MANAGER_PORT), 'ok');
  assert.equal(await reach(ns.device, '10.77.0.3', THIRD_PORT), 'ok');
  assert.equal(await reach(ns.third, '10.77.0.2', DEVICE_PORT), 'ok');

  // A connection opened before the isolation (a reverse shell, say) must not survive it.
  const holding = spawn(
    'ip',
    ['netns', 'exec', ns.device, node, join(dir, 'holding.mjs'), '10.77.0.3', String(THIRD_PORT), '1500'],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const holdingOutput: string[] = [];
  const nextLine = () =>
    new Promise<string>((resolve) => {
      holding.stdout?.once('data', (chunk: Buffer) => {
        holdingOutput.push(chunk.toString().trim());
        resolve(chunk.toString().trim());
      });
    });
  assert.equal(await nextLine(), 'connected');

  const isolated = await drive('nftables', ns.device, 'isolate', JSON.stringify(managerOnly));
  assert.equal(isolated.isolated, true);
  const answer = nextLine();
  holding.stdin?.end('go\n');
  assert.equal(await answer, 'timeout', 'the connection opened before the isolation is cut');
  assert.equal(await reach(ns.device, '10.77.0.1', MANAGER_PORT), 'ok', 'the manager stays reachable');
  assert.equal(await reach(ns.device, '10.77.0.3', THIRD_PORT), 'timeout', 'the third host is cut off');
  assert.equal(await reach(ns.third, '10.77.0.2', DEVICE_PORT), 'timeout', 'nobody else connects in');
  assert.equal(
    await reach(ns.manager, '10.77.0.2', DEVICE_PORT),
    'timeout',
    'the manager only on its own port',
  );

  const withAllow = {
    ...managerOnly,
    allow: [{ name: 'scada', address: '10.77.0.3', port: THIRD_PORT, protocol: 'tcp', direction: 'out' }],
  };
  await drive('nftables', ns.device, 'isolate', JSON.stringify(withAllow));
  assert.equal(await reach(ns.device, '10.77.0.3', THIRD_PORT), 'ok', 'the allow-list entry passes');
  assert.equal(await reach(ns.device, '10.77.0.1', MANAGER_PORT), 'ok');
  assert.equal(
    await reach(ns.third, '10.77.0.2', DEVICE_PORT),
    'timeout',
    'the entry opens one direction only',
  );
  const tables = await inNs(ns.device, 'nft', 'list', 'tables');
  assert.equal(tables.match(/edgeward_isolation/g)?.length, 1, 'isolating twice leaves one table');

  // A reboot empties the firewall; the agent's next start loads the persisted isolation again.
  await inNs(ns.device, 'nft', 'delete', 'table', 'inet', 'edgeward_isolation');
  assert.equal(await reach(ns.third, '10.77.0.2', DEVICE_PORT), 'ok', 'the flush really opened the device');
  const restarted = await drive('nftables', ns.device, 'start');
  assert.equal(restarted.isolated, true);
  assert.equal(
    await reach(ns.third, '10.77.0.2', DEVICE_PORT),
    'timeout',
    'isolation is back after the restart',
  );
  assert.equal(await reach(ns.device, '10.77.0.3', THIRD_PORT), 'ok', 'with its allow-list');

  const released = await drive('nftables', ns.device, 'release');
  assert.equal(released.isolated, false);
  assert.equal(await reach(ns.device, '10.77.0.3', THIRD_PORT), 'ok');
  assert.equal(await reach(ns.third, '10.77.0.2', DEVICE_PORT), 'ok');
  assert.equal(await inNs(ns.device, 'nft', 'list', 'ruleset'), rulesetBefore, 'other rules are untouched');
});

test('the dead-man timer releases an isolation by itself, also across an agent restart', async (t) => {
  if (skipReason !== undefined) {
    t.skip(skipReason);
    return;
  }
  const releaseAt = Date.now() + 2_000;
  await drive('nftables', ns.device, 'isolate', JSON.stringify({ ...managerOnly, releaseAt }));
  assert.equal(await reach(ns.third, '10.77.0.2', DEVICE_PORT), 'timeout');
  const afterStart = await drive('nftables', ns.device, 'start', '6000');
  assert.equal(afterStart.isolated, false, 'released by the timer armed at start');
  assert.ok(Date.now() >= releaseAt, 'not before its time');
  assert.equal(await reach(ns.third, '10.77.0.2', DEVICE_PORT), 'ok');
  assert.doesNotMatch(await inNs(ns.device, 'nft', 'list', 'tables'), /edgeward_isolation/);
});

test('the iptables fallback isolates and releases, leaving other rules as they were', async (t) => {
  if (skipReason !== undefined) {
    t.skip(skipReason);
    return;
  }
  try {
    await run('iptables', ['--version']);
    await run('ip6tables', ['--version']);
  } catch {
    t.skip('iptables or ip6tables is not installed');
    return;
  }
  await inNs(ns.ipt, 'iptables', '-w', '-A', 'INPUT', '-p', 'tcp', '--dport', '12345', '-j', 'ACCEPT');
  // Connection tracking on, as on any host with a stateful firewall.
  await inNs(
    ns.ipt,
    'iptables',
    '-w',
    '-A',
    'INPUT',
    '-m',
    'conntrack',
    '--ctstate',
    'ESTABLISHED',
    '-j',
    'ACCEPT',
  );
  const rulesBefore = `${await inNs(ns.ipt, 'iptables', '-w', '-S')}${await inNs(ns.ipt, 'ip6tables', '-w', '-S')}`;

  const holding = spawn(
    'ip',
    ['netns', 'exec', ns.ipt, node, join(dir, 'holding.mjs'), '10.77.0.3', String(THIRD_PORT), '1500'],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const nextLine = () =>
    new Promise<string>((resolve) => {
      holding.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
    });
  assert.equal(await nextLine(), 'connected');

  await drive('iptables', ns.ipt, 'isolate', JSON.stringify(managerOnly));
  const answer = nextLine();
  holding.stdin?.end('go\n');
  assert.equal(await answer, 'timeout', 'the connection opened before the isolation is cut');
  assert.equal(await reach(ns.ipt, '10.77.0.1', MANAGER_PORT), 'ok');
  assert.equal(await reach(ns.ipt, '10.77.0.3', THIRD_PORT), 'timeout');
  assert.equal(await reach(ns.third, '10.77.0.4', IPT_PORT), 'timeout');

  await drive('iptables', ns.ipt, 'release');
  assert.equal(await reach(ns.ipt, '10.77.0.3', THIRD_PORT), 'ok');
  assert.equal(await reach(ns.third, '10.77.0.4', IPT_PORT), 'ok');
  const rulesAfter = `${await inNs(ns.ipt, 'iptables', '-w', '-S')}${await inNs(ns.ipt, 'ip6tables', '-w', '-S')}`;
  assert.equal(rulesAfter, rulesBefore);
});
