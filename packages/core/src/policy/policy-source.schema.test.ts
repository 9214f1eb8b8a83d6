import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkSpecSchema, remediationActionSchema } from './policy.schema.ts';
import { checkSpecSourceSchema, remediationSourceSchema, sourceDurationMs } from './policy-source.schema.ts';

function discriminatorValues(schema: {
  def: { options: readonly { _zod: { propValues?: unknown } }[] };
}): string[] {
  return schema.def.options.map((option) => {
    const values = (option._zod.propValues as Record<string, Set<unknown>> | undefined)?.type;
    return [...(values ?? [])].map(String).join('|');
  });
}

describe('policy source schemas', () => {
  it('accept every check type of the contract', () => {
    assert.deepEqual(discriminatorValues(checkSpecSourceSchema), discriminatorValues(checkSpecSchema));
    assert.equal(discriminatorValues(checkSpecSchema).length, 13);
  });

  it('accept every remediation type of the contract', () => {
    assert.deepEqual(
      discriminatorValues(remediationSourceSchema),
      discriminatorValues(remediationActionSchema),
    );
  });

  it('take a command timeout as a duration instead of milliseconds', () => {
    const parsed = checkSpecSourceSchema.safeParse({ type: 'command', run: ['true'], timeout: '10s' });
    assert.ok(parsed.success);
    assert.ok(
      !checkSpecSourceSchema.safeParse({ type: 'command', run: ['true'], timeoutMs: 10_000 }).success,
    );
  });
});

describe('sourceDurationMs', () => {
  it('reads durations with units', () => {
    assert.equal(sourceDurationMs('90s'), 90_000);
    assert.equal(sourceDurationMs('1h30m'), 5_400_000);
    assert.equal(sourceDurationMs('7d'), 604_800_000);
  });

  it('refuses bare numbers, zero and text that is not a duration', () => {
    assert.equal(sourceDurationMs('30'), undefined);
    assert.equal(sourceDurationMs('0s'), undefined);
    assert.equal(sourceDurationMs('soon'), undefined);
    assert.equal(sourceDurationMs('5 minutes'), undefined);
  });
});
