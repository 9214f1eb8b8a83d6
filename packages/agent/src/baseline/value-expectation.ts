import type { ValueExpectation } from '@edgeward/core';

export interface Judgement {
  readonly pass: boolean;
  /** Why it failed (`expected no`); empty when it passed. */
  readonly reason: string;
}

export interface JudgeOptions {
  /** Compare words ignoring case, as sshd reads `yes`/`Yes`/`YES`. */
  readonly ignoreCase?: boolean;
}

const quote = (value: string) => JSON.stringify(value);

/** Whitespace runs become one space: `4096\t87380` and `4096 87380` are the same sysctl value. */
export function normalizeValue(value: string): string {
  return value.trim().replace(/\s+/g, ' ');
}

/**
 * Judges a value found on the device (`undefined` when not found) by every condition of `expect`. A
 * missing value passes only with `whenMissing: pass`: a setting that cannot be found cannot be shown
 * to comply.
 */
export function judgeValue(
  value: string | undefined,
  expect: ValueExpectation,
  options: JudgeOptions = {},
): Judgement {
  if (value === undefined) {
    return expect.whenMissing === 'pass'
      ? { pass: true, reason: '' }
      : { pass: false, reason: `expected ${describeExpectation(expect)}` };
  }
  const fold = (text: string) =>
    options.ignoreCase ? normalizeValue(text).toLowerCase() : normalizeValue(text);
  const found = fold(value);
  const fail = (reason: string): Judgement => ({ pass: false, reason });
  if (expect.equals !== undefined && found !== fold(expect.equals)) {
    return fail(`expected ${quote(expect.equals)}`);
  }
  if (expect.oneOf !== undefined && !expect.oneOf.some((allowed) => fold(allowed) === found)) {
    return fail(`expected one of ${expect.oneOf.map(quote).join(', ')}`);
  }
  if (expect.noneOf?.some((refused) => fold(refused) === found)) {
    return fail(`must not be ${expect.noneOf.map(quote).join(' or ')}`);
  }
  if (
    expect.pattern !== undefined &&
    !new RegExp(expect.pattern, options.ignoreCase ? 'i' : '').test(found)
  ) {
    return fail(`does not match /${expect.pattern}/`);
  }
  if (expect.subsetOf !== undefined) {
    const allowed = new Set(expect.subsetOf.map(fold));
    const extra = found
      .split(',')
      .map((member) => member.trim())
      .filter((member) => member !== '' && !allowed.has(member));
    if (extra.length > 0)
      return fail(`${extra.map(quote).join(', ')} ${extra.length === 1 ? 'is' : 'are'} not allowed`);
  }
  if (expect.atLeast !== undefined || expect.atMost !== undefined) {
    const number = Number(found);
    if (found === '' || !Number.isFinite(number)) return fail('is not a number');
    if (expect.atLeast !== undefined && number < expect.atLeast)
      return fail(`expected at least ${expect.atLeast}`);
    if (expect.atMost !== undefined && number > expect.atMost)
      return fail(`expected at most ${expect.atMost}`);
  }
  return { pass: true, reason: '' };
}

/** `no`, `one of "1", "2"`, `at most 4`: what an expectation asks for, in a detail. */
export function describeExpectation(expect: ValueExpectation): string {
  const parts: string[] = [];
  if (expect.equals !== undefined) parts.push(quote(expect.equals));
  if (expect.oneOf !== undefined) parts.push(`one of ${expect.oneOf.map(quote).join(', ')}`);
  if (expect.noneOf !== undefined) parts.push(`none of ${expect.noneOf.map(quote).join(', ')}`);
  if (expect.pattern !== undefined) parts.push(`a match of /${expect.pattern}/`);
  if (expect.subsetOf !== undefined) parts.push(`only ${expect.subsetOf.map(quote).join(', ')}`);
  if (expect.atLeast !== undefined) parts.push(`at least ${expect.atLeast}`);
  if (expect.atMost !== undefined) parts.push(`at most ${expect.atMost}`);
  return parts.length === 0 ? 'any value' : parts.join(' and ');
}
