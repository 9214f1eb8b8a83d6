import { canonicalJson } from '../policy/canonical-json.ts';
import { isoTime } from '../text/iso-time.ts';
import {
  type GovernedValue,
  type HubSetting,
  isAtLeastAsStrict,
  normalizeGovernedValue,
  tightest,
  valueFitsKind,
} from './governed-setting.ts';
import { compareHybrid, formatHybrid, type HybridTimestamp } from './hybrid-clock.ts';
import type { SiteEdit } from './site-overlay.schema.ts';

/**
 * The one pure function that merges the hub's governed settings with a site's (authorized) edits. It
 * reads no clock and keeps no state; the result depends only on the set of inputs, never on their order.
 * The rules, in order (docs/federation.md):
 *
 * 1. An edit of an unknown setting, of the wrong shape, expired, or stamped further ahead of `nowMs` than
 *    `maxClockAheadMs` does not count.
 * 2. A hub `lock` beats any site edit.
 * 3. Among the remaining site edits of one setting, the latest hybrid timestamp wins; an earlier edit the
 *    winner replaced (through `basedOn`) is superseded, any other is a concurrent conflict.
 * 4. On a `floor`, the winner is merged with the hub value toward the stricter (union, intersection,
 *    minimum of maxima, …): the result is at least as strict as the floor whatever the site said.
 * 5. On a `site-owned` setting, the winner is taken. An override made offline is told apart: it must end
 *    within the site's offline budget of being made (else it does not count), and if it loosens the hub
 *    value while the hub changed the setting after the site last saw it (a concurrent hub change), the hub
 *    wins and the edit is kept as shadowed, with an alert. A connected edit was made with the hub's value
 *    in view and reached the hub at the next sync, so a later hub version does not retract it (a hub that
 *    must prevail uses `floor` or `lock`).
 *
 * Every edit ends in exactly one outcome; all but `applied` and `superseded` are conflicts.
 */

export type MergeOutcomeKind =
  | 'applied'
  | 'superseded'
  | 'concurrent'
  | 'locked'
  | 'loosens-floor'
  | 'shadowed'
  | 'outlives-budget'
  | 'expired'
  | 'clock-ahead'
  | 'unknown-setting'
  | 'malformed';

export interface MergeOutcome {
  readonly setting: string;
  readonly kind: MergeOutcomeKind;
  /** The site edit's timestamp. */
  readonly at: HybridTimestamp;
  readonly value: GovernedValue;
  /** Whether people must be told (an operator's override lost, or a clock is wrong). */
  readonly alert: boolean;
  readonly detail: string;
}

export interface FederatedMergeInput {
  readonly hub: Readonly<Record<string, HubSetting>>;
  readonly edits: readonly SiteEdit[];
  /** The verifier's time (epoch ms): for expiries and the clock-ahead bound. */
  readonly nowMs: number;
  readonly maxClockAheadMs: number;
  /**
   * The site's declared offline budget (its delegation's `maxOfflineMs`): an override made offline may
   * last no longer than this from when it was made. Absent: not checked.
   */
  readonly maxOfflineOverrideMs?: number;
}

export interface FederatedMergeResult {
  /** The effective value of every hub setting. */
  readonly settings: Readonly<Record<string, GovernedValue>>;
  /** One per distinct edit, ordered by setting then timestamp. */
  readonly outcomes: readonly MergeOutcome[];
}

const NOT_CONFLICTS: ReadonlySet<MergeOutcomeKind> = new Set(['applied', 'superseded']);
const ALERTING: ReadonlySet<MergeOutcomeKind> = new Set([
  'shadowed',
  'outlives-budget',
  'clock-ahead',
  'loosens-floor',
]);

/** Whether the site was cut off from its hub when it made the edit (absent counts as offline). */
export function isOfflineEdit(edit: SiteEdit): boolean {
  return edit.link !== 'connected';
}

export function isConflict(outcome: MergeOutcome): boolean {
  return !NOT_CONFLICTS.has(outcome.kind);
}

export function mergeFederatedSettings(input: FederatedMergeInput): FederatedMergeResult {
  const outcomes: MergeOutcome[] = [];
  const record = (edit: SiteEdit, kind: MergeOutcomeKind, detail: string): void => {
    outcomes.push({
      setting: edit.setting,
      kind,
      at: edit.at,
      value: edit.value,
      alert: ALERTING.has(kind),
      detail,
    });
  };

  const bySetting = new Map<string, SiteEdit[]>();
  for (const edit of distinctEdits(input.edits)) {
    const hub = input.hub[edit.setting];
    if (hub === undefined) {
      record(edit, 'unknown-setting', `the hub governs no setting ${edit.setting}`);
      continue;
    }
    if (!valueFitsKind(hub.kind, edit.value)) {
      record(edit, 'malformed', `${edit.setting} is a ${hub.kind}; the edit's value does not fit it`);
      continue;
    }
    if (edit.expiresAt <= input.nowMs) {
      record(edit, 'expired', `the override expired at ${isoTime(edit.expiresAt)}`);
      continue;
    }
    const aheadMs = edit.at.wallMs - input.nowMs;
    if (aheadMs > input.maxClockAheadMs) {
      record(
        edit,
        'clock-ahead',
        `stamped ${aheadMs} ms ahead of local time (at most ${input.maxClockAheadMs})`,
      );
      continue;
    }
    if (hub.mode === 'lock') {
      record(edit, 'locked', `the hub locks ${edit.setting}`);
      continue;
    }
    const budgetMs = input.maxOfflineOverrideMs;
    if (budgetMs !== undefined && isOfflineEdit(edit) && edit.expiresAt - edit.at.wallMs > budgetMs) {
      record(
        edit,
        'outlives-budget',
        `made offline to last ${edit.expiresAt - edit.at.wallMs} ms, longer than the site's offline budget of ${budgetMs} ms`,
      );
      continue;
    }
    const list = bySetting.get(edit.setting) ?? [];
    list.push(edit);
    bySetting.set(edit.setting, list);
  }

  const settings: Record<string, GovernedValue> = {};
  for (const key of Object.keys(input.hub).sort()) {
    const hub = input.hub[key] as HubSetting;
    const hubValue = normalizeGovernedValue(hub.kind, hub.value);
    const candidates = bySetting.get(key) ?? [];
    const winner = latest(candidates);
    if (winner === undefined) {
      settings[key] = hubValue;
      continue;
    }
    const ancestors = ancestorsOf(winner, candidates);
    for (const edit of candidates) {
      if (edit === winner) continue;
      if (ancestors.has(formatHybrid(edit.at))) {
        record(edit, 'superseded', `replaced by the edit of ${formatHybrid(winner.at)}`);
      } else {
        record(
          edit,
          'concurrent',
          `concurrent with the edit of ${formatHybrid(winner.at)}, which is later and wins`,
        );
      }
    }
    const siteValue = normalizeGovernedValue(hub.kind, winner.value);
    const loosens = !isAtLeastAsStrict(hub.kind, siteValue, hubValue);
    if (hub.mode === 'floor') {
      settings[key] = tightest(hub.kind, hubValue, siteValue);
      if (loosens) {
        record(
          winner,
          'loosens-floor',
          `would loosen the hub floor of ${key}; only its stricter part applies`,
        );
      } else {
        record(winner, 'applied', `tightens ${key}`);
      }
      continue;
    }
    const hubChangedSince = winner.hubSeen === undefined || compareHybrid(hub.changedAt, winner.hubSeen) > 0;
    if (hub.kind !== 'value' && loosens && hubChangedSince && isOfflineEdit(winner)) {
      settings[key] = hubValue;
      record(
        winner,
        'shadowed',
        `made offline, loosens ${key} while the hub changed it at ${formatHybrid(hub.changedAt)}; the hub value holds`,
      );
      continue;
    }
    settings[key] = siteValue;
    record(winner, 'applied', `the site decides ${key}`);
  }

  outcomes.sort((a, b) => a.setting.localeCompare(b.setting) || compareHybrid(a.at, b.at) || order(a, b));
  return { settings, outcomes };
}

function order(a: MergeOutcome, b: MergeOutcome): number {
  const left = canonicalJson(a);
  const right = canonicalJson(b);
  return left < right ? -1 : left > right ? 1 : 0;
}

/** The same edit received twice (a resend, a duplicated overlay) counts once. */
function distinctEdits(edits: readonly SiteEdit[]): SiteEdit[] {
  const byKey = new Map<string, SiteEdit>();
  for (const edit of edits) byKey.set(canonicalJson(edit), edit);
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, edit]) => edit);
}

/** The latest edit; equal timestamps (one node never makes two) fall back to the canonical form. */
function latest(edits: readonly SiteEdit[]): SiteEdit | undefined {
  let best: SiteEdit | undefined;
  for (const edit of edits) {
    if (best === undefined) {
      best = edit;
      continue;
    }
    const byClock = compareHybrid(edit.at, best.at);
    if (byClock > 0 || (byClock === 0 && canonicalJson(edit) > canonicalJson(best))) best = edit;
  }
  return best;
}

/** The timestamps of the edits `edit` replaced, following `basedOn` (bounded: a cycle cannot loop). */
function ancestorsOf(edit: SiteEdit, edits: readonly SiteEdit[]): Set<string> {
  const byStamp = new Map(edits.map((candidate) => [formatHybrid(candidate.at), candidate]));
  const seen = new Set<string>();
  let cursor = edit.basedOn;
  while (cursor !== undefined && !seen.has(formatHybrid(cursor))) {
    const key = formatHybrid(cursor);
    seen.add(key);
    cursor = byStamp.get(key)?.basedOn;
  }
  return seen;
}
