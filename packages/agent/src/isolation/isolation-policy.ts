/**
 * What network isolation lets through, turned into firewall input: an `nft -f` script for our own
 * table, or argv lists for iptables chains where nftables is missing. Pure: no process runs here, so
 * every rule the device will load can be read and tested as text.
 */
import { isIP } from 'node:net';
import { EdgewardError } from '@edgeward/core';

/** Traffic that must keep flowing while the device is isolated (a PLC to its SCADA host, say). */
export interface IsolationAllowEntry {
  /** Shown in the firewall rule's comment; letters, digits, space and `._:/-` only. */
  readonly name: string;
  /** An IPv4 or IPv6 address, or a CIDR block. */
  readonly address: string;
  /**
   * The service port: the device's own port for `in` (the peer connects to it), the peer's port for
   * `out` (the device connects to it). Omitted: every port. Needs `tcp`, `udp` or `any` (both).
   */
  readonly port?: number;
  readonly protocol: 'tcp' | 'udp' | 'any';
  /** Who opens the connection: `in` the peer, `out` the device, `both` either. Replies always pass. */
  readonly direction: 'in' | 'out' | 'both';
}

export interface IsolationSpec {
  /** The manager the agent talks to; `host` as configured (an IP or a name). */
  readonly manager: { readonly host: string; readonly port: number };
  /** The manager's IPs the rules allow (a name is resolved before isolating: rules hold addresses). */
  readonly resolvedManagerAddresses: readonly string[];
  /** Allow DNS (UDP and TCP 53) to the device's resolvers; honoured only when `manager.host` is a name. */
  readonly allowDns: boolean;
  readonly allow: readonly IsolationAllowEntry[];
  /** Dead-man timer: when to release by itself (ms since the epoch); omitted: until released. */
  readonly releaseAt?: number;
}

/** What the spec is read with beyond itself: the resolvers, read by the enforcer from resolv.conf. */
export interface RulesetContext {
  readonly resolvers: readonly string[];
}

export const NFT_TABLE_FAMILY = 'inet';
export const NFT_TABLE_NAME = 'edgeward_isolation';
/** Before the usual `filter` chains (priority 0) so a permissive rule there cannot open a hole. */
export const NFT_CHAIN_PRIORITY = -10;
/** The conntrack mark bit of the flows isolation lets through. */
export const NFT_FLOW_MARK = '0x00400000';
export const IPTABLES_INPUT_CHAIN = 'EDGEWARD-ISOLATION-IN';
export const IPTABLES_OUTPUT_CHAIN = 'EDGEWARD-ISOLATION-OUT';

type Family = 4 | 6;

interface Peer {
  readonly family: Family;
  /** Canonical text as given (address, or address/prefix). */
  readonly text: string;
}

/** One accepted flow, opened by the device (`out`) or by the peer (`in`). */
interface Flow {
  readonly direction: 'in' | 'out';
  readonly peer: Peer;
  readonly protocols: readonly ('tcp' | 'udp')[] | 'any';
  readonly port: number | undefined;
  /** The port is the peer's source port (replies from the manager), not the destination port. */
  readonly portIsSource?: true;
  readonly comment: string;
}

function invalid(message: string): EdgewardError {
  return new EdgewardError('EW_REQUEST_INVALID', `isolation spec: ${message}`);
}

/** Parses an address or CIDR block; throws on anything else (the text ends up in a firewall script). */
export function parsePeer(text: string, what: string): Peer {
  const [address = '', prefix, extra] = text.split('/');
  const family = isIP(address);
  if ((family !== 4 && family !== 6) || extra !== undefined) {
    throw invalid(
      `${what} ${JSON.stringify(text)} is not an IP address or CIDR block; give e.g. 10.0.0.5 or 10.0.0.0/24`,
    );
  }
  if (prefix === undefined) return { family, text: address };
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) {
    throw invalid(`${what} ${JSON.stringify(text)} has a prefix length outside 0..${max}`);
  }
  return { family, text: `${address}/${Number(prefix)}` };
}

function checkPort(port: number, what: string): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw invalid(`${what} ${port} is not a port number (1..65535)`);
  }
  return port;
}

function checkName(name: string): string {
  if (!/^[A-Za-z0-9 ._:/-]{1,64}$/.test(name)) {
    throw invalid(
      `allow-list name ${JSON.stringify(name)} must be 1..64 letters, digits, spaces or ._:/- characters`,
    );
  }
  return name;
}

/** True when the manager is configured by name, so the agent must still be able to resolve it. */
export function managerIsNamed(spec: IsolationSpec): boolean {
  return isIP(spec.manager.host) === 0;
}

/** Every accepted flow of the spec, validated; the single source both rule generators read. */
function flowsOf(spec: IsolationSpec, context: RulesetContext): Flow[] {
  const managerPort = checkPort(spec.manager.port, 'manager port');
  if (spec.resolvedManagerAddresses.length === 0) {
    throw invalid('no manager address: resolve the manager before isolating, or the agent loses its manager');
  }
  const flows: Flow[] = [];
  for (const address of spec.resolvedManagerAddresses) {
    const peer = parsePeer(address, 'manager address');
    if (peer.text.includes('/')) throw invalid(`manager address ${address} must be a single address`);
    flows.push({
      direction: 'out',
      peer,
      protocols: ['tcp'],
      port: managerPort,
      comment: 'edgeward manager',
    });
    // Conntrack passes the replies already; this keeps them passing when its entry is gone (table full,
    // flushed, a connection opened before the tracker saw it).
    flows.push({
      direction: 'in',
      peer,
      protocols: ['tcp'],
      port: managerPort,
      portIsSource: true,
      comment: 'edgeward manager',
    });
  }
  if (spec.allowDns && managerIsNamed(spec)) {
    for (const resolver of context.resolvers) {
      const peer = parsePeer(resolver, 'resolver');
      flows.push({ direction: 'out', peer, protocols: ['udp', 'tcp'], port: 53, comment: 'dns' });
    }
  }
  for (const entry of spec.allow) {
    const comment = checkName(entry.name);
    const peer = parsePeer(entry.address, `allow-list entry ${entry.name}: address`);
    const port =
      entry.port === undefined ? undefined : checkPort(entry.port, `allow-list entry ${entry.name}: port`);
    const protocols =
      entry.protocol === 'any' ? (port === undefined ? 'any' : (['tcp', 'udp'] as const)) : [entry.protocol];
    const directions = entry.direction === 'both' ? (['in', 'out'] as const) : [entry.direction];
    for (const direction of directions) flows.push({ direction, peer, protocols, port, comment });
  }
  return flows;
}

function nftFlowRule(flow: Flow): string {
  const peerKey = flow.direction === 'out' ? 'daddr' : 'saddr';
  const match = [`${flow.peer.family === 4 ? 'ip' : 'ip6'} ${peerKey} ${flow.peer.text}`];
  if (flow.protocols !== 'any') {
    match.push(
      flow.protocols.length === 1
        ? `meta l4proto ${flow.protocols[0]}`
        : `meta l4proto { ${flow.protocols.join(', ')} }`,
    );
    if (flow.port !== undefined) match.push(`th ${flow.portIsSource ? 'sport' : 'dport'} ${flow.port}`);
  }
  // The mark makes the flow's later packets and replies pass the established rule; OR keeps bits
  // that other software uses in the mark.
  return `${match.join(' ')} ct mark set ct mark or ${NFT_FLOW_MARK} accept comment "${flow.comment}"`;
}

/**
 * The `nft -f` script that isolates the device: our own table `inet edgeward_isolation`, created empty
 * first so the delete never fails, then deleted and rebuilt, all in the one transaction an `nft -f` file
 * is — loading it twice leaves one table, and a failure leaves the previous state. Input and output are
 * dropped by default at priority -10, except: loopback; established and related traffic of the flows
 * these rules accepted (replies, and the ICMP errors — unreachable, packet too big — that belong to a tracked connection, which TCP needs
 * for path MTU discovery); IPv6 neighbour discovery (without it no IPv6 peer is reachable at all);
 * TCP to the manager's port; DNS to the resolvers when the manager is named; the allow-list.
 * Forwarded traffic is not touched: a device that routes keeps routing (see the report on gateways).
 */
export function nftablesRuleset(spec: IsolationSpec, context: RulesetContext = { resolvers: [] }): string {
  const flows = flowsOf(spec, context);
  const table = `${NFT_TABLE_FAMILY} ${NFT_TABLE_NAME}`;
  const common = [
    // Only connections these rules accepted: a connection opened before the isolation (a reverse
    // shell, say) carries no mark and is cut like any other.
    `ct state established,related ct mark and ${NFT_FLOW_MARK} == ${NFT_FLOW_MARK} accept`,
    'ct state invalid drop',
    'icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, nd-router-solicit } accept',
  ];
  const chain = (name: 'input' | 'output', lines: readonly string[]) => [
    `  chain ${name} {`,
    `    type filter hook ${name} priority ${NFT_CHAIN_PRIORITY}; policy drop;`,
    ...lines.map((line) => `    ${line}`),
    '  }',
  ];
  return [
    `add table ${table}`,
    `delete table ${table}`,
    `table ${table} {`,
    ...chain('input', [
      'iif "lo" accept',
      ...common,
      ...flows.filter((flow) => flow.direction === 'in').map(nftFlowRule),
    ]),
    ...chain('output', [
      'oif "lo" accept',
      ...common,
      ...flows.filter((flow) => flow.direction === 'out').map(nftFlowRule),
    ]),
    '}',
    '',
  ].join('\n');
}

/** The `nft -f` script that removes our table and nothing else (created empty first: never fails). */
export function nftablesReleaseScript(): string {
  const table = `${NFT_TABLE_FAMILY} ${NFT_TABLE_NAME}`;
  return `add table ${table}\ndelete table ${table}\n`;
}

/** A command line, program first. */
export type Argv = readonly string[];

export interface IptablesPlan {
  /**
   * Run in order, each must succeed: builds both chains for IPv4 (`iptables`) and IPv6 (`ip6tables`),
   * then inserts the jumps at the top of INPUT and OUTPUT — the isolation takes effect with the jumps,
   * once the chains are complete. Run `remove` first to replace an earlier isolation.
   */
  readonly apply: readonly Argv[];
  /**
   * Undoes `apply` and nothing else; each may fail when already gone (ignore the exit code). A jump
   * is deleted as many times as it was inserted, so repeat each jump deletion until it fails.
   */
  readonly remove: readonly Argv[];
}

const NEIGHBOUR_DISCOVERY_TYPES = [
  'neighbour-solicitation',
  'neighbour-advertisement',
  'router-advertisement',
  'router-solicitation',
];

const iptablesFor = (family: Family) => (family === 4 ? 'iptables' : 'ip6tables');

/** The jump rules, per family and hook, shared by apply, remove and the status probe. */
export function iptablesJumps(): readonly {
  readonly program: string;
  readonly hook: string;
  readonly chain: string;
}[] {
  return ([4, 6] as const).flatMap((family) => [
    { program: iptablesFor(family), hook: 'INPUT', chain: IPTABLES_INPUT_CHAIN },
    { program: iptablesFor(family), hook: 'OUTPUT', chain: IPTABLES_OUTPUT_CHAIN },
  ]);
}

/**
 * The iptables fallback: the same flows as `nftablesRuleset`, in chains `EDGEWARD-ISOLATION-IN` and
 * `EDGEWARD-ISOLATION-OUT` (one per hook: a shared chain would match the manager's address as source
 * on both hooks) that end with DROP, for IPv4 and IPv6 alike so IPv6 is not left open. `-w` waits for
 * the xtables lock instead of failing while another tool holds it.
 */
export function iptablesCommands(
  spec: IsolationSpec,
  context: RulesetContext = { resolvers: [] },
): IptablesPlan {
  const flows = flowsOf(spec, context);
  const apply: Argv[] = [];
  for (const family of [4, 6] as const) {
    const program = iptablesFor(family);
    const neighbourDiscovery = family === 4 ? [] : NEIGHBOUR_DISCOVERY_TYPES;
    for (const [chain, loopback] of [
      [IPTABLES_INPUT_CHAIN, '-i'],
      [IPTABLES_OUTPUT_CHAIN, '-o'],
    ] as const) {
      const rule = (...args: string[]): Argv => [program, '-w', '-A', chain, ...args];
      apply.push([program, '-w', '-N', chain]);
      apply.push(rule(loopback, 'lo', '-j', 'ACCEPT'));
      // As with nftables: only connections these rules accepted (marked) pass as established.
      apply.push(
        rule(
          '-m',
          'conntrack',
          '--ctstate',
          'ESTABLISHED,RELATED',
          '-m',
          'connmark',
          '--mark',
          `${NFT_FLOW_MARK}/${NFT_FLOW_MARK}`,
          '-j',
          'ACCEPT',
        ),
      );
      apply.push(rule('-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP'));
      for (const type of neighbourDiscovery)
        apply.push(rule('-p', 'icmpv6', '--icmpv6-type', type, '-j', 'ACCEPT'));
      const direction = chain === IPTABLES_INPUT_CHAIN ? 'in' : 'out';
      for (const flow of flows) {
        if (flow.direction !== direction || flow.peer.family !== family) continue;
        const peerFlag = flow.direction === 'out' ? '-d' : '-s';
        const peer = flow.peer.text;
        const comment = ['-m', 'comment', '--comment', flow.comment];
        // Two rules per match: the first marks the connection (CONNMARK does not end the chain).
        const accept = (...match: string[]) => {
          apply.push(rule(...match, ...comment, '-j', 'CONNMARK', '--or-mark', NFT_FLOW_MARK));
          apply.push(rule(...match, ...comment, '-j', 'ACCEPT'));
        };
        if (flow.protocols === 'any') {
          accept(peerFlag, peer);
          continue;
        }
        for (const protocol of flow.protocols) {
          const port =
            flow.port === undefined ? [] : [flow.portIsSource ? '--sport' : '--dport', String(flow.port)];
          accept(peerFlag, peer, '-p', protocol, ...port);
        }
      }
      apply.push(rule('-j', 'DROP'));
    }
  }
  for (const jump of iptablesJumps())
    apply.push([jump.program, '-w', '-I', jump.hook, '1', '-j', jump.chain]);
  return { apply, remove: iptablesRemoveCommands() };
}

/** Removes our jumps and chains and nothing else; see `IptablesPlan.remove`. */
export function iptablesRemoveCommands(): readonly Argv[] {
  const remove: Argv[] = [];
  for (const jump of iptablesJumps()) remove.push([jump.program, '-w', '-D', jump.hook, '-j', jump.chain]);
  for (const family of [4, 6] as const) {
    for (const chain of [IPTABLES_INPUT_CHAIN, IPTABLES_OUTPUT_CHAIN]) {
      remove.push([iptablesFor(family), '-w', '-F', chain]);
      remove.push([iptablesFor(family), '-w', '-X', chain]);
    }
  }
  return remove;
}

/** The `nameserver` addresses of a resolv.conf, in order, without duplicates or zone suffixes. */
export function parseResolvConf(text: string): string[] {
  const found: string[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    const address = match?.[1]?.split('%')[0];
    if (address !== undefined && isIP(address) !== 0 && !found.includes(address)) found.push(address);
  }
  return found;
}
