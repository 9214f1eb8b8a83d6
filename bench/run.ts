// `npm run bench [-- --only wire,drain --agent-minutes 10 --events 200000 …]`: the manager's enrollment
// rate and event ingest rate on SQLite and PostgreSQL, the agent's steady memory, bytes per event on the
// wire, the backlog drain rate after a partition, the agent's memory with a backlog and its CPU when idle,
// syslog over TCP beside rsyslog, each measured beside its reference in the same run, and the detection
// rule engine's events per second and heap per active group key. `--only` takes a comma-separated list of
// sections (default: all); `--skip-agent-memory` leaves out the long memory run. `isolate` times an
// operator's isolate to the device carrying it out, over the push channel, with 1000 simulated agents.
// `rollout` runs a rollout to 10,000 devices through three phases with no soak (wall time, manager CPU).
// `device-list` times the dashboard's device table and overview at 100,000 devices.
// Results are appended to bench/RESULTS.md with the date, the machine and the Node version.
import { appendFileSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { measureBacklogDrain, measureBacklogMemory } from './agent-backlog.ts';
import { measureIdleCpu } from './agent-idle-cpu.ts';
import { measureAgentMemory } from './agent-memory.ts';
import { measureDeviceList } from './device-list.ts';
import { measureEnrollmentRate } from './enrollment-rate.ts';
import { type IngestRate, measureIngestRate } from './event-ingest.ts';
import { type LatencyStats, measureIsolateLatency } from './isolate-latency.ts';
import { measureBundle, measurePolicyEvaluation } from './policy-eval.ts';
import { measureRolloutRate } from './rollout-rate.ts';
import { measureRuleEngine } from './rule-engine.ts';
import { median } from './support.ts';
import { measureSyslogRate } from './syslog-rate.ts';
import { measureWireSize } from './wire-size.ts';

const sections = [
  'enrollment',
  'ingest',
  'agent-memory',
  'wire',
  'drain',
  'backlog-memory',
  'idle-cpu',
  'syslog',
  'policy-eval',
  'policy-bundle',
  'rules',
  'isolate',
  'rollout',
  'device-list',
] as const;
type Section = (typeof sections)[number];

/** Each section's flags, to write the command that reproduces what ran. */
const flagsOf: Record<Section, string[]> = {
  enrollment: ['enrollments', 'rounds', 'concurrency'],
  ingest: ['events', 'batch-size', 'ingest-devices'],
  'agent-memory': ['agent-minutes'],
  wire: ['wire-events', 'wire-small-batch'],
  drain: ['backlog-events', 'drain-rounds'],
  'backlog-memory': ['backlog-events', 'backlog-memory-seconds'],
  'idle-cpu': ['idle-minutes'],
  syslog: ['syslog-messages', 'syslog-connections', 'syslog-rounds'],
  'policy-eval': ['policy-rounds', 'lynis-rounds'],
  'policy-bundle': ['bundle-checks', 'policy-rounds'],
  rules: ['rule-events', 'rule-rounds'],
  isolate: ['isolate-devices', 'isolate-commands', 'isolate-burst'],
  rollout: ['rollout-devices', 'rollout-concurrency', 'rollout-poll-ms', 'rollout-mode'],
  'device-list': ['list-devices', 'list-requests'],
};

const options = {
  only: { type: 'string', default: sections.join(',') },
  'agent-minutes': { type: 'string', default: '10' },
  enrollments: { type: 'string', default: '200' },
  rounds: { type: 'string', default: '3' },
  concurrency: { type: 'string', default: '8' },
  events: { type: 'string', default: '200000' },
  'batch-size': { type: 'string', default: '500' },
  'ingest-devices': { type: 'string', default: '4' },
  'wire-events': { type: 'string', default: '60000' },
  'wire-small-batch': { type: 'string', default: '10' },
  'backlog-events': { type: 'string', default: '100000' },
  'drain-rounds': { type: 'string', default: '3' },
  'backlog-memory-seconds': { type: 'string', default: '60' },
  'idle-minutes': { type: 'string', default: '2' },
  'syslog-messages': { type: 'string', default: '1000000' },
  'syslog-connections': { type: 'string', default: '4' },
  'syslog-rounds': { type: 'string', default: '3' },
  'policy-rounds': { type: 'string', default: '5' },
  'lynis-rounds': { type: 'string', default: '3' },
  'bundle-checks': { type: 'string', default: '1000' },
  'rule-events': { type: 'string', default: '500000' },
  'rule-rounds': { type: 'string', default: '3' },
  'isolate-devices': { type: 'string', default: '1000' },
  'rollout-devices': { type: 'string', default: '10000' },
  'rollout-concurrency': { type: 'string', default: '64' },
  'rollout-poll-ms': { type: 'string', default: '2000' },
  // `nudge`: devices contact the manager when its push nudge says their turn came; `poll`: they poll.
  'rollout-mode': { type: 'string', default: 'nudge' },
  'isolate-commands': { type: 'string', default: '200' },
  'isolate-burst': { type: 'string', default: '100' },
  'list-devices': { type: 'string', default: '100000' },
  'list-requests': { type: 'string', default: '30' },
  'skip-agent-memory': { type: 'boolean', default: false },
  'no-record': { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

const usage = [
  'usage: npm run bench [-- --only SECTION,… --FLAG VALUE …] [--no-record] [--skip-agent-memory]',
  `sections (default: all): ${sections.join(', ')}`,
  'flags and their defaults, by section:',
  ...sections.map(
    (section) =>
      `  ${section}: ${flagsOf[section].map((flag) => `--${flag} ${options[flag as keyof typeof options].default}`).join(' ')}`,
  ),
].join('\n');

let parsed: ReturnType<typeof parseArgs<{ options: typeof options }>>;
try {
  parsed = parseArgs({ options });
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n${usage}\n`);
  process.exit(2);
}
const { values } = parsed;
if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}

const chosen = new Set(values.only.split(',').map((name) => name.trim()));
for (const name of chosen) {
  if (!(sections as readonly string[]).includes(name)) {
    process.stderr.write(
      `unknown section ${JSON.stringify(name)} in --only; sections: ${sections.join(', ')}\n`,
    );
    process.exit(2);
  }
}
if (values['skip-agent-memory']) chosen.delete('agent-memory');
const running = sections.filter((section) => chosen.has(section));
const write = (text: string) => process.stdout.write(`${text}\n`);
const number = (name: keyof typeof values) => Number(values[name]);
const mb = (kb: number) => (kb / 1024).toFixed(1);
const thousands = (value: number) => Math.round(value).toLocaleString('en-US');
const lines: string[] = [];

if (chosen.has('enrollment')) {
  const enrollments = await measureEnrollmentRate({
    enrollments: number('enrollments'),
    rounds: number('rounds'),
    concurrency: number('concurrency'),
    progress: write,
  });
  lines.push(
    '',
    '### Enrollments per second (manager, SQLite, device API over mTLS)',
    '',
    `${enrollments.enrollments} enrollments per round, ${enrollments.concurrency} in flight, CSRs prepared beforehand; rounds: ${enrollments.rates.map((rate) => rate.toFixed(1)).join(', ')} per second.`,
    `**Median: ${enrollments.median.toFixed(1)} enrollments/s.**`,
  );
}

if (chosen.has('ingest')) {
  const ingest: (IngestRate | { engine: 'sqlite' | 'postgres'; error: string })[] = [];
  for (const engine of ['sqlite', 'postgres'] as const) {
    try {
      ingest.push(
        await measureIngestRate({
          engine,
          events: number('events'),
          batchSize: number('batch-size'),
          devices: number('ingest-devices'),
          progress: write,
        }),
      );
    } catch (error) {
      // PostgreSQL may simply not be running here; the other figures are still worth recording.
      const reason = error instanceof Error ? error.message : String(error);
      write(`event ingest (${engine}) not measured: ${reason}`);
      ingest.push({ engine, error: reason });
    }
  }
  lines.push(
    '',
    '### Events ingested per second (manager, device API over mTLS, compressed batches to committed rows)',
    '',
    '| database | events | batch | devices | body | seconds | events/s |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...ingest.map((result) =>
      'error' in result
        ? `| ${result.engine} | not measured: ${result.error.replaceAll('|', '/')} | | | | | |`
        : `| ${result.engine} | ${result.events} | ${result.batchSize} | ${result.devices} | ${result.encoding}, ${Math.round(result.batchBytes)} B | ${result.seconds.toFixed(2)} | **${Math.round(result.rate)}** |`,
    ),
    '',
    'Batches are built and compressed beforehand and sent from a worker thread, each device one batch at a time over its own connection. Target on SQLite: 50,000 events/s.',
  );
}

if (chosen.has('agent-memory')) {
  const memory = await measureAgentMemory({ minutes: number('agent-minutes'), progress: write });
  lines.push(
    '',
    `### Agent memory after ${values['agent-minutes']} min (inventory every ${memory.inventoryIntervalS} s, heartbeat every ${memory.reportIntervalS} s)`,
    '',
    '| process | VmRSS MB | RssAnon MB | VmRSS / bare |',
    '| --- | --- | --- | --- |',
    `| bare Node 24 with TLS loaded | ${mb(memory.bare.vmRssKb)} | ${mb(memory.bare.rssAnonKb)} | 1.00 |`,
    `| agent bundle loaded, nothing started (launcher settings) | ${mb(memory.loadedOnly.vmRssKb)} | ${mb(memory.loadedOnly.rssAnonKb)} | ${(memory.loadedOnly.vmRssKb / memory.bare.vmRssKb).toFixed(2)} |`,
    ...memory.agents.map(
      (agent) =>
        `| agent: ${agent.label} | ${mb(agent.vmRssKb)} | ${mb(agent.rssAnonKb)} | ${(agent.vmRssKb / memory.bare.vmRssKb).toFixed(2)} |`,
    ),
    '',
    'Figures are medians of the samples in the last minute of the run. Targets: RssAnon ≤ 16 MB, VmRSS ≤ 1.25 × bare. Every process runs without `NODE_EXTRA_CA_CERTS`, as on a device.',
  );
}

if (chosen.has('wire')) {
  const wire = await measureWireSize({
    events: number('wire-events'),
    smallBatchEvents: number('wire-small-batch'),
    progress: write,
  });
  const mixed = wire.rows.find((row) => row.label.startsWith('mixed, 1 MiB'));
  const ndjsonPerEvent = mixed === undefined ? Number.NaN : mixed.ndjsonBytes / mixed.events;
  const perEvent = mixed === undefined ? Number.NaN : mixed.wireBytes / mixed.events;
  const ratio = ndjsonPerEvent / perEvent;
  lines.push(
    '',
    '### Bytes per event on the wire (realistic auth and file-integrity events, forwarder batches, zstd)',
    '',
    `${thousands(wire.events)} events made by the real collectors from a generated auth.log (${thousands(wire.authLogLines)} lines: sshd password guessing from 600 addresses, scanners, key logins, sudo; rsyslog's high-precision timestamps) and a generated /etc and /usr/local/bin changed in rounds (upgrades, edits, chmods, new and removed files); queued in a real EventQueue and taken out as the Forwarder takes them (≤ 1 MiB of JSON, ≤ 5000 events), laid out as it sends them (protocol v2 compact batches, each checked to decode to its events; v1 \`{ v: 1, floorSeq, events }\` beside them), encoded as ManagerClient sends them (zstd from node:zlib at its default level; bodies under 1 KiB as they are). Request bodies only, without HTTP and TLS framing. NDJSON: the same events, one JSON object per line, uncompressed.`,
    '',
    '| events | count | batches | wire B/event (v2, as sent) | v1 B/event | NDJSON B/event | NDJSON / wire |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...wire.rows.map(
      (row) =>
        `| ${row.label} | ${row.events} | ${row.batches} | **${(row.wireBytes / row.events).toFixed(1)}** | ${(row.v1WireBytes / row.events).toFixed(1)} | ${(row.ndjsonBytes / row.events).toFixed(1)} | ${(row.ndjsonBytes / row.wireBytes).toFixed(1)}× |`,
    ),
    '',
    `Targets (mixed, 1 MiB batches): under 30 B/event — **${perEvent < 30 ? 'met' : 'missed'}** (${perEvent.toFixed(1)}); 10× smaller than NDJSON — **${ratio >= 10 ? 'met' : 'missed'}** (${ratio.toFixed(1)}×).`,
    '',
    '#### Experiments on the mixed stream (not the protocol; each says what adopting it would take)',
    '',
    '| experiment | B/event | NDJSON / this | zstd ms per MiB (median) | what it would take |',
    '| --- | --- | --- | --- | --- |',
    ...wire.experiments.map(
      (row) =>
        `| ${row.label} | ${(row.wireBytes / row.events).toFixed(1)} | ${(ndjsonPerEvent / (row.wireBytes / row.events)).toFixed(1)}× | ${row.msPerMiB?.toFixed(1) ?? '–'} | ${row.takes} |`,
    ),
    '',
    ...wire.notes,
  );
}

if (chosen.has('drain')) {
  const rounds = [];
  for (let round = 0; round < number('drain-rounds'); round++) {
    rounds.push(
      await measureBacklogDrain({ events: number('backlog-events'), partitionSeconds: 5, progress: write }),
    );
  }
  const first = rounds[0];
  lines.push(
    '',
    '### Backlog drain after a partition (device launcher → fault proxy → manager on SQLite, loopback)',
    '',
    `${thousands(first?.events ?? 0)} realistic events (as in the wire section) queued in the agent's queue file while the link is cut (the proxy resets every connection; the agent tried ${first?.attempts ?? 0} in ${first?.partitionSeconds.toFixed(0) ?? 0} s), then the link returns; the clock runs until the queue file holds no event. Retries shortened to ≤ 1 s (EDGEWARD_RETRY_MAX_MS=1000) so that the figure is the drain, not the backoff; default batches (1 MiB, 5000 events), one in flight.`,
    '',
    '| round | seconds | events/s from the link’s return | events/s after the first stored batch | agent CPU s | agent VmHWM MB |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rounds.map(
      (round, index) =>
        `| ${index + 1} | ${round.seconds.toFixed(2)} | ${Math.round(round.rate)} | ${Math.round(round.rateAfterFirstBatch)} | ${round.agentCpuSeconds.toFixed(2)} | ${mb(round.agentVmHwmKb)} |`,
    ),
    '',
    `**Median: ${Math.round(median(rounds.map((round) => round.rate)))} events/s from the link's return** (${Math.round(median(rounds.map((round) => round.rateAfterFirstBatch)))} after the first stored batch).`,
  );
}

if (chosen.has('backlog-memory')) {
  const memory = await measureBacklogMemory({
    events: number('backlog-events'),
    seconds: number('backlog-memory-seconds'),
    progress: write,
  });
  lines.push(
    '',
    `### Agent memory with ${thousands(memory.events)} events queued and the manager unreachable (${memory.seconds} s)`,
    '',
    '| process | VmRSS MB | RssAnon MB | VmHWM MB | VmRSS / bare |',
    '| --- | --- | --- | --- | --- |',
    `| bare Node 24 with TLS loaded | ${mb(memory.bare.vmRssKb)} | ${mb(memory.bare.rssAnonKb)} | ${mb(memory.bare.vmHwmKb)} | 1.00 |`,
    `| agent: device launcher, ${(memory.queueFileBytes / 2 ** 20).toFixed(1)} MiB queue file | ${mb(memory.agent.vmRssKb)} | ${mb(memory.agent.rssAnonKb)} | ${mb(memory.agent.vmHwmKb)} | ${(memory.agent.vmRssKb / memory.bare.vmRssKb).toFixed(2)} |`,
    '',
    `Medians of the samples (every 2 s) of the second half; VmHWM is the peak at the end. The link was cut by the fault proxy (the agent tried ${memory.attempts} connections with its default backoff, each attempt reading a batch from the queue). Targets: RssAnon ≤ 16 MB, VmRSS ≤ 1.25 × bare.`,
  );
}

if (chosen.has('idle-cpu')) {
  const idle = await measureIdleCpu({ minutes: number('idle-minutes'), progress: write });
  lines.push(
    '',
    '### Agent CPU when idle (device launcher, enrolled and connected, nothing to send)',
    '',
    `Default schedule (heartbeat 60 s, inventory 5 min, auth-log poll 5 s, file-integrity rescan 10 min) on this machine's own root, measured for ${(idle.seconds / 60).toFixed(1)} min after it settled; utime + stime from /proc/PID/stat. Agent: **${idle.agentPercent.toFixed(2)} % of one core**; processes it ran: ${idle.childrenPercent.toFixed(2)} %; a bare Node 24 beside it: ${idle.bareNodePercent.toFixed(2)} %. Agent at the end: VmRSS ${mb(idle.agentVmRssKb)} MB, RssAnon ${mb(idle.agentRssAnonKb)} MB; last contact with the manager ${idle.lastContactAgeS.toFixed(0)} s before the end. Target below 1 %: **${idle.agentPercent < 1 ? 'met' : 'missed'}**.`,
  );
}

if (chosen.has('syslog')) {
  const syslog = await measureSyslogRate({
    messages: number('syslog-messages'),
    connections: number('syslog-connections'),
    rounds: number('syslog-rounds'),
    progress: write,
  });
  const rates = (list: number[]) => list.map((rate) => thousands(rate)).join(', ');
  lines.push(
    '',
    '### Syslog over TCP, messages per second (same machine, same run)',
    '',
    `${thousands(syslog.messages)} RFC 5424 messages per round (${syslog.messageBytes.toFixed(0)} B each on average: firewall, sshd, DHCP, Wi-Fi and kernel lines), octet-counted, over ${syslog.connections} TCP connections from a worker thread; one untimed warm-up and ${number('syslog-rounds')} rounds per receiver, alternating. Each clock stops when the receiver has all N: ours when \`onMessages\` has been handed them (framed and parsed; nothing stored), rsyslog when its output file holds N more lines.`,
    '',
    '| receiver | rounds, messages/s | median messages/s |',
    '| --- | --- | --- |',
    `| SyslogListener (tcp) | ${rates(syslog.ours)} | **${thousands(median(syslog.ours))}** |`,
    Array.isArray(syslog.rsyslog)
      ? `| rsyslogd ${syslog.rsyslogVersion} (imtcp → omfile, RSYSLOG_FileFormat, default queues) | ${rates(syslog.rsyslog)} | **${thousands(median(syslog.rsyslog))}** |`
      : `| rsyslogd | not measured: ${syslog.rsyslog.missing} (Debian: apt-get install rsyslog) | |`,
  );
}

if (chosen.has('policy-eval')) {
  const evaluation = await measurePolicyEvaluation({
    rounds: number('policy-rounds'),
    lynisRounds: number('lynis-rounds'),
    progress: write,
  });
  const ours = median(evaluation.oursMs);
  const lynis = 'missing' in evaluation.lynis ? undefined : evaluation.lynis;
  lines.push(
    '',
    "### Evaluating the starter baseline on this machine's root, beside lynis",
    '',
    `The agent's evaluator (\`createBaselineRunner\`, root /, live) running the ${evaluation.checks} checks of the starter policy's default segment one after another, in process (what a scheduled evaluation costs the agent); lynis as a separate process with \`audit system --quick\` and its own log and report files.`,
    '',
    '| tool | checks | rounds, ms | median ms | ms per check |',
    '| --- | --- | --- | --- | --- |',
    `| Edgeward starter baseline | ${evaluation.checks} | ${evaluation.oursMs.map((ms) => ms.toFixed(0)).join(', ')} | **${ours.toFixed(0)}** | ${(ours / evaluation.checks).toFixed(1)} |`,
    lynis === undefined
      ? '| lynis | not measured: not installed (Debian: apt-get install lynis) | | | |'
      : `| lynis ${lynis.version} --quick | ${lynis.tests} tests | ${lynis.ms.map((ms) => ms.toFixed(0)).join(', ')} | **${median(lynis.ms).toFixed(0)}** | ${(median(lynis.ms) / Math.max(1, lynis.tests)).toFixed(1)} |`,
    '',
    lynis === undefined
      ? ''
      : `The two do not run the same tests (lynis runs ${lynis.tests} broader audit tests, the starter baseline ${evaluation.checks} targeted checks); the comparison is of what each costs for a routine pass: ${(median(lynis.ms) / ours).toFixed(1)}× less wall time for the agent's pass.`,
  );
}

if (chosen.has('policy-bundle')) {
  const bundle = measureBundle({ checks: number('bundle-checks'), rounds: number('policy-rounds') * 4 });
  const kib = (bytes: number) => (bytes / 1024).toFixed(1);
  lines.push(
    '',
    `### A signed policy bundle with ${thousands(bundle.checks)} checks`,
    '',
    'Generated baseline (sshd, file, sysctl, package, service and port checks, a third with remediations), compiled from YAML, signed with Ed25519 over its RFC 8785 canonical JSON; verification as the agent does it: the reply body parsed, the schema checked, canonicalized, the signature and the policy digest checked.',
    '',
    '| compile ms | sign ms | JSON KiB | gzip KiB | zstd KiB | verify ms (median of rounds) |',
    '| --- | --- | --- | --- | --- | --- |',
    `| ${bundle.compileMs.toFixed(0)} | ${bundle.signMs.toFixed(1)} | ${kib(bundle.jsonBytes)} | ${kib(bundle.gzipBytes)} | ${kib(bundle.zstdBytes)} | **${median(bundle.verifyMs).toFixed(1)}** (${bundle.verifyMs.length} rounds) |`,
  );
}

if (chosen.has('rules')) {
  const rules = await measureRuleEngine({
    events: number('rule-events'),
    rounds: number('rule-rounds'),
    progress: write,
  });
  const share = (prefix: string) =>
    (
      (100 *
        Object.entries(rules.types)
          .filter(([type]) => type.startsWith(prefix))
          .reduce((sum, [, count]) => sum + count, 0)) /
      rules.events
    ).toFixed(1);
  const generated = Object.entries(rules.generated)
    .map(([kind, count]) => `${count} ${kind}`)
    .join(', ');
  const verdicts = rules.rows
    .filter((row) => row.fieldOnly)
    .map((row) => {
      const rate = median(row.rates);
      return `${row.scope} **${rate >= 100_000 ? 'met' : 'missed'}** (${thousands(rate)})`;
    });
  lines.push(
    '',
    '### Detection rule engine, events per second on one thread (RuleEngine, allowedLatenessMs 5000, maxGroupsPerRule 100,000)',
    '',
    `${thousands(rules.events)} seeded events from ${rules.devices} devices over ${(rules.spanMs / 3_600_000).toFixed(1)} h of event time (auth.login_failed/succeeded ${share('auth.')} %: interleaved brute-force campaigns, some across devices, and admins from management networks; fim.* ${share('fim.')} %; host.executable_started with command lines ${share('host.executable')} %; host.listener_added ${share('host.listener')} % and agent.* ${share('agent.')} %), ingested in batches of ${rules.batchSize} in event-time order, then flushed (agent rows put the whole fleet through one engine, which keeps agent-scope state per device). Rules: the starter policy's ${rules.builtinRules} plus 100 generated public-style Sigma rules (${generated}); \`scope: hub\` rows run copies of the generated rules with \`edgeward: {scope: hub}\`, since as written they run on the agent. One untimed warm-up and ${rules.rounds} timed rounds per row, a fresh engine each round.`,
    '',
    '| scope | rule set | rules running | rounds, events/s | median events/s | matches | signals (new + updates) |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rules.rows.map(
      (row) =>
        `| ${row.scope} | ${row.label} | ${row.rules} | ${row.rates.map((rate) => thousands(rate)).join(', ')} | **${thousands(median(row.rates))}** | ${thousands(row.matches)} | ${thousands(row.signals)} + ${thousands(row.updates)} |`,
    ),
    '',
    `Target ≥ 100,000 events/s with field matches only: ${verdicts.join('; ')}.`,
    '',
    '#### Heap per active group key',
    '',
    'Accounts that each fail one login from an address of their own, 2 ms apart on one device (every window stays open), fed to a fresh engine with the full rule set in a child Node with --expose-gc; heap used after two collections, before the first event and after the last has been processed. On the agent each failure opens three windows (per account, per address, spraying per address), on the hub one (the address across devices); a window keeps its last event, so the figures include those events.',
    '',
    '| scope | accounts | groups (stats().groups) | evicted | heap growth MB | bytes per group | MB per 10,000 groups |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rules.memory.map(
      (row) =>
        `| ${row.scope} | ${thousands(row.keys)} | ${thousands(row.groups)} | ${row.evictedGroups} | ${(row.heapBytes / 2 ** 20).toFixed(1)} | ${thousands(row.heapBytes / row.groups)} | **${(((row.heapBytes / row.groups) * 10_000) / 2 ** 20).toFixed(2)}** |`,
    ),
  );
}

if (chosen.has('isolate')) {
  const isolate = await measureIsolateLatency({
    devices: number('isolate-devices'),
    commands: number('isolate-commands'),
    burst: number('isolate-burst'),
    progress: write,
  });
  const ms = (value: number) => (value < 10 ? value.toFixed(1) : value.toFixed(0));
  const row = (label: string, commands: number, point: string, stats: LatencyStats, bold = false) => {
    const p99 = bold ? `**${ms(stats.p99)}**` : ms(stats.p99);
    return `| ${label} | ${commands} | ${point} | ${ms(stats.median)} | ${ms(stats.p90)} | ${p99} | ${ms(stats.max)} |`;
  };
  const phases = [
    { label: 'sequential', result: isolate.sequential },
    { label: `burst (${isolate.burst.commands} at once)`, result: isolate.burst },
  ];
  const verdict = (stats: LatencyStats, incomplete: number) =>
    incomplete === 0 && stats.p99 < 1000 ? 'met' : 'missed';
  lines.push(
    '',
    `### Isolate to enforced over the push channel (manager on SQLite, ${thousands(isolate.devices)} simulated agents connected)`,
    '',
    `A real manager (SQLite, port 0) and ${thousands(isolate.devices)} real agents in the same process (@edgeward/sim: each with its own key, certificate, mTLS connection and push WebSocket; heartbeat every ${isolate.reportIntervalS} s): running ${isolate.fleetReadySeconds.toFixed(1)} s after the start (enrollments included), every push connection up ${isolate.pushReadySeconds.toFixed(1)} s later (${isolate.connected} connected), and the first inventories in before the clock ran. Each command is a POST to the operator API's \`/api/v1/devices/:id/isolate\` over one keep-alive HTTPS client with the admin token; after ${isolate.warmup} untimed warm-up commands, ${isolate.sequential.commands} devices spread over the fleet one after another (the next issued once the previous result is stored), then ${isolate.burst.commands} other devices at once (connections opened beforehand; every command timed from the moment the burst was fired). Three points per command: the API's 201 reply (stored, audited, handed to the push connection); **enforced**: the agent's isolate handler returned \`done\` (its dispatcher's \`command executed\`, before the result is saved and posted); **stored**: the manager committed the device's \`done\` result (what the operator sees; the device server's \`recordResult\` resolving, observed by wrapping it rather than polling the store from the shared event loop).`,
    '',
    "The simulated agents run with `isolation: 'report-only'`, since they share this machine's firewall: the whole isolate path runs (push message, command dispatcher, the isolation manager taking the manager's address from its URL (an IP here, so no DNS lookup), writing isolation.json, building the nftables ruleset, queueing `agent.isolation_changed`, the result posted over mTLS), but no ruleset is loaded. On a device with nftables, the time `nft -f` takes to load the ruleset comes on top.",
    '',
    '| phase | commands | end point | median ms | p90 ms | p99 ms | max ms |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...phases.flatMap(({ label, result }) => [
      row(label, result.commands, 'API reply (201)', result.replied),
      row(label, result.commands, 'enforced on the device', result.enforced, true),
      row(label, result.commands, 'result stored on the manager', result.stored, true),
    ]),
    '',
    `Pushed at once (\`sent\`, not \`pending\`): sequential ${isolate.sequential.commands - isolate.sequential.notPushed}/${isolate.sequential.commands}, burst ${isolate.burst.commands - isolate.burst.notPushed}/${isolate.burst.commands}; without a stored \`done\` within 30 s: ${isolate.sequential.incomplete} and ${isolate.burst.incomplete}. The burst's last result was stored ${ms(isolate.burst.wallMs)} ms after it was fired. Target p99 < 1 s to the result stored: sequential **${verdict(isolate.sequential.stored, isolate.sequential.incomplete)}**, burst **${verdict(isolate.burst.stored, isolate.burst.incomplete)}**.`,
  );
}

if (chosen.has('rollout')) {
  const rollout = await measureRolloutRate({
    devices: number('rollout-devices'),
    concurrency: number('rollout-concurrency'),
    pollMs: number('rollout-poll-ms'),
    phases: 'canary:50,10%,100%',
    mode: values['rollout-mode'] === 'poll' ? 'poll' : 'nudge',
  });
  const verdict = (rate: number) => (rate >= 10_000 ? 'met' : 'missed');
  lines.push(
    '',
    `### A rollout to ${thousands(rollout.devices)} devices through three phases, no soak (manager on SQLite)`,
    '',
    `A real manager (SQLite, port 0) on the main thread; ${thousands(rollout.devices)} devices registered with a certificate each (setup ${rollout.setupSeconds.toFixed(0)} s, not timed) speak the device protocol over mutual TLS from a worker thread, ${rollout.concurrency} at a time. ${
      rollout.mode === 'poll'
        ? `Each device polls \`GET /v1/update\` (again after ${rollout.pollMs} ms when nothing is offered) until it has committed.`
        : "Each device contacts the manager once, when the manager's push nudge says its turn came (the nudge is handed to the device thread instead of a WebSocket, which these devices do not hold): it polls `GET /v1/update`."
    } An offered device fetches timestamp, snapshot and targets metadata, reports downloading, verified, installing, awaiting-health and committed, and posts its running version signed with its key (the artifact's bytes are not downloaded: control traffic only); one TLS handshake per contact. Phases \`${rollout.phases}\`, gates max-failures 0 and min-success 100 %, rollout tick every 1 s and after results. Manager CPU is the main thread's (process.threadCpuUsage): TLS, HTTP, the rollout state machine and SQLite (whose commits also wait for fsync on that thread).`,
    '',
    '| devices | devices learn by | wall s | updates / min (wall) | manager CPU s | updates / CPU-min | requests | polls |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    `| ${thousands(rollout.devices)} | ${rollout.mode} | ${rollout.wallSeconds.toFixed(1)} | ${thousands(rollout.updatesPerMinute)} | ${rollout.managerCpuSeconds.toFixed(1)} | **${thousands(rollout.updatesPerCpuMinute)}** | ${thousands(rollout.requests)} | ${thousands(rollout.polls)} |`,
    '',
    `Target ≥ 10,000 device updates per minute: per minute of manager CPU **${verdict(rollout.updatesPerCpuMinute)}**; per minute of wall time on this machine (devices and manager sharing its cores) **${verdict(rollout.updatesPerMinute)}**.`,
  );
}

if (chosen.has('device-list')) {
  const list = await measureDeviceList({
    devices: number('list-devices'),
    requests: number('list-requests'),
    progress: write,
  });
  lines.push(
    '',
    `### Device table at ${thousands(list.devices)} devices (manager on SQLite, operator API over HTTPS)`,
    '',
    `${thousands(list.devices)} devices with a site and a risk label and a compliance report each (stored in ${list.populateSeconds.toFixed(0)} s, then the store closed and opened by the manager, as a restart does: closing runs PRAGMA optimize, whose statistics the planner needs for the partial indexes), a third of them offline. Each query is the request the dashboard makes (50 rows and the filtered total), timed ${number('list-requests')} times over one keep-alive HTTPS connection with the admin token, after one untimed call. Pages are cut by keyset (sort value, id) on an index, so a page deep in the list costs what the first does; the total is a COUNT over the filter.`,
    '',
    '| query | matching devices | median ms | p95 ms |',
    '| --- | --- | --- | --- |',
    ...list.rows.map(
      (row) =>
        `| ${row.query} | ${thousands(row.total)} | ${row.medianMs.toFixed(1)} | ${row.p95Ms.toFixed(1)} |`,
    ),
  );
}

const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${kernel}`;
const flags = [...new Set(running.flatMap((section) => flagsOf[section]))].map(
  (name) => `--${name} ${values[name as keyof typeof values]}`,
);
const only = running.length === sections.length ? [] : [`--only ${running.join(',')}`];
const header = [
  '',
  `## ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  '',
  `Machine: ${machine}; Node ${process.version}. Command: \`npm run bench -- ${[...only, ...flags].join(' ')}\`.`,
];
const text = [...header, ...lines].join('\n');
write(text);
if (!values['no-record']) appendFileSync(new URL('./RESULTS.md', import.meta.url), `${text}\n`);
