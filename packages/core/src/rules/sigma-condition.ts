import type { ConditionNode } from './rule.schema.ts';

/**
 * Sigma's condition language: search identifiers joined by `and`, `or`, `not` and parentheses, and
 * `1 of` / `all of` a name pattern (`selection_*`) or `them` (every identifier not starting with `_`).
 * Binding from loosest to tightest: or, and, not, `x of`, parentheses. Quantifiers are expanded
 * against the rule's identifiers here, so the compiled tree only holds references.
 */

export type ConditionParse =
  | { readonly ok: true; readonly node: ConditionNode }
  | { readonly ok: false; readonly message: string };

interface Token {
  readonly text: string;
  /** 0-based offset in the condition, for messages. */
  readonly at: number;
}

const KEYWORDS = new Set(['and', 'or', 'not', 'of', 'them', 'all', '1']);
const IDENTIFIER = /^[A-Za-z0-9_.*-]+$/;

class ConditionError extends Error {}

export function parseCondition(text: string, identifiers: readonly string[]): ConditionParse {
  try {
    const tokens = tokenize(text);
    if (tokens.length === 0) throw new ConditionError('the condition is empty; name a search identifier');
    const parser = new Parser(tokens, identifiers, text);
    const node = parser.parseOr();
    const rest = parser.peek();
    if (rest !== undefined) throw unexpected(rest);
    return { ok: true, node: flatten(node) };
  } catch (error) {
    if (error instanceof ConditionError) return { ok: false, message: error.message };
    throw error;
  }
}

/** A list of conditions means any of them (Sigma). */
export function anyOfConditions(nodes: readonly ConditionNode[]): ConditionNode {
  return nodes.length === 1 && nodes[0] !== undefined ? nodes[0] : flatten({ op: 'or', args: nodes });
}

/** The identifiers a condition refers to. */
export function referencedIdentifiers(node: ConditionNode, into = new Set<string>()): Set<string> {
  switch (node.op) {
    case 'ref':
      into.add(node.name);
      break;
    case 'not':
      referencedIdentifiers(node.arg, into);
      break;
    default:
      for (const arg of node.args) referencedIdentifiers(arg, into);
  }
  return into;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  const pattern = /\s*(?:([()])|([^\s()]+))/y;
  let offset = 0;
  while (offset < text.length) {
    pattern.lastIndex = offset;
    const match = pattern.exec(text);
    if (match === null) break;
    const word = match[1] ?? match[2];
    if (word === undefined) break;
    const at = match.index + match[0].length - word.length;
    if (word.includes('|')) {
      throw new ConditionError(
        `\`|\` at character ${at + 1}: aggregations in the condition (\`| count() by …\`) are Sigma 1 syntax; write a correlation rule instead`,
      );
    }
    tokens.push({ text: word, at });
    offset = pattern.lastIndex;
  }
  return tokens;
}

function unexpected(token: Token): ConditionError {
  if (token.text.toLowerCase() === 'near') {
    return new ConditionError(
      `\`near\` ${where(token)} is Sigma 1 syntax; write a temporal correlation rule instead`,
    );
  }
  return new ConditionError(`unexpected \`${token.text}\` ${where(token)}`);
}

function where(token: Token): string {
  return `at character ${token.at + 1}`;
}

class Parser {
  private position = 0;
  private readonly tokens: readonly Token[];
  private readonly identifiers: readonly string[];
  private readonly text: string;

  constructor(tokens: readonly Token[], identifiers: readonly string[], text: string) {
    this.tokens = tokens;
    this.identifiers = identifiers;
    this.text = text;
  }

  peek(): Token | undefined {
    return this.tokens[this.position];
  }

  private next(): Token | undefined {
    const token = this.tokens[this.position];
    if (token !== undefined) this.position += 1;
    return token;
  }

  private isWord(token: Token | undefined, word: string): boolean {
    return token !== undefined && token.text.toLowerCase() === word;
  }

  parseOr(): ConditionNode {
    const args = [this.parseAnd()];
    while (this.isWord(this.peek(), 'or')) {
      this.next();
      args.push(this.parseAnd());
    }
    return args.length === 1 ? (args[0] as ConditionNode) : { op: 'or', args };
  }

  private parseAnd(): ConditionNode {
    const args = [this.parseNot()];
    while (this.isWord(this.peek(), 'and')) {
      this.next();
      args.push(this.parseNot());
    }
    return args.length === 1 ? (args[0] as ConditionNode) : { op: 'and', args };
  }

  private parseNot(): ConditionNode {
    if (this.isWord(this.peek(), 'not')) {
      this.next();
      return { op: 'not', arg: this.parseNot() };
    }
    return this.parsePrimary();
  }

  private parsePrimary(): ConditionNode {
    const token = this.next();
    if (token === undefined) {
      throw new ConditionError(
        `the condition ends early after \`${this.text.trim()}\`; expected an identifier`,
      );
    }
    if (token.text === '(') {
      const inner = this.parseOr();
      const close = this.next();
      if (close?.text !== ')') {
        throw new ConditionError(
          close === undefined
            ? `missing \`)\` for the \`(\` ${where(token)}`
            : `expected \`)\` ${where(close)}, found \`${close.text}\``,
        );
      }
      return inner;
    }
    if (token.text === ')') throw unexpected(token);
    const lower = token.text.toLowerCase();
    if (lower === '1' || lower === 'all' || lower === 'any') return this.parseQuantifier(token);
    if (KEYWORDS.has(lower) || lower === 'near') throw unexpected(token);
    if (/^\d+$/.test(token.text) && this.isWord(this.peek(), 'of')) {
      throw new ConditionError(`\`${token.text} of\` ${where(token)}: Sigma knows \`1 of\` and \`all of\``);
    }
    if (!IDENTIFIER.test(token.text) || token.text.includes('*')) {
      throw new ConditionError(`\`${token.text}\` ${where(token)} is not a search identifier`);
    }
    if (!this.identifiers.includes(token.text)) {
      throw new ConditionError(
        `unknown search identifier \`${token.text}\` ${where(token)}; the detection defines: ${this.identifiers.join(', ') || 'nothing'}`,
      );
    }
    return { op: 'ref', name: token.text };
  }

  private parseQuantifier(quantifier: Token): ConditionNode {
    const lower = quantifier.text.toLowerCase();
    const of = this.next();
    if (!this.isWord(of, 'of')) {
      throw new ConditionError(`expected \`of\` after \`${quantifier.text}\` ${where(quantifier)}`);
    }
    if (lower === 'any') {
      throw new ConditionError(`\`any of\` ${where(quantifier)}: Sigma writes \`1 of\``);
    }
    const target = this.next();
    if (target === undefined || target.text === '(' || target.text === ')') {
      throw new ConditionError(`expected \`them\` or a name pattern after \`${quantifier.text} of\``);
    }
    let names: string[];
    if (target.text.toLowerCase() === 'them') {
      names = this.identifiers.filter((name) => !name.startsWith('_'));
      if (names.length === 0) {
        throw new ConditionError(
          `\`them\` ${where(target)} refers to no identifier (names starting with \`_\` are left out)`,
        );
      }
    } else {
      if (!IDENTIFIER.test(target.text)) {
        throw new ConditionError(`\`${target.text}\` ${where(target)} is not a name pattern`);
      }
      const pattern = globToRegExp(target.text);
      names = this.identifiers.filter((name) => pattern.test(name));
      if (names.length === 0) {
        throw new ConditionError(
          `\`${target.text}\` ${where(target)} matches no search identifier; the detection defines: ${this.identifiers.join(', ')}`,
        );
      }
    }
    const refs: ConditionNode[] = names.map((name) => ({ op: 'ref', name }));
    if (refs.length === 1) return refs[0] as ConditionNode;
    return { op: lower === 'all' ? 'and' : 'or', args: refs };
  }
}

function globToRegExp(pattern: string): RegExp {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`);
}

/** Merges nested `and`s (and `or`s) into one node, so evaluation walks a shallower tree. */
function flatten(node: ConditionNode): ConditionNode {
  switch (node.op) {
    case 'ref':
      return node;
    case 'not':
      return { op: 'not', arg: flatten(node.arg) };
    default: {
      const args: ConditionNode[] = [];
      for (const arg of node.args) {
        const flat = flatten(arg);
        if (flat.op === node.op) args.push(...flat.args);
        else args.push(flat);
      }
      return args.length === 1 ? (args[0] as ConditionNode) : { op: node.op, args };
    }
  }
}
