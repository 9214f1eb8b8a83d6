import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { EdgewardError } from '../errors/edgeward-error.ts';
import type { CompiledPolicy } from './policy.schema.ts';

/**
 * The RFC 8785 (JCS) form of `value`: object members sorted by UTF-16 code units, no whitespace, numbers
 * as ECMAScript writes them, strings with only the escapes JSON requires. Equal data always gives equal
 * text, so it can be hashed and signed.
 *
 * An object member whose value is `undefined` is left out, as `JSON.stringify` does, so a value and its
 * JSON round trip have the same canonical form. Everything JSON cannot carry faithfully throws
 * EW_CANONICAL_JSON_UNSUPPORTED naming its path: `undefined` on its own or in an array (JSON would turn
 * it into null), NaN and ±Infinity, lone surrogates, BigInts, functions and symbols.
 */
export function canonicalJson(value: unknown): string {
  assertCanonicalizable(value, '$', new Set());
  const text = canonicalize(value);
  // Unreachable after the walk above; it keeps the types honest.
  if (text === undefined) throw unsupported('$', 'undefined');
  return text;
}

/** SHA-256 of the UTF-8 bytes of `text`, as 64 lower-case hex digits. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The digest a bundle carries for its policy: the same policy always has the same digest. */
export function policyDigest(policy: CompiledPolicy): string {
  return sha256Hex(canonicalJson(policy));
}

function assertCanonicalizable(value: unknown, path: string, ancestors: Set<object>): void {
  switch (typeof value) {
    case 'string':
      if (hasLoneSurrogate(value)) throw unsupported(path, 'a string with a lone surrogate');
      return;
    case 'number':
      if (!Number.isFinite(value)) throw unsupported(path, String(value));
      return;
    case 'boolean':
      return;
    case 'undefined':
    case 'bigint':
    case 'function':
    case 'symbol':
      throw unsupported(path, typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`);
  }
  if (value === null) return;
  const object = value as object;
  if (ancestors.has(object)) throw unsupported(path, 'a circular reference');
  const toJson = (object as { toJSON?: unknown }).toJSON;
  if (typeof toJson === 'function') {
    ancestors.add(object);
    assertCanonicalizable(toJson.call(object), path, ancestors);
    ancestors.delete(object);
    return;
  }
  ancestors.add(object);
  if (Array.isArray(object)) {
    object.forEach((item, index) => {
      assertCanonicalizable(item, `${path}[${index}]`, ancestors);
    });
  } else {
    for (const [key, member] of Object.entries(object)) {
      if (hasLoneSurrogate(key)) throw unsupported(`${path}.${key}`, 'a member name with a lone surrogate');
      if (member !== undefined) assertCanonicalizable(member, `${path}.${key}`, ancestors);
    }
  }
  ancestors.delete(object);
}

function hasLoneSurrogate(text: string): boolean {
  return !text.isWellFormed();
}

function unsupported(path: string, what: string): EdgewardError {
  return new EdgewardError(
    'EW_CANONICAL_JSON_UNSUPPORTED',
    `${path} is ${what}, which canonical JSON (RFC 8785) cannot carry; use null, a finite number or a well-formed string`,
    { details: { path } },
  );
}
