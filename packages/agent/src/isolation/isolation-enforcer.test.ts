import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { FirewallCommandResult, FirewallRunner } from './firewall-runner.ts';
import { spawnFirewallRunner } from './firewall-runner.ts';
import {
  chooseEnforcer,
  IptablesEnforcer,
  NftablesEnforcer,
  ReportOnlyEnforcer,
} from './isolation-enforcer.ts';
import type { IsolationSpec } from './isolation-policy.ts';

const spec: IsolationSpec = {
  manager: { host: 'manager.example', port: 8443 },
  resolvedManagerAddresses: ['10.0.0.1'],
  allowDns: true,
  allow: [],
};

interface Call {
  readonly line: string;
  readonly input: string | undefined;
}

/** A firewall that answers each command line by `answer`, recording what it was asked. */
function fakeRunner(answer: (line: string) => Partial<FirewallCommandResult> | Error = () => ({})) {
  const calls: Call[] = [];
  const run: FirewallRunner = async (file, args, { input }) => {
    const line = [file, ...args].join(' ');
    calls.push({ line, input });
    const result = answer(line);
    if (result instanceof Error) throw result;
    return { exitCode: 0, stdout: '', stderr: '', ...result };
  };
  return { run, calls };
}

test('nftables: loads the script on stdin, with the resolvers of the device root', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'edgeward-isolation-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'etc'));
  await writeFile(join(root, 'etc/resolv.conf'), 'nameserver 127.0.0.53\n');
  await mkdir(join(root, 'run/systemd/resolve'), { recursive: true });
  await writeFile(join(root, 'run/systemd/resolve/resolv.conf'), 'nameserver 192.0.2.53\n');
  const firewall = fakeRunner();
  const result = await new NftablesEnforcer({ run: firewall.run, root }).isolate(spec);
  assert.equal(result.applied, true);
  assert.deepEqual(
    firewall.calls.map((call) => call.line),
    ['nft -f -'],
  );
  assert.equal(firewall.calls[0]?.input, result.commands);
  assert.match(
    result.commands,
    /ip daddr 192\.0\.2\.53 meta l4proto \{ udp, tcp \} th dport 53 ct mark set ct mark or 0x00400000 accept/,
  );
  assert.match(result.commands, /ip daddr 127\.0\.0\.53 /);
});

test('nftables: a refusal is an error carrying what nft said', async () => {
  const firewall = fakeRunner(() => ({
    exitCode: 1,
    stderr: 'Error: Could not process rule: Operation not permitted',
  }));
  const enforcer = new NftablesEnforcer({ run: firewall.run, root: '/nonexistent' });
  await assert.rejects(enforcer.isolate(spec), /Operation not permitted/);
  await assert.rejects(enforcer.release(), /Operation not permitted/);
});

test('nftables: release removes only our table, and status asks for it by name', async () => {
  const firewall = fakeRunner((line) => (line.startsWith('nft list') ? { exitCode: 1 } : {}));
  const enforcer = new NftablesEnforcer({ run: firewall.run });
  await enforcer.release();
  assert.equal(
    firewall.calls[0]?.input,
    'add table inet edgeward_isolation\ndelete table inet edgeward_isolation\n',
  );
  assert.deepEqual(await enforcer.status(), { isolated: false, detail: 'no table inet edgeward_isolation' });
  assert.equal(firewall.calls[1]?.line, 'nft list table inet edgeward_isolation');
});

test('iptables: clears an earlier isolation, builds the chains, then jumps to them', async () => {
  const firewall = fakeRunner((line) => (/ -[DFX] /.test(line) ? { exitCode: 1 } : {}));
  await new IptablesEnforcer({ run: firewall.run, root: '/nonexistent' }).isolate(spec);
  const lines = firewall.calls.map((call) => call.line);
  const firstBuild = lines.findIndex((line) => line.includes(' -N '));
  assert.ok(
    lines.slice(0, firstBuild).every((line) => / -[DFX] /.test(line)),
    'removal first',
  );
  assert.ok(lines.slice(firstBuild).every((line) => !/ -[DFX] /.test(line)));
  assert.equal(lines.at(-1), 'ip6tables -w -I OUTPUT 1 -j EDGEWARD-ISOLATION-OUT');
});

test('iptables: a refused rule takes the half-built chains out again and reports which rule', async () => {
  let removalsAfterFailure = 0;
  let failed = false;
  const firewall = fakeRunner((line) => {
    if (line.includes('-j DROP') && line.startsWith('ip6tables')) {
      failed = true;
      return { exitCode: 2, stderr: 'ip6tables: No chain/target/match by that name.' };
    }
    if (failed && / -[DFX] /.test(line)) removalsAfterFailure++;
    return {};
  });
  await assert.rejects(
    new IptablesEnforcer({ run: firewall.run, root: '/nonexistent' }).isolate(spec),
    /ip6tables -w -A EDGEWARD-ISOLATION-IN .*-j DROP: exit 2: ip6tables: No chain/,
  );
  assert.ok(removalsAfterFailure >= 8, 'chains and jumps removed');
  assert.ok(!firewall.calls.some((call) => call.line.includes(' -I ')), 'never activated');
});

test('iptables: release deletes duplicated jumps until none is left', async () => {
  let jumps = 3;
  const firewall = fakeRunner((line) => {
    if (line === 'iptables -w -D INPUT -j EDGEWARD-ISOLATION-IN') return jumps-- > 0 ? {} : { exitCode: 1 };
    if (line.includes(' -C '))
      return { exitCode: line.startsWith('iptables -w -C INPUT') && jumps > 0 ? 0 : 1 };
    return {};
  });
  const result = await new IptablesEnforcer({ run: firewall.run }).release();
  assert.equal(result.applied, true);
  assert.equal(
    firewall.calls.filter((call) => call.line === 'iptables -w -D INPUT -j EDGEWARD-ISOLATION-IN').length,
    4,
  );
});

test('report-only changes nothing and says what it would load', async () => {
  const enforcer = new ReportOnlyEnforcer({ root: '/nonexistent' });
  const result = await enforcer.isolate(spec);
  assert.equal(result.applied, false);
  assert.match(result.detail, /NOT isolated/);
  assert.match(result.commands, /table inet edgeward_isolation/);
  assert.equal((await enforcer.status()).isolated, false);
});

test('auto picks nftables when nft works, else iptables, else report-only, and says why', async () => {
  const works = fakeRunner();
  assert.equal((await chooseEnforcer('auto', works.run)).enforcer.mode, 'nftables');

  const noNft = fakeRunner((line) => (line.startsWith('nft') ? new Error('spawn nft ENOENT') : {}));
  const fallback = await chooseEnforcer('auto', noNft.run);
  assert.equal(fallback.enforcer.mode, 'iptables');
  assert.match(fallback.reason, /nft fails \(spawn nft ENOENT\); iptables works/);

  const nothing = fakeRunner(() => ({ exitCode: 4, stderr: 'Permission denied (you must be root)' }));
  const reportOnly = await chooseEnforcer('auto', nothing.run);
  assert.equal(reportOnly.enforcer.mode, 'report-only');
  assert.match(reportOnly.reason, /iptables fails \(exit 4: Permission denied/);

  const forced = await chooseEnforcer('nftables', nothing.run);
  assert.equal(forced.enforcer.mode, 'nftables', 'an explicit choice is not silently replaced');
  assert.match(forced.reason, /but nft fails/);
  assert.equal((await chooseEnforcer('report-only', works.run)).enforcer.mode, 'report-only');
});

test('the spawn runner feeds stdin and keeps stderr and the exit code', async () => {
  const node = process.execPath;
  const script = 'process.stdin.pipe(process.stdout); process.stderr.write("warned"); process.exitCode = 3;';
  const result = await spawnFirewallRunner(node, ['-e', script], { timeoutMs: 10_000, input: 'table x' });
  assert.deepEqual(result, { exitCode: 3, stdout: 'table x', stderr: 'warned' });
  await assert.rejects(
    spawnFirewallRunner(node, ['-e', 'setTimeout(() => {}, 5000)'], { timeoutMs: 100 }),
    /within 100 ms/,
  );
  await assert.rejects(spawnFirewallRunner('/nonexistent/nft', [], { timeoutMs: 1000 }), /ENOENT/);
});
