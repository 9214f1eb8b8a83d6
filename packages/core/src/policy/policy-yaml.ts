import {
  type Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  visit,
} from 'yaml';
import type * as z from 'zod/mini';
import type { PolicyProblem, PolicySourceFile } from './policy.schema.ts';

/**
 * One YAML file of a policy folder, parsed with its positions kept, so that a problem found in the
 * parsed value (by a schema or by a folder-wide check) can name the line and column it came from.
 */
export interface YamlSource {
  readonly file: string;
  readonly document: Document.Parsed;
  readonly lineCounter: LineCounter;
  /** The plain value; an empty file (or one with only comments) reads as an empty mapping. */
  readonly value: unknown;
}

export type FieldPath = readonly (string | number)[];

export type YamlParse =
  | { readonly ok: true; readonly source: YamlSource; readonly warnings: readonly PolicyProblem[] }
  | { readonly ok: false; readonly problems: readonly PolicyProblem[] };

export function parseYamlSource(file: PolicySourceFile): YamlParse {
  const lineCounter = new LineCounter();
  // prettyErrors would repeat the position and an excerpt inside the message; the problem carries both.
  const document = parseDocument(file.text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const located = (error: { pos: [number, number]; message: string }): PolicyProblem => {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    return { file: file.path, line, column: col, message: `YAML: ${firstLine(error.message)}` };
  };
  if (document.errors.length > 0) return { ok: false, problems: document.errors.map(located) };
  let value: unknown = {};
  try {
    if (document.contents !== null) value = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // An alias without its anchor, or aliases expanding past the limit (a "billion laughs" file).
    const message = error instanceof Error ? error.message : String(error);
    let offset: number | undefined;
    visit(document, {
      Alias(_key, alias) {
        if (alias.resolve(document) !== undefined) return undefined;
        offset = alias.range?.[0];
        return visit.BREAK;
      },
    });
    const problem: PolicyProblem =
      offset === undefined
        ? { file: file.path, message: `YAML: ${firstLine(message)}` }
        : located({ pos: [offset, offset], message });
    return { ok: false, problems: [problem] };
  }
  return {
    ok: true,
    source: { file: file.path, document, lineCounter, value },
    warnings: document.warnings.map(located),
  };
}

/** A problem at `path` within the file: the value's position, or its nearest existing ancestor's. */
export function problemAt(source: YamlSource, path: FieldPath, message: string): PolicyProblem {
  return { file: source.file, ...positionOf(source, path, false), ...fieldOf(path), message };
}

/** A problem about the key itself (an unknown field): positioned on the key, not its value. */
export function problemAtKey(source: YamlSource, path: FieldPath, message: string): PolicyProblem {
  return { file: source.file, ...positionOf(source, path, true), ...fieldOf(path), message };
}

/** The whole file (an empty path) is not a field. */
function fieldOf(path: FieldPath): { field?: string } {
  return path.length === 0 ? {} : { field: dotted(path) };
}

export function dotted(path: FieldPath): string {
  return path.join('.');
}

/** The plain value at `path`, or undefined where the path leaves the value. */
export function valueAt(value: unknown, path: FieldPath): unknown {
  let current = value;
  for (const key of path) {
    if (Array.isArray(current) && typeof key === 'number') current = current[key];
    else if (isRecord(current) && Object.hasOwn(current, String(key))) current = current[String(key)];
    else return undefined;
  }
  return current;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates a file's value against its source schema and turns every issue into a problem that says
 * where (line, column, dotted field) and what was expected, in words a policy author can act on.
 */
export function validateSource<S extends z.ZodMiniType>(
  source: YamlSource,
  schema: S,
): { readonly data: z.output<S> | undefined; readonly problems: readonly PolicyProblem[] } {
  const parsed = schema.safeParse(source.value);
  if (parsed.success) return { data: parsed.data, problems: [] };
  return {
    data: undefined,
    problems: parsed.error.issues.flatMap((issue) => issueProblems(source, schema, issue)),
  };
}

function issueProblems(source: YamlSource, schema: z.ZodMiniType, issue: z.core.$ZodIssue): PolicyProblem[] {
  const path = issue.path.filter((key): key is string | number => typeof key !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    const known = objectKeysAt(schema, path, source.value) ?? [];
    return issue.keys.map((key) =>
      problemAtKey(
        source,
        [...path, key],
        `unknown field \`${key}\`${within(path)}; expected one of: ${known.join(', ')}`,
      ),
    );
  }
  const parentPath = path.slice(0, -1);
  const last = path.at(-1);
  const parent = valueAt(source.value, parentPath);
  if (typeof last === 'string' && isRecord(parent) && !Object.hasOwn(parent, last)) {
    const problem = problemAt(
      source,
      parentPath,
      `missing required field \`${last}\`${within(parentPath)}; expected ${expectation(issue)}`,
    );
    return [{ ...problem, field: dotted(path) }];
  }
  const value = valueAt(source.value, path);
  return [problemAt(source, path, found(issue, value))];
}

function within(path: FieldPath): string {
  return path.length === 0 ? '' : ` in ${dotted(path)}`;
}

function expectation(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return typeName(issue.expected);
    case 'invalid_value':
      return `one of: ${issue.values.map(String).join(', ')}`;
    case 'invalid_union':
      return 'options' in issue && Array.isArray(issue.options)
        ? `one of: ${issue.options.map(String).join(', ')}`
        : issue.message;
    case 'too_small':
      return bound(issue.origin, 'at least', issue.minimum, issue.inclusive !== false);
    case 'too_big':
      return bound(issue.origin, 'at most', issue.maximum, issue.inclusive !== false);
    default:
      return issue.message;
  }
}

function found(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.code === 'invalid_union' && 'discriminator' in issue) {
    return `unknown ${String(issue.discriminator)} ${show(value)}; expected ${expectation(issue)}`;
  }
  if (issue.code === 'invalid_value') return `expected ${expectation(issue)}; got ${show(value)}`;
  return `expected ${expectation(issue)}, got ${show(value)}`;
}

function bound(origin: string, word: string, limit: number | bigint | Date, inclusive: boolean): string {
  const amount = Number(limit) + (inclusive ? 0 : word === 'at least' ? 1 : -1);
  if (origin === 'array' || origin === 'set') return `${word} ${amount} item${amount === 1 ? '' : 's'}`;
  if (origin === 'string') return `${word} ${amount} character${amount === 1 ? '' : 's'}`;
  return `a number ${word === 'at least' ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<'} ${String(limit)}`;
}

function typeName(expected: string): string {
  switch (expected) {
    case 'object':
      return 'a mapping (key: value)';
    case 'array':
      return 'a list';
    case 'boolean':
      return 'true or false';
    case 'int':
      return 'a whole number';
    case 'string':
      return 'text';
    default:
      return `a ${expected}`;
  }
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return `a list of ${value.length} item${value.length === 1 ? '' : 's'}`;
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? text;
}

/**
 * The fields an object schema allows at `path`, following the value so that a discriminated union
 * (`check: {type: sshd, …}`) answers with the fields of the option chosen by its discriminator.
 */
export function objectKeysAt(schema: z.core.$ZodType, path: FieldPath, value: unknown): string[] | undefined {
  const def = schema._zod.def;
  switch (def.type) {
    case 'optional':
    case 'default':
    case 'prefault':
    case 'nullable':
    case 'nonoptional':
    case 'readonly':
    case 'catch':
      return objectKeysAt((def as z.core.$ZodOptionalDef).innerType, path, value);
    case 'pipe':
      return objectKeysAt((def as z.core.$ZodPipeDef).in, path, value);
    case 'object': {
      const shape = (def as z.core.$ZodObjectDef).shape;
      if (path.length === 0) return Object.keys(shape);
      const [head, ...rest] = path;
      const child = shape[String(head)];
      return child === undefined ? undefined : objectKeysAt(child, rest, valueAt(value, [String(head)]));
    }
    case 'array': {
      if (path.length === 0) return undefined;
      const [head, ...rest] = path;
      return objectKeysAt((def as z.core.$ZodArrayDef).element, rest, valueAt(value, [head ?? 0]));
    }
    case 'record': {
      if (path.length === 0) return undefined;
      const [head, ...rest] = path;
      return objectKeysAt((def as z.core.$ZodRecordDef).valueType, rest, valueAt(value, [head ?? '']));
    }
    case 'union': {
      const union = def as z.core.$ZodDiscriminatedUnionDef;
      if (union.discriminator !== undefined) {
        const chosen = valueAt(value, [union.discriminator]);
        const option = union.options.find((candidate) =>
          candidate._zod.propValues?.[union.discriminator]?.has(chosen as never),
        );
        return option === undefined ? undefined : objectKeysAt(option, path, value);
      }
      for (const option of union.options) {
        const keys = objectKeysAt(option, path, value);
        if (keys !== undefined) return keys;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

function positionOf(source: YamlSource, path: FieldPath, atKey: boolean): { line?: number; column?: number } {
  const range = rangeOf(source.document, path, atKey);
  if (range === undefined) return { line: 1, column: 1 };
  const { line, col } = source.lineCounter.linePos(range);
  return { line, column: col };
}

/** Start offset of the node at `path` (or of the key naming it), else of its deepest existing ancestor. */
function rangeOf(document: Document.Parsed, path: FieldPath, atKey: boolean): number | undefined {
  let node: Node | null = document.contents;
  let offset = node?.range?.[0];
  for (const [index, key] of path.entries()) {
    const isLast = index === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(key),
      );
      if (pair === undefined) return offset;
      const keyNode = pair.key as Node;
      const valueNode = pair.value as Node | null;
      if (isLast && atKey) return keyNode.range?.[0] ?? offset;
      // `title:` with nothing after it has no value node; its key is the closest position.
      offset = valueNode?.range?.[0] ?? keyNode.range?.[0] ?? offset;
      node = valueNode;
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key] as Node | null | undefined;
      if (item === undefined || item === null) return offset;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      return offset;
    }
  }
  return offset;
}
