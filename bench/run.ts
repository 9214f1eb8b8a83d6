// `npm run bench [-- --agent-minutes 10 --enrollments 200 --rounds 3 --events 200000 --batch-size 500]`:
// the manager's enrollment rate, its event ingest rate on SQLite and PostgreSQL, and the agent's steady
// memory beside a bare Node 24 with TLS loaded, measured in the same run. `--skip-agent-memory` leaves
// out the long memory run. Results are appended to bench/RESULTS.md with the date, the machine and the
// Node version.
import { appendFileSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { measureAgentMemory } from './agent-memory.ts';
import { measureEnrollmentRate } from './enrollment-rate.ts';
import { type IngestRate, measureIngestRate } from './event-ingest.ts';

const { values } = parseArgs({
  options: {
    'agent-minutes': { type: 'string', default: '10' },
    enrollments: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '8' },
    events: { type: 'string', default: '200000' },
    'batch-size': { type: 'string', default: '500' },
    'ingest-devices': { type: 'string', default: '4' },
    'skip-agent-memory': { type: 'boolean', default: false },
    'no-record': { type: 'boolean', default: false },
  },
});

const write = (text: string) => process.stdout.write(`${text}\n`);
const enrollments = await measureEnrollmentRate({
  enrollments: Number(values.enrollments),
  rounds: Number(values.rounds),
  concurrency: Number(values.concurrency),
  progress: write,
});
const ingest: (IngestRate | { engine: 'sqlite' | 'postgres'; error: string })[] = [];
for (const engine of ['sqlite', 'postgres'] as const) {
  try {
    ingest.push(
      await measureIngestRate({
        engine,
        events: Number(values.events),
        batchSize: Number(values['batch-size']),
        devices: Number(values['ingest-devices']),
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
const memory = values['skip-agent-memory']
  ? undefined
  : await measureAgentMemory({ minutes: Number(values['agent-minutes']), progress: write });

const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${kernel}`;
const mb = (kb: number) => (kb / 1024).toFixed(1);
const lines = [
  '',
  `## ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  '',
  `Machine: ${machine}; Node ${process.version}. Command: \`npm run bench -- --agent-minutes ${values['agent-minutes']} --enrollments ${values.enrollments} --rounds ${values.rounds} --events ${values.events} --batch-size ${values['batch-size']} --ingest-devices ${values['ingest-devices']}${values['skip-agent-memory'] ? ' --skip-agent-memory' : ''}\`.`,
  '',
  '### Enrollments per second (manager, SQLite, device API over mTLS)',
  '',
  `${enrollments.enrollments} enrollments per round, ${enrollments.concurrency} in flight, CSRs prepared beforehand; rounds: ${enrollments.rates.map((rate) => rate.toFixed(1)).join(', ')} per second.`,
  `**Median: ${enrollments.median.toFixed(1)} enrollments/s.**`,
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
  ...(memory === undefined
    ? []
    : [
        '',
        `### Agent memory after ${values['agent-minutes']} min (inventory every ${memory.inventoryIntervalS} s, heartbeat every ${memory.reportIntervalS} s)`,
        '',
        '| process | VmRSS MB | RssAnon MB | VmRSS / bare |',
        '| --- | --- | --- | --- |',
        `| bare Node 24 with TLS loaded | ${mb(memory.bare.vmRssKb)} | ${mb(memory.bare.rssAnonKb)} | 1.00 |`,
        ...memory.agents.map(
          (agent) =>
            `| agent: ${agent.label} | ${mb(agent.vmRssKb)} | ${mb(agent.rssAnonKb)} | ${(agent.vmRssKb / memory.bare.vmRssKb).toFixed(2)} |`,
        ),
        '',
        'Figures are medians of the samples in the last minute of the run. Targets: RssAnon ≤ 16 MB, VmRSS ≤ 1.25 × bare.',
      ]),
];
write(lines.join('\n'));
if (!values['no-record']) appendFileSync(new URL('./RESULTS.md', import.meta.url), `${lines.join('\n')}\n`);
