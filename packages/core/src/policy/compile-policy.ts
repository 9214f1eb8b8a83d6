import type * as z from 'zod/mini';
import { severities } from '../events/event.schema.ts';
import { type CompiledPlaybook, playbookSourceSchema } from '../incidents/incident.ts';
import { parseRuleFiles } from '../rules/sigma-rule.ts';
import { useEnglishSchemaMessages } from '../validation/schema-messages.ts';
import { windowCron } from './cron-window.ts';
import {
  type CheckSpec,
  type CompiledCheck,
  type CompiledPolicy,
  type CompiledSegment,
  type CompiledWindow,
  compiledPolicySchema,
  DEFAULT_POLICY_SETTINGS,
  DEFAULT_SEGMENT_ID,
  type LabelSelector,
  type PolicyCompileResult,
  type PolicyProblem,
  type PolicySettings,
  type PolicySourceFile,
  weekdays,
} from './policy.schema.ts';
import {
  type BaselineSource,
  baselineFileSchema,
  type CheckSource,
  type CheckSpecSource,
  checkSourceSchema,
  type FederationSource,
  federationSourceSchema,
  policyIdentifierSchema,
  type RemediationSource,
  type SegmentSource,
  type SettingsSource,
  segmentsFileSchema,
  settingsSourceSchema,
  sourceDurationMs,
  type WindowSource,
  windowSourceSchema,
  windowsFileSchema,
} from './policy-source.schema.ts';
import {
  dotted,
  type FieldPath,
  isRecord,
  parseYamlSource,
  problemAt,
  validateSource,
  valueAt,
  type YamlSource,
} from './policy-yaml.ts';
import { isValidTimeZone } from './weekly-window.ts';

/**
 * Compiles a policy folder (docs/policy.md) into the CompiledPolicy that bundles carry. Every problem
 * is collected, not only the first, and each names its file, line, column and dotted field. The result
 * depends only on the set of files, not on the order they are given in: files are read in path order
 * and every list of the policy is sorted (segments by priority then id, checks by baseline then their
 * order in the file, windows and rules by id and path).
 */
export function compilePolicy(files: readonly PolicySourceFile[]): PolicyCompileResult {
  useEnglishSchemaMessages();
  const folder = readFolder(files);
  const { problems, warnings, sources } = folder;
  const playbooks = compilePlaybooks(sources.playbooks, problems);

  const settingsFiles = sources.settings;
  for (const extra of settingsFiles.slice(1)) {
    problems.push({
      file: extra.file,
      message: `settings are already given in ${settingsFiles[0]?.file}; keep one settings file`,
    });
  }
  const settings =
    settingsFiles[0] === undefined ? {} : validate(settingsFiles[0], settingsSourceSchema, problems);
  const federationFile = sources.federation[0];
  const federation =
    federationFile === undefined ? undefined : validate(federationFile, federationSourceSchema, problems);
  if (federationFile !== undefined && federation !== undefined) {
    problems.push(...federationProblems(federationFile, federation));
  }
  const segmentFiles = sources.segments.map((source) => ({
    source,
    data: validate(source, segmentsFileSchema, problems),
  }));
  const baselineFiles = sources.baselines.map((source) => {
    const data = validate(source, baselineFileSchema, problems);
    return { source, data, id: baselineId(source, data, problems) };
  });
  const windowFiles = sources.windows.map((source) => ({
    source,
    data: validate(source, windowsFileSchema, problems),
  }));
  // Rules across fields are judged per entry, so an error in one entry does not hide those of others.
  for (const { source } of windowFiles) {
    for (const [index, window] of validEntries(source, 'windows', windowSourceSchema)) {
      problems.push(...windowProblems(source, index, window));
    }
  }
  for (const { source } of baselineFiles) {
    for (const [index, check] of validEntries(source, 'checks', checkSourceSchema)) {
      problems.push(...remediateProblems(source, index, check));
    }
  }
  problems.push(...crossFileProblems(segmentFiles, baselineFiles, windowFiles, folder.segmentsReadable));
  // Rules are validated here too, so that `policy validate` and `apply` refuse a broken rule; the
  // bundle still carries their source, which each agent and manager compiles for itself.
  const ruleCheck = parseRuleFiles(folder.rules);
  if (ruleCheck.ok) warnings.push(...ruleCheck.warnings);
  else problems.push(...ruleCheck.problems);
  if (problems.length > 0) return { ok: false, problems: sortProblems(problems) };

  const origins: Origin[] = [];
  const policy: CompiledPolicy = {
    segments: compileSegments(segmentFiles, origins),
    checks: compileChecks(baselineFiles, origins),
    windows: compileWindows(windowFiles, origins),
    settings: compileSettings(settings ?? {}),
    rules: folder.rules,
    // Only when there are any, so that a policy without playbooks keeps the digest it always had.
    ...(playbooks.length === 0 ? {} : { playbooks }),
    ...(federation === undefined ? {} : { federation: compileFederation(federation) }),
  };
  // The source schemas take their fields from the contract, so this should never fail; if it does, the
  // problem still points at the entry it came from rather than at nothing.
  const checked = compiledPolicySchema.safeParse(policy);
  if (!checked.success) {
    return {
      ok: false,
      problems: sortProblems(
        checked.error.issues.map((issue) => {
          const path = issue.path.filter((key): key is string | number => typeof key !== 'symbol');
          const origin = origins.find(
            (candidate) => candidate.list === path[0] && candidate.index === path[1],
          );
          const message = `the compiled policy is invalid at ${dotted(path)}: ${issue.message}`;
          return origin === undefined
            ? { file: '.', field: dotted(path), message }
            : problemAt(origin.source, origin.path, message);
        }),
      ),
    };
  }
  return { ok: true, policy: checked.data, warnings: sortProblems(warnings) };
}

interface Folder {
  readonly sources: Record<YamlKind, YamlSource[]>;
  readonly rules: { path: string; text: string }[];
  readonly problems: PolicyProblem[];
  readonly warnings: PolicyProblem[];
  /**
   * False when a segments file could not be parsed: it may declare the segment a reference names, so
   * references are not judged then (its YAML error is reported instead).
   */
  readonly segmentsReadable: boolean;
}

/** Sorts the files into their places (in path order, whatever order they came in) and parses the YAML. */
function readFolder(files: readonly PolicySourceFile[]): Folder {
  const sources: Folder['sources'] = {
    settings: [],
    segments: [],
    baselines: [],
    windows: [],
    playbooks: [],
    federation: [],
  };
  const rules: Folder['rules'] = [];
  const problems: PolicyProblem[] = [];
  const warnings: PolicyProblem[] = [];
  let segmentsReadable = true;
  const ordered = [...files].sort((a, b) => compareText(a.path, b.path));
  for (const [index, file] of ordered.entries()) {
    if (index > 0 && ordered[index - 1]?.path === file.path) {
      problems.push({ file: file.path, message: 'the folder lists this file twice' });
      continue;
    }
    const placement = placeFile(file.path);
    if (placement.kind === 'ignored') continue;
    if (placement.kind === 'warning' || placement.kind === 'error') {
      (placement.kind === 'warning' ? warnings : problems).push({
        file: file.path,
        message: placement.message,
      });
      continue;
    }
    if (placement.kind === 'rules') {
      rules.push({ path: file.path, text: file.text });
      continue;
    }
    const parsed = parseYamlSource(file);
    if (!parsed.ok) {
      problems.push(...parsed.problems);
      if (placement.kind === 'segments') segmentsReadable = false;
      continue;
    }
    warnings.push(...parsed.warnings);
    sources[placement.kind].push(parsed.source);
  }
  return { sources, rules, problems, warnings, segmentsReadable };
}

/**
 * Reserved and duplicate ids, and references to segments that do not exist. Judged on the raw values,
 * so that a file with a schema error elsewhere still contributes its ids instead of hiding duplicates
 * or causing "unknown segment" noise.
 */
function crossFileProblems(
  segmentFiles: readonly { readonly source: YamlSource }[],
  baselineFiles: readonly { readonly source: YamlSource; readonly id: string }[],
  windowFiles: readonly { readonly source: YamlSource }[],
  segmentsReadable: boolean,
): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const declaredSegments = rawIds(segmentFiles, 'segments');
  for (const declared of declaredSegments) {
    if (declared.id !== DEFAULT_SEGMENT_ID) continue;
    problems.push(
      problemAt(
        declared.source,
        declared.path,
        `\`${DEFAULT_SEGMENT_ID}\` is the implicit segment of devices that match no other; choose another id`,
      ),
    );
  }
  problems.push(...duplicateProblems('segment', declaredSegments));
  problems.push(...duplicateProblems('check', rawIds(baselineFiles, 'checks')));
  problems.push(...duplicateProblems('window', rawIds(windowFiles, 'windows')));
  problems.push(
    ...duplicateProblems(
      'baseline',
      baselineFiles.map(({ source, id }) => ({ id, source, path: ['id'] })),
    ),
  );
  if (!segmentsReadable) return problems;
  const known = new Set([DEFAULT_SEGMENT_ID, ...declaredSegments.map((declared) => declared.id)]);
  const declaredList = [...known].sort(compareText).join(', ');
  for (const reference of [
    ...rawSegmentReferences(baselineFiles, 'checks'),
    ...rawSegmentReferences(windowFiles, 'windows'),
  ]) {
    if (known.has(reference.id)) continue;
    problems.push(
      problemAt(
        reference.source,
        reference.path,
        `unknown segment \`${reference.id}\`; declared segments: ${declaredList}`,
      ),
    );
  }
  return problems;
}

type YamlKind = 'settings' | 'segments' | 'baselines' | 'windows' | 'playbooks' | 'federation';

type Placement =
  | { readonly kind: YamlKind | 'rules' | 'ignored' }
  | { readonly kind: 'warning' | 'error'; readonly message: string };

const yamlFolders = ['segments', 'baselines', 'windows', 'playbooks'] as const;
const knownPlaces = 'settings.yaml, segments/, baselines/, windows/, playbooks/, rules/ or federation.yaml';

/** Where a file belongs in the folder layout, or why it is left out. */
function placeFile(path: string): Placement {
  const parts = path.split('/');
  if (path.startsWith('/') || parts.some((part) => part === '' || part === '.' || part === '..')) {
    return {
      kind: 'error',
      message: 'a policy file path must be relative to the folder, with / between names',
    };
  }
  const name = parts.at(-1) ?? '';
  if (parts.some((part) => part.startsWith('.')) || /^readme/i.test(name)) return { kind: 'ignored' };
  const [top] = parts;
  if (top === 'rules' && parts.length > 1) return { kind: 'rules' };
  const isYaml = /\.ya?ml$/i.test(name);
  if (parts.length === 1 && (name === 'settings.yaml' || name === 'settings.yml'))
    return { kind: 'settings' };
  if (parts.length === 1 && (name === 'federation.yaml' || name === 'federation.yml'))
    return { kind: 'federation' };
  const folder = yamlFolders.find((candidate) => candidate === top);
  if (folder !== undefined && parts.length > 1) {
    return isYaml
      ? { kind: folder }
      : { kind: 'warning', message: `ignored: only .yaml and .yml files are read in ${folder}/` };
  }
  return isYaml
    ? {
        kind: 'error',
        message: `this file is outside the known places of a policy folder; expected ${knownPlaces}`,
      }
    : { kind: 'ignored' };
}

function validate<S extends z.ZodMiniType>(
  source: YamlSource,
  schema: S,
  problems: PolicyProblem[],
): z.output<S> | undefined {
  const result = validateSource(source, schema);
  problems.push(...result.problems);
  return result.data;
}

/** A baseline's id is its `id:`, else its file name without the extension. */
function baselineId(source: YamlSource, data: BaselineSource | undefined, problems: PolicyProblem[]): string {
  const written = data?.id ?? valueAt(source.value, ['id']);
  if (typeof written === 'string') return written;
  const name = (source.file.split('/').at(-1) ?? source.file).replace(/\.ya?ml$/i, '');
  if (!policyIdentifierSchema.safeParse(name).success) {
    problems.push(
      problemAt(
        source,
        ['id'],
        `the baseline takes its id from the file name, and "${name}" is not a valid id (lower case letters, digits, ".", "_" or "-"); rename the file or set \`id:\``,
      ),
    );
  }
  return name;
}

/** The entries of a file's list that are valid on their own, with their index. */
function validEntries<S extends z.ZodMiniType>(
  source: YamlSource,
  list: string,
  schema: S,
): [number, z.output<S>][] {
  const entries = valueAt(source.value, [list]);
  if (!Array.isArray(entries)) return [];
  return entries.flatMap((entry: unknown, index): [number, z.output<S>][] => {
    const parsed = schema.safeParse(entry);
    return parsed.success ? [[index, parsed.data]] : [];
  });
}

function remediateProblems(source: YamlSource, index: number, check: CheckSource): PolicyProblem[] {
  if (check.remediate === undefined || check.remediate === 'off' || check.remediation !== undefined)
    return [];
  return [
    problemAt(
      source,
      ['checks', index, 'remediate'],
      `\`remediate: ${check.remediate}\` needs a \`remediation\`; add one or set \`remediate: off\``,
    ),
  ];
}

function windowProblems(source: YamlSource, index: number, window: WindowSource): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const at = (field: string, message: string) => problemAt(source, ['windows', index, field], message);
  const missing = (field: string, message: string): PolicyProblem => ({
    ...problemAt(source, ['windows', index], message),
    field: dotted(['windows', index, field]),
  });
  const timeZoneValid = isValidTimeZone(window.timeZone);
  if (!timeZoneValid) {
    problems.push(
      at(
        'timeZone',
        `unknown time zone ${JSON.stringify(window.timeZone)}; expected an IANA name such as Europe/Berlin or UTC`,
      ),
    );
  }
  if (window.weekly !== undefined && window.cron !== undefined) {
    problems.push(at('cron', 'a window has either `weekly` ranges or a `cron` expression, not both'));
  } else if (window.weekly === undefined && window.cron === undefined) {
    problems.push(
      missing(
        'weekly',
        `missing schedule in windows.${index}; expected \`weekly\` ranges, or \`cron\` with \`duration\``,
      ),
    );
  }
  if (window.cron !== undefined) {
    if (window.duration === undefined) {
      problems.push(
        missing(
          'duration',
          `missing required field \`duration\` in windows.${index}; a cron window stays open for this long after each occurrence (such as 4h)`,
        ),
      );
    }
    const cronProblem = cronExpressionProblem(window.cron, timeZoneValid ? window.timeZone : 'UTC');
    if (cronProblem !== undefined) problems.push(at('cron', cronProblem));
  } else if (window.duration !== undefined) {
    problems.push(at('duration', '`duration` belongs to cron windows; weekly ranges end at their `end`'));
  }
  return problems;
}

function cronExpressionProblem(expression: string, timeZone: string): string | undefined {
  const expected = 'expected five fields: minute hour day-of-month month day-of-week, such as "0 3 * * sun"';
  try {
    const cron = windowCron(expression, timeZone);
    // croner also takes an ISO date for a one-off run; a window needs a recurring pattern.
    if (cron.getPattern() === undefined)
      return `${JSON.stringify(expression)} is a date, not a cron expression; ${expected}`;
    if (cron.nextRun(new Date(0)) === null) return `${JSON.stringify(expression)} never occurs`;
    return undefined;
  } catch (error) {
    const reason = error instanceof Error ? error.message.replace(/^CronPattern: /, '') : String(error);
    return `invalid cron expression ${JSON.stringify(expression)} (${reason}); ${expected}`;
  }
}

interface RawId {
  readonly id: string;
  readonly source: YamlSource;
  readonly path: FieldPath;
}

/** `id`s of the entries of a list (`segments:`, `checks:`, `windows:`), whatever else is wrong with them. */
function rawIds(files: readonly { readonly source: YamlSource }[], list: string): RawId[] {
  return files.flatMap(({ source }) => {
    const entries = valueAt(source.value, [list]);
    if (!Array.isArray(entries)) return [];
    return entries.flatMap((entry: unknown, index) => {
      const id = isRecord(entry) ? entry.id : undefined;
      return typeof id === 'string' ? [{ id, source, path: [list, index, 'id'] }] : [];
    });
  });
}

/** Every segment named in the `segments:` of a check or window. */
function rawSegmentReferences(files: readonly { readonly source: YamlSource }[], list: string): RawId[] {
  return files.flatMap(({ source }) => {
    const entries = valueAt(source.value, [list]);
    if (!Array.isArray(entries)) return [];
    return entries.flatMap((_entry: unknown, index) => {
      const named = valueAt(source.value, [list, index, 'segments']);
      if (!Array.isArray(named)) return [];
      return named.flatMap((id: unknown, position) =>
        typeof id === 'string' ? [{ id, source, path: [list, index, 'segments', position] }] : [],
      );
    });
  });
}

function duplicateProblems(kind: string, ids: readonly RawId[]): PolicyProblem[] {
  const first = new Map<string, PolicyProblem>();
  const problems: PolicyProblem[] = [];
  for (const entry of ids) {
    const here = problemAt(entry.source, entry.path, '');
    const earlier = first.get(entry.id);
    if (earlier === undefined) {
      first.set(entry.id, here);
      continue;
    }
    const where = earlier.line === undefined ? earlier.file : `${earlier.file}:${earlier.line}`;
    problems.push({ ...here, message: `duplicate ${kind} id \`${entry.id}\`; already declared in ${where}` });
  }
  return problems;
}

/**
 * Incident playbooks (`playbooks/*.yaml`): each a checklist of steps. Ids default to the file name; ids
 * of playbooks, of the types they answer and of the steps within one must be unique.
 */
function compilePlaybooks(sources: readonly YamlSource[], problems: PolicyProblem[]): CompiledPlaybook[] {
  const playbooks: CompiledPlaybook[] = [];
  const ids: RawId[] = [];
  const types: RawId[] = [];
  for (const source of sources) {
    const data = validate(source, playbookSourceSchema, problems);
    if (data === undefined) continue;
    const name = (source.file.split('/').at(-1) ?? source.file).replace(/\.ya?ml$/i, '');
    const id = data.id ?? name;
    if (data.id === undefined && !/^[a-z0-9][a-z0-9._-]{0,63}$/.test(id)) {
      problems.push(
        problemAt(
          source,
          ['id'],
          `the playbook takes its id from the file name, and "${name}" is not a valid id (lower case letters, digits, ".", "_" or "-"); rename the file or set \`id:\``,
        ),
      );
      continue;
    }
    ids.push({ id, source, path: data.id === undefined ? [] : ['id'] });
    const answered = data.types ?? [id];
    answered.forEach((type, index) => {
      types.push({ id: type, source, path: data.types === undefined ? [] : ['types', index] });
    });
    problems.push(
      ...duplicateProblems(
        'step',
        data.steps.map((step, index) => ({ id: step.id, source, path: ['steps', index, 'id'] })),
      ),
    );
    playbooks.push({
      id,
      title: data.title,
      types: answered,
      steps: data.steps.map((step) => ({ id: step.id, title: step.title, phase: step.phase ?? null })),
      file: source.file,
    });
  }
  problems.push(...duplicateProblems('playbook', ids));
  problems.push(...duplicateProblems('playbook type', types));
  return playbooks.sort((a, b) => compareText(a.id, b.id));
}

interface Origin {
  readonly list: 'segments' | 'checks' | 'windows';
  readonly index: number;
  readonly source: YamlSource;
  readonly path: FieldPath;
}

function compileSettings(source: SettingsSource): PolicySettings {
  const defaults = DEFAULT_POLICY_SETTINGS;
  const sla = source.patchSla ?? {};
  return {
    evaluationIntervalMs: durationOr(source.evaluationInterval, defaults.evaluationIntervalMs),
    bundleExpiryMs: durationOr(source.bundleExpiry, defaults.bundleExpiryMs),
    patchSlaMs: Object.fromEntries(
      severities.map((severity) => [severity, durationOr(sla[severity], defaults.patchSlaMs[severity])]),
    ) as PolicySettings['patchSlaMs'],
  };
}

function durationOr(text: string | undefined, fallback: number): number {
  return text === undefined ? fallback : (sourceDurationMs(text) ?? fallback);
}

function compileSegments(
  files: readonly { source: YamlSource; data: { segments: SegmentSource[] } | undefined }[],
  origins: Origin[],
): CompiledSegment[] {
  const compiled = files.flatMap(({ source, data }) =>
    (data?.segments ?? []).map((segment, index) => ({
      origin: { source, path: ['segments', index] },
      segment: {
        id: segment.id,
        title: segment.title ?? segment.id,
        priority: segment.priority ?? 0,
        selector: canonicalSelector(segment.selector),
        ...(segment.evaluationInterval === undefined
          ? {}
          : { evaluationIntervalMs: durationOr(segment.evaluationInterval, 0) }),
      } satisfies CompiledSegment,
    })),
  );
  compiled.sort((a, b) => b.segment.priority - a.segment.priority || compareText(a.segment.id, b.segment.id));
  compiled.forEach(({ origin }, index) => {
    origins.push({ list: 'segments', index, ...origin });
  });
  return compiled.map(({ segment }) => segment);
}

function canonicalSelector(selector: LabelSelector): LabelSelector {
  return Object.fromEntries(
    Object.keys(selector)
      .sort(compareText)
      .map((key) => {
        const wanted = selector[key] ?? [];
        return [key, typeof wanted === 'string' ? wanted : sortedUnique(wanted)];
      }),
  );
}

function compileChecks(
  files: readonly { source: YamlSource; data: BaselineSource | undefined; id: string }[],
  origins: Origin[],
): CompiledCheck[] {
  const compiled = [...files]
    .sort((a, b) => compareText(a.id, b.id))
    .flatMap(({ source, data, id: baseline }) =>
      (data?.checks ?? []).map((check, index) => ({
        origin: { source, path: ['checks', index] },
        check: compileCheck(check, baseline),
      })),
    );
  compiled.forEach(({ origin }, index) => {
    origins.push({ list: 'checks', index, ...origin });
  });
  return compiled.map(({ check }) => check);
}

function compileCheck(check: CheckSource, baseline: string): CompiledCheck {
  const spec = compileSpec(check.check);
  const remediation = check.remediation === undefined ? undefined : compileRemediation(check.remediation);
  return {
    id: check.id,
    baseline,
    title: check.title,
    severity: check.severity,
    rationale: check.rationale ?? '',
    segments: sortedUnique(check.segments ?? []),
    spec,
    remediate: check.remediate ?? (remediation === undefined ? 'off' : 'manual'),
    ...(remediation === undefined ? {} : { remediation }),
    watch: sortedUnique(check.watch ?? defaultWatch(spec)),
  };
}

function compileSpec(spec: CheckSpecSource): CheckSpec {
  if (spec.type !== 'command') return spec;
  const { timeout, ...command } = spec;
  return { ...command, timeoutMs: durationOr(timeout, DEFAULT_COMMAND_TIMEOUT_MS) };
}

function compileRemediation(remediation: RemediationSource): NonNullable<CompiledCheck['remediation']> {
  const { timeout, ...action } = remediation;
  return { action, timeoutMs: durationOr(timeout, DEFAULT_REMEDIATION_TIMEOUT_MS) };
}

/** How long a command check may run when the policy does not say (the contract's default). */
const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

/** How long a remediation may run when the policy does not say. */
export const DEFAULT_REMEDIATION_TIMEOUT_MS = 60_000;

/**
 * The files whose change makes the agent evaluate a check at once instead of at its next interval.
 * Only configuration files are watched: package databases change with every installation and
 * /proc or /sys cannot be watched, so those checks wait for the interval.
 */
export function defaultWatch(spec: CheckSpec): string[] {
  switch (spec.type) {
    case 'file':
      return [spec.path];
    case 'sshd':
      // Debian and others include sshd_config.d/*.conf from beside the main file.
      return [spec.configPath, `${spec.configPath.slice(0, spec.configPath.lastIndexOf('/'))}/sshd_config.d`];
    case 'accounts':
      return spec.rule === 'no-extra-uid0' ? ['/etc/passwd'] : ['/etc/passwd', '/etc/shadow'];
    case 'logging':
      return ['/etc/systemd/journald.conf', '/etc/systemd/journald.conf.d'];
    default:
      return [];
  }
}

function compileWindows(
  files: readonly { source: YamlSource; data: { windows: WindowSource[] } | undefined }[],
  origins: Origin[],
): CompiledWindow[] {
  const compiled = files.flatMap(({ source, data }) =>
    (data?.windows ?? []).map((window, index) => ({
      origin: { source, path: ['windows', index] },
      window: compileWindow(window),
    })),
  );
  compiled.sort((a, b) => compareText(a.window.id, b.window.id));
  compiled.forEach(({ origin }, index) => {
    origins.push({ list: 'windows', index, ...origin });
  });
  return compiled.map(({ window }) => window);
}

function compileWindow(window: WindowSource): CompiledWindow {
  const schedule: CompiledWindow['schedule'] =
    window.cron === undefined
      ? {
          kind: 'weekly',
          ranges: (window.weekly ?? []).map((range) => ({
            days: weekdays.filter((day) => range.days.includes(day)),
            start: range.start,
            end: range.end,
          })),
        }
      : { kind: 'cron', cron: window.cron, durationMs: durationOr(window.duration, 0) };
  return {
    id: window.id,
    segments: sortedUnique(window.segments ?? []),
    timeZone: window.timeZone,
    schedule,
  };
}

function sortedUnique(values: readonly string[]): string[] {
  return [...new Set(values)].sort(compareText);
}

/** Code-unit order, the same on every machine (localeCompare depends on the runtime's locale data). */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortProblems(problems: readonly PolicyProblem[]): PolicyProblem[] {
  return [...problems].sort(
    (a, b) =>
      compareText(a.file, b.file) ||
      (a.line ?? 0) - (b.line ?? 0) ||
      (a.column ?? 0) - (b.column ?? 0) ||
      compareText(a.field ?? '', b.field ?? '') ||
      compareText(a.message, b.message),
  );
}

function federationProblems(source: YamlSource, federation: FederationSource): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  for (const [key, setting] of Object.entries(federation.settings)) {
    const fits =
      setting.kind === 'maximum' || setting.kind === 'minimum'
        ? typeof setting.value === 'number'
        : setting.kind === 'required-flag'
          ? typeof setting.value === 'boolean'
          : setting.kind === 'value'
            ? typeof setting.value === 'string'
            : Array.isArray(setting.value);
    if (!fits)
      problems.push(problemAt(source, ['settings', key, 'value'], `a value of kind ${setting.kind}`));
    if (setting.mode === 'floor' && setting.kind === 'value') {
      problems.push(
        problemAt(
          source,
          ['settings', key, 'mode'],
          'a plain value has no order: lock it or make it site-owned',
        ),
      );
    }
  }
  for (const [site, keys] of Object.entries(federation.delegate)) {
    for (const [index, key] of keys.entries()) {
      if (federation.settings[key] === undefined) {
        problems.push(problemAt(source, ['delegate', site, index], `\`${key}\` is not a governed setting`));
      } else if (federation.settings[key]?.mode === 'lock') {
        problems.push(
          problemAt(source, ['delegate', site, index], `\`${key}\` is locked: a site cannot edit it`),
        );
      }
    }
  }
  return problems;
}

function compileFederation(federation: FederationSource): NonNullable<CompiledPolicy['federation']> {
  const settings: NonNullable<CompiledPolicy['federation']>['settings'] = {};
  for (const key of Object.keys(federation.settings).sort(compareText)) {
    const setting = federation.settings[key];
    if (setting === undefined) continue;
    const value = Array.isArray(setting.value)
      ? [...new Set(setting.value)].sort(compareText)
      : setting.value;
    settings[key] = { kind: setting.kind, mode: setting.mode, value };
  }
  const delegate: Record<string, string[]> = {};
  for (const site of Object.keys(federation.delegate).sort(compareText)) {
    delegate[site] = [...new Set(federation.delegate[site] ?? [])].sort(compareText);
  }
  return {
    maxClockAheadMs: sourceDurationMs(federation.maxClockAhead ?? '5m') ?? 300_000,
    settings,
    delegate,
  };
}
