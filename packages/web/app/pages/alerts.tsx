import type { AlertDetailView, AlertListView, AlertNoiseView, AlertView, OperatorView } from '@edgeward/core';
import { type FormEvent, useState } from 'react';
import { api, query } from '../api.ts';
import { ago, dateTime, percent, tiers } from '../format.ts';
import { navigate, useApi, useLive } from '../hooks.ts';
import { useCanAct, useOperator } from '../session.ts';

const states = ['open', 'acknowledged', 'resolved', 'suppressed'] as const;

export function AlertsPage(props: { params: URLSearchParams }) {
  const live = useLive();
  const state = props.params.get('state') ?? 'open';
  const tier = props.params.get('tier') ?? '';
  const selected = props.params.get('alert');
  const list = useApi<AlertListView>(
    `/api/v1/alerts${query({ state: state === 'all' ? undefined : state, tier, limit: 200 })}`,
    [live.alerts],
  );
  const noise = useApi<AlertNoiseView>('/api/v1/alerts/noise?days=7', [live.alerts]);
  const update = (changes: Record<string, string>) => {
    const next = new URLSearchParams(props.params);
    for (const [key, value] of Object.entries(changes)) {
      if (value === '') next.delete(key);
      else next.set(key, value);
    }
    navigate('/alerts', next);
  };
  return (
    <>
      <h1>Alerts</h1>
      <form className="filters" aria-label="Alert filters" onSubmit={(event) => event.preventDefault()}>
        <label>
          State
          <select
            name="state"
            value={state}
            onChange={(event) => update({ state: event.target.value, alert: '' })}
          >
            {states.map((value) => (
              <option key={value} value={value}>
                {value}
              </option>
            ))}
            <option value="all">all</option>
          </select>
        </label>
        <label>
          Tier
          <select name="tier" value={tier} onChange={(event) => update({ tier: event.target.value })}>
            <option value="">any</option>
            {tiers.map((value) => (
              <option key={value} value={value}>
                {value}
              </option>
            ))}
          </select>
        </label>
      </form>
      {list.error !== undefined && <p role="alert">{list.error.message}</p>}
      <AlertTable
        alerts={list.data?.alerts ?? []}
        onChanged={list.reload}
        onSelect={(id) => update({ alert: id })}
      />
      {selected !== null && (
        <AlertDetail id={selected} onChanged={list.reload} onClose={() => update({ alert: '' })} />
      )}
      <section className="panel" aria-labelledby="noise">
        <h2 id="noise">Noise per rule, last 7 days</h2>
        <div className="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Rule</th>
                <th scope="col">Raised</th>
                <th scope="col">Per day</th>
                <th scope="col">Acknowledged</th>
                <th scope="col">Median time to acknowledge</th>
                <th scope="col">False positives</th>
                <th scope="col">Unresolved</th>
              </tr>
            </thead>
            <tbody>
              {(noise.data?.rules ?? []).map((rule) => (
                <tr key={rule.ruleId}>
                  <td>
                    {rule.ruleTitle} <span className="muted mono">{rule.ruleId}</span>
                  </td>
                  <td>{rule.raised}</td>
                  <td>{Math.round(rule.alertsPerDay * 10) / 10}</td>
                  <td>{rule.acknowledged}</td>
                  <td>
                    {rule.medianTimeToAcknowledgeMs === null
                      ? '—'
                      : `${Math.round(rule.medianTimeToAcknowledgeMs / 60_000)} min`}
                  </td>
                  <td>{rule.falsePositiveShare === null ? '—' : percent(rule.falsePositiveShare * 100)}</td>
                  <td>{rule.unresolved}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}

/** Alerts as rows; operators get an Acknowledge button on each open one. */
export function AlertTable(props: {
  alerts: readonly AlertView[];
  onChanged: () => void;
  onSelect?: (id: string) => void;
}) {
  const canAct = useCanAct();
  const [error, setError] = useState<string | undefined>();
  const acknowledge = async (id: string) => {
    try {
      await api(`/api/v1/alerts/${encodeURIComponent(id)}/ack`, { method: 'POST', body: {} });
      props.onChanged();
    } catch (failure) {
      setError((failure as Error).message);
    }
  };
  if (props.alerts.length === 0) return <p className="muted">No alerts.</p>;
  return (
    <div className="scroll">
      {error !== undefined && <p role="alert">{error}</p>}
      <table aria-label="Alerts">
        <thead>
          <tr>
            <th scope="col">Tier</th>
            <th scope="col">Rule</th>
            <th scope="col">Devices</th>
            <th scope="col">Count</th>
            <th scope="col">Last signal</th>
            <th scope="col">State</th>
            <th scope="col">Assignee</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {props.alerts.map((alert) => (
            <tr key={alert.id} data-rule={alert.ruleId}>
              <td>
                <span className={`tier tier-${alert.tier}`}>{alert.tier}</span>
              </td>
              <td>
                {props.onSelect === undefined ? (
                  <a href={`#/alerts?state=all&alert=${encodeURIComponent(alert.id)}`}>{alert.ruleTitle}</a>
                ) : (
                  <button type="button" className="link" onClick={() => props.onSelect?.(alert.id)}>
                    {alert.ruleTitle}
                  </button>
                )}
                {alert.siteId !== null && <span className="muted"> · site {alert.siteId}</span>}
              </td>
              <td>
                {alert.deviceIds.slice(0, 3).map((deviceId) => (
                  <a
                    key={deviceId}
                    className="mono device-link"
                    href={`#/devices/${encodeURIComponent(deviceId)}`}
                  >
                    {deviceId}
                  </a>
                ))}
                {alert.deviceIds.length > 3 && <span className="muted"> +{alert.deviceIds.length - 3}</span>}
              </td>
              <td>{alert.count}</td>
              <td>{ago(alert.lastSignalAt)}</td>
              <td data-testid="alert-state">{alert.state}</td>
              <td>{alert.assignee?.name ?? '—'}</td>
              <td>
                {canAct && alert.state === 'open' && (
                  <button
                    type="button"
                    onClick={() => acknowledge(alert.id)}
                    aria-label={`Acknowledge ${alert.ruleTitle}`}
                  >
                    Acknowledge
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function AlertDetail(props: { id: string; onChanged: () => void; onClose: () => void }) {
  const live = useLive();
  const canAct = useCanAct();
  const detail = useApi<AlertDetailView>(`/api/v1/alerts/${encodeURIComponent(props.id)}`, [live.alerts]);
  const operators = useApi<{ operators: OperatorView[] }>(
    useOperator().role === 'admin' ? '/api/v1/operators' : null,
  );
  const [resolution, setResolution] = useState('fixed');
  const [note, setNote] = useState('');
  const [assignee, setAssignee] = useState('');
  const [comment, setComment] = useState('');
  const [error, setError] = useState<string | undefined>();
  const act = (path: string, body: unknown, after?: () => void) => async (event: FormEvent) => {
    event.preventDefault();
    setError(undefined);
    try {
      await api(`/api/v1/alerts/${encodeURIComponent(props.id)}/${path}`, { method: 'POST', body });
      after?.();
      detail.reload();
      props.onChanged();
    } catch (failure) {
      setError((failure as Error).message);
    }
  };
  const alert = detail.data;
  if (alert === undefined)
    return detail.error === undefined ? null : <p role="alert">{detail.error.message}</p>;
  return (
    <section className="panel detail" aria-labelledby="alert-title">
      <div className="row">
        <h2 id="alert-title">
          <span className={`tier tier-${alert.tier}`}>{alert.tier}</span> {alert.ruleTitle}
        </h2>
        <button type="button" onClick={props.onClose}>
          Close
        </button>
      </div>
      <p className="muted">
        {alert.siteId !== null && <>raised at site {alert.siteId} · </>}
        {alert.state} · {alert.count} events · first {dateTime(alert.firstSeen)} · last{' '}
        {dateTime(alert.lastSeen)} · group{' '}
        {Object.entries(alert.groupFields)
          .map(([key, value]) => `${key}=${value}`)
          .join(', ')}
      </p>
      {error !== undefined && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {canAct && alert.state !== 'resolved' && (
        <div className="forms">
          <form
            onSubmit={act('resolve', { resolution, ...(note === '' ? {} : { note }) }, () => setNote(''))}
            aria-label="Resolve"
          >
            <label>
              Resolution
              <select value={resolution} onChange={(event) => setResolution(event.target.value)}>
                <option value="fixed">fixed</option>
                <option value="false-positive">false positive</option>
                <option value="duplicate">duplicate</option>
                <option value="accepted-risk">accepted risk</option>
              </select>
            </label>
            <label>
              Note
              <input value={note} onChange={(event) => setNote(event.target.value)} maxLength={5000} />
            </label>
            <button type="submit">Resolve</button>
          </form>
          <form onSubmit={act('assign', { assignee })} aria-label="Assign">
            {operators.data === undefined ? (
              // Only admins may list operators; others name the assignee.
              <label>
                Assignee
                <input
                  value={assignee}
                  onChange={(event) => setAssignee(event.target.value)}
                  placeholder="operator name"
                  required
                />
              </label>
            ) : (
              <label>
                Assignee
                <select value={assignee} onChange={(event) => setAssignee(event.target.value)} required>
                  <option value="">choose…</option>
                  {operators.data.operators.map((operator) => (
                    <option key={operator.id} value={operator.id}>
                      {operator.name} ({operator.role})
                    </option>
                  ))}
                </select>
              </label>
            )}
            <button type="submit">Assign</button>
          </form>
        </div>
      )}
      {canAct && (
        <form
          onSubmit={act('comment', { text: comment }, () => setComment(''))}
          aria-label="Comment"
          className="comment"
        >
          <label htmlFor="comment-text">Comment</label>
          <textarea
            id="comment-text"
            value={comment}
            onChange={(event) => setComment(event.target.value)}
            required
            maxLength={5000}
          />
          <button type="submit">Add comment</button>
        </form>
      )}
      <h3>Comments</h3>
      {alert.comments.length === 0 ? (
        <p className="muted">None.</p>
      ) : (
        <ul className="plain">
          {alert.comments.map((entry) => (
            <li key={`${entry.at}-${entry.authorId}`}>
              <strong>{entry.author}</strong> <span className="muted">{dateTime(entry.at)}</span>:{' '}
              {entry.text}
            </li>
          ))}
        </ul>
      )}
      <h3>History</h3>
      <ol className="timeline">
        {alert.history.map((entry) => (
          <li key={`${entry.at}-${entry.kind}-${entry.actor}`}>
            <span className="muted">{dateTime(entry.at)}</span> {entry.kind} by {entry.actor}
          </li>
        ))}
      </ol>
    </section>
  );
}
