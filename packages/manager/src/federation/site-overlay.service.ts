import {
  authorizeSiteOverlay,
  type Clock,
  EdgewardError,
  type FederatedMergeResult,
  formatHybrid,
  type GovernedValue,
  type HybridTimestamp,
  isConflict,
  mergeFederatedSettings,
  offlineBudgetOf,
  type SiteEdit,
  type SiteOverlay,
  type SiteOverlayPayload,
  signSiteOverlay,
  tickHybrid,
} from '@edgeward/core';
import type { Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { AlertService } from '../services/alert.service.ts';
import type { HubBundleCache } from './hub-bundle-cache.ts';

/** The rule id of the alert a site raises when the hub's concurrent change shadows an offline override. */
export const SHADOWED_OVERRIDE_RULE = 'edgeward.site.override-shadowed';

export interface OverlayEditRequest {
  readonly setting: string;
  readonly value: GovernedValue;
  /** Epoch ms: every override ends. */
  readonly expiresAt: number;
  readonly reason?: string | undefined;
}

/** What a merge refuses outright when a site publishes: the site must not sign what agents would undo. */
const REFUSED_AT_PUBLISH = new Set([
  'loosens-floor',
  'locked',
  'malformed',
  'unknown-setting',
  'expired',
  'clock-ahead',
  'outlives-budget',
]);

/**
 * A site's own decisions: the overlay it signs with its key (docs/federation.md). Publishing checks the
 * overlay exactly as every agent will (authorized by the delegation in the hub's bundle, merged with the
 * hub's settings) and refuses one that loosens a hub floor or touches a locked setting. The overlay in
 * force is served to the site's devices and reported to the hub.
 */
export class SiteOverlayService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #bundles: HubBundleCache;
  readonly #siteId: string;
  readonly #privateKeyPem: string;
  readonly #linkConnected: () => boolean;
  readonly #alerts: Pick<AlertService, 'raise'>;

  constructor(deps: {
    store: Store;
    clock: Clock;
    logger: Logger;
    bundles: HubBundleCache;
    siteId: string;
    overlayPrivateKeyPem: string;
    /** Whether the site reaches its hub now: edits made otherwise are offline overrides. */
    linkConnected: () => boolean;
    alerts: Pick<AlertService, 'raise'>;
  }) {
    this.#linkConnected = deps.linkConnected;
    this.#alerts = deps.alerts;
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#bundles = deps.bundles;
    this.#siteId = deps.siteId;
    this.#privateKeyPem = deps.overlayPrivateKeyPem;
  }

  async current(): Promise<SiteOverlay | undefined> {
    const held = await this.#store.sites.findOverlay(this.#siteId);
    return held === undefined ? undefined : (JSON.parse(held.overlayJson) as SiteOverlay);
  }

  /** Conflicts the overlay in force has with the hub's settings now (for the status the hub sees). */
  async conflicts(): Promise<number> {
    const merge = await this.#mergeInForce();
    return merge === undefined ? 0 : merge.outcomes.filter(isConflict).length;
  }

  /**
   * Raises an alert at the site for each override in force that the hub's bundle now shadows: an override
   * made offline that loosens a setting the hub changed meanwhile (called whenever a hub bundle arrives, so
   * at reconnection). An alert raised again for the same override merges into the one already open.
   */
  async alertShadowed(): Promise<number> {
    const merge = await this.#mergeInForce();
    const shadowed = merge?.outcomes.filter((outcome) => outcome.kind === 'shadowed') ?? [];
    for (const outcome of shadowed) {
      const madeAt = formatHybrid(outcome.at);
      this.#logger.error(
        { setting: outcome.setting, madeAt, detail: outcome.detail },
        'an override made offline is shadowed by a concurrent hub change; the hub value holds',
      );
      await this.#alerts.raise({
        ruleId: SHADOWED_OVERRIDE_RULE,
        ruleTitle: 'Offline site override shadowed by a concurrent hub change',
        kind: 'detection',
        groupKey: JSON.stringify([outcome.setting, madeAt]),
        groupFields: { setting: outcome.setting, madeAt },
        severity: 'high',
        tier: 'high',
        firstSeen: outcome.at.wallMs,
        lastSeen: outcome.at.wallMs,
        count: 1,
        eventRefs: [],
        deviceIds: [],
        response: [],
        route: [],
        update: false,
        source: 'site',
      });
    }
    return shadowed.length;
  }

  async #mergeInForce(): Promise<FederatedMergeResult | undefined> {
    const overlay = await this.current();
    const hub = this.#bundles.bundle?.payload;
    const federation = hub?.federation;
    if (overlay === undefined || hub === undefined || federation === undefined) return undefined;
    return mergeFederatedSettings({
      hub: federation.settings,
      edits: overlay.payload.edits,
      nowMs: this.#clock.now(),
      maxClockAheadMs: federation.maxClockAheadMs,
      ...offlineBudgetOf(hub, overlay.payload),
    });
  }

  /** Signs and keeps a new overlay holding exactly `edits` (the site's whole set of overrides). */
  async publish(edits: readonly OverlayEditRequest[]): Promise<SiteOverlay> {
    const bundle = this.#bundles.bundle;
    const federation = bundle?.payload.federation;
    if (bundle === undefined || federation === undefined) {
      throw new EdgewardError(
        'EW_SITE_OVERLAY_REFUSED',
        'the hub policy held here governs no settings across sites (no federation.yaml), so there is nothing a site may override',
      );
    }
    const now = this.#clock.now();
    const previous = await this.current();
    const node = `site/${this.#siteId}`;
    const link = this.#linkConnected() ? 'connected' : 'offline';
    let clock: HybridTimestamp | undefined = previous?.payload.edits
      .map((edit) => edit.at)
      .reduce<HybridTimestamp | undefined>(
        (latest, at) =>
          latest === undefined ||
          at.wallMs > latest.wallMs ||
          (at.wallMs === latest.wallMs && at.counter > latest.counter)
            ? at
            : latest,
        undefined,
      );
    const built: SiteEdit[] = edits.map((edit) => {
      clock = tickHybrid(clock, now, node);
      const replaced = previous?.payload.edits.find((earlier) => earlier.setting === edit.setting);
      const hubSeen = federation.settings[edit.setting]?.changedAt;
      return {
        setting: edit.setting,
        value: edit.value,
        at: clock,
        ...(replaced === undefined ? {} : { basedOn: replaced.at }),
        ...(hubSeen === undefined ? {} : { hubSeen }),
        expiresAt: edit.expiresAt,
        link,
        ...(edit.reason === undefined ? {} : { reason: edit.reason }),
      };
    });
    const payload: SiteOverlayPayload = {
      kind: 'site-overlay',
      fleet: bundle.payload.fleet,
      site: this.#siteId,
      version: (previous?.payload.version ?? 0) + 1,
      issuedAt: now,
      expiresAt: Math.max(now + 60_000, ...built.map((edit) => edit.expiresAt)),
      edits: built,
    };
    const overlay = signSiteOverlay(payload, this.#privateKeyPem);
    const verdict = authorizeSiteOverlay(overlay, { fleet: bundle.payload.fleet, federation, nowMs: now });
    if (!verdict.ok) throw new EdgewardError('EW_SITE_OVERLAY_REFUSED', verdict.message);
    const merge = mergeFederatedSettings({
      hub: federation.settings,
      edits: built,
      nowMs: now,
      maxClockAheadMs: federation.maxClockAheadMs,
      ...offlineBudgetOf(bundle.payload, payload),
    });
    const refused = merge.outcomes.filter((outcome) => REFUSED_AT_PUBLISH.has(outcome.kind));
    if (refused.length > 0) {
      throw new EdgewardError(
        'EW_SITE_OVERLAY_REFUSED',
        `the overlay is refused: ${refused.map((outcome) => `${outcome.setting} (${outcome.kind}: ${outcome.detail})`).join('; ')}`,
      );
    }
    await this.#store.sites.saveOverlay(this.#siteId, payload.version, JSON.stringify(overlay), now);
    this.#logger.info({ version: payload.version, edits: built.length }, 'site overlay published');
    return overlay;
  }
}
