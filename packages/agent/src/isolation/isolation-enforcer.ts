/**
 * Loads and removes the isolation rules on the device's firewall. Each enforcer touches only what it
 * creates (the nftables table `inet edgeward_isolation`, or the iptables chains `EDGEWARD-ISOLATION-*`
 * and their jumps), so a release leaves every other rule exactly as it was.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgewardError } from '@edgeward/core';
import { type FirewallRunner, spawnFirewallRunner } from './firewall-runner.ts';
import {
  type Argv,
  IPTABLES_INPUT_CHAIN,
  IPTABLES_OUTPUT_CHAIN,
  type IsolationSpec,
  iptablesCommands,
  iptablesJumps,
  iptablesRemoveCommands,
  managerIsNamed,
  NFT_TABLE_FAMILY,
  NFT_TABLE_NAME,
  nftablesReleaseScript,
  nftablesRuleset,
  parseResolvConf,
  type RulesetContext,
} from './isolation-policy.ts';

export type EnforcerMode = 'nftables' | 'iptables' | 'report-only';

export interface EnforcementResult {
  readonly mode: EnforcerMode;
  /** False for report-only: nothing on the device changed. */
  readonly applied: boolean;
  readonly detail: string;
  /** What was run (or, report-only, would be): the nft script, or the iptables command lines. */
  readonly commands: string;
}

export interface IsolationEnforcer {
  readonly mode: EnforcerMode;
  /** Loads the rules for `spec`, replacing an earlier isolation. Throws when the firewall refuses. */
  isolate(spec: IsolationSpec): Promise<EnforcementResult>;
  /** Removes what `isolate` loaded; nothing loaded is not an error. Throws when the firewall refuses. */
  release(): Promise<EnforcementResult>;
  status(): Promise<{ readonly isolated: boolean; readonly detail: string }>;
}

export interface EnforcerOptions {
  readonly run?: FirewallRunner;
  /** Device root the resolv.conf files are read under ('/' on a real device). */
  readonly root?: string;
  /** Bound on each firewall command; default 10 s. */
  readonly commandTimeoutMs?: number;
}

/**
 * Where the resolvers are listed: the usual file, and systemd-resolved's upstream list, because with
 * the stub resolver the first names 127.0.0.53 and the queries that leave the device go to the second.
 */
const RESOLV_CONF_PATHS = ['etc/resolv.conf', 'run/systemd/resolve/resolv.conf'];

/** The resolvers the DNS exception names, read only when the spec asks for DNS. */
async function rulesetContext(spec: IsolationSpec, root: string): Promise<RulesetContext> {
  if (!spec.allowDns || !managerIsNamed(spec)) return { resolvers: [] };
  const resolvers: string[] = [];
  for (const path of RESOLV_CONF_PATHS) {
    const text = await readFile(join(root, path), 'utf8').catch(() => '');
    for (const address of parseResolvConf(text)) if (!resolvers.includes(address)) resolvers.push(address);
  }
  return { resolvers };
}

function refused(what: string, detail: string, cause?: unknown): EdgewardError {
  return new EdgewardError(
    'EW_INTERNAL',
    `network isolation: ${what}: ${detail.trim() || 'no reason given'}`,
    {
      cause,
      details: { operation: what },
    },
  );
}

const showArgv = (argv: Argv) =>
  argv.map((arg) => (/^[\w./:,-]+$/.test(arg) ? arg : JSON.stringify(arg))).join(' ');

/** Rules in the table `inet edgeward_isolation`, loaded with `nft -f -` in one transaction. */
export class NftablesEnforcer implements IsolationEnforcer {
  readonly mode = 'nftables';
  readonly #run: FirewallRunner;
  readonly #root: string;
  readonly #timeoutMs: number;

  constructor(options: EnforcerOptions = {}) {
    this.#run = options.run ?? spawnFirewallRunner;
    this.#root = options.root ?? '/';
    this.#timeoutMs = options.commandTimeoutMs ?? 10_000;
  }

  async isolate(spec: IsolationSpec): Promise<EnforcementResult> {
    const script = nftablesRuleset(spec, await rulesetContext(spec, this.#root));
    await this.#load(script, 'loading the isolation table');
    return {
      mode: this.mode,
      applied: true,
      detail: `table ${NFT_TABLE_FAMILY} ${NFT_TABLE_NAME} loaded`,
      commands: script,
    };
  }

  async release(): Promise<EnforcementResult> {
    const script = nftablesReleaseScript();
    await this.#load(script, 'removing the isolation table');
    return {
      mode: this.mode,
      applied: true,
      detail: `table ${NFT_TABLE_FAMILY} ${NFT_TABLE_NAME} removed`,
      commands: script,
    };
  }

  async status(): Promise<{ isolated: boolean; detail: string }> {
    const result = await this.#run('nft', ['list', 'table', NFT_TABLE_FAMILY, NFT_TABLE_NAME], {
      timeoutMs: this.#timeoutMs,
    });
    return result.exitCode === 0
      ? { isolated: true, detail: `table ${NFT_TABLE_FAMILY} ${NFT_TABLE_NAME} is loaded` }
      : { isolated: false, detail: `no table ${NFT_TABLE_FAMILY} ${NFT_TABLE_NAME}` };
  }

  async #load(script: string, what: string): Promise<void> {
    let result: Awaited<ReturnType<FirewallRunner>>;
    try {
      result = await this.#run('nft', ['-f', '-'], { timeoutMs: this.#timeoutMs, input: script });
    } catch (error) {
      throw refused(what, `nft could not run: ${(error as Error).message}`, error);
    }
    if (result.exitCode !== 0) throw refused(what, `nft exited with ${result.exitCode}: ${result.stderr}`);
  }
}

/** The fallback where nft is missing: chains `EDGEWARD-ISOLATION-IN/-OUT` jumped to from INPUT/OUTPUT. */
export class IptablesEnforcer implements IsolationEnforcer {
  readonly mode = 'iptables';
  readonly #run: FirewallRunner;
  readonly #root: string;
  readonly #timeoutMs: number;

  constructor(options: EnforcerOptions = {}) {
    this.#run = options.run ?? spawnFirewallRunner;
    this.#root = options.root ?? '/';
    this.#timeoutMs = options.commandTimeoutMs ?? 10_000;
  }

  async isolate(spec: IsolationSpec): Promise<EnforcementResult> {
    const plan = iptablesCommands(spec, await rulesetContext(spec, this.#root));
    await this.#remove();
    for (const argv of plan.apply) {
      const failure = await this.#attempt(argv);
      if (failure !== undefined) {
        // Half-built chains isolate nothing predictable: take them out again, and say so.
        await this.#remove().catch(() => undefined);
        throw refused('loading the isolation chains', `${showArgv(argv)}: ${failure}`);
      }
    }
    return {
      mode: this.mode,
      applied: true,
      detail: `chains ${IPTABLES_INPUT_CHAIN} and ${IPTABLES_OUTPUT_CHAIN} loaded for IPv4 and IPv6`,
      commands: plan.apply.map(showArgv).join('\n'),
    };
  }

  async release(): Promise<EnforcementResult> {
    await this.#remove();
    const left = await this.status();
    if (left.isolated) throw refused('removing the isolation chains', left.detail);
    return {
      mode: this.mode,
      applied: true,
      detail: `chains ${IPTABLES_INPUT_CHAIN} and ${IPTABLES_OUTPUT_CHAIN} removed`,
      commands: iptablesRemoveCommands().map(showArgv).join('\n'),
    };
  }

  async status(): Promise<{ isolated: boolean; detail: string }> {
    const present: string[] = [];
    for (const jump of iptablesJumps()) {
      const result = await this.#run(jump.program, ['-w', '-C', jump.hook, '-j', jump.chain], {
        timeoutMs: this.#timeoutMs,
      });
      if (result.exitCode === 0) present.push(`${jump.program} ${jump.hook}`);
    }
    return present.length === 0
      ? { isolated: false, detail: 'no jump to the isolation chains' }
      : { isolated: true, detail: `jumps to the isolation chains in ${present.join(', ')}` };
  }

  /** Runs the removal; a missing chain or jump is what removal wants, so exit codes are not errors. */
  async #remove(): Promise<void> {
    for (const argv of iptablesRemoveCommands()) {
      // An interrupted earlier isolate may have inserted a jump more than once.
      const repeat = argv.includes('-D') ? 16 : 1;
      for (let i = 0; i < repeat; i++) if ((await this.#attempt(argv)) !== undefined) break;
    }
  }

  /** Undefined when the command succeeded, otherwise why not. */
  async #attempt(argv: Argv): Promise<string | undefined> {
    const [file = '', ...args] = argv;
    try {
      const result = await this.#run(file, args, { timeoutMs: this.#timeoutMs });
      return result.exitCode === 0 ? undefined : `exit ${result.exitCode}: ${result.stderr.trim()}`;
    } catch (error) {
      return `could not run: ${(error as Error).message}`;
    }
  }
}

/** Changes nothing: says what it would load (a device where the firewall is not ours to touch). */
export class ReportOnlyEnforcer implements IsolationEnforcer {
  readonly mode = 'report-only';
  readonly #root: string;

  constructor(options: Pick<EnforcerOptions, 'root'> = {}) {
    this.#root = options.root ?? '/';
  }

  async isolate(spec: IsolationSpec): Promise<EnforcementResult> {
    const script = nftablesRuleset(spec, await rulesetContext(spec, this.#root));
    return {
      mode: this.mode,
      applied: false,
      detail:
        'report-only: nothing was changed; the device is NOT isolated; this is the ruleset it would load',
      commands: script,
    };
  }

  async release(): Promise<EnforcementResult> {
    return {
      mode: this.mode,
      applied: false,
      detail: 'report-only: nothing was loaded, so nothing was removed',
      commands: nftablesReleaseScript(),
    };
  }

  async status(): Promise<{ isolated: boolean; detail: string }> {
    return { isolated: false, detail: 'report-only: the firewall is never changed' };
  }
}

export type EnforcerPreference = 'auto' | EnforcerMode;

export interface ChosenEnforcer {
  readonly enforcer: IsolationEnforcer;
  /** Why this one, for the log and the operator. */
  readonly reason: string;
}

async function probe(
  run: FirewallRunner,
  file: string,
  args: readonly string[],
): Promise<string | undefined> {
  try {
    const result = await run(file, args, { timeoutMs: 5_000 });
    return result.exitCode === 0 ? undefined : `exit ${result.exitCode}: ${result.stderr.trim()}`;
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * The enforcer for `preference`. `auto` takes nftables when `nft list tables` works (installed, and
 * allowed: it needs CAP_NET_ADMIN), else iptables when `iptables -S INPUT` works, else report-only. An
 * explicit preference is honoured even when its probe fails — isolating then fails loudly rather
 * than quietly falling back — and the reason says the probe failed.
 */
export async function chooseEnforcer(
  preference: EnforcerPreference,
  run: FirewallRunner = spawnFirewallRunner,
  options: Omit<EnforcerOptions, 'run'> = {},
): Promise<ChosenEnforcer> {
  const withRun = { ...options, run };
  if (preference === 'report-only') {
    return { enforcer: new ReportOnlyEnforcer(options), reason: 'report-only was configured' };
  }
  const nft = preference === 'iptables' ? 'not probed' : await probe(run, 'nft', ['list', 'tables']);
  if (preference === 'nftables') {
    return {
      enforcer: new NftablesEnforcer(withRun),
      reason:
        nft === undefined ? 'nftables was configured' : `nftables was configured, but nft fails (${nft})`,
    };
  }
  if (nft === undefined) return { enforcer: new NftablesEnforcer(withRun), reason: 'nft works' };
  const iptables = await probe(run, 'iptables', ['-w', '-S', 'INPUT']);
  if (preference === 'iptables') {
    return {
      enforcer: new IptablesEnforcer(withRun),
      reason:
        iptables === undefined
          ? 'iptables was configured'
          : `iptables was configured, but iptables fails (${iptables})`,
    };
  }
  if (iptables === undefined) {
    return { enforcer: new IptablesEnforcer(withRun), reason: `nft fails (${nft}); iptables works` };
  }
  return {
    enforcer: new ReportOnlyEnforcer(options),
    reason: `nft fails (${nft}) and iptables fails (${iptables}): isolation can only be reported`,
  };
}
