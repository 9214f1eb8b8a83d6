import type { CompiledPolicy } from '../policy/policy.schema.ts';
import type { PolicyBundlePayload } from '../policy/policy-bundle.schema.ts';
import { type FederatedMergeResult, mergeFederatedSettings } from './federated-merge.ts';
import { applyGovernedSettings } from './governed-policy.ts';
import type { SiteOverlayPayload } from './site-overlay.schema.ts';

export interface SitePolicy {
  /** The policy to enforce: the hub's, with the effective governed settings written in. */
  readonly policy: CompiledPolicy;
  readonly merge: FederatedMergeResult;
}

/**
 * The policy a device at a site enforces: the hub bundle's policy with the hub's governed settings merged
 * with the site's overlay (already authorized with authorizeSiteOverlay). Without a federation block or an
 * overlay, the hub's values stand.
 */
export function sitePolicyOf(
  hub: PolicyBundlePayload,
  overlay: SiteOverlayPayload | undefined,
  nowMs: number,
): SitePolicy {
  const federation = hub.federation;
  const merge = mergeFederatedSettings({
    hub: federation?.settings ?? {},
    edits: overlay?.edits ?? [],
    nowMs,
    maxClockAheadMs: federation?.maxClockAheadMs ?? 0,
    ...offlineBudgetOf(hub, overlay),
  });
  return { policy: applyGovernedSettings(hub.policy, merge.settings), merge };
}

/** The offline budget the hub delegated to the overlay's site: what its offline overrides may last. */
export function offlineBudgetOf(
  hub: PolicyBundlePayload,
  overlay: SiteOverlayPayload | undefined,
): { maxOfflineOverrideMs?: number } {
  const delegation = hub.federation?.sites.find((site) => site.site === overlay?.site);
  return delegation === undefined ? {} : { maxOfflineOverrideMs: delegation.maxOfflineMs };
}
