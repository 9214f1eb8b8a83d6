import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ConditionNode } from './rule.schema.ts';
import { parseCondition } from './sigma-condition.ts';

const identifiers = [
  'selection',
  'selection_img',
  'selection_cli',
  'filter_main',
  'filter_optional',
  '_helper',
  'keywords',
];

function parsed(text: string, names: readonly string[] = identifiers): ConditionNode {
  const result = parseCondition(text, names);
  if (!result.ok) assert.fail(`expected ${JSON.stringify(text)} to parse: ${result.message}`);
  return result.node;
}

function failure(text: string, names: readonly string[] = identifiers): string {
  const result = parseCondition(text, names);
  if (result.ok) assert.fail(`expected ${JSON.stringify(text)} to be refused`);
  return result.message;
}

function evaluate(node: ConditionNode, truth: ReadonlyMap<string, boolean>): boolean {
  switch (node.op) {
    case 'ref':
      return truth.get(node.name) ?? false;
    case 'not':
      return !evaluate(node.arg, truth);
    case 'and':
      return node.args.every((arg) => evaluate(arg, truth));
    case 'or':
      return node.args.some((arg) => evaluate(arg, truth));
  }
}

const ref = (name: string): ConditionNode => ({ op: 'ref', name });

describe('parseCondition', () => {
  it('binds not tighter than and, and and tighter than or', () => {
    assert.deepEqual(parsed('selection or selection_img and not filter_main'), {
      op: 'or',
      args: [
        ref('selection'),
        { op: 'and', args: [ref('selection_img'), { op: 'not', arg: ref('filter_main') }] },
      ],
    });
  });

  it('lets parentheses override precedence and flattens nested operators', () => {
    assert.deepEqual(parsed('(selection or selection_img) and (filter_main and keywords)'), {
      op: 'and',
      args: [
        { op: 'or', args: [ref('selection'), ref('selection_img')] },
        ref('filter_main'),
        ref('keywords'),
      ],
    });
  });

  it('expands `1 of` and `all of` a pattern to or and and of the matching identifiers', () => {
    assert.deepEqual(parsed('1 of selection_*'), {
      op: 'or',
      args: [ref('selection_img'), ref('selection_cli')],
    });
    assert.deepEqual(parsed('all of selection*'), {
      op: 'and',
      args: [ref('selection'), ref('selection_img'), ref('selection_cli')],
    });
    assert.deepEqual(parsed('all of filter_m*'), ref('filter_main'));
  });

  it('binds `x of` tighter than not: `not 1 of filter*` negates the whole quantifier', () => {
    assert.deepEqual(parsed('selection and not 1 of filter*'), {
      op: 'and',
      args: [
        ref('selection'),
        { op: 'not', arg: { op: 'or', args: [ref('filter_main'), ref('filter_optional')] } },
      ],
    });
  });

  it('leaves identifiers starting with an underscore out of `them`', () => {
    const node = parsed('1 of them');
    assert.equal(node.op, 'or');
    const names = node.op === 'or' ? node.args.map((arg) => (arg.op === 'ref' ? arg.name : '')) : [];
    assert.deepEqual(names, [
      'selection',
      'selection_img',
      'selection_cli',
      'filter_main',
      'filter_optional',
      'keywords',
    ]);
    assert.deepEqual(parsed('all of them', ['a', '_b']), ref('a'));
  });

  it('reads keywords case-insensitively', () => {
    assert.deepEqual(parsed('selection AND NOT filter_main'), parsed('selection and not filter_main'));
    assert.deepEqual(parsed('ALL OF selection_*'), parsed('all of selection_*'));
  });

  it('refuses unknown identifiers and names the ones defined', () => {
    assert.match(
      failure('selection and filtr'),
      /unknown search identifier `filtr` at character 15; the detection defines: selection, /,
    );
  });

  it('refuses patterns that match nothing, and them without identifiers', () => {
    assert.match(failure('1 of nothing_*'), /`nothing_\*` at character 6 matches no search identifier/);
    assert.match(failure('1 of them', ['_only']), /refers to no identifier/);
  });

  it('refuses malformed expressions with the position', () => {
    assert.match(failure('selection and'), /ends early/);
    assert.match(failure('(selection or keywords'), /missing `\)` for the `\(` at character 1/);
    assert.match(failure('selection keywords'), /unexpected `keywords` at character 11/);
    assert.match(failure('selection or )'), /unexpected `\)`/);
    assert.match(failure(''), /empty/);
    assert.match(failure('2 of selection*'), /`1 of` and `all of`/);
    assert.match(failure('any of selection*'), /Sigma writes `1 of`/);
    assert.match(failure('1 selection'), /expected `of`/);
  });

  it('points Sigma 1 aggregations and near to correlation rules', () => {
    assert.match(failure('selection | count() by User > 5'), /correlation rule/);
    assert.match(failure('selection near keywords'), /temporal correlation/);
  });

  it('parses every expression printed with the fewest parentheses into the same logic (property)', () => {
    const names = ['a', 'b', 'c', 'd'];
    const { node } = fc.letrec<{ node: ConditionNode }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.constantFrom(...names).map(ref),
        fc.record({ op: fc.constant('not' as const), arg: tie('node') }),
        fc.record({
          op: fc.constantFrom('and' as const, 'or' as const),
          args: fc.array(tie('node'), { minLength: 2, maxLength: 3 }),
        }),
      ),
    }));
    const precedence = { or: 1, and: 2, not: 3, ref: 4 } as const;
    const print = (tree: ConditionNode, outer: number, extraParens: boolean): string => {
      const level = precedence[tree.op];
      let text: string;
      switch (tree.op) {
        case 'ref':
          return tree.name;
        case 'not':
          text = `not ${print(tree.arg, level, extraParens)}`;
          break;
        default:
          text = tree.args.map((arg) => print(arg, level + 1, extraParens)).join(` ${tree.op} `);
      }
      return level < outer || extraParens ? `(${text})` : text;
    };
    fc.assert(
      fc.property(
        node,
        fc.boolean(),
        fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
        (tree, extra, values) => {
          const truth = new Map(names.map((name, index) => [name, values[index] ?? false]));
          const reparsed = parsed(print(tree, 0, extra), names);
          assert.equal(evaluate(reparsed, truth), evaluate(tree, truth));
        },
      ),
    );
  });
});
