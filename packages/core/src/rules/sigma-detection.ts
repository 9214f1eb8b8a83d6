import { networkContains, parseCidr, parseIp } from './cidr.ts';
import { type FieldAccessor, fieldAccessor, keywordTexts } from './field-mapping.ts';
import type {
  CompiledDetection,
  ConditionNode,
  FieldTest,
  RuleEvent,
  Selection,
  TimePart,
  ValueTest,
} from './rule.schema.ts';

/**
 * Runs compiled Sigma detections. Each rule becomes a tree of predicates built once, with its regular
 * expressions compiled and its constants lower-cased; per event, the only work is reading fields. A
 * field read by several rules is resolved, converted to text and lower-cased once per event (the
 * MatchContext caches them), so 100 rules looking at `CommandLine` lower-case it once.
 */

export type EventPredicate = (context: MatchContext) => boolean;

/** Numbers the fields rules read, so that a MatchContext can cache each per event by index. */
export class FieldRegistry {
  private readonly indexes = new Map<string, number>();
  readonly accessors: FieldAccessor[] = [];

  indexOf(field: string): number {
    let index = this.indexes.get(field);
    if (index === undefined) {
      index = this.accessors.length;
      this.accessors.push(fieldAccessor(field));
      this.indexes.set(field, index);
    }
    return index;
  }
}

/** The event being matched, with its field values cached by field index for the duration of one event. */
export class MatchContext {
  event: RuleEvent = { seq: 0, id: '', type: '', severity: 'info', time: 0, data: {}, deviceId: '' };
  private stamp = 0;
  private readonly accessors: readonly FieldAccessor[];
  private readonly rawStamps: number[] = [];
  private readonly raws: unknown[] = [];
  private readonly textStamps: number[] = [];
  private readonly texts: (string | undefined)[] = [];
  private readonly lowerStamps: number[] = [];
  private readonly lowers: (string | undefined)[] = [];
  private readonly ipStamps: number[] = [];
  private readonly ips: (Uint8Array | undefined)[] = [];
  private keywordStamp = 0;
  private readonly keywordList: string[] = [];
  private keywordLowerStamp = 0;
  private readonly keywordLowerList: string[] = [];
  private joinedStamp = 0;
  private joined = '';
  private joinedLowerStamp = 0;
  private joinedLower = '';
  private readonly gramStamps = [0, 0];
  private readonly grams = [new Uint32Array(GRAM_BITS / 32), new Uint32Array(GRAM_BITS / 32)];

  constructor(registry: FieldRegistry) {
    this.accessors = registry.accessors;
  }

  /** Starts matching `event`; cached values of the previous event no longer count. */
  reset(event: RuleEvent): void {
    this.event = event;
    this.stamp += 1;
  }

  raw(index: number): unknown {
    if (this.rawStamps[index] === this.stamp) return this.raws[index];
    const accessor = this.accessors[index] as FieldAccessor;
    const value = accessor(this.event);
    this.rawStamps[index] = this.stamp;
    this.raws[index] = value;
    return value;
  }

  text(index: number): string | undefined {
    if (this.textStamps[index] === this.stamp) return this.texts[index];
    const value = textOf(this.raw(index));
    this.textStamps[index] = this.stamp;
    this.texts[index] = value;
    return value;
  }

  lower(index: number): string | undefined {
    if (this.lowerStamps[index] === this.stamp) return this.lowers[index];
    const value = this.text(index)?.toLowerCase();
    this.lowerStamps[index] = this.stamp;
    this.lowers[index] = value;
    return value;
  }

  ip(index: number): Uint8Array | undefined {
    if (this.ipStamps[index] === this.stamp) return this.ips[index];
    const text = this.text(index);
    const value = text === undefined ? undefined : parseIp(text);
    this.ipStamps[index] = this.stamp;
    this.ips[index] = value;
    return value;
  }

  keywords(): readonly string[] {
    if (this.keywordStamp !== this.stamp) {
      keywordTexts(this.event, this.keywordList);
      this.keywordStamp = this.stamp;
    }
    return this.keywordList;
  }

  keywordsLower(): readonly string[] {
    if (this.keywordLowerStamp !== this.stamp) {
      const texts = this.keywords();
      this.keywordLowerList.length = texts.length;
      for (let index = 0; index < texts.length; index += 1) {
        this.keywordLowerList[index] = (texts[index] as string).toLowerCase();
      }
      this.keywordLowerStamp = this.stamp;
    }
    return this.keywordLowerList;
  }

  /** The character pairs of keywordsJoined(cased), computed once per event. */
  keywordGrams(cased: boolean): Uint32Array {
    const index = cased ? 1 : 0;
    if (this.gramStamps[index] !== this.stamp) {
      fillGrams(this.keywordsJoined(cased), this.grams[index] as Uint32Array);
      this.gramStamps[index] = this.stamp;
    }
    return this.grams[index] as Uint32Array;
  }

  /**
   * Every keyword text in one string, separated by NUL, lower-cased unless `cased`: a keyword list is
   * then searched once per keyword rather than once per keyword and field.
   */
  keywordsJoined(cased: boolean): string {
    if (cased) {
      if (this.joinedStamp !== this.stamp) {
        this.joined = this.keywords().join(KEYWORD_SEPARATOR);
        this.joinedStamp = this.stamp;
      }
      return this.joined;
    }
    if (this.joinedLowerStamp !== this.stamp) {
      this.joinedLower = this.keywordsJoined(true).toLowerCase();
      this.joinedLowerStamp = this.stamp;
    }
    return this.joinedLower;
  }
}

/**
 * Which character pairs a text holds, hashed into GRAM_BITS bits: a keyword none of whose sampled
 * pairs is present cannot be in the text, which spares most substring searches of a long keyword list.
 */
const GRAM_BITS = 4096;

function gramBit(first: number, second: number): number {
  return (first * 31 + second) & (GRAM_BITS - 1);
}

function fillGrams(text: string, grams: Uint32Array): void {
  grams.fill(0);
  for (let index = 1; index < text.length; index += 1) {
    const bit = gramBit(text.charCodeAt(index - 1), text.charCodeAt(index));
    grams[bit >>> 5] = (grams[bit >>> 5] as number) | (1 << (bit & 31));
  }
}

/** Up to three pair bits of `literal` (first, middle, last) that a text holding it must have. */
function literalGrams(literal: string): number[] {
  if (literal.length < 2) return [];
  const positions = new Set([1, literal.length >> 1 || 1, literal.length - 1]);
  return [...positions].map((index) => gramBit(literal.charCodeAt(index - 1), literal.charCodeAt(index)));
}

function hasGrams(grams: Uint32Array, bits: readonly number[]): boolean {
  for (let index = 0; index < bits.length; index += 1) {
    const bit = bits[index] as number;
    if (((grams[bit >>> 5] as number) & (1 << (bit & 31))) === 0) return false;
  }
  return true;
}

/** Separates the texts a keyword search joins; no keyword or wildcard crosses it. */
const KEYWORD_SEPARATOR = '\u0000';

/** A scalar value as text (numbers and booleans as JSON writes them); undefined for anything else. */
function textOf(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
      return String(value);
    default:
      return undefined;
  }
}

/** Compiles a detection into one predicate over the MatchContext. */
export function compileDetection(detection: CompiledDetection, registry: FieldRegistry): EventPredicate {
  const selections = new Map<string, EventPredicate>();
  for (const [name, selection] of Object.entries(detection.selections)) {
    selections.set(name, compileSelectionPredicate(selection, registry));
  }
  return compileCondition(detection.condition, selections);
}

function compileCondition(
  node: ConditionNode,
  selections: ReadonlyMap<string, EventPredicate>,
): EventPredicate {
  switch (node.op) {
    case 'ref': {
      const predicate = selections.get(node.name);
      if (predicate === undefined) throw new Error(`condition refers to unknown selection ${node.name}`);
      return predicate;
    }
    case 'not': {
      const inner = compileCondition(node.arg, selections);
      return (context) => !inner(context);
    }
    case 'and':
      return every(node.args.map((arg) => compileCondition(arg, selections)));
    case 'or':
      return some(node.args.map((arg) => compileCondition(arg, selections)));
  }
}

function every(predicates: readonly EventPredicate[]): EventPredicate {
  if (predicates.length === 1) return predicates[0] as EventPredicate;
  if (predicates.length === 2) {
    const [first, second] = predicates as [EventPredicate, EventPredicate];
    return (context) => first(context) && second(context);
  }
  return (context) => {
    for (let index = 0; index < predicates.length; index += 1) {
      if (!(predicates[index] as EventPredicate)(context)) return false;
    }
    return true;
  };
}

function some(predicates: readonly EventPredicate[]): EventPredicate {
  if (predicates.length === 1) return predicates[0] as EventPredicate;
  if (predicates.length === 2) {
    const [first, second] = predicates as [EventPredicate, EventPredicate];
    return (context) => first(context) || second(context);
  }
  return (context) => {
    for (let index = 0; index < predicates.length; index += 1) {
      if ((predicates[index] as EventPredicate)(context)) return true;
    }
    return false;
  };
}

function compileSelectionPredicate(selection: Selection, registry: FieldRegistry): EventPredicate {
  return some(
    selection.anyOf.map((tests) =>
      // Tests of a mapping are independent, so the cheap ones run first and spare the costly ones.
      every(
        [...tests]
          .sort((a, b) => fieldTestCost(a) - fieldTestCost(b))
          .map((test) => compileFieldTest(test, registry)),
      ),
    ),
  );
}

function fieldTestCost(test: FieldTest): number {
  const costs = test.tests.flat().map(valueTestCost);
  const cost = costs.reduce((total, each) => total + each, 0);
  return test.field === null ? cost * 10 : cost;
}

function valueTestCost(test: ValueTest): number {
  switch (test.op) {
    case 'eq':
    case 'null':
    case 'exists':
    case 'compare':
      return 1;
    case 'prefix':
    case 'suffix':
      return 2;
    case 'contains':
    case 'fieldref':
      return 3;
    case 'cidr':
      return 4;
    case 'glob':
      return 5;
    case 're':
      return 6;
  }
}

/** One value test: `raw` is the field's value, `text`/`lower` its text (undefined when not a scalar). */
type ScalarTest = (
  raw: unknown,
  text: string | undefined,
  lower: string | undefined,
  ip: Uint8Array | undefined,
  context: MatchContext,
) => boolean;

interface CompiledValueTest {
  readonly test: ScalarTest;
  readonly needsText: boolean;
  readonly needsLower: boolean;
  readonly needsIp: boolean;
}

export function compileFieldTest(fieldTest: FieldTest, registry: FieldRegistry): EventPredicate {
  const groups = fieldTest.tests.map((group) => group.map((test) => compileValueTest(test, registry)));
  const flat = groups.flat();
  const needsText = flat.some((test) => test.needsText || test.needsLower || test.needsIp);
  const needsLower = flat.some((test) => test.needsLower);
  const needsIp = flat.some((test) => test.needsIp);
  const groupTests = groups.map((group) => group.map((test) => test.test));
  const { all, negate } = fieldTest;
  const matchesScalar = (
    raw: unknown,
    text: string | undefined,
    lower: string | undefined,
    ip: Uint8Array | undefined,
    context: MatchContext,
  ): boolean => {
    for (let group = 0; group < groupTests.length; group += 1) {
      const tests = groupTests[group] as ScalarTest[];
      let matched = false;
      for (let index = 0; index < tests.length; index += 1) {
        if ((tests[index] as ScalarTest)(raw, text, lower, ip, context)) {
          matched = true;
          break;
        }
      }
      if (all && !matched) return false;
      if (!all && matched) return true;
    }
    return all;
  };

  if (fieldTest.field === null) {
    const joined = joinedKeywordTest(fieldTest);
    if (joined !== undefined) return joined;
    return (context) => {
      const texts = context.keywords();
      const lowers = needsLower ? context.keywordsLower() : texts;
      const matched = matchesAny(texts, lowers, groupTests, all, context);
      return negate ? !matched : matched;
    };
  }

  const index = registry.indexOf(fieldTest.field);
  const matchesElements = (values: readonly unknown[], context: MatchContext): boolean => {
    for (let group = 0; group < groupTests.length; group += 1) {
      const tests = groupTests[group] as ScalarTest[];
      let matched = false;
      for (const value of values) {
        const text = textOf(value);
        const lower = needsLower ? text?.toLowerCase() : undefined;
        const ip = needsIp && text !== undefined ? parseIp(text) : undefined;
        if (tests.some((test) => test(value, text, lower, ip, context))) {
          matched = true;
          break;
        }
      }
      if (all && !matched) return false;
      if (!all && matched) return true;
    }
    return all;
  };
  return (context) => {
    const raw = context.raw(index);
    let matched: boolean;
    if (Array.isArray(raw)) {
      matched = matchesElements(raw, context);
    } else {
      const text = needsText ? context.text(index) : undefined;
      const lower = needsLower ? context.lower(index) : undefined;
      const ip = needsIp ? context.ip(index) : undefined;
      matched = matchesScalar(raw, text, lower, ip, context);
    }
    if (!negate) return matched;
    return raw !== undefined && raw !== null && !matched;
  };
}

/**
 * A keyword search of substrings and unanchored patterns, run over the joined texts. Undefined when a
 * test is anchored to the start or end of a field (startswith, endswith, a regular expression).
 */
function joinedKeywordTest(fieldTest: FieldTest): EventPredicate | undefined {
  type JoinedTest = (joined: string, grams: Uint32Array) => boolean;
  const groups: JoinedTest[][] = [];
  let cased: boolean | undefined;
  for (const group of fieldTest.tests) {
    const tests: JoinedTest[] = [];
    for (const test of group) {
      if (test.op !== 'contains' && test.op !== 'glob') return undefined;
      if (cased !== undefined && cased !== test.cased) return undefined;
      cased = test.cased;
      if (test.op === 'glob') {
        if (!isUnanchored(test.pattern)) return undefined;
        // Wildcards stay within one text.
        const pattern = new RegExp(test.pattern.replaceAll('[\\s\\S]', '[^\\u0000]'));
        const literal = requiredLiteral(test.pattern);
        const bits = literalGrams(literal);
        tests.push(
          (joined, grams) => hasGrams(grams, bits) && joined.includes(literal) && pattern.test(joined),
        );
        continue;
      }
      const value = test.value;
      const bits = literalGrams(value);
      tests.push((joined, grams) => hasGrams(grams, bits) && joined.includes(value));
    }
    groups.push(tests);
  }
  const useCase = cased === true;
  const { all, negate } = fieldTest;
  return (context) => {
    const joined = context.keywordsJoined(useCase);
    const grams = context.keywordGrams(useCase);
    let matched = all;
    for (const tests of groups) {
      let any = false;
      for (let index = 0; index < tests.length; index += 1) {
        if ((tests[index] as JoinedTest)(joined, grams)) {
          any = true;
          break;
        }
      }
      if (all && !any) {
        matched = false;
        break;
      }
      if (!all && any) {
        matched = true;
        break;
      }
    }
    return negate ? !matched : matched;
  };
}

/**
 * The longest run of plain text a glob pattern (as stringTest writes it) requires: a substring search
 * for it rules out most texts before the regular expression runs.
 */
function requiredLiteral(pattern: string): string {
  let source = pattern.startsWith('^') ? pattern.slice(1) : pattern;
  if (!isUnanchored(`x${source}`)) source = source.slice(0, -1);
  let longest = '';
  for (const part of source.split(/\[\\s\\S\](?:\*)?/)) {
    const literal = part.replace(/\\([\s\S])/g, '$1');
    if (literal.length > longest.length) longest = literal;
  }
  return longest;
}

/** Whether a glob pattern (as stringTest writes it) is anchored at neither end. */
function isUnanchored(pattern: string): boolean {
  if (pattern.startsWith('^')) return false;
  if (!pattern.endsWith('$')) return true;
  // `\$` is an escaped dollar sign when the backslashes before it are odd in number.
  let backslashes = 0;
  for (let index = pattern.length - 2; index >= 0 && pattern[index] === '\\'; index -= 1) backslashes += 1;
  return backslashes % 2 === 1;
}

function matchesAny(
  texts: readonly string[],
  lowers: readonly string[],
  groupTests: readonly (readonly ScalarTest[])[],
  all: boolean,
  context: MatchContext,
): boolean {
  for (const tests of groupTests) {
    let matched = false;
    for (let position = 0; position < texts.length && !matched; position += 1) {
      const text = texts[position] as string;
      const lower = lowers[position];
      for (const test of tests) {
        if (test(text, text, lower, undefined, context)) {
          matched = true;
          break;
        }
      }
    }
    if (all && !matched) return false;
    if (!all && matched) return true;
  }
  return all;
}

function compileValueTest(test: ValueTest, registry: FieldRegistry): CompiledValueTest {
  const scalar = (fn: ScalarTest, needs: 'raw' | 'text' | 'lower' | 'ip'): CompiledValueTest => ({
    test: fn,
    needsText: needs === 'text',
    needsLower: needs === 'lower',
    needsIp: needs === 'ip',
  });
  switch (test.op) {
    case 'eq':
    case 'prefix':
    case 'suffix':
    case 'contains': {
      const { value, cased } = test;
      const compare = textComparison(test.op, value);
      return cased
        ? scalar((_raw, text) => text !== undefined && compare(text), 'text')
        : scalar((_raw, _text, lower) => lower !== undefined && compare(lower), 'lower');
    }
    case 'glob': {
      const pattern = new RegExp(test.pattern);
      const literal = requiredLiteral(test.pattern);
      // The substring search rules out most texts before the regular expression runs.
      const matches = (value: string | undefined) => value?.includes(literal) === true && pattern.test(value);
      return test.cased
        ? scalar((_raw, text) => matches(text), 'text')
        : scalar((_raw, _text, lower) => matches(lower), 'lower');
    }
    case 're': {
      const pattern = new RegExp(test.pattern, test.flags);
      return scalar((_raw, text) => text !== undefined && pattern.test(text), 'text');
    }
    case 'cidr': {
      const network = parseCidr(test.network);
      if (network === undefined) throw new Error(`invalid network ${test.network}`);
      return scalar((_raw, _text, _lower, ip) => ip !== undefined && networkContains(network, ip), 'ip');
    }
    case 'null':
      return scalar((raw) => raw === undefined || raw === null, 'raw');
    case 'exists': {
      const wanted = test.value;
      return scalar((raw) => (raw !== undefined) === wanted, 'raw');
    }
    case 'compare': {
      const { cmp, value, part } = test;
      const check = numberComparison(cmp, value);
      return part === undefined
        ? scalar((raw) => check(numberOf(raw)), 'raw')
        : scalar((raw) => check(timePart(raw, part)), 'raw');
    }
    case 'fieldref': {
      const other = registry.indexOf(test.field);
      const compare = pairComparison(test.mode);
      return test.cased
        ? scalar((_raw, text, _lower, _ip, context) => {
            const reference = context.text(other);
            return text !== undefined && reference !== undefined && compare(text, reference);
          }, 'text')
        : scalar((_raw, _text, lower, _ip, context) => {
            const reference = context.lower(other);
            return lower !== undefined && reference !== undefined && compare(lower, reference);
          }, 'lower');
    }
  }
}

function textComparison(
  op: 'eq' | 'prefix' | 'suffix' | 'contains',
  value: string,
): (text: string) => boolean {
  switch (op) {
    case 'eq':
      return (text) => text === value;
    case 'prefix':
      return (text) => text.startsWith(value);
    case 'suffix':
      return (text) => text.endsWith(value);
    case 'contains':
      return (text) => text.includes(value);
  }
}

function pairComparison(
  mode: 'eq' | 'prefix' | 'suffix' | 'contains',
): (text: string, other: string) => boolean {
  switch (mode) {
    case 'eq':
      return (text, other) => text === other;
    case 'prefix':
      return (text, other) => text.startsWith(other);
    case 'suffix':
      return (text, other) => text.endsWith(other);
    case 'contains':
      return (text, other) => text.includes(other);
  }
}

function numberComparison(
  cmp: 'eq' | 'gt' | 'gte' | 'lt' | 'lte',
  value: number,
): (number: number) => boolean {
  // NaN compares false with everything, so a missing or non-numeric field never matches.
  switch (cmp) {
    case 'eq':
      return (number) => number === value;
    case 'gt':
      return (number) => number > value;
    case 'gte':
      return (number) => number >= value;
    case 'lt':
      return (number) => number < value;
    case 'lte':
      return (number) => number <= value;
  }
}

function numberOf(raw: unknown): number {
  if (typeof raw === 'number') return raw;
  if (typeof raw === 'string' && raw.trim() !== '') return Number(raw);
  return Number.NaN;
}

/** A UTC date part of epoch milliseconds or an ISO date; NaN when the value is neither. */
function timePart(raw: unknown, part: TimePart): number {
  const ms = typeof raw === 'number' ? raw : typeof raw === 'string' ? Date.parse(raw) : Number.NaN;
  if (!Number.isFinite(ms)) return Number.NaN;
  const date = new Date(ms);
  switch (part) {
    case 'minute':
      return date.getUTCMinutes();
    case 'hour':
      return date.getUTCHours();
    case 'day':
      return date.getUTCDate();
    case 'month':
      return date.getUTCMonth() + 1;
    case 'year':
      return date.getUTCFullYear();
    case 'week':
      return isoWeek(date);
  }
}

function isoWeek(date: Date): number {
  const day = date.getUTCDay() || 7;
  const thursday = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(new Date(thursday).getUTCFullYear(), 0, 1);
  return Math.ceil(((thursday - yearStart) / 86_400_000 + 1) / 7);
}

/**
 * The event types a detection can only match, when its condition requires `type` to equal one of a
 * few values (`selection: {type: auth.login_failed}`); null when it does not say. The engine uses it
 * to skip the rule for every other event type.
 */
export function requiredEventTypes(detection: CompiledDetection): ReadonlySet<string> | null {
  const ofSelection = (selection: Selection | undefined): Set<string> | null => {
    if (selection === undefined) return null;
    const union = new Set<string>();
    for (const tests of selection.anyOf) {
      const typeTest = tests.find(
        (test) =>
          test.field === 'type' &&
          !test.negate &&
          !test.all &&
          test.tests.flat().every((value) => value.op === 'eq'),
      );
      if (typeTest === undefined) return null;
      for (const value of typeTest.tests.flat()) if (value.op === 'eq') union.add(value.value);
    }
    return union;
  };
  const walk = (node: ConditionNode): Set<string> | null => {
    switch (node.op) {
      case 'ref':
        return ofSelection(detection.selections[node.name]);
      case 'not':
        return null;
      case 'and': {
        const known = node.args.map(walk).filter((types): types is Set<string> => types !== null);
        if (known.length === 0) return null;
        const [first, ...rest] = known as [Set<string>, ...Set<string>[]];
        return new Set([...first].filter((type) => rest.every((types) => types.has(type))));
      }
      case 'or': {
        const union = new Set<string>();
        for (const arg of node.args) {
          const types = walk(arg);
          if (types === null) return null;
          for (const type of types) union.add(type);
        }
        return union;
      }
    }
  };
  return walk(detection.condition);
}
