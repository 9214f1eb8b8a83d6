import { type ReactNode, useEffect, useState } from 'react';
import { ApiError, api } from '../api.ts';

/**
 * Parts of the product whose API a manager may not have yet (rollouts, incidents). Each is probed once;
 * its navigation entry appears only when the manager answers, and a direct link to it says plainly
 * that this manager does not offer it. Nothing is invented in between.
 */
export interface OptionalFeature {
  readonly path: string;
  readonly title: string;
  readonly api: string;
  readonly available: boolean | undefined;
}

const features = [
  { path: '/rollouts', title: 'Rollouts', api: '/api/v1/rollouts' },
  { path: '/incidents', title: 'Incidents', api: '/api/v1/incidents' },
] as const;

export function useOptionalFeatures(): OptionalFeature[] {
  const [found, setFound] = useState<Record<string, boolean>>({});
  useEffect(() => {
    for (const feature of features) {
      api(feature.api).then(
        () => setFound((previous) => ({ ...previous, [feature.path]: true })),
        (error: unknown) =>
          setFound((previous) => ({
            ...previous,
            // Any answer but "no such route" means the API exists (a refusal by role, for instance).
            [feature.path]: !(error instanceof ApiError && error.code === 'EW_ROUTE_NOT_FOUND'),
          })),
      );
    }
  }, []);
  return features.map((feature) => ({ ...feature, available: found[feature.path] }));
}

/**
 * What a link to an optional part shows until the manager has answered, and when it does not offer it;
 * once it does, `children` (the part's own page).
 */
export function OptionalFeaturePage(props: { feature: OptionalFeature | undefined; children: ReactNode }) {
  const { feature } = props;
  if (feature === undefined || feature.available === true) return props.children;
  if (feature.available === undefined)
    return <p className="muted">Checking whether this manager offers {feature.title.toLowerCase()}…</p>;
  return (
    <section>
      <h1>{feature.title}</h1>
      <p className="notice">
        {feature.title} are not available on this manager: it has no <code>{feature.api}</code> API. Upgrade
        the manager to a release that has them.
      </p>
    </section>
  );
}
