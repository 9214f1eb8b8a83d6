import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toSqlitePlaceholders } from './placeholders.ts';

describe('toSqlitePlaceholders', () => {
  it('rewrites $n as ?n, keeping the number so a repeated parameter binds once', () => {
    assert.equal(
      toSqlitePlaceholders('SELECT * FROM t WHERE a = $1 AND b > $12 OR c = $1'),
      'SELECT * FROM t WHERE a = ?1 AND b > ?12 OR c = ?1',
    );
  });

  it('leaves dollar signs inside quoted strings and identifiers alone', () => {
    assert.equal(
      toSqlitePlaceholders(`SELECT '$1', "col$2", 'it''s $3' FROM t WHERE x = $4`),
      `SELECT '$1', "col$2", 'it''s $3' FROM t WHERE x = ?4`,
    );
  });

  it('leaves a dollar sign not followed by a digit alone', () => {
    assert.equal(toSqlitePlaceholders('SELECT $a, $'), 'SELECT $a, $');
  });
});
