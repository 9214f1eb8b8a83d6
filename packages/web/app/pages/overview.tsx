import type { AlertVolumeView, ComplianceFleetView, FleetOverviewView } from '@edgeward/core';
import { BarList, LineChart, StackedColumns } from '../charts.tsx';
import { ago, percent, tiers } from '../format.ts';
import { useApi, useLive } from '../hooks.ts';

export function OverviewPage() {
  const live = useLive();
  const overview = useApi<FleetOverviewView>('/api/v1/fleet/overview', [
    live.fleet,
    live.alerts,
    live.devices,
  ]);
  const compliance = useApi<ComplianceFleetView>('/api/v1/compliance?days=14', [live.fleet]);
  const volume = useApi<AlertVolumeView>('/api/v1/alerts/volume?days=14', [live.alerts]);
  const data = overview.data;
  if (data === undefined) {
    return overview.error === undefined ? (
      <p className="muted">Loading the fleet…</p>
    ) : (
      <p role="alert">{overview.error.message}</p>
    );
  }
  const openAlerts = tiers.reduce((sum, tier) => sum + data.openAlertsByTier[tier], 0);
  return (
    <>
      <h1>Fleet overview</h1>
      <section className="cards" aria-label="Fleet summary">
        <Card label="Devices" value={data.devices.total} href="#/devices" testId="card-total" />
        <Card
          label="Online"
          value={data.devices.online}
          href="#/devices?status=online"
          tone="good"
          testId="card-online"
        />
        <Card
          label="Offline"
          value={data.devices.offline}
          href="#/devices?status=offline"
          tone="warn"
          testId="card-offline"
        />
        <Card
          label="Open alerts"
          value={openAlerts}
          href="#/alerts"
          tone={openAlerts > 0 ? 'bad' : undefined}
          testId="card-alerts"
        />
        <Card label="Compliance" value={percent(compliance.data?.overall.percent)} testId="card-compliance" />
        <Card
          label="Isolated"
          value={data.attention.isolated}
          tone={data.attention.isolated > 0 ? 'bad' : undefined}
          testId="card-isolated"
        />
      </section>
      <div className="grid">
        <section className="panel" aria-labelledby="by-status">
          <h2 id="by-status">Devices by status</h2>
          <BarList
            label="Devices by status"
            bars={[
              { label: 'online', value: data.devices.online, tone: 'good', href: '#/devices?status=online' },
              {
                label: 'offline',
                value: data.devices.offline,
                tone: 'warn',
                href: '#/devices?status=offline',
              },
              { label: 'revoked', value: data.devices.revoked, tone: 'bad' },
            ]}
          />
        </section>
        <section className="panel" aria-labelledby="by-segment">
          <h2 id="by-segment">Devices by segment</h2>
          <BarList
            label="Devices by segment"
            bars={data.bySegment.map((entry) => ({
              label: entry.segment,
              value: entry.devices,
              ...(entry.segment === 'unreported'
                ? {}
                : { href: `#/devices?segment=${encodeURIComponent(entry.segment)}` }),
            }))}
          />
        </section>
        <section className="panel" aria-labelledby="by-site">
          <h2 id="by-site">Devices by site</h2>
          <BarList
            label="Devices by site"
            bars={data.bySite.map((entry) => ({
              label: entry.site,
              value: entry.devices,
              ...(entry.site === '(none)'
                ? {}
                : { href: `#/devices?site=${encodeURIComponent(entry.site)}` }),
            }))}
          />
        </section>
        <section className="panel" aria-labelledby="alerts-tier">
          <h2 id="alerts-tier">Open alerts by tier</h2>
          <BarList
            label="Open alerts by tier"
            bars={tiers.map((tier) => ({
              label: tier,
              value: data.openAlertsByTier[tier],
              tone: `tier-${tier}`,
              href: `#/alerts?tier=${tier}`,
            }))}
          />
        </section>
        <section className="panel" aria-labelledby="compliance-segment">
          <h2 id="compliance-segment">Compliance by segment</h2>
          {compliance.data?.policyVersion === null ? (
            <p className="muted">
              No policy applied yet: <code>npx edgeward policy apply DIR -m MESSAGE</code>.
            </p>
          ) : (
            <BarList
              label="Compliance by segment"
              unit="%"
              max={100}
              bars={(compliance.data?.segments ?? []).map((segment) => ({
                label: segment.segment,
                value: Math.round(segment.percent ?? 0),
                tone: (segment.percent ?? 0) >= 90 ? 'good' : 'warn',
              }))}
            />
          )}
        </section>
        <section className="panel" aria-labelledby="compliance-trend">
          <h2 id="compliance-trend">Compliance over 14 days</h2>
          <LineChart
            label="Fleet compliance per day"
            unit="%"
            points={(compliance.data?.trend ?? []).map((day) => ({
              label: day.day.slice(5),
              value: day.percent,
            }))}
          />
        </section>
        <section className="panel wide" aria-labelledby="alert-volume">
          <h2 id="alert-volume">Alerts raised per day, by tier</h2>
          <StackedColumns
            label="Alerts raised per day"
            series={[...tiers].reverse()}
            columns={(volume.data?.days ?? []).map((day) => ({
              label: day.day.slice(5),
              values: day.byTier,
            }))}
          />
        </section>
      </div>
      <section className="panel" aria-labelledby="attention">
        <h2 id="attention">Devices needing attention</h2>
        <p className="muted">
          {data.attention.offline} offline · {data.attention.drifted} drifted from the baseline ·{' '}
          {data.attention.stalePolicy} on a stale policy · {data.attention.isolated} isolated
        </p>
        {data.attention.devices.length === 0 ? (
          <p>Nothing needs a look.</p>
        ) : (
          <div className="scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Device</th>
                  <th scope="col">Why</th>
                  <th scope="col">Last contact</th>
                </tr>
              </thead>
              <tbody>
                {data.attention.devices.map((device) => (
                  <tr key={device.id}>
                    <td>
                      <a href={`#/devices/${encodeURIComponent(device.id)}`}>{device.name}</a>{' '}
                      <span className="muted mono">{device.id}</span>
                    </td>
                    <td>
                      {device.reasons.map((reason) => (
                        <span key={reason} className={`badge reason-${reason}`}>
                          {reason}
                        </span>
                      ))}
                    </td>
                    <td>{ago(device.lastSeenAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}

function Card(props: {
  label: string;
  value: number | string;
  href?: string;
  tone?: string | undefined;
  testId: string;
}) {
  const body = (
    <>
      <span>{props.label}</span>
      <strong className={props.tone ?? ''} data-testid={props.testId}>
        {props.value}
      </strong>
    </>
  );
  return <div className="card">{props.href === undefined ? body : <a href={props.href}>{body}</a>}</div>;
}
