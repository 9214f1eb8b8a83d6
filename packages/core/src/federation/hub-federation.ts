import type { CompiledFederation } from '../policy/policy.schema.ts';
import type { HubSetting } from './governed-setting.ts';
import type { HybridTimestamp } from './hybrid-clock.ts';
import type { HubFederation } from './site-overlay.schema.ts';

export interface DelegatedSite {
  readonly site: string;
  /** Absent until the site asked for its delegation (and sent its key). */
  readonly overlayPublicKeyPem: string | null;
  readonly maxOfflineMs: number;
}

/**
 * The federation block a hub signs into its bundle: the policy's governed settings stamped with
 * `changedAt`, and one delegation per site that has an overlay key, with the settings `federation.yaml`
 * delegates to it (by its id, else `*`). A hub stamps every setting with the time of the policy version
 * that carries it: each new version counts as a hub change of every governed setting, which can only make
 * a concurrent loosening site override lose (never win) — the conservative side.
 */
export function hubFederationOf(
  federation: CompiledFederation | undefined,
  sites: readonly DelegatedSite[],
  changedAt: HybridTimestamp,
): HubFederation | undefined {
  if (federation === undefined) return undefined;
  const settings: Record<string, HubSetting> = {};
  for (const [key, setting] of Object.entries(federation.settings)) {
    settings[key] = { ...(setting as Omit<HubSetting, 'changedAt'>), changedAt };
  }
  return {
    settings,
    sites: sites
      .filter((site) => site.overlayPublicKeyPem !== null)
      .map((site) => ({
        site: site.site,
        overlayPublicKeyPem: site.overlayPublicKeyPem as string,
        settings: federation.delegate[site.site] ?? federation.delegate['*'] ?? [],
        maxOfflineMs: site.maxOfflineMs,
      })),
    maxClockAheadMs: federation.maxClockAheadMs,
  };
}
