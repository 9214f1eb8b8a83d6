import { formatCidr, parseCidr } from './cidr.ts';
import { type FieldTest, type Selection, type TimePart, timeParts, type ValueTest } from './rule.schema.ts';

/**
 * Turns a Sigma search identifier (a mapping of `Field|modifier…: values`, a list of such mappings, or
 * a list of keywords) into its compiled, JSON form. Everything that can be decided once is decided
 * here: wildcards become prefix/suffix/contains tests or an anchored pattern, constants are
 * lower-cased, `windash` and the base64 modifiers expand into their variants, regular expressions and
 * networks are checked.
 */

export interface SelectionProblem {
  /** Path below the search identifier (`['Image|endswith', 2]`). */
  readonly path: readonly (string | number)[];
  readonly message: string;
  /** The problem is the key itself (an unknown modifier), not its value. */
  readonly onKey?: boolean;
}

export type SelectionCompile =
  | { readonly ok: true; readonly selection: Selection }
  | { readonly ok: false; readonly problems: readonly SelectionProblem[] };

/** Wildcards in a parsed Sigma string, as private-use characters so that text can carry them. */
const STAR = '\uE000';
const QUESTION = '\uE001';

const positionModifiers = ['contains', 'startswith', 'endswith'] as const;
const encodingModifiers = [
  'base64',
  'base64offset',
  'utf16le',
  'utf16be',
  'utf16',
  'wide',
  'windash',
] as const;
const compareModifiers = ['gt', 'gte', 'lt', 'lte'] as const;
const regexFlagModifiers = ['i', 'm', 's'] as const;
const otherModifiers = ['all', 'cased', 'neq', 'exists', 're', 'cidr', 'fieldref', 'expand'] as const;
const knownModifiers: ReadonlySet<string> = new Set([
  ...positionModifiers,
  ...encodingModifiers,
  ...compareModifiers,
  ...regexFlagModifiers,
  ...otherModifiers,
  ...timeParts,
]);

/** How many variants `windash` may produce from one value (5 per dash). */
const MAX_VARIANTS = 625;

export function compileSelection(value: unknown): SelectionCompile {
  const problems: SelectionProblem[] = [];
  const anyOf: FieldTest[][] = [];
  if (Array.isArray(value)) {
    if (value.length === 0) return fail([], 'an empty list matches nothing; list keywords or field mappings');
    const maps = value.filter(isMapping);
    if (maps.length === value.length) {
      for (const [index, member] of value.entries()) {
        const tests = compileMapping(member as Record<string, unknown>, [index], problems);
        if (tests !== undefined) anyOf.push(tests);
      }
    } else if (maps.length === 0) {
      const keyword = compileEntry('', value, [], problems);
      if (keyword !== undefined) anyOf.push([keyword]);
    } else {
      return fail(
        [],
        'a list holds either keywords (text searched in the whole event) or field mappings, not both',
      );
    }
  } else if (isMapping(value)) {
    const tests = compileMapping(value, [], problems);
    if (tests !== undefined) anyOf.push(tests);
  } else {
    return fail(
      [],
      'a search identifier is a mapping of fields to values (`Image|endswith: /nc`) or a list of keywords',
    );
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, selection: { anyOf } };
}

function fail(path: readonly (string | number)[], message: string): SelectionCompile {
  return { ok: false, problems: [{ path, message }] };
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function compileMapping(
  mapping: Record<string, unknown>,
  at: readonly (string | number)[],
  problems: SelectionProblem[],
): FieldTest[] | undefined {
  const keys = Object.keys(mapping);
  if (keys.length === 0) {
    problems.push({ path: at, message: 'an empty mapping matches every event; name at least one field' });
    return undefined;
  }
  const tests: FieldTest[] = [];
  for (const key of keys) {
    const test = compileEntry(key, mapping[key], [...at, key], problems);
    if (test !== undefined) tests.push(test);
  }
  return tests.length === keys.length ? tests : undefined;
}

type Scalar = string | number | boolean | null;

interface Modifiers {
  position: (typeof positionModifiers)[number] | undefined;
  encodings: string[];
  compare: (typeof compareModifiers)[number] | undefined;
  part: TimePart | undefined;
  regexFlags: string;
  all: boolean;
  cased: boolean;
  neq: boolean;
  exists: boolean;
  re: boolean;
  cidr: boolean;
  fieldref: boolean;
}

/** One `Field|modifiers: value(s)` entry; `key` '' (or `|all` …) is a keyword search. */
function compileEntry(
  key: string,
  raw: unknown,
  at: readonly (string | number)[],
  problems: SelectionProblem[],
): FieldTest | undefined {
  const [field = '', ...names] = key.split('|');
  const problem = (message: string, path = at) => {
    problems.push({ path, message });
    return undefined;
  };
  const modifiers = readModifiers(names);
  if (typeof modifiers === 'string') {
    problems.push({ path: at, message: modifiers, onKey: true });
    return undefined;
  }
  const keyword = field === '';
  if (keyword && key !== '' && names.length === 0) return problem('a field name is missing before the value');
  const values: unknown[] = Array.isArray(raw) ? raw : [raw];
  if (Array.isArray(raw) && raw.length === 0) return problem('an empty list of values matches nothing');
  for (const [index, value] of values.entries()) {
    if (value !== null && (typeof value === 'object' || typeof value === 'function')) {
      return problem(
        Array.isArray(value)
          ? 'a nested list is not Sigma; write the values as one list'
          : 'a field takes text, a number, true/false, null or a list of them; a nested mapping is not Sigma',
        Array.isArray(raw) ? [...at, index] : at,
      );
    }
  }
  if (modifiers.all && values.length < 2) {
    return problem('`all` needs a list of at least two values; for one value leave `all` out');
  }
  if (modifiers.exists) {
    if (values.length !== 1 || typeof values[0] !== 'boolean') return problem('`exists` takes true or false');
    return {
      field: keyword ? null : field,
      all: false,
      negate: false,
      tests: [[{ op: 'exists', value: values[0] }]],
    };
  }
  if (keyword && (modifiers.fieldref || modifiers.cidr || modifiers.compare || modifiers.part)) {
    return problem('keyword searches take text modifiers only (contains, all, cased, re, windash, base64…)');
  }
  const groups: ValueTest[][] = [];
  for (const [index, value] of values.entries()) {
    const path = Array.isArray(raw) ? [...at, index] : at;
    const group = compileValue(value as Scalar, modifiers, keyword);
    if (typeof group === 'string') return problem(group, path);
    groups.push(group);
  }
  return {
    field: keyword ? null : field,
    all: modifiers.all,
    negate: modifiers.neq,
    // Without `all` the groups are alternatives anyway; one group keeps evaluation a flat loop.
    tests: modifiers.all ? groups : [groups.flat()],
  };
}

function readModifiers(names: readonly string[]): Modifiers | string {
  const modifiers: Modifiers = {
    position: undefined,
    encodings: [],
    compare: undefined,
    part: undefined,
    regexFlags: '',
    all: false,
    cased: false,
    neq: false,
    exists: false,
    re: false,
    cidr: false,
    fieldref: false,
  };
  for (const name of names) {
    if (!knownModifiers.has(name)) {
      return `unknown modifier \`${name}\`; Sigma modifiers are: ${[...knownModifiers].join(', ')}`;
    }
    if (name === 'expand') {
      return '`expand` placeholders (%name%) need a lookup table Edgeward does not have; list the values instead';
    }
    if ((positionModifiers as readonly string[]).includes(name)) {
      if (modifiers.position !== undefined)
        return `\`${modifiers.position}\` and \`${name}\` exclude each other`;
      modifiers.position = name as Modifiers['position'];
    } else if ((encodingModifiers as readonly string[]).includes(name)) {
      modifiers.encodings.push(name);
    } else if ((compareModifiers as readonly string[]).includes(name)) {
      if (modifiers.compare !== undefined)
        return `\`${modifiers.compare}\` and \`${name}\` exclude each other`;
      modifiers.compare = name as Modifiers['compare'];
    } else if ((timeParts as readonly string[]).includes(name)) {
      if (modifiers.part !== undefined) return `\`${modifiers.part}\` and \`${name}\` exclude each other`;
      modifiers.part = name as TimePart;
    } else if ((regexFlagModifiers as readonly string[]).includes(name)) {
      if (!modifiers.re) return `\`${name}\` is a flag of \`re\` and comes after it (\`|re|${name}\`)`;
      modifiers.regexFlags += name;
    } else {
      const flag = name as 'all' | 'cased' | 'neq' | 'exists' | 're' | 'cidr' | 'fieldref';
      modifiers[flag] = true;
    }
  }
  const typed = [
    modifiers.re && 're',
    modifiers.cidr && 'cidr',
    modifiers.exists && 'exists',
    modifiers.fieldref && 'fieldref',
    (modifiers.compare !== undefined || modifiers.part !== undefined) &&
      (modifiers.compare ?? modifiers.part),
  ].filter((entry): entry is string => typeof entry === 'string');
  if (typed.length > 1) return `\`${typed[0]}\` and \`${typed[1]}\` exclude each other`;
  const [type] = typed;
  if (type !== undefined && type !== 'fieldref') {
    if (modifiers.position !== undefined) return `\`${modifiers.position}\` does not apply to \`${type}\``;
    if (modifiers.encodings.length > 0) return `\`${modifiers.encodings[0]}\` does not apply to \`${type}\``;
    if (modifiers.cased && type !== 're') return `\`cased\` does not apply to \`${type}\``;
  }
  if (modifiers.re && modifiers.cased) return '`re` is case-sensitive already; use `re|i` to ignore case';
  if (modifiers.exists && (modifiers.all || modifiers.neq)) return '`exists` takes no other modifier';
  if (modifiers.fieldref && modifiers.encodings.length > 0) {
    return `\`${modifiers.encodings[0]}\` does not apply to \`fieldref\``;
  }
  if (modifiers.neq && modifiers.all) return '`neq` and `all` exclude each other';
  const utf16 = modifiers.encodings.findIndex((name) => name.startsWith('utf16') || name === 'wide');
  if (utf16 !== -1 && !modifiers.encodings.slice(utf16 + 1).some((name) => name.startsWith('base64'))) {
    return `\`${modifiers.encodings[utf16]}\` encodes text for a following \`base64\` or \`base64offset\`; add one`;
  }
  return modifiers;
}

function compileValue(value: Scalar, modifiers: Modifiers, keyword: boolean): ValueTest[] | string {
  if (value === null) {
    if (modifiers.re || modifiers.cidr || modifiers.fieldref || modifiers.compare || modifiers.part) {
      return 'null takes no type modifier';
    }
    if (modifiers.position !== undefined || modifiers.encodings.length > 0)
      return 'null takes no text modifier';
    if (keyword) return 'a keyword cannot be null';
    return [{ op: 'null' }];
  }
  if (modifiers.compare !== undefined || modifiers.part !== undefined) {
    const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
    if (!Number.isFinite(number) || (typeof value === 'string' && value.trim() === '')) {
      return `\`${modifiers.compare ?? modifiers.part}\` compares numbers; got ${JSON.stringify(value)}`;
    }
    return [
      {
        op: 'compare',
        cmp: modifiers.compare ?? 'eq',
        value: number,
        ...(modifiers.part === undefined ? {} : { part: modifiers.part }),
      },
    ];
  }
  if (modifiers.re) {
    if (typeof value !== 'string') return '`re` takes a regular expression as text';
    return regexTest(value, modifiers.regexFlags);
  }
  if (modifiers.cidr) {
    const network = typeof value === 'string' ? parseCidr(value) : undefined;
    if (network === undefined) {
      return `${JSON.stringify(value)} is not a network; write it like 10.0.0.0/8 or 2001:db8::/32`;
    }
    return [{ op: 'cidr', network: formatCidr(network) }];
  }
  if (modifiers.fieldref) {
    if (typeof value !== 'string' || value === '') return '`fieldref` takes the name of another field';
    return [{ op: 'fieldref', field: value, mode: modeOf(modifiers.position), cased: modifiers.cased }];
  }
  let text: string;
  if (typeof value === 'string') {
    if (value.includes(STAR) || value.includes(QUESTION)) return 'the value holds a private-use character';
    text = parseSigmaString(value);
  } else {
    text = String(value);
  }
  let variants = [text];
  let encoding: 'utf8' | 'utf16le' | 'utf16be' | 'utf16' = 'utf8';
  let encoded = false;
  for (const name of modifiers.encodings) {
    if (name === 'windash') {
      variants = variants.flatMap(windashVariants);
      if (variants.length > MAX_VARIANTS) return `\`windash\` makes more than ${MAX_VARIANTS} variants here`;
    } else if (name === 'base64' || name === 'base64offset') {
      if (variants.some((variant) => variant.includes(STAR) || variant.includes(QUESTION))) {
        return `\`${name}\` cannot encode wildcards; escape \`*\` and \`?\` with \\ or leave them out`;
      }
      const bytes = (variant: string) => encodeText(variant, encoding);
      variants = variants.flatMap((variant) =>
        name === 'base64'
          ? [Buffer.from(bytes(variant)).toString('base64')]
          : base64OffsetVariants(bytes(variant)),
      );
      encoded = true;
    } else {
      encoding = name === 'wide' ? 'utf16le' : (name as typeof encoding);
    }
  }
  // A keyword is searched for anywhere in the event's text (Sigma's full-text search).
  const position = modifiers.position ?? (keyword ? 'contains' : undefined);
  // Base64 is case-sensitive by nature; `cased` asks for it elsewhere.
  const cased = modifiers.cased || encoded;
  return dedupe(variants.map((variant) => stringTest(positioned(variant, position), cased)));
}

function modeOf(position: Modifiers['position']): 'eq' | 'prefix' | 'suffix' | 'contains' {
  switch (position) {
    case 'contains':
      return 'contains';
    case 'startswith':
      return 'prefix';
    case 'endswith':
      return 'suffix';
    default:
      return 'eq';
  }
}

function positioned(text: string, position: Modifiers['position']): string {
  switch (position) {
    case 'contains':
      return `${STAR}${text}${STAR}`;
    case 'startswith':
      return `${text}${STAR}`;
    case 'endswith':
      return `${STAR}${text}`;
    default:
      return text;
  }
}

/**
 * A Sigma string with its wildcards as STAR/QUESTION. A backslash escapes `*`, `?` and itself; before
 * anything else it is a plain backslash (`C:\Windows` needs no doubling).
 */
export function parseSigmaString(text: string): string {
  let out = '';
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index];
    if (char === '\\') {
      const next = text[index + 1];
      if (next === '*' || next === '?' || next === '\\') {
        out += next;
        index += 1;
      } else {
        out += '\\';
      }
    } else if (char === '*') {
      out += STAR;
    } else if (char === '?') {
      out += QUESTION;
    } else {
      out += char;
    }
  }
  return out;
}

/** The cheapest test for a value with wildcards: equality, prefix, suffix, substring or a pattern. */
export function stringTest(pattern: string, cased: boolean): ValueTest {
  const text = (cased ? pattern : pattern.toLowerCase()).replace(/\uE000+/g, STAR);
  if (!text.includes(QUESTION)) {
    const parts = text.split(STAR);
    if (parts.length === 1) return { op: 'eq', value: text, cased };
    const inner = parts.slice(1, -1);
    const first = parts[0] ?? '';
    const last = parts.at(-1) ?? '';
    if (parts.length === 2) {
      if (first === '') return { op: 'suffix', value: last, cased };
      if (last === '') return { op: 'prefix', value: first, cased };
    }
    if (parts.length === 3 && first === '' && last === '')
      return { op: 'contains', value: inner[0] ?? '', cased };
  }
  // A leading or trailing `*` is an unanchored end: `wget*| sh` inside a line is searched, not
  // matched from the start with a backtracking `[\s\S]*`.
  const chars = [...text];
  const open = { start: chars[0] === STAR, end: chars.length > 1 && chars.at(-1) === STAR };
  const inner = chars.slice(open.start ? 1 : 0, open.end ? -1 : undefined);
  let source = open.start ? '' : '^';
  for (const char of inner) {
    if (char === STAR) source += '[\\s\\S]*';
    else if (char === QUESTION) source += '[\\s\\S]';
    else source += char.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  return { op: 'glob', pattern: open.end ? source : `${source}$`, cased };
}

/**
 * Sigma regular expressions are PCRE-flavoured: a leading `(?i)`-style group becomes flags, `\A` and
 * `\Z` become anchors and `(?P<name>` a named group; anything JavaScript cannot compile is refused.
 */
function regexTest(source: string, subFlags: string): ValueTest[] | string {
  let pattern = source;
  let flags = subFlags;
  const inline = /^\(\?([ims]+)\)/.exec(pattern);
  if (inline !== null) {
    flags += inline[1];
    pattern = pattern.slice(inline[0].length);
  }
  pattern = pattern
    .replace(/(^|[^\\])((?:\\\\)*)\\A/g, '$1$2^')
    .replace(/(^|[^\\])((?:\\\\)*)\\[Zz]/g, '$1$2$')
    .replace(/\(\?P</g, '(?<');
  const unique = [...new Set(flags)].sort().join('');
  try {
    new RegExp(pattern, unique);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return `not a regular expression JavaScript can run: ${reason}`;
  }
  return [{ op: 're', pattern, flags: unique }];
}

/**
 * pySigma's rule: a `-` or `/` at the start of a word (after a non-word character) may be written as
 * any of `-`, `/`, en dash, em dash or horizontal bar; every combination is generated.
 */
function windashVariants(text: string): string[] {
  const positions: number[] = [];
  for (const match of text.matchAll(/\B[-/]\b/g)) positions.push(match.index);
  let variants = [text];
  for (const position of positions) {
    variants = variants.flatMap((variant) =>
      ['-', '/', '\u2013', '\u2014', '\u2015'].map(
        (dash) => variant.slice(0, position) + dash + variant.slice(position + 1),
      ),
    );
  }
  return variants;
}

function encodeText(text: string, encoding: 'utf8' | 'utf16le' | 'utf16be' | 'utf16'): Uint8Array {
  if (encoding === 'utf8') return new TextEncoder().encode(text);
  const bom = encoding === 'utf16' ? 2 : 0;
  const bytes = new Uint8Array(bom + text.length * 2);
  if (bom > 0) {
    bytes[0] = 0xff;
    bytes[1] = 0xfe;
  }
  for (let index = 0; index < text.length; index += 1) {
    const unit = text.charCodeAt(index);
    const [first, second] = encoding === 'utf16be' ? [unit >> 8, unit & 0xff] : [unit & 0xff, unit >> 8];
    bytes[bom + index * 2] = first;
    bytes[bom + index * 2 + 1] = second;
  }
  return bytes;
}

/**
 * The three encodings of `bytes` at offsets 0, 1 and 2 within a base64 stream, with the characters
 * that depend on the neighbouring bytes cut off (pySigma's `base64offset`).
 */
function base64OffsetVariants(bytes: Uint8Array): string[] {
  const starts = [0, 2, 3];
  const ends = [undefined, -3, -2];
  return [0, 1, 2].map((shift) => {
    const padded = new Uint8Array(shift + bytes.length);
    padded.fill(0x20, 0, shift);
    padded.set(bytes, shift);
    const encoded = Buffer.from(padded).toString('base64');
    return encoded.slice(starts[shift], ends[(bytes.length + shift) % 3]);
  });
}

function dedupe(tests: ValueTest[]): ValueTest[] {
  const seen = new Set<string>();
  return tests.filter((test) => {
    const key = JSON.stringify(test);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
