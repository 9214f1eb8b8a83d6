/**
 * Drives an IsolationManager from the command line, one agent "life" per process, for the network
 * namespace test (run inside the device's namespace with `ip netns exec`):
 *
 *   node isolation-driver.fixture.ts <nftables|iptables> <dataDir> isolate '<spec JSON>'
 *   node isolation-driver.fixture.ts <nftables|iptables> <dataDir> release
 *   node isolation-driver.fixture.ts <nftables|iptables> <dataDir> start [waitForReleaseMs]
 *
 * `start` re-applies the persisted isolation as an agent start does; with `waitForReleaseMs` it stays
 * up until the dead-man timer has released the device (or that time is over). Prints the final state
 * as JSON on stdout; exits 1 with the error on stderr.
 */
import { IptablesEnforcer, NftablesEnforcer } from './isolation-enforcer.ts';
import { IsolationManager } from './isolation-state.ts';

const [mode, dataDir, command, argument] = process.argv.slice(2);
if (dataDir === undefined || (mode !== 'nftables' && mode !== 'iptables')) {
  process.stderr.write(
    'usage: isolation-driver.fixture.ts <nftables|iptables> <dataDir> <command> [argument]\n',
  );
  process.exit(2);
}

const quiet = { info() {}, warn() {} };
const manager = new IsolationManager({
  dataDir,
  enforcer: mode === 'nftables' ? new NftablesEnforcer() : new IptablesEnforcer(),
  now: Date.now,
  log: quiet,
});

try {
  if (command === 'isolate') {
    await manager.isolate(JSON.parse(argument ?? '{}'), 'netns test', 'e2e');
  } else if (command === 'release') {
    await manager.start();
    await manager.release('netns test', 'e2e');
  } else if (command === 'start') {
    await manager.start();
    const deadline = Date.now() + Number(argument ?? 0);
    while (manager.state().isolated && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  } else {
    throw new Error(`unknown command ${command}`);
  }
  manager.stop();
  process.stdout.write(`${JSON.stringify(manager.state())}\n`);
} catch (error) {
  process.stderr.write(`${(error as Error).stack ?? error}\n`);
  process.exit(1);
}
