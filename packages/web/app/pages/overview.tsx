import type {
  AlertVolumeView,
  ComplianceFleetView,
  FleetOverviewView,
  PatchSlaView,
  RolloutView,
} from '@edgeward/core';
import { BarList, LineChart, StackedColumns } from '../charts.tsx';
import { ago, dateTime, percent, tiers } from '../format.ts';
import { useApi, useLive, usePoll } from '../hooks.ts';
import { phaseLabel, RolloutState, sumPhases } from './rollouts.tsx';

/** Rollouts and the patch SLA have no live topic: the overview reads them again this often. */
const UPDATES_POLL_MS = 5000;

interface AttentionRow {
  readonly id: string;
  readonly name: string;
  readonly reasons: readonly string[];
  readonly lastSeenAt: number | null | undefined;
  readonly overdue: readonly string[];
}

export function OverviewPage() {
  const live = useLive();
  const overview = useApi<FleetOverviewView>('/api/v1/fleet/overview', [
    live.fleet,
    live.alerts,
    live.devices,
  ]);
  const compliance = useApi<ComplianceFleetView>('/api/v1/compliance?days=14', [live.fleet]);
  const volume = useApi<AlertVolumeView>('/api/v1/alerts/volume?days=14', [live.alerts]);
  const round = usePoll(UPDATES_POLL_MS, true);
  // Both answer errors on a manager without updates; the overview then shows neither.
  const rollouts = useApi<{ rollouts: RolloutView[] }>('/api/v1/rollouts', [round]);
  const sla = useApi<PatchSlaView>('/api/v1/patches/sla', [round, live.devices]);
  const data = overview.data;
  if (data === undefined) {
    return overview.error === undefined ? (
      <p className="muted">Loading the fleet…</p>
    ) : (
      <p role="alert">{overview.error.message}</p>
    );
  }
  const openAlerts = tiers.reduce((sum, tier) => sum + data.openAlertsByTier[tier], 0);
  const inProgress = (rollouts.data?.rollouts ?? []).filter(
    (rollout) => rollout.state === 'running' || rollout.state === 'paused',
  );
  const breaches = sla.data?.breaches ?? [];
  const attention = attentionRows(data, breaches);
  const breachingDevices = new Set(breaches.map((breach) => breach.deviceId)).size;
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
        {rollouts.data !== undefined && (
          <Card
            label="Rollouts in progress"
            value={inProgress.length}
            href="#/rollouts"
            testId="card-rollouts"
          />
        )}
        {sla.data !== undefined && (
          <Card
            label="Past patch SLA"
            value={breachingDevices}
            tone={breachingDevices > 0 ? 'bad' : undefined}
            testId="card-sla"
          />
        )}
      </section>
      {inProgress.length > 0 && (
        <section className="panel" aria-labelledby="rollouts-in-progress">
          <h2 id="rollouts-in-progress">Rollouts in progress</h2>
          <div className="scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Artifact</th>
                  <th scope="col">State</th>
                  <th scope="col">Phase</th>
                  <th scope="col">Committed</th>
                  <th scope="col">Failed</th>
                </tr>
              </thead>
              <tbody>
                {inProgress.map((rollout) => {
                  const totals = sumPhases(rollout.phaseViews);
                  return (
                    <tr key={rollout.id}>
                      <td>
                        <a href={`#/rollouts/${encodeURIComponent(rollout.id)}`}>
                          {rollout.artifact.name} {rollout.artifact.version}
                        </a>
                      </td>
                      <td>
                        <RolloutState state={rollout.state} />
                      </td>
                      <td>{phaseLabel(rollout)}</td>
                      <td>
                        {totals.committed}/{totals.devices}
                      </td>
                      <td className={totals.failed > 0 ? 'bad' : ''}>{totals.failed}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </section>
      )}
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
        {breaches.length > 0 && (
          <section className="panel" aria-labelledby="patch-latency">
            <h2 id="patch-latency">Hours since release, devices past the patch SLA</h2>
            <p className="muted">
              SLA:{' '}
              {[...new Map(breaches.map((breach) => [breach.severity, breach.slaMs])).entries()]
                .map(([severity, slaMs]) => `${severity} ${Math.round(slaMs / 3_600_000)} h`)
                .join(', ')}
            </p>
            <BarList
              label="Hours since release, devices past the patch SLA"
              unit=" h"
              bars={breaches.slice(0, 12).map((breach) => ({
                label: attention.find((row) => row.id === breach.deviceId)?.name || breach.deviceId,
                value: Math.round((Date.now() - breach.releasedAt) / 3_600_000),
                tone: 'bad',
                href: `#/devices/${encodeURIComponent(breach.deviceId)}`,
              }))}
            />
          </section>
        )}
      </div>
      <section className="panel" aria-labelledby="attention">
        <h2 id="attention">Devices needing attention</h2>
        <p className="muted">
          {data.attention.offline} offline · {data.attention.drifted} drifted from the baseline ·{' '}
          {data.attention.stalePolicy} on a stale policy · {data.attention.isolated} isolated
          {sla.data === undefined ? '' : ` · ${breachingDevices} past the patch SLA`}
        </p>
        {attention.length === 0 ? (
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
                {attention.map((device) => (
                  <tr key={device.id} data-device={device.id}>
                    <td>
                      <a href={`#/devices/${encodeURIComponent(device.id)}`}>{device.name || device.id}</a>{' '}
                      {device.name !== '' && <span className="muted mono">{device.id}</span>}
                    </td>
                    <td>
                      {device.reasons.map((reason) => (
                        <span key={reason} className={`badge reason-${reason}`}>
                          {reason}
                        </span>
                      ))}
                      {device.overdue.length > 0 && (
                        <span className="muted"> {device.overdue.join('; ')}</span>
                      )}
                    </td>
                    <td>{device.lastSeenAt === undefined ? '—' : ago(device.lastSeenAt)}</td>
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

/**
 * The overview's devices needing attention, with the devices past the patch SLA among them: a device
 * already listed gains the reason, another is added (its name unknown here: empty, its id shown).
 */
function attentionRows(data: FleetOverviewView, breaches: PatchSlaView['breaches']): AttentionRow[] {
  const rows = new Map<string, AttentionRow>();
  for (const device of data.attention.devices) rows.set(device.id, { ...device, overdue: [] });
  for (const breach of breaches) {
    const row = rows.get(breach.deviceId) ?? {
      id: breach.deviceId,
      name: '',
      reasons: [],
      lastSeenAt: undefined,
      overdue: [],
    };
    rows.set(breach.deviceId, {
      ...row,
      reasons: row.reasons.includes('patch-sla') ? row.reasons : [...row.reasons, 'patch-sla'],
      overdue: [...row.overdue, `${breach.name} ${breach.version} due ${dateTime(breach.dueAt)}`],
    });
  }
  return [...rows.values()];
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
