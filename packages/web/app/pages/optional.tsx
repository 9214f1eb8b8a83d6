import { useEffect, useState } from 'react';
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

export function OptionalFeaturePage(props: { feature: OptionalFeature }) {
  const { feature } = props;
  const [rows, setRows] = useState<Record<string, unknown>[] | undefined>();
  useEffect(() => {
    if (feature.available !== true) return;
    api<Record<string, unknown>>(feature.api).then(
      (body) => {
        const list = Object.values(body).find((value) => Array.isArray(value));
        setRows((list as Record<string, unknown>[] | undefined) ?? []);
      },
      () => setRows([]),
    );
  }, [feature]);
  if (feature.available === undefined)
    return <p className="muted">Checking whether this manager offers {feature.title.toLowerCase()}…</p>;
  if (!feature.available) {
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
  const columns =
    rows === undefined || rows.length === 0
      ? []
      : Object.keys(rows[0] ?? {})
          .filter((key) => typeof rows[0]?.[key] !== 'object')
          .slice(0, 6);
  return (
    <section>
      <h1>{feature.title}</h1>
      {rows === undefined ? (
        <p className="muted">Loading…</p>
      ) : rows.length === 0 ? (
        <p className="muted">None yet.</p>
      ) : (
        <div className="scroll">
          <table>
            <thead>
              <tr>
                {columns.map((column) => (
                  <th key={column} scope="col">
                    {column}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((row, index) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: rows of an API this page does not know the key of
                <tr key={index}>
                  {columns.map((column) => (
                    <td key={column}>{String(row[column] ?? '')}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
