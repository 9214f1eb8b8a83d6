import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isEdgewardError } from '../errors/edgeward-error.ts';
import { canonicalJson, policyDigest, sha256Hex } from './canonical-json.ts';
import { DEFAULT_POLICY_SETTINGS } from './policy.schema.ts';

/** The IEEE 754 double with these 64 bits (big-endian hex), as RFC 8785 Appendix B lists them. */
function double(hex: string): number {
  return Buffer.from(hex, 'hex').readDoubleBE(0);
}

describe('canonical JSON (RFC 8785)', () => {
  it('writes the example of RFC 8785 section 3.2.2 exactly', () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], ' +
        '"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}',
    );
    assert.equal(
      canonicalJson(input),
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts members by UTF-16 code units (RFC 8785 section 3.2.3)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    assert.equal(
      canonicalJson(input),
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis",' +
        '"€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('writes numbers as the ECMAScript vectors of RFC 8785 Appendix B', () => {
    const vectors: [bits: string, text: string][] = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
    ];
    for (const [bits, text] of vectors) assert.equal(canonicalJson(double(bits)), text, bits);
  });

  it('refuses what JSON cannot carry faithfully, naming the path', () => {
    const refused = (value: unknown, path: string) =>
      assert.throws(
        () => canonicalJson(value),
        (error) =>
          isEdgewardError(error, 'EW_CANONICAL_JSON_UNSUPPORTED') &&
          (error as Error).message.startsWith(path),
      );
    refused(undefined, '$ is undefined');
    refused({ a: [1, undefined] }, '$.a[1]');
    refused({ a: { b: Number.NaN } }, '$.a.b');
    refused({ n: Number.POSITIVE_INFINITY }, '$.n');
    refused([Number.NEGATIVE_INFINITY], '$[0]');
    refused({ s: 'broken \ud800 pair' }, '$.s');
    refused({ big: 1n }, '$.big');
    refused({ f: () => 1 }, '$.f');
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    refused(loop, '$.self');
  });

  it('leaves out object members that are undefined, as a JSON round trip does', () => {
    assert.equal(canonicalJson({ b: 1, a: undefined }), '{"b":1}');
  });

  it('gives the same text for any member order and for the JSON round trip of the value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        assert.equal(canonicalJson(JSON.parse(JSON.stringify(value))), text);
        assert.equal(canonicalJson(reversedMembers(value)), text);
        assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(value)));
      }),
    );
  });
});

describe('digests', () => {
  it('sha256Hex hashes the UTF-8 bytes', () => {
    assert.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('policyDigest depends on the content, not on member order', () => {
    const policy = { segments: [], checks: [], windows: [], settings: DEFAULT_POLICY_SETTINGS, rules: [] };
    const reordered = {
      rules: [],
      settings: {
        patchSlaMs: DEFAULT_POLICY_SETTINGS.patchSlaMs,
        bundleExpiryMs: DEFAULT_POLICY_SETTINGS.bundleExpiryMs,
        evaluationIntervalMs: DEFAULT_POLICY_SETTINGS.evaluationIntervalMs,
      },
      windows: [],
      checks: [],
      segments: [],
    };
    assert.equal(policyDigest(reordered), policyDigest(policy));
    assert.match(policyDigest(policy), /^[0-9a-f]{64}$/);
    const longer = { ...policy, settings: { ...DEFAULT_POLICY_SETTINGS, bundleExpiryMs: 1000 } };
    assert.notEqual(policyDigest(longer), policyDigest(policy));
  });
});

function reversedMembers(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversedMembers);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([key, member]) => [key, reversedMembers(member)]),
  );
}
