import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalJson } from '../policy/canonical-json.ts';
import {
  type FederatedMergeInput,
  isConflict,
  isOfflineEdit,
  mergeFederatedSettings,
} from './federated-merge.ts';
import {
  type GovernedKind,
  type GovernedValue,
  type HubSetting,
  isAtLeastAsStrict,
  normalizeGovernedValue,
} from './governed-setting.ts';
import { compareHybrid, formatHybrid, type HybridTimestamp } from './hybrid-clock.ts';
import type { SiteEdit } from './site-overlay.schema.ts';

const NOW = 1_800_000_000_000;
const MAX_AHEAD = 60_000;
const orderedKinds: GovernedKind[] = [
  'deny-list',
  'allow-list',
  'revocations',
  'maximum',
  'minimum',
  'required-flag',
];
const members = fc.constantFrom('22', '23', '80', '443', '502', '8443', 'aes128-ctr', 'chacha20');

function valueArbitrary(kind: GovernedKind): fc.Arbitrary<GovernedValue> {
  switch (kind) {
    case 'deny-list':
    case 'allow-list':
    case 'revocations':
      return fc.uniqueArray(members, { maxLength: 6 });
    case 'maximum':
    case 'minimum':
      return fc.integer({ min: 0, max: 100 });
    case 'required-flag':
      return fc.boolean();
    case 'value':
      return fc.constantFrom('UTC', 'Europe/Berlin', 'America/Chicago');
  }
}

const stamp = (wallMs: fc.Arbitrary<number>): fc.Arbitrary<HybridTimestamp> =>
  fc.record({
    wallMs,
    counter: fc.integer({ min: 0, max: 3 }),
    node: fc.constantFrom('site/a#1', 'site/a#2', 'site/a#3'),
  });
const nearNow = fc.integer({ min: NOW - 50_000, max: NOW + 2 * MAX_AHEAD });

const hubSetting: fc.Arbitrary<HubSetting> = fc
  .constantFrom<GovernedKind>(...orderedKinds, 'value')
  .chain((kind) =>
    fc.record({
      kind: fc.constant(kind),
      mode:
        kind === 'value'
          ? fc.constantFrom('lock' as const, 'site-owned' as const)
          : fc.constantFrom('lock' as const, 'floor' as const, 'site-owned' as const),
      value: valueArbitrary(kind),
      changedAt: fc.record({ wallMs: nearNow, counter: fc.constant(0), node: fc.constant('hub') }),
    }),
  );

/** A hub's settings and a history of site edits: some chained (one operator after another), some concurrent. */
const scenario: fc.Arbitrary<FederatedMergeInput> = fc
  .dictionary(
    fc.constantFrom(
      'settings.evaluationIntervalMs',
      'checks.ports.forbidden',
      'checks.ports.allowed',
      'revoked',
      'tz',
      'remediate',
    ),
    hubSetting,
    { minKeys: 1 },
  )
  .chain((hub) => {
    const keys = Object.keys(hub);
    const edit = fc.constantFrom(...keys).chain((setting) =>
      fc.record({
        setting: fc.constant(setting),
        // Mostly of the setting's kind, sometimes of another (a stale or hostile overlay).
        value: fc.oneof(
          { weight: 9, arbitrary: valueArbitrary((hub[setting] as HubSetting).kind) },
          { weight: 1, arbitrary: valueArbitrary('maximum') },
        ),
        at: stamp(nearNow),
        // What the site saw of the hub: its current change, an older one (the hub changed since), or nothing.
        hubSeen: fc.option(
          fc.constantFrom((hub[setting] as HubSetting).changedAt, {
            ...(hub[setting] as HubSetting).changedAt,
            wallMs: NOW - 100_000,
          }),
          { nil: undefined },
        ),
        expiresAt: fc.integer({ min: NOW - 1000, max: NOW + 86_400_000 }),
        link: fc.constantFrom('connected' as const, 'offline' as const, undefined),
      }),
    );
    return fc.array(edit, { maxLength: 12 }).chain((raw) =>
      // Chain some edits on earlier ones of the same setting, as an operator does who saw them.
      fc.array(fc.boolean(), { minLength: raw.length, maxLength: raw.length }).map((chained) => {
        const edits: SiteEdit[] = [];
        raw.forEach((candidate, index) => {
          const previous = edits.findLast((earlier) => earlier.setting === candidate.setting);
          const built: SiteEdit = {
            setting: candidate.setting,
            value: candidate.value,
            at: candidate.at,
            expiresAt: candidate.expiresAt,
            ...(candidate.hubSeen === undefined ? {} : { hubSeen: candidate.hubSeen }),
            ...(candidate.link === undefined ? {} : { link: candidate.link }),
            ...(chained[index] === true && previous !== undefined
              ? { basedOn: previous.at, at: { ...previous.at, counter: previous.at.counter + 1 } }
              : {}),
          };
          edits.push(built);
        });
        return { hub, edits, nowMs: NOW, maxClockAheadMs: MAX_AHEAD };
      }),
    );
  })
  .chain((input) =>
    // The site's offline budget, when the verifier knows its delegation.
    fc
      .option(fc.integer({ min: 1000, max: 86_400_000 }), { nil: undefined })
      .map((budget) => (budget === undefined ? input : { ...input, maxOfflineOverrideMs: budget })),
  );

/** The edits that decided each setting (applied, shadowed or floor-limited), by setting. */
function deciding(input: FederatedMergeInput): Map<string, SiteEdit> {
  const result = mergeFederatedSettings(input);
  const decided = new Map<string, SiteEdit>();
  for (const outcome of result.outcomes) {
    if (outcome.kind !== 'applied' && outcome.kind !== 'shadowed' && outcome.kind !== 'loosens-floor')
      continue;
    const edit = input.edits.find(
      (candidate) =>
        candidate.setting === outcome.setting &&
        formatHybrid(candidate.at) === formatHybrid(outcome.at) &&
        canonicalJson(candidate.value) === canonicalJson(outcome.value),
    );
    if (edit !== undefined) decided.set(outcome.setting, edit);
  }
  return decided;
}

const outlivesBudget = (input: FederatedMergeInput, edit: SiteEdit): boolean =>
  input.maxOfflineOverrideMs !== undefined &&
  isOfflineEdit(edit) &&
  edit.expiresAt - edit.at.wallMs > input.maxOfflineOverrideMs;

const shuffled = <T>(items: readonly T[]): fc.Arbitrary<T[]> =>
  fc.array(fc.integer(), { minLength: items.length, maxLength: items.length }).map((keys) =>
    items
      .map((item, index) => ({ item, key: keys[index] ?? 0 }))
      .sort((a, b) => a.key - b.key)
      .map(({ item }) => item),
  );

describe('federated merge', () => {
  it('is at least as strict as every hub floor and equal to every hub lock, for any edits', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const result = mergeFederatedSettings(input);
        for (const [key, hub] of Object.entries(input.hub)) {
          const effective = result.settings[key];
          assert.notEqual(effective, undefined, `${key} has an effective value`);
          if (hub.mode === 'floor') {
            assert.ok(
              isAtLeastAsStrict(hub.kind, effective as GovernedValue, hub.value),
              `${key} holds its floor`,
            );
          }
          if (hub.mode === 'lock') {
            assert.deepEqual(effective, normalizeGovernedValue(hub.kind, hub.value));
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('gives the same result whatever order the edits arrive in', () => {
    fc.assert(
      fc.property(
        scenario.chain((input) => fc.tuple(fc.constant(input), shuffled(input.edits))),
        ([input, reordered]) => {
          assert.deepEqual(
            mergeFederatedSettings({ ...input, edits: reordered }),
            mergeFederatedSettings(input),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is idempotent: edits received twice count once', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const twice = mergeFederatedSettings({ ...input, edits: [...input.edits, ...input.edits] });
        assert.deepEqual(twice, mergeFederatedSettings(input));
      }),
      { numRuns: 300 },
    );
  });

  it('records an outcome for every distinct edit, and every concurrent one as a conflict', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const result = mergeFederatedSettings(input);
        const distinct = new Set(input.edits.map((edit) => canonicalJson(edit)));
        assert.equal(result.outcomes.length, distinct.size);
        const applied = new Map<string, number>();
        for (const outcome of result.outcomes) {
          if (outcome.kind === 'applied' || outcome.kind === 'loosens-floor' || outcome.kind === 'shadowed') {
            applied.set(outcome.setting, (applied.get(outcome.setting) ?? 0) + 1);
          }
          if (outcome.kind === 'concurrent') assert.ok(isConflict(outcome));
        }
        // At most one edit decides each setting: the others are superseded or in conflict, never dropped silently.
        for (const count of applied.values()) assert.equal(count, 1);
      }),
      { numRuns: 300 },
    );
  });

  it('never lets an edit stamped too far ahead, expired, or made offline to outlive the budget change a value', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const valid = input.edits.filter(
          (edit) => edit.at.wallMs - NOW <= MAX_AHEAD && edit.expiresAt > NOW && !outlivesBudget(input, edit),
        );
        const withoutBad = mergeFederatedSettings({ ...input, edits: valid });
        assert.deepEqual(mergeFederatedSettings(input).settings, withoutBad.settings);
      }),
      { numRuns: 300 },
    );
  });

  it('never lets an offline override loosen a site-owned setting the hub changed concurrently', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const result = mergeFederatedSettings(input);
        for (const [key, edit] of deciding(input)) {
          const hub = input.hub[key] as HubSetting;
          if (hub.mode !== 'site-owned' || hub.kind === 'value' || !isOfflineEdit(edit)) continue;
          const concurrent = edit.hubSeen === undefined || compareHybrid(hub.changedAt, edit.hubSeen) > 0;
          const loosens = !isAtLeastAsStrict(hub.kind, edit.value, hub.value);
          if (!concurrent || !loosens) continue;
          // The hub value holds, and the override is kept as shadowed, with an alert.
          assert.deepEqual(result.settings[key], normalizeGovernedValue(hub.kind, hub.value));
          const outcome = result.outcomes.find(
            (candidate) => candidate.setting === key && formatHybrid(candidate.at) === formatHybrid(edit.at),
          );
          assert.equal(outcome?.kind, 'shadowed');
          assert.equal(outcome?.alert, true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('lets a connected edit decide a site-owned setting whatever the hub changed since', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const result = mergeFederatedSettings(input);
        for (const [key, edit] of deciding(input)) {
          const hub = input.hub[key] as HubSetting;
          if (hub.mode !== 'site-owned' || isOfflineEdit(edit)) continue;
          assert.deepEqual(result.settings[key], normalizeGovernedValue(hub.kind, edit.value));
          assert.ok(
            result.outcomes.some(
              (outcome) =>
                outcome.setting === key &&
                outcome.kind === 'applied' &&
                formatHybrid(outcome.at) === formatHybrid(edit.at),
            ),
          );
        }
      }),
      { numRuns: 500 },
    );
  });

  it('tells an offline override from a connected edit of the same value', () => {
    const hub: Record<string, HubSetting> = {
      'settings.evaluationIntervalMs': {
        kind: 'maximum',
        mode: 'site-owned',
        value: 600_000,
        changedAt: { wallMs: NOW - 1000, counter: 0, node: 'hub' },
      },
    };
    const edit: SiteEdit = {
      setting: 'settings.evaluationIntervalMs',
      value: 1_800_000,
      at: { wallMs: NOW - 5000, counter: 0, node: 'site/a' },
      hubSeen: { wallMs: NOW - 90_000, counter: 0, node: 'hub' },
      expiresAt: NOW + 3_600_000,
    };
    const merge = (link: 'connected' | 'offline', budgetMs?: number) =>
      mergeFederatedSettings({
        hub,
        edits: [{ ...edit, link }],
        nowMs: NOW,
        maxClockAheadMs: MAX_AHEAD,
        ...(budgetMs === undefined ? {} : { maxOfflineOverrideMs: budgetMs }),
      });
    assert.equal(merge('connected').settings['settings.evaluationIntervalMs'], 1_800_000);
    assert.equal(merge('offline').settings['settings.evaluationIntervalMs'], 600_000);
    assert.equal(merge('offline').outcomes[0]?.kind, 'shadowed');
    // Made offline to last past the site's offline budget: it does not count at all, and says so.
    const beyond = merge('offline', 60_000);
    assert.equal(beyond.settings['settings.evaluationIntervalMs'], 600_000);
    assert.deepEqual(
      beyond.outcomes.map((outcome) => [outcome.kind, outcome.alert]),
      [['outlives-budget', true]],
    );
    // A connected edit is not bound by the offline budget.
    assert.equal(merge('connected', 60_000).outcomes[0]?.kind, 'applied');
  });

  it('refuses a loosening of a floor and keeps the floor', () => {
    const hub: Record<string, HubSetting> = {
      'checks.ports.forbidden': {
        kind: 'deny-list',
        mode: 'floor',
        value: ['23', '502'],
        changedAt: { wallMs: NOW - 10_000, counter: 0, node: 'hub' },
      },
      'settings.evaluationIntervalMs': {
        kind: 'maximum',
        mode: 'floor',
        value: 3_600_000,
        changedAt: { wallMs: NOW - 10_000, counter: 0, node: 'hub' },
      },
    };
    const result = mergeFederatedSettings({
      hub,
      edits: [
        {
          setting: 'checks.ports.forbidden',
          value: ['23', '8080'],
          at: { wallMs: NOW, counter: 0, node: 'site/a' },
          expiresAt: NOW + 1000,
        },
        {
          setting: 'settings.evaluationIntervalMs',
          value: 86_400_000,
          at: { wallMs: NOW, counter: 0, node: 'site/a' },
          expiresAt: NOW + 1000,
        },
      ],
      nowMs: NOW,
      maxClockAheadMs: MAX_AHEAD,
    });
    assert.deepEqual(result.settings['checks.ports.forbidden'], ['23', '502', '8080']);
    assert.equal(result.settings['settings.evaluationIntervalMs'], 3_600_000);
    assert.deepEqual(
      result.outcomes.map((outcome) => [outcome.setting, outcome.kind, outcome.alert]),
      [
        ['checks.ports.forbidden', 'loosens-floor', true],
        ['settings.evaluationIntervalMs', 'loosens-floor', true],
      ],
    );
  });

  it('shadows a loosening site-owned override when the hub changed the setting concurrently', () => {
    const hubChange = { wallMs: NOW - 1000, counter: 0, node: 'hub' };
    const hub: Record<string, HubSetting> = {
      'settings.evaluationIntervalMs': {
        kind: 'maximum',
        mode: 'site-owned',
        value: 600_000,
        changedAt: hubChange,
      },
    };
    const loosening: SiteEdit = {
      setting: 'settings.evaluationIntervalMs',
      value: 1_800_000,
      at: { wallMs: NOW - 5000, counter: 0, node: 'site/a' },
      hubSeen: { wallMs: NOW - 90_000, counter: 0, node: 'hub' },
      expiresAt: NOW + 3_600_000,
    };
    const shadowed = mergeFederatedSettings({
      hub,
      edits: [loosening],
      nowMs: NOW,
      maxClockAheadMs: MAX_AHEAD,
    });
    assert.equal(shadowed.settings['settings.evaluationIntervalMs'], 600_000);
    assert.equal(shadowed.outcomes[0]?.kind, 'shadowed');
    assert.equal(shadowed.outcomes[0]?.alert, true);
    // The same override made after the site saw the hub's change is the site's to decide.
    const informed = mergeFederatedSettings({
      hub,
      edits: [{ ...loosening, hubSeen: hubChange }],
      nowMs: NOW,
      maxClockAheadMs: MAX_AHEAD,
    });
    assert.equal(informed.settings['settings.evaluationIntervalMs'], 1_800_000);
    assert.equal(informed.outcomes[0]?.kind, 'applied');
  });

  it('records two concurrent site edits as a conflict and lets the later one win', () => {
    const hub: Record<string, HubSetting> = {
      tz: {
        kind: 'value',
        mode: 'site-owned',
        value: 'UTC',
        changedAt: { wallMs: 1, counter: 0, node: 'hub' },
      },
    };
    const first: SiteEdit = {
      setting: 'tz',
      value: 'Europe/Berlin',
      at: { wallMs: NOW - 10, counter: 0, node: 'site/a#1' },
      expiresAt: NOW + 1000,
    };
    const second: SiteEdit = {
      setting: 'tz',
      value: 'America/Chicago',
      at: { wallMs: NOW - 10, counter: 0, node: 'site/a#2' },
      expiresAt: NOW + 1000,
    };
    const result = mergeFederatedSettings({
      hub,
      edits: [second, first],
      nowMs: NOW,
      maxClockAheadMs: MAX_AHEAD,
    });
    assert.equal(result.settings.tz, 'America/Chicago');
    assert.deepEqual(
      result.outcomes.map((outcome) => outcome.kind),
      ['concurrent', 'applied'],
    );
    const sequential = mergeFederatedSettings({
      hub,
      edits: [first, { ...second, basedOn: first.at }],
      nowMs: NOW,
      maxClockAheadMs: MAX_AHEAD,
    });
    assert.deepEqual(
      sequential.outcomes.map((outcome) => outcome.kind),
      ['superseded', 'applied'],
    );
  });

  it('rejects and reports an edit from a clock far ahead, and a locked setting ignores the site', () => {
    const hub: Record<string, HubSetting> = {
      revoked: {
        kind: 'revocations',
        mode: 'lock',
        value: ['0a'],
        changedAt: { wallMs: 1, counter: 0, node: 'hub' },
      },
      tz: {
        kind: 'value',
        mode: 'site-owned',
        value: 'UTC',
        changedAt: { wallMs: 1, counter: 0, node: 'hub' },
      },
    };
    const result = mergeFederatedSettings({
      hub,
      edits: [
        {
          setting: 'revoked',
          value: [],
          at: { wallMs: NOW, counter: 0, node: 'site/a' },
          expiresAt: NOW + 1000,
        },
        {
          setting: 'tz',
          value: 'Europe/Berlin',
          at: { wallMs: NOW + 365 * 86_400_000, counter: 0, node: 'site/a' },
          expiresAt: NOW + 400 * 86_400_000,
        },
      ],
      nowMs: NOW,
      maxClockAheadMs: MAX_AHEAD,
    });
    assert.deepEqual(result.settings, { revoked: ['0a'], tz: 'UTC' });
    assert.deepEqual(
      result.outcomes.map((outcome) => [outcome.kind, outcome.alert]),
      [
        ['locked', false],
        ['clock-ahead', true],
      ],
    );
  });
});
