import type {
  AlertListView,
  ChangeView,
  DeviceCommandListView,
  DeviceComplianceView,
  DeviceDetailWithIsolationView,
  DeviceUpdatesView,
  EventListView,
  EvidenceListView,
  IncidentListView,
} from '@edgeward/core';
import { type FormEvent, useState } from 'react';
import { api } from '../api.ts';
import { ConfirmAction } from '../confirm.tsx';
import { diffLines, valueLines } from '../diff.ts';
import { ago, dateTime, labelsText, percent } from '../format.ts';
import { navigate, useApi, useLive } from '../hooks.ts';
import { useCanAct } from '../session.ts';
import { AlertTable } from './alerts.tsx';
import { bytes, IncidentTable } from './incidents.tsx';

export function DevicePage(props: { id: string }) {
  const live = useLive();
  const id = encodeURIComponent(props.id);
  const device = useApi<DeviceDetailWithIsolationView>(`/api/v1/devices/${id}`, [
    live.devices,
    live.commands,
    live.fleet,
  ]);
  const history = useApi<{ changes: ChangeView[] }>(`/api/v1/devices/${id}/history?limit=50`, [live.devices]);
  const compliance = useApi<DeviceComplianceView>(`/api/v1/compliance/devices/${id}`, [live.devices]);
  const events = useApi<EventListView>(`/api/v1/events?device=${id}&limit=25`, [live.alerts, live.devices]);
  const alerts = useApi<AlertListView>(`/api/v1/alerts?device=${id}&limit=25`, [live.alerts]);
  const commands = useApi<DeviceCommandListView>(`/api/v1/devices/${id}/commands`, [live.commands]);
  // The manager announces a bundle's arrival and verification as a change to its device.
  const evidence = useApi<EvidenceListView>(`/api/v1/evidence?device=${id}&limit=20`, [
    live.commands,
    live.devices,
  ]);
  const incidents = useApi<IncidentListView>(`/api/v1/incidents?device=${id}&limit=20`, [live.alerts]);
  const updates = useApi<DeviceUpdatesView>(`/api/v1/devices/${id}/updates`, [live.devices]);
  const canAct = useCanAct();
  const data = device.data;
  if (data === undefined) {
    return device.error === undefined ? (
      <p className="muted">Loading…</p>
    ) : (
      <p role="alert">{device.error.message}</p>
    );
  }
  const isolation = data.isolation;
  const isolated = isolation.desired === 'isolated';
  const reported = isolation.reported?.isolated;
  const refresh = () => {
    device.reload();
    commands.reload();
    evidence.reload();
  };
  return (
    <>
      <p>
        <a href="#/devices">← Devices</a>
      </p>
      <h1>
        {data.name} <span className={`status ${data.status}`}>{data.status}</span>
        {isolated && (
          <span className="badge reason-isolated" data-testid="isolation-badge">
            {reported === true ? 'isolated' : 'isolation requested'}
          </span>
        )}
      </h1>
      <dl className="facts">
        <dt>Id</dt>
        <dd className="mono">{data.id}</dd>
        <dt>Labels</dt>
        <dd>{labelsText(data.labels) || '—'}</dd>
        <dt>Last contact</dt>
        <dd>{ago(data.lastSeenAt)}</dd>
        <dt>Agent</dt>
        <dd>{data.agentVersion}</dd>
        <dt>Isolation</dt>
        <dd data-testid="isolation-state">
          {isolation.desired === null
            ? 'never isolated'
            : `${isolation.desired} by ${isolation.desiredBy ?? '?'} ${ago(isolation.desiredAt)} (${isolation.reason ?? ''}); device reports ${
                reported === undefined ? 'nothing yet' : reported ? 'isolated' : 'not isolated'
              }`}
        </dd>
      </dl>
      {canAct && data.status !== 'revoked' && (
        <section className="toolbar" aria-label="Device actions">
          {!isolated && (
            <ConfirmAction
              label="Isolate"
              title={`Isolate ${data.name}?`}
              confirmLabel="Isolate device"
              danger
              onConfirm={async (reason) => {
                await api(`/api/v1/devices/${id}/isolate`, { method: 'POST', body: { reason } });
                refresh();
              }}
            >
              <p>The device is cut off from every network peer except this manager, until released.</p>
            </ConfirmAction>
          )}
          {isolated && (
            <ConfirmAction
              label="Release"
              title={`Release ${data.name} from isolation?`}
              confirmLabel="Release device"
              onConfirm={async (reason) => {
                await api(`/api/v1/devices/${id}/release`, { method: 'POST', body: { reason } });
                refresh();
              }}
            >
              <p>The device's network is opened again as its policy allows.</p>
            </ConfirmAction>
          )}
          <ConfirmAction
            label="Capture"
            title={`Capture evidence from ${data.name}?`}
            confirmLabel="Capture evidence"
            onConfirm={async (reason) => {
              await api(`/api/v1/devices/${id}/capture`, { method: 'POST', body: { reason } });
              refresh();
            }}
          >
            <p>
              The device collects its volatile state (processes, connections, sessions) and the files its
              policy names, signs the bundle and uploads it here. It keeps running as it is.
            </p>
          </ConfirmAction>
          <ConfirmAction
            label="Revoke"
            title={`Revoke ${data.name}?`}
            confirmLabel="Revoke device"
            danger
            onConfirm={async (reason) => {
              await api(`/api/v1/devices/${id}/revoke`, { method: 'POST', body: { reason } });
              refresh();
            }}
          >
            <p>
              Its certificates are revoked: it cannot connect again until it is enrolled anew. This cannot be
              undone.
            </p>
          </ConfirmAction>
        </section>
      )}
      <div className="grid">
        <section className="panel" aria-labelledby="compliance">
          <h2 id="compliance">Compliance {percent(compliance.data?.counts.percent)}</h2>
          {compliance.data === undefined || compliance.data.checks.length === 0 ? (
            <p className="muted">No compliance report yet.</p>
          ) : (
            <div className="scroll">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Check</th>
                    <th scope="col">Status</th>
                    <th scope="col">Detail</th>
                  </tr>
                </thead>
                <tbody>
                  {[...compliance.data.checks].sort(byUrgency).map((check) => (
                    <tr key={check.checkId}>
                      <td>{check.title ?? check.checkId}</td>
                      <td>
                        <span className={`check ${check.status}`}>{check.status}</span>
                      </td>
                      <td className="detail">{check.detail}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
        <section className="panel" aria-labelledby="inventory">
          <h2 id="inventory">Inventory</h2>
          <Inventory inventory={data.inventory} />
        </section>
      </div>
      <section className="panel" aria-labelledby="alerts">
        <h2 id="alerts">Alerts</h2>
        <AlertTable alerts={alerts.data?.alerts ?? []} onChanged={alerts.reload} />
      </section>
      <section className="panel" aria-labelledby="device-incidents">
        <h2 id="device-incidents">Incidents</h2>
        {canAct && data.status !== 'revoked' && <OpenIncident deviceId={data.id} />}
        {(incidents.data?.incidents ?? []).length === 0 ? (
          <p className="muted">No incident on this device.</p>
        ) : (
          <IncidentTable incidents={incidents.data?.incidents ?? []} />
        )}
      </section>
      <div className="grid">
        <section className="panel" aria-labelledby="evidence">
          <h2 id="evidence">Evidence</h2>
          {(evidence.data?.evidence ?? []).length === 0 ? (
            <p className="muted">No evidence captured.</p>
          ) : (
            <>
              <ul className="plain" data-testid="evidence-list">
                {(evidence.data?.evidence ?? []).map((bundle) => (
                  <li key={bundle.id} data-evidence={bundle.id}>
                    <span className={`badge evidence-${bundle.state}`}>{bundle.state}</span>{' '}
                    <span className="mono">{bundle.id.slice(0, 8)}</span> · {bundle.trigger}
                    {bundle.ruleId === null ? '' : ` (${bundle.ruleId})`} · {bundle.items} items ·{' '}
                    {bytes(bundle.totalBytes)} · {bundle.reason}{' '}
                    <span className="muted">{ago(bundle.createdAt)}</span>
                    {bundle.problem !== null && <span className="bad"> — {bundle.problem}</span>}
                  </li>
                ))}
              </ul>
              <p className="hint muted">
                <code>npx edgeward evidence download ID --out DIR</code> fetches a verified bundle, checks its
                signature and hashes, and unpacks it.
              </p>
            </>
          )}
        </section>
        <section className="panel" aria-labelledby="updates">
          <h2 id="updates">Updates</h2>
          <DeviceUpdates updates={updates.data} />
        </section>
      </div>
      <section className="panel" aria-labelledby="changes">
        <h2 id="changes">Changes</h2>
        {(history.data?.changes ?? []).length === 0 ? (
          <p className="muted">No change since enrollment.</p>
        ) : (
          (history.data?.changes ?? []).map((change) => (
            <article key={`${change.version}/${change.section}/${change.key}`} className="change">
              <h3>
                v{change.version} · {change.section} <span className="mono">{change.key}</span> {change.kind}
                {change.drift && <span className="badge reason-drifted">drift</span>}{' '}
                <span className="muted">{dateTime(change.receivedAt)}</span>
              </h3>
              <pre className="diff">
                {diffLines(valueLines(change.before), valueLines(change.after)).map((line, index) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: lines of one diff, never reordered
                  <span key={index} className={line.kind === '+' ? 'add' : line.kind === '-' ? 'del' : ''}>
                    {line.kind} {line.text}
                    {'\n'}
                  </span>
                ))}
              </pre>
            </article>
          ))
        )}
      </section>
      <div className="grid">
        <section className="panel" aria-labelledby="events">
          <h2 id="events">Recent events</h2>
          <div className="scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Type</th>
                  <th scope="col">Severity</th>
                </tr>
              </thead>
              <tbody>
                {(events.data?.events ?? []).map((event) => (
                  <tr key={event.id}>
                    <td>{dateTime(event.time)}</td>
                    <td className="mono">{event.type}</td>
                    <td>
                      <span className={`tier tier-${event.severity}`}>{event.severity}</span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
        <section className="panel" aria-labelledby="commands">
          <h2 id="commands">Commands</h2>
          <ul className="plain">
            {(commands.data?.commands ?? []).map((command) => (
              <li key={command.id}>
                <strong>{command.kind}</strong> by {command.createdBy} {ago(command.createdAt)}:{' '}
                {command.status}
                {command.params.reason === '' ? '' : ` — ${command.params.reason}`}
              </li>
            ))}
          </ul>
        </section>
      </div>
    </>
  );
}

function OpenIncident(props: { deviceId: string }) {
  const [title, setTitle] = useState('');
  const [type, setType] = useState('');
  const [error, setError] = useState<string | undefined>();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(undefined);
    try {
      const incident = await api<{ id: string }>('/api/v1/incidents', {
        method: 'POST',
        body: { deviceId: props.deviceId, title, ...(type === '' ? {} : { type }) },
      });
      navigate(`/incidents/${encodeURIComponent(incident.id)}`);
    } catch (failure) {
      setError((failure as Error).message);
    }
  };
  return (
    <form className="forms" aria-label="Open an incident" onSubmit={submit}>
      <label>
        Title
        <input value={title} required maxLength={200} onChange={(event) => setTitle(event.target.value)} />
      </label>
      <label>
        Type (chooses the playbook)
        <input
          value={type}
          maxLength={64}
          pattern="[a-z0-9][a-z0-9._\-]*"
          placeholder="malware, brute-force…"
          onChange={(event) => setType(event.target.value)}
        />
      </label>
      <button type="submit">Open incident</button>
      {error !== undefined && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </form>
  );
}

function DeviceUpdates(props: { updates: DeviceUpdatesView | undefined }) {
  const { updates } = props;
  if (updates === undefined) return <p className="muted">Loading…</p>;
  if (updates.running.length === 0 && updates.rollouts.length === 0)
    return <p className="muted">No update reported or offered.</p>;
  return (
    <>
      {updates.slaBreaches.map((breach) => (
        <p key={breach.name} className="notice bad" data-testid="sla-breach">
          {breach.name} {breach.version} ({breach.severity}) was due {dateTime(breach.dueAt)}; the device runs{' '}
          {breach.running ?? 'an unknown version'}.
        </p>
      ))}
      <dl className="facts">
        {updates.running.map((entry) => (
          <div key={entry.name} className="fact">
            <dt>{entry.name}</dt>
            <dd>
              {entry.version ?? 'unknown version'}
              {entry.fellBackFrom === null ? '' : ` (fell back from ${entry.fellBackFrom})`}{' '}
              <span className="muted">since {dateTime(entry.installedAt ?? entry.reportedAt)}</span>
            </dd>
          </div>
        ))}
      </dl>
      {updates.rollouts.length > 0 && (
        <ul className="plain">
          {updates.rollouts.map((entry) => (
            <li key={entry.rolloutId}>
              <a href={`#/rollouts/${encodeURIComponent(entry.rolloutId)}`}>
                {entry.name} {entry.version}
              </a>{' '}
              <span className={`badge device-${entry.state}`}>{entry.state}</span>{' '}
              <span className="muted">
                rollout {entry.rolloutState} · {ago(entry.finishedAt ?? entry.updatedAt)}
              </span>
              {entry.detail === '' ? '' : ` — ${entry.detail}`}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

function Inventory(props: { inventory: unknown }) {
  if (props.inventory === null || typeof props.inventory !== 'object')
    return <p className="muted">Not reported yet.</p>;
  const entries = Object.entries(props.inventory as Record<string, unknown>);
  return (
    <dl className="facts">
      {entries.map(([key, value]) => (
        <div key={key} className="fact">
          <dt>{key}</dt>
          <dd>
            {Array.isArray(value) ? (
              <details>
                <summary>{value.length} entries</summary>
                <pre>{JSON.stringify(value, null, 1)}</pre>
              </details>
            ) : typeof value === 'object' && value !== null ? (
              <details>
                <summary>{Object.keys(value).length} fields</summary>
                <pre>{JSON.stringify(value, null, 1)}</pre>
              </details>
            ) : (
              String(value)
            )}
          </dd>
        </div>
      ))}
    </dl>
  );
}

const urgency: Record<string, number> = { fail: 0, error: 1, pass: 2, 'not-applicable': 3 };

/** Failing checks first: they are what a visitor of the page came for. */
function byUrgency(a: { status: string; checkId: string }, b: { status: string; checkId: string }): number {
  return (urgency[a.status] ?? 9) - (urgency[b.status] ?? 9) || a.checkId.localeCompare(b.checkId);
}
