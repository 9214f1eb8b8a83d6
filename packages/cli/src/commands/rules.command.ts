import { createReadStream } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import {
  EdgewardError,
  type PolicySourceFile,
  parseRuleFiles,
  RuleEngine,
  type RuleEvent,
  type RuleScope,
  type RuleSignal,
  ruleEventFromJson,
  ruleScopes,
} from '@edgeward/core';
import { type Command, Option } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { table } from '../output.ts';
import { readPolicyFolder } from '../policy/policy-folder.ts';
import { problemText } from './policy.command.ts';

interface TestFlags {
  events: string;
  scope?: RuleScope;
  lateness: string;
  maxGroups: string;
  json?: boolean;
}

/** A JSON line longer than this is a mistake (a whole file on one line), not an event. */
const MAX_EVENT_LINE_BYTES = 1_048_576;

export function registerRuleCommands(program: Command, io: CliIo): void {
  const rules = program.command('rules').description('detection rules (Sigma, with the edgeward: block)');

  rules
    .command('test')
    .argument('<path>', 'a rule file, or a folder of them (a policy folder’s rules/)')
    .description(
      'evaluate rules against events given as JSON lines, in event time, without a manager, and print the alerts they raise',
    )
    .requiredOption(
      '--events <file>',
      'events, one JSON object per line (Edgeward or Sigma field names); - for standard input',
    )
    .addOption(
      new Option('--scope <scope>', 'only the rules that run there (default: every scope)').choices([
        ...ruleScopes,
      ]),
    )
    .option('--lateness <ms>', 'how late an event may arrive and still be ordered by event time', '300000')
    .option('--max-groups <n>', 'groups each rule keeps at most', '10000')
    .option('--json', 'print the alerts as JSON lines')
    .addHelpText(
      'after',
      `
An event line is an Edgeward event ({"type":"auth.login_failed","time":…,"data":{"user":"root",…}})
or a flat record of Sigma fields ({"User":"root","SourceIp":"203.0.113.9","@timestamp":"…"}).
Missing times, sequence numbers and device ids are filled in line by line. A line that is not an
event stops the run with its line number (exit status 2).

Examples:
  $ edgeward rules test policies/starter/rules --events auth-sample.jsonl
  $ edgeward rules test rules/brute-force.yml --events - --json < events.jsonl`,
    )
    .action(async (path: string, flags: TestFlags) => {
      const files = await ruleFiles(path);
      const parsed = parseRuleFiles(files);
      if (!parsed.ok) {
        for (const problem of parsed.problems) io.err(problemText(path, problem));
        throw new EdgewardError(
          'EW_POLICY_INVALID',
          `${path} has ${parsed.problems.length} problem${parsed.problems.length === 1 ? '' : 's'}`,
        );
      }
      for (const warning of parsed.warnings) io.err(`warning: ${problemText(path, warning)}`);
      const lateness = wholeNumber(flags.lateness, '--lateness', 0);
      const maxGroups = wholeNumber(flags.maxGroups, '--max-groups', 1);
      const scopes = flags.scope === undefined ? ruleScopes : [flags.scope];
      const engines = scopes.map(
        (scope) =>
          new RuleEngine(parsed.rules, { scope, allowedLatenessMs: lateness, maxGroupsPerRule: maxGroups }),
      );
      const signals: RuleSignal[] = [];
      const seen = new Set<string>();
      const collect = (batch: readonly RuleSignal[]) => {
        for (const signal of batch) {
          // A rule running in several scopes raises the same alert in each: show it once.
          const key = `${signal.ruleId}\u0000${signal.groupKey}\u0000${signal.firstSeen}\u0000${signal.count}\u0000${signal.update}`;
          if (seen.has(key)) continue;
          seen.add(key);
          signals.push(signal);
          if (flags.json) io.out(JSON.stringify(signal));
        }
      };
      let lineNumber = 0;
      let batch: RuleEvent[] = [];
      for await (const line of eventLines(flags.events, io)) {
        lineNumber += 1;
        if (line.trim() === '') continue;
        if (Buffer.byteLength(line) > MAX_EVENT_LINE_BYTES)
          throw new EdgewardError(
            'EW_EVENTS_FILE_INVALID',
            `${flags.events}:${lineNumber}: longer than ${MAX_EVENT_LINE_BYTES} bytes`,
          );
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch (error) {
          throw new EdgewardError(
            'EW_EVENTS_FILE_INVALID',
            `${flags.events}:${lineNumber}: not JSON (${(error as Error).message})`,
          );
        }
        const event = ruleEventFromJson(value, { deviceId: 'test-device', seq: lineNumber, time: 0 });
        if (!event.ok)
          throw new EdgewardError(
            'EW_EVENTS_FILE_INVALID',
            `${flags.events}:${lineNumber}: ${event.message}`,
          );
        batch.push(event.event);
        if (batch.length >= 1000) {
          for (const engine of engines) collect(engine.ingest(batch));
          batch = [];
        }
      }
      for (const engine of engines) collect(engine.ingest(batch));
      for (const engine of engines) collect(engine.flush());
      if (flags.json) return;
      if (signals.length === 0) {
        io.out(`no alert from ${lineNumber} lines`);
        return;
      }
      io.out(
        table(
          ['FIRST SEEN', 'LAST SEEN', 'RULE', 'SEVERITY', 'TIER', 'COUNT', 'GROUP', ''],
          signals.map((signal) => [
            iso(signal.firstSeen),
            iso(signal.lastSeen),
            signal.ruleTitle,
            signal.severity,
            signal.tier,
            String(signal.count),
            signal.groupKey === '' ? '-' : signal.groupKey,
            signal.update ? '(update)' : '',
          ]),
        ),
      );
      io.err(`${signals.filter((signal) => !signal.update).length} alerts from ${lineNumber} lines`);
    });
}

async function ruleFiles(path: string): Promise<PolicySourceFile[]> {
  const info = await lstat(path).catch(() => undefined);
  if (info === undefined) throw new EdgewardError('EW_CONFIG_INVALID', `${path} does not exist`);
  const files = info.isDirectory()
    ? await readPolicyFolder(path)
    : [{ path: basename(path), text: await readFile(path, 'utf8') }];
  // The parser reads rule files the way a policy folder holds them: under rules/.
  return files
    .filter((file) => /\.ya?ml$/.test(file.path))
    .map((file) => ({
      path: file.path.startsWith('rules/') ? file.path : `rules/${file.path}`,
      text: file.text,
    }));
}

function eventLines(file: string, io: CliIo): AsyncIterable<string> {
  if (file === '-') {
    if (io.stdin === undefined)
      throw new EdgewardError('EW_CONFIG_INVALID', '--events - needs standard input');
    return createInterface({ input: Readable.from(io.stdin), crlfDelay: Number.POSITIVE_INFINITY });
  }
  return createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
}

function wholeNumber(text: string, flag: string, minimum: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < minimum)
    throw new EdgewardError('EW_CONFIG_INVALID', `${flag} ${text} must be a whole number ≥ ${minimum}`);
  return value;
}

function iso(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}
