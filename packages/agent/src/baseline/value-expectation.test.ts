import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeValue } from './value-expectation.ts';

describe('judgeValue', () => {
  it('requires every given condition', () => {
    assert.equal(judgeValue('no', { equals: 'no' }).pass, true);
    assert.deepEqual(judgeValue('yes', { equals: 'no' }), { pass: false, reason: 'expected "no"' });
    assert.equal(judgeValue('2', { oneOf: ['1', '2'] }).pass, true);
    assert.equal(judgeValue('0', { oneOf: ['1', '2'] }).pass, false);
    assert.equal(judgeValue('yes', { noneOf: ['yes', 'without-password'] }).pass, false);
    assert.equal(judgeValue('no', { noneOf: ['yes'] }).pass, true);
    assert.equal(judgeValue('INFO', { pattern: '^(INFO|VERBOSE)$' }).pass, true);
    assert.equal(judgeValue('QUIET', { pattern: '^(INFO|VERBOSE)$' }).pass, false);
    assert.equal(judgeValue('4', { atLeast: 1, atMost: 4 }).pass, true);
    assert.equal(judgeValue('5', { atLeast: 1, atMost: 4 }).reason, 'expected at most 4');
    assert.equal(judgeValue('0', { atLeast: 1 }).reason, 'expected at least 1');
    assert.equal(judgeValue('many', { atMost: 4 }).reason, 'is not a number');
    assert.equal(judgeValue('3', { equals: '3', atMost: 2 }).pass, false);
  });

  it('treats subsetOf values as comma-separated lists and names the members not allowed', () => {
    const expect = { subsetOf: ['aes256-ctr', 'aes128-ctr'] };
    assert.equal(judgeValue('aes256-ctr, aes128-ctr', expect).pass, true);
    assert.deepEqual(judgeValue('aes256-ctr,aes128-cbc,3des-cbc', expect), {
      pass: false,
      reason: '"aes128-cbc", "3des-cbc" are not allowed',
    });
  });

  it('decides a missing value by whenMissing, failing without it', () => {
    assert.equal(judgeValue(undefined, { equals: '0', whenMissing: 'pass' }).pass, true);
    assert.deepEqual(judgeValue(undefined, { equals: '0' }), { pass: false, reason: 'expected "0"' });
    assert.equal(judgeValue(undefined, { equals: '0', whenMissing: 'fail' }).pass, false);
  });

  it('compares whitespace-normalized values, and ignores case only when asked', () => {
    assert.equal(judgeValue('4096\t131072  6291456\n', { equals: '4096 131072 6291456' }).pass, true);
    assert.equal(judgeValue('No', { equals: 'no' }).pass, false);
    assert.equal(judgeValue('No', { equals: 'no' }, { ignoreCase: true }).pass, true);
    assert.equal(judgeValue('AES128-CBC', { subsetOf: ['aes128-ctr'] }, { ignoreCase: true }).pass, false);
  });
});
