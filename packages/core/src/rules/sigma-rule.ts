import { type Document, LineCounter, parseAllDocuments } from 'yaml';
import * as z from 'zod/mini';
import { severitySchema } from '../events/event.schema.ts';
import { canonicalJson, sha256Hex } from '../policy/canonical-json.ts';
import type { PolicyProblem, PolicySourceFile } from '../policy/policy.schema.ts';
import { sourceDurationMs } from '../policy/policy-source.schema.ts';
import {
  type FieldPath,
  isRecord,
  problemAt,
  problemAtKey,
  validateSource,
  type YamlSource,
} from '../policy/policy-yaml.ts';
import { useEnglishSchemaMessages } from '../validation/schema-messages.ts';
import { logsourceFilter } from './field-mapping.ts';
import {
  type CompiledCorrelation,
  type CompiledDetection,
  type CompiledRule,
  type CompiledRuleSet,
  type ConditionNode,
  type CorrelationCondition,
  correlationTypes,
  type RuleScope,
  ruleResponses,
  ruleScopes,
  type Selection,
  type SignalSeverity,
  severityOfLevel,
  sigmaLevels,
} from './rule.schema.ts';
import { anyOfConditions, parseCondition, referencedIdentifiers } from './sigma-condition.ts';
import { compileSelection } from './sigma-modifiers.ts';

/**
 * Reads the detection rules of a policy folder (`rules/**`, YAML, one or more documents per file):
 * Sigma detection rules, Sigma correlation rules and the `edgeward:` block (docs/rules.md). Every
 * problem is collected and names its file, line, the rule (title and id) and the dotted field. The
 * result depends only on the set of files: they are read in path order and rules are sorted by id.
 */

export type RuleParseResult =
  | { readonly ok: true; readonly rules: CompiledRuleSet; readonly warnings: readonly PolicyProblem[] }
  | { readonly ok: false; readonly problems: readonly PolicyProblem[] };

const durationText = z.custom<string>(
  (value) => typeof value === 'string' && sourceDurationMs(value) !== undefined,
  'a duration with a unit, such as 90s, 30m, 2h or 7d',
);
const nonEmptyText = z.string().check(z.minLength(1));
const signalSeverity = z.union([severitySchema, z.literal('event')]);
const fieldList = z.array(nonEmptyText).check(z.minLength(1));

const edgewardSourceSchema = z.strictObject({
  scope: z.optional(z.enum(ruleScopes)),
  suppress: z.optional(z.strictObject({ keys: z.optional(fieldList), window: durationText })),
  cooldown: z.optional(durationText),
  tier: z.optional(signalSeverity),
  severity: z.optional(signalSeverity),
  route: z.optional(z.array(nonEmptyText)),
  response: z.optional(z.array(z.enum(ruleResponses))),
  firstSeen: z.optional(
    z.union([fieldList, z.strictObject({ keys: fieldList, learning: z.optional(durationText) })]),
  ),
});
type EdgewardSource = z.infer<typeof edgewardSourceSchema>;

const correlationSourceSchema = z.strictObject({
  type: z.enum(correlationTypes),
  rules: z.array(nonEmptyText).check(z.minLength(1)),
  'group-by': z.optional(z.array(nonEmptyText)),
  timespan: durationText,
  condition: z.optional(
    z.strictObject({
      gt: z.optional(z.number().check(z.int())),
      gte: z.optional(z.number().check(z.int())),
      lt: z.optional(z.number().check(z.int())),
      lte: z.optional(z.number().check(z.int())),
      eq: z.optional(z.number().check(z.int())),
      field: z.optional(z.union([nonEmptyText, fieldList])),
    }),
  ),
  aliases: z.optional(z.record(z.string(), z.record(z.string(), nonEmptyText))),
  generate: z.optional(z.boolean()),
});
type CorrelationSource = z.infer<typeof correlationSourceSchema>;

/** Sigma rules carry many metadata fields (author, date, references, …); only those used are checked. */
const sigmaRuleSourceSchema = z.object({
  title: nonEmptyText,
  id: z.optional(nonEmptyText),
  name: z.optional(nonEmptyText),
  status: z.optional(z.enum(['stable', 'test', 'experimental', 'deprecated', 'unsupported'])),
  description: z.optional(z.string()),
  level: z.optional(z.enum(sigmaLevels)),
  tags: z.optional(z.array(z.string())),
  logsource: z.optional(
    z.object({
      product: z.optional(nonEmptyText),
      service: z.optional(nonEmptyText),
      category: z.optional(nonEmptyText),
    }),
  ),
  detection: z.optional(z.record(z.string(), z.unknown())),
  correlation: z.optional(correlationSourceSchema),
  generate: z.optional(z.boolean()),
  edgeward: z.optional(edgewardSourceSchema),
});
type SigmaRuleSource = z.infer<typeof sigmaRuleSourceSchema>;

/** One YAML document of a rule file, parsed and checked on its own. */
interface RuleDocument {
  readonly source: YamlSource;
  readonly data: SigmaRuleSource;
  /** `rule "Title" (id …)`, the prefix of this rule's problems. */
  readonly label: string;
  readonly id: string;
  readonly line: number;
  /** Set for detection rules; correlations are compiled once every rule is known. */
  readonly detection?: CompiledDetection;
}

export function parseRuleFiles(files: readonly PolicySourceFile[]): RuleParseResult {
  useEnglishSchemaMessages();
  const problems: PolicyProblem[] = [];
  const warnings: PolicyProblem[] = [];
  const documents: RuleDocument[] = [];
  const broken = new Set<string>();
  const ordered = [...files].sort((a, b) => compareText(a.path, b.path));
  for (const file of ordered) {
    if (!/\.ya?ml$/i.test(file.path)) {
      warnings.push({ file: file.path, message: 'ignored: only .yml and .yaml files hold rules' });
      continue;
    }
    for (const source of readDocuments(file, problems, warnings)) {
      const document = readRule(source, problems, warnings);
      if (document !== undefined) {
        documents.push(document);
      } else if (isRecord(source.value)) {
        // A correlation naming this broken rule should not add "no such rule" to its own problem.
        for (const key of ['id', 'name'] as const) {
          const written = source.value[key];
          if (typeof written === 'string') broken.add(written);
        }
      }
    }
  }
  const rules = linkRules(documents, broken, problems, warnings);
  if (problems.length > 0) return { ok: false, problems: sortProblems(problems) };
  return {
    ok: true,
    rules: { format: 1, rules: rules.sort((a, b) => compareText(a.id, b.id)) },
    warnings: sortProblems(warnings),
  };
}

function readDocuments(
  file: PolicySourceFile,
  problems: PolicyProblem[],
  warnings: PolicyProblem[],
): YamlSource[] {
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(file.text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const located = (error: { pos: [number, number]; message: string }): PolicyProblem => {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    return { file: file.path, line, column: col, message: `YAML: ${error.message.split('\n', 1)[0]}` };
  };
  const sources: YamlSource[] = [];
  for (const document of documents as Document.Parsed[]) {
    if (document.errors.length > 0) {
      problems.push(...document.errors.map(located));
      continue;
    }
    warnings.push(...document.warnings.map(located));
    if (document.contents === null) continue;
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: 100 });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const offset = document.contents.range?.[0] ?? 0;
      problems.push(located({ pos: [offset, offset], message }));
      continue;
    }
    sources.push({ file: file.path, document, lineCounter, value });
  }
  return sources;
}

function labelOf(value: unknown): string {
  const title = isRecord(value) && typeof value.title === 'string' ? value.title : undefined;
  const id = isRecord(value) && typeof value.id === 'string' ? value.id : undefined;
  const name = title === undefined ? 'rule' : `rule ${JSON.stringify(title)}`;
  return id === undefined ? name : `${name} (id ${id})`;
}

function labelled(label: string, problem: PolicyProblem): PolicyProblem {
  return { ...problem, message: `${label}: ${problem.message}` };
}

function readRule(
  source: YamlSource,
  problems: PolicyProblem[],
  warnings: PolicyProblem[],
): RuleDocument | undefined {
  const label = labelOf(source.value);
  const at = (path: FieldPath, message: string) => labelled(label, problemAt(source, path, message));
  if (!isRecord(source.value)) {
    problems.push(at([], 'a rule is a mapping with `title`, `logsource` and `detection` (or `correlation`)'));
    return undefined;
  }
  if ('action' in source.value) {
    problems.push(
      labelled(
        label,
        problemAtKey(
          source,
          ['action'],
          'Sigma rule collections (`action: global`) are not supported; write each rule whole',
        ),
      ),
    );
    return undefined;
  }
  const validated = validateSource(source, sigmaRuleSourceSchema);
  if (validated.data === undefined) {
    problems.push(...validated.problems.map((problem) => labelled(label, problem)));
    // The detection is still read, so that its problems come out in the same pass.
    const { detection, logsource } = source.value;
    if (
      isRecord(detection) &&
      !validated.problems.some((problem) => problem.field?.startsWith('detection'))
    ) {
      compileDetectionSource(source, detection, isRecord(logsource) ? logsource : {}, label, problems, []);
    }
    return undefined;
  }
  const data = validated.data;
  const line = problemAt(source, [], '').line ?? 1;
  const id = data.id ?? data.name ?? `${source.file}#${line}`;
  if (data.id === undefined) {
    warnings.push(
      at(
        [],
        `the rule has no \`id\`; it is known as ${JSON.stringify(id)}, so its alerts change identity when that changes. Add an id (a UUID)`,
      ),
    );
  }
  if (data.detection !== undefined && data.correlation !== undefined) {
    problems.push(at(['correlation'], 'a rule has either `detection` or `correlation`, not both'));
    return undefined;
  }
  if (data.correlation !== undefined) {
    if (data.logsource !== undefined)
      warnings.push(at(['logsource'], 'a correlation rule ignores `logsource`'));
    if (data.edgeward?.firstSeen !== undefined) {
      problems.push(
        at(['edgeward', 'firstSeen'], '`firstSeen` applies to detection rules, not correlations'),
      );
    }
    return { source, data, label, id, line };
  }
  if (data.detection === undefined) {
    problems.push({
      ...at([], 'missing `detection` (a Sigma rule) or `correlation` (a Sigma correlation rule)'),
      field: 'detection',
    });
    return undefined;
  }
  if (data.logsource === undefined) {
    problems.push({
      ...at([], 'missing required field `logsource`; write for example {product: linux, service: auth}'),
      field: 'logsource',
    });
    return undefined;
  }
  const detection = compileDetectionSource(source, data.detection, data.logsource, label, problems, warnings);
  return detection === undefined ? undefined : { source, data, label, id, line, detection };
}

function compileDetectionSource(
  source: YamlSource,
  detection: Record<string, unknown>,
  logsource: NonNullable<SigmaRuleSource['logsource']>,
  label: string,
  problems: PolicyProblem[],
  warnings: PolicyProblem[],
): CompiledDetection | undefined {
  const at = (path: FieldPath, message: string) => labelled(label, problemAt(source, path, message));
  const before = problems.length;
  const selections: Record<string, Selection> = {};
  const identifiers: string[] = [];
  for (const [name, value] of Object.entries(detection)) {
    if (name === 'condition') continue;
    if (name === 'timeframe') {
      problems.push(
        labelled(
          label,
          problemAtKey(
            source,
            ['detection', name],
            '`timeframe` belongs to Sigma 1 aggregations; write a correlation rule with `timespan` instead',
          ),
        ),
      );
      continue;
    }
    identifiers.push(name);
    const compiled = compileSelection(value);
    if (compiled.ok) selections[name] = compiled.selection;
    else {
      for (const problem of compiled.problems) {
        const path = ['detection', name, ...problem.path];
        problems.push(
          problem.onKey === true
            ? labelled(label, problemAtKey(source, path, problem.message))
            : at(path, problem.message),
        );
      }
    }
  }
  const written = detection.condition;
  const conditions: { text: string; path: FieldPath }[] = [];
  if (typeof written === 'string') {
    conditions.push({ text: written, path: ['detection', 'condition'] });
  } else if (
    Array.isArray(written) &&
    written.length > 0 &&
    written.every((entry) => typeof entry === 'string')
  ) {
    for (const [index, text] of written.entries())
      conditions.push({ text, path: ['detection', 'condition', index] });
  } else if (written === undefined) {
    problems.push({
      ...at(
        ['detection'],
        'missing required field `condition` in detection; for example `condition: selection`',
      ),
      field: 'detection.condition',
    });
  } else {
    problems.push(
      at(['detection', 'condition'], 'the condition is text (or a list of texts, any of which matches)'),
    );
  }
  const nodes: ConditionNode[] = [];
  for (const { text, path } of conditions) {
    const parsed = parseCondition(text, identifiers);
    if (parsed.ok) nodes.push(parsed.node);
    else problems.push(at(path, `condition ${JSON.stringify(text)}: ${parsed.message}`));
  }
  if (problems.length > before || nodes.length === 0) return undefined;
  const condition = anyOfConditions(nodes);
  const used = referencedIdentifiers(condition);
  for (const name of identifiers) {
    if (!used.has(name)) {
      warnings.push(
        labelled(
          label,
          problemAtKey(
            source,
            ['detection', name],
            `search identifier \`${name}\` is not used by the condition`,
          ),
        ),
      );
    }
  }
  const filter = logsourceFilter(logsource);
  if (filter.warning !== undefined) warnings.push(at(['logsource'], filter.warning));
  return {
    logsource: {
      ...(logsource.product === undefined ? {} : { product: logsource.product }),
      ...(logsource.service === undefined ? {} : { service: logsource.service }),
      ...(logsource.category === undefined ? {} : { category: logsource.category }),
    },
    sources: filter.sources,
    selections,
    condition,
  };
}

/**
 * Resolves what needs every rule: unique ids and names, correlation references (by name or id),
 * chains without cycles, default scopes, whether referenced rules still raise their own alerts.
 */
function linkRules(
  documents: readonly RuleDocument[],
  broken: ReadonlySet<string>,
  problems: PolicyProblem[],
  warnings: PolicyProblem[],
): CompiledRule[] {
  const byId = new Map<string, RuleDocument>();
  const byName = new Map<string, RuleDocument>();
  const where = (document: RuleDocument) => `${document.source.file}:${document.line}`;
  for (const document of documents) {
    const earlier = byId.get(document.id);
    if (earlier !== undefined) {
      problems.push(
        labelled(
          document.label,
          problemAt(
            document.source,
            ['id'],
            `duplicate rule id \`${document.id}\`; already used in ${where(earlier)}`,
          ),
        ),
      );
    } else {
      byId.set(document.id, document);
    }
    const name = document.data.name;
    if (name === undefined) continue;
    const named = byName.get(name);
    if (named !== undefined) {
      problems.push(
        labelled(
          document.label,
          problemAt(
            document.source,
            ['name'],
            `duplicate rule name \`${name}\`; already used in ${where(named)}`,
          ),
        ),
      );
    } else {
      byName.set(name, document);
    }
  }

  // References, resolved to ids.
  const references = new Map<RuleDocument, RuleDocument[]>();
  const unresolved = new Set<RuleDocument>();
  for (const document of documents) {
    const correlation = document.data.correlation;
    if (correlation === undefined) continue;
    const resolved: RuleDocument[] = [];
    for (const [index, reference] of correlation.rules.entries()) {
      const target = byName.get(reference) ?? byId.get(reference);
      if (target === undefined) {
        unresolved.add(document);
        if (broken.has(reference)) continue;
        problems.push(
          labelled(
            document.label,
            problemAt(
              document.source,
              ['correlation', 'rules', index],
              `no rule has the name or id \`${reference}\`; a correlation refers to rules by their \`name\` or \`id\``,
            ),
          ),
        );
      } else if (target === document) {
        unresolved.add(document);
        problems.push(
          labelled(
            document.label,
            problemAt(
              document.source,
              ['correlation', 'rules', index],
              'a correlation cannot refer to itself',
            ),
          ),
        );
      } else {
        resolved.push(target);
      }
    }
    references.set(document, resolved);
  }
  for (const cycle of findCycles(references)) {
    const [first] = cycle;
    if (first === undefined) continue;
    for (const document of cycle) unresolved.add(document);
    problems.push(
      labelled(
        first.label,
        problemAt(
          first.source,
          ['correlation', 'rules'],
          `correlations refer to each other in a circle: ${cycle.map((document) => document.id).join(' → ')} → ${first.id}`,
        ),
      ),
    );
  }

  const referencedBy = new Map<RuleDocument, RuleDocument[]>();
  for (const [correlation, targets] of references) {
    for (const target of targets)
      referencedBy.set(target, [...(referencedBy.get(target) ?? []), correlation]);
  }
  const generates = (document: RuleDocument) =>
    document.data.generate ?? document.data.correlation?.generate ?? false;
  const scopes = new Map<RuleDocument, RuleScope>();
  const scopeOf = (document: RuleDocument): RuleScope => {
    const known = scopes.get(document);
    if (known !== undefined) return known;
    // Rules in a circle are reported above; this only keeps the walk finite.
    scopes.set(document, 'hub');
    const scope = document.data.edgeward?.scope ?? defaultScope(document, references, scopeOf);
    scopes.set(document, scope);
    return scope;
  };

  const compiled: CompiledRule[] = [];
  for (const document of documents) {
    if (unresolved.has(document)) continue;
    const referrers = referencedBy.get(document) ?? [];
    const emits = referrers.length === 0 || referrers.some(generates);
    const rule = compileRule(document, scopeOf(document), emits, references.get(document) ?? [], problems);
    if (rule !== undefined) compiled.push(rule);
    if (!emits && document.data.edgeward !== undefined) {
      const { suppress, cooldown, route, response } = document.data.edgeward;
      if (suppress !== undefined || cooldown !== undefined || route !== undefined || response !== undefined) {
        warnings.push(
          labelled(
            document.label,
            problemAt(
              document.source,
              ['edgeward'],
              'this rule raises no alerts of its own (the correlations referring to it do not set `generate: true`), so its suppress, cooldown, route and response do nothing',
            ),
          ),
        );
      }
    }
  }
  return compiled;
}

/**
 * Detection rules live on the agent, except those over events only a manager sees (syslog from devices
 * without an agent, alerts). A correlation lives on the agent when it groups by deviceId and everything
 * it refers to lives there too; otherwise it spans devices and lives on the hub.
 */
function defaultScope(
  document: RuleDocument,
  references: ReadonlyMap<RuleDocument, readonly RuleDocument[]>,
  scopeOf: (document: RuleDocument) => RuleScope,
): RuleScope {
  const sources = document.detection?.sources;
  if (sources !== undefined) {
    const managerOnly = (type: string) => type === 'syslog.message' || type.startsWith('alert.');
    return sources !== null && sources.length > 0 && sources.every((source) => managerOnly(source.type))
      ? 'hub'
      : 'agent';
  }
  const groupBy = document.data.correlation?.['group-by'] ?? [];
  const targets = references.get(document) ?? [];
  return groupBy.includes('deviceId') && targets.every((target) => scopeOf(target) === 'agent')
    ? 'agent'
    : 'hub';
}

function compileRule(
  document: RuleDocument,
  scope: RuleScope,
  emits: boolean,
  targets: readonly RuleDocument[],
  problems: PolicyProblem[],
): CompiledRule | undefined {
  const { data, source, label } = document;
  const at = (path: FieldPath, message: string) => labelled(label, problemAt(source, path, message));
  const edgeward: EdgewardSource = data.edgeward ?? {};
  const level = data.level ?? 'medium';
  const severity: SignalSeverity = edgeward.severity ?? severityOfLevel(level);
  const perDevice = (fields: readonly string[]) =>
    scope === 'agent' && !fields.includes('deviceId') ? ['deviceId', ...fields] : [...fields];
  let correlation: CompiledCorrelation | undefined;
  if (data.correlation !== undefined) {
    correlation = compileCorrelation(document, data.correlation, targets, perDevice, problems);
    if (correlation === undefined) return undefined;
    if (severity === 'event' || edgeward.tier === 'event') {
      problems.push(
        at(['edgeward', 'severity'], '`event` severity applies to detection rules, not correlations'),
      );
      return undefined;
    }
  }
  const written = edgeward.suppress?.keys;
  const groupKeys = perDevice(written ?? correlation?.groupBy ?? ['deviceId']);
  if (correlation !== undefined && written !== undefined) {
    const outside = groupKeys.filter((key) => !correlation.groupBy.includes(key));
    if (outside.length > 0) {
      problems.push(
        at(
          ['edgeward', 'suppress', 'keys'],
          `a correlation's alerts are identified by its group-by fields; ${outside.map((key) => `\`${key}\``).join(', ')} is not one of: ${correlation.groupBy.join(', ') || '(none)'}`,
        ),
      );
      return undefined;
    }
  }
  const firstSeen = edgeward.firstSeen;
  const rule: Omit<CompiledRule, 'digest'> = {
    id: document.id,
    ...(data.name === undefined ? {} : { name: data.name }),
    title: data.title,
    kind: correlation === undefined ? 'detection' : 'correlation',
    file: source.file,
    line: document.line,
    level,
    severity,
    tier: edgeward.tier ?? severity,
    scope,
    ...(data.status === undefined ? {} : { status: data.status }),
    ...(data.description === undefined ? {} : { description: data.description }),
    tags: data.tags ?? [],
    route: [...new Set(edgeward.route ?? [])],
    response: [...new Set(edgeward.response ?? [])],
    groupKeys,
    cooldownMs: edgeward.cooldown === undefined ? 0 : (sourceDurationMs(edgeward.cooldown) ?? 0),
    ...(edgeward.suppress === undefined
      ? {}
      : { suppress: { windowMs: sourceDurationMs(edgeward.suppress.window) ?? 1 } }),
    emits,
    ...(document.detection === undefined ? {} : { detection: document.detection }),
    ...(firstSeen === undefined
      ? {}
      : {
          firstSeen: Array.isArray(firstSeen)
            ? { keys: perDevice(firstSeen), learningMs: 0 }
            : {
                keys: perDevice(firstSeen.keys),
                learningMs:
                  firstSeen.learning === undefined ? 0 : (sourceDurationMs(firstSeen.learning) ?? 0),
              },
        }),
    ...(correlation === undefined ? {} : { correlation }),
  };
  // Where the rule is written does not change what it does: moving it keeps its state.
  const { file: _file, line: _line, ...meaning } = rule;
  return { ...rule, digest: sha256Hex(canonicalJson(meaning)) };
}

function compileCorrelation(
  document: RuleDocument,
  correlation: CorrelationSource,
  targets: readonly RuleDocument[],
  perDevice: (fields: readonly string[]) => string[],
  problems: PolicyProblem[],
): CompiledCorrelation | undefined {
  const { source, label } = document;
  const at = (path: FieldPath, message: string) =>
    labelled(label, problemAt(source, ['correlation', ...path], message));
  const before = problems.length;
  const { type } = correlation;
  const written = correlation.condition ?? {};
  const { field, ...bounds } = written;
  const condition: CorrelationCondition = bounds;
  const fields = field === undefined ? [] : typeof field === 'string' ? [field] : field;
  const temporal = type === 'temporal' || type === 'temporal_ordered';
  const ruleCount = correlation.rules.length;
  if (type === 'value_count' && fields.length === 0) {
    problems.push(at(['condition', 'field'], '`value_count` counts the distinct values of `field`; name it'));
  }
  if (type !== 'value_count' && field !== undefined) {
    problems.push(at(['condition', 'field'], `\`field\` belongs to value_count, not ${type}`));
  }
  const hasBound = Object.keys(condition).length > 0;
  if (!temporal && !hasBound) {
    problems.push(at(['condition'], `${type} needs a condition such as \`gte: 5\``));
  }
  if (condition.eq !== undefined && Object.keys(condition).length > 1) {
    problems.push(at(['condition', 'eq'], '`eq` stands alone; use gt/gte with lt/lte for a range'));
  }
  if (condition.gt !== undefined && condition.gte !== undefined) {
    problems.push(at(['condition', 'gte'], '`gt` and `gte` exclude each other'));
  }
  if (condition.lt !== undefined && condition.lte !== undefined) {
    problems.push(at(['condition', 'lte'], '`lt` and `lte` exclude each other'));
  }
  const low = condition.gte ?? (condition.gt === undefined ? undefined : condition.gt + 1) ?? condition.eq;
  const high = condition.lte ?? (condition.lt === undefined ? undefined : condition.lt - 1) ?? condition.eq;
  if (low !== undefined && high !== undefined && low > high) {
    problems.push(at(['condition'], 'no count satisfies this condition'));
  }
  if (temporal) {
    if (high !== undefined) {
      problems.push(
        at(
          ['condition'],
          `${type} fires when enough of its rules matched; it takes \`gte\` (or \`gt\`), not an upper bound`,
        ),
      );
    } else if (low !== undefined && (low < 1 || low > ruleCount)) {
      problems.push(
        at(['condition'], `${type} refers to ${ruleCount} rules; the count must be 1 to ${ruleCount}`),
      );
    } else if (type === 'temporal_ordered' && low !== undefined && low !== ruleCount) {
      problems.push(
        at(['condition'], 'temporal_ordered needs every rule, in order; leave the condition out'),
      );
    }
  } else if (low !== undefined && low < 1 && high === undefined) {
    problems.push(at(['condition'], 'a count of at least 0 holds without any event; use 1 or more'));
  }
  // Aliases name referenced rules by name (or id); the compiled form keys them by id.
  const aliases: Record<string, Record<string, string>> = {};
  for (const [alias, perRule] of Object.entries(correlation.aliases ?? {})) {
    const resolved: Record<string, string> = {};
    for (const [reference, target] of Object.entries(perRule)) {
      const rule = targets.find(
        (candidate) => candidate.data.name === reference || candidate.id === reference,
      );
      if (rule === undefined) {
        problems.push(
          at(
            ['aliases', alias, reference],
            `\`${reference}\` is not one of the rules this correlation refers to (${correlation.rules.join(', ')})`,
          ),
        );
      } else {
        resolved[rule.id] = target;
      }
    }
    aliases[alias] = resolved;
  }
  if (problems.length > before) return undefined;
  return {
    type,
    rules: targets.map((target) => target.id),
    groupBy: perDevice(correlation['group-by'] ?? []),
    timespanMs: sourceDurationMs(correlation.timespan) ?? 1,
    condition: temporal && !hasBound ? { gte: ruleCount } : condition,
    fields,
    aliases,
  };
}

function findCycles(references: ReadonlyMap<RuleDocument, readonly RuleDocument[]>): RuleDocument[][] {
  const cycles: RuleDocument[][] = [];
  const state = new Map<RuleDocument, 'visiting' | 'done'>();
  const stack: RuleDocument[] = [];
  const visit = (document: RuleDocument) => {
    state.set(document, 'visiting');
    stack.push(document);
    for (const target of references.get(document) ?? []) {
      const seen = state.get(target);
      if (seen === 'visiting') cycles.push(stack.slice(stack.indexOf(target)));
      else if (seen === undefined) visit(target);
    }
    stack.pop();
    state.set(document, 'done');
  };
  for (const document of references.keys()) if (!state.has(document)) visit(document);
  return cycles;
}

/** Code-unit order, the same on every machine. */
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
