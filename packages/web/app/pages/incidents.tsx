import type { IncidentDetailView, IncidentListView, IncidentState, OperatorView } from '@edgeward/core';
import { type FormEvent, useEffect, useState } from 'react';
import { api } from '../api.ts';
import { ago, dateTime } from '../format.ts';
import { navigate, useApi, useLive, usePoll } from '../hooks.ts';
import { useCanAct, useOperator } from '../session.ts';

// The page bundles no runtime code of core (it would bring zod and Node's crypto): the states are
// repeated here, in order (the typecheck holds each to one of core's).
const incidentStates = [
  'open',
  'contained',
  'eradicated',
  'recovered',
  'closed',
] as const satisfies readonly IncidentState[];

/** Forward only, skipping allowed, closed is final (core's canMoveIncident). */
function canMoveIncident(from: IncidentState, to: IncidentState): boolean {
  return incidentStates.indexOf(to) > incidentStates.indexOf(from);
}

/** Incidents change by other operators' hands without a live topic: an open page reads them this often. */
const INCIDENT_POLL_MS = 5000;

export function IncidentsPage(props: { id: string | undefined; params: URLSearchParams }) {
  return props.id === undefined ? <IncidentList params={props.params} /> : <IncidentDetail id={props.id} />;
}

function IncidentList(props: { params: URLSearchParams }) {
  const live = useLive();
  const state = props.params.get('state') ?? 'active';
  const device = props.params.get('device') ?? undefined;
  const query = new URLSearchParams({ limit: '200' });
  if (state === 'active') query.set('active', 'true');
  else if (state !== 'all') query.set('state', state);
  if (device !== undefined) query.set('device', device);
  const round = usePoll(INCIDENT_POLL_MS, true);
  const list = useApi<IncidentListView>(`/api/v1/incidents?${query.toString()}`, [
    live.alerts,
    live.commands,
    round,
  ]);
  const setState = (value: string) => {
    const params = new URLSearchParams(props.params);
    params.set('state', value);
    navigate('/incidents', params);
  };
  return (
    <section>
      <h1>Incidents</h1>
      <form className="filters" aria-label="Filter incidents" onSubmit={(event) => event.preventDefault()}>
        <label>
          State
          <select name="state" value={state} onChange={(event) => setState(event.target.value)}>
            <option value="active">not closed</option>
            <option value="all">all</option>
            {incidentStates.map((value) => (
              <option key={value} value={value}>
                {value}
              </option>
            ))}
          </select>
        </label>
        {device !== undefined && (
          <p>
            On device <span className="mono">{device}</span> · <a href="#/incidents">all devices</a>
          </p>
        )}
      </form>
      {list.error !== undefined && <p role="alert">{list.error.message}</p>}
      {list.data === undefined ? (
        <p className="muted">Loading…</p>
      ) : list.data.incidents.length === 0 ? (
        <p className="muted">No incident. Open one from a device's page.</p>
      ) : (
        <IncidentTable incidents={list.data.incidents} />
      )}
    </section>
  );
}

export function IncidentTable(props: { incidents: IncidentListView['incidents'] }) {
  return (
    <div className="scroll">
      <table>
        <thead>
          <tr>
            <th scope="col">Incident</th>
            <th scope="col">State</th>
            <th scope="col">Device</th>
            <th scope="col">Assignee</th>
            <th scope="col">Steps</th>
            <th scope="col">Opened</th>
          </tr>
        </thead>
        <tbody>
          {props.incidents.map((incident) => (
            <tr key={incident.id} data-incident={incident.id}>
              <td>
                <a href={`#/incidents/${encodeURIComponent(incident.id)}`}>{incident.title}</a>
                {incident.type !== null && <span className="muted"> · {incident.type}</span>}
              </td>
              <td>
                <span className={`badge incident-${incident.state}`}>{incident.state}</span>
              </td>
              <td>
                <a href={`#/devices/${encodeURIComponent(incident.deviceId)}`} className="mono">
                  {incident.deviceId}
                </a>
              </td>
              <td>{incident.assignee ?? '—'}</td>
              <td>
                {incident.steps.filter((step) => step.doneAt !== null).length}/{incident.steps.length}
              </td>
              <td>{ago(incident.openedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function IncidentDetail(props: { id: string }) {
  const live = useLive();
  const canAct = useCanAct();
  const id = encodeURIComponent(props.id);
  const round = usePoll(INCIDENT_POLL_MS, true);
  const detail = useApi<IncidentDetailView>(`/api/v1/incidents/${id}`, [
    live.alerts,
    live.commands,
    live.devices,
    round,
  ]);
  // Only admins may list operators: their assignee field suggests the names, others type one.
  const operators = useApi<{ operators: OperatorView[] }>(
    useOperator().role === 'admin' ? '/api/v1/operators' : null,
  );
  const [next, setNext] = useState<IncidentState | ''>('');
  const [stateNote, setStateNote] = useState('');
  const [assignee, setAssignee] = useState('');
  const [note, setNote] = useState('');
  const [resolution, setResolution] = useState('');
  const [error, setError] = useState<string | undefined>();
  // A ticked box shows ticked at once; the incident read after the write replaces the guess.
  const [ticking, setTicking] = useState<Readonly<Record<string, boolean>>>({});
  // biome-ignore lint/correctness/useExhaustiveDependencies: fresh data is the reason to drop the guesses
  useEffect(() => setTicking({}), [detail.data]);
  const tick = async (stepId: string, done: boolean) => {
    setTicking((previous) => ({ ...previous, [stepId]: done }));
    if (!(await post(`steps/${encodeURIComponent(stepId)}`, { done }))) setTicking({});
  };
  const post = async (path: string, body: unknown) => {
    setError(undefined);
    try {
      await api(`/api/v1/incidents/${id}/${path}`, { method: 'POST', body });
      detail.reload();
      return true;
    } catch (failure) {
      setError((failure as Error).message);
      return false;
    }
  };
  const submit = (path: string, body: () => unknown, after: () => void) => async (event: FormEvent) => {
    event.preventDefault();
    if (await post(path, body())) after();
  };
  const incident = detail.data;
  if (incident === undefined) {
    return detail.error === undefined ? (
      <p className="muted">Loading…</p>
    ) : (
      <p role="alert">{detail.error.message}</p>
    );
  }
  const closed = incident.state === 'closed';
  const moves = incidentStates.filter(
    (state) => state !== 'closed' && state !== incident.state && canMoveIncident(incident.state, state),
  );
  return (
    <>
      <p>
        <a href="#/incidents">← Incidents</a>
      </p>
      <h1>
        {incident.title}{' '}
        <span className={`badge incident-${incident.state}`} data-testid="incident-state">
          {incident.state}
        </span>
      </h1>
      <dl className="facts">
        <dt>Device</dt>
        <dd>
          <a href={`#/devices/${encodeURIComponent(incident.deviceId)}`} className="mono">
            {incident.deviceId}
          </a>
        </dd>
        <dt>Type</dt>
        <dd>{incident.type ?? '—'}</dd>
        <dt>Assignee</dt>
        <dd data-testid="incident-assignee">{incident.assignee ?? 'nobody'}</dd>
        <dt>Opened</dt>
        <dd>
          {dateTime(incident.openedAt)} by {incident.openedBy}
        </dd>
        {incident.alertId !== null && (
          <>
            <dt>Alert</dt>
            <dd>
              <a href={`#/alerts?state=all&alert=${encodeURIComponent(incident.alertId)}`} className="mono">
                {incident.alertId}
              </a>
            </dd>
          </>
        )}
        <dt>Time to detect</dt>
        <dd>{duration(incident.timeToDetectMs)}</dd>
        <dt>Time to contain</dt>
        <dd>{duration(incident.timeToContainMs)}</dd>
        {incident.resolution !== null && (
          <>
            <dt>Resolution</dt>
            <dd>{incident.resolution}</dd>
          </>
        )}
      </dl>
      {error !== undefined && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {canAct && !closed && (
        <div className="forms">
          {moves.length > 0 && (
            <form
              aria-label="Change state"
              onSubmit={submit(
                'state',
                () => ({ state: next, ...(stateNote === '' ? {} : { note: stateNote }) }),
                () => {
                  setNext('');
                  setStateNote('');
                },
              )}
            >
              <label>
                New state
                <select
                  value={next}
                  required
                  onChange={(event) => setNext(event.target.value as IncidentState | '')}
                >
                  <option value="">choose…</option>
                  {moves.map((state) => (
                    <option key={state} value={state}>
                      {state}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                Note on the change
                <input
                  value={stateNote}
                  maxLength={4000}
                  onChange={(event) => setStateNote(event.target.value)}
                />
              </label>
              <button type="submit">Change state</button>
            </form>
          )}
          <form
            aria-label="Assign"
            onSubmit={submit(
              'assign',
              () => ({ assignee }),
              () => setAssignee(''),
            )}
          >
            <label>
              Assignee
              <input
                value={assignee}
                required
                maxLength={100}
                placeholder="operator name"
                list="incident-assignees"
                onChange={(event) => setAssignee(event.target.value)}
              />
              <datalist id="incident-assignees">
                {(operators.data?.operators ?? []).map((operator) => (
                  <option key={operator.id} value={operator.name} />
                ))}
              </datalist>
            </label>
            <button type="submit">Assign</button>
          </form>
          <form
            aria-label="Close"
            onSubmit={submit(
              'close',
              () => ({ resolution }),
              () => setResolution(''),
            )}
          >
            <label>
              Resolution
              <input
                value={resolution}
                required
                maxLength={4000}
                onChange={(event) => setResolution(event.target.value)}
              />
            </label>
            <button type="submit">Close incident</button>
          </form>
        </div>
      )}
      <div className="grid">
        <section className="panel" aria-labelledby="playbook">
          <h2 id="playbook">
            Playbook{incident.playbookTitle === null ? '' : `: ${incident.playbookTitle}`}
          </h2>
          {incident.steps.length === 0 ? (
            <p className="muted">No playbook answers this incident's type.</p>
          ) : (
            <ul className="plain steps">
              {incident.steps.map((step) => (
                <li key={step.id} data-step={step.id}>
                  <label className="check-label">
                    <input
                      type="checkbox"
                      checked={ticking[step.id] ?? step.doneAt !== null}
                      disabled={!canAct || closed}
                      onChange={(event) => void tick(step.id, event.target.checked)}
                    />
                    {step.title}
                  </label>
                  <span className="muted">
                    {step.phase === null ? '' : `${step.phase} · `}
                    {step.doneAt === null ? 'to do' : `done by ${step.doneBy ?? '?'} ${ago(step.doneAt)}`}
                  </span>
                </li>
              ))}
            </ul>
          )}
        </section>
        <section className="panel" aria-labelledby="incident-evidence">
          <h2 id="incident-evidence">Evidence</h2>
          {incident.evidence.length === 0 ? (
            <p className="muted">No evidence captured from the device since the incident began.</p>
          ) : (
            <ul className="plain">
              {incident.evidence.map((bundle) => (
                <li key={bundle.id}>
                  <span className={`badge evidence-${bundle.state}`}>{bundle.state}</span>{' '}
                  <span className="mono">{bundle.id.slice(0, 8)}</span> · {bundle.items} items ·{' '}
                  {bytes(bundle.totalBytes)} · {bundle.reason}{' '}
                  <span className="muted">{ago(bundle.createdAt)}</span>
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
      {canAct && !closed && (
        <form
          aria-label="Add a note"
          className="comment"
          onSubmit={submit(
            'notes',
            () => ({ text: note }),
            () => setNote(''),
          )}
        >
          <label htmlFor="incident-note">Note on the incident</label>
          <textarea
            id="incident-note"
            value={note}
            required
            maxLength={4000}
            onChange={(event) => setNote(event.target.value)}
          />
          <button type="submit">Add note</button>
        </form>
      )}
      <section className="panel" aria-labelledby="incident-timeline">
        <h2 id="incident-timeline">Timeline</h2>
        <ol className="timeline" data-testid="incident-timeline">
          {incident.timeline.map((item, index) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: the timeline is rebuilt whole, in time order
            <li key={index} data-source={item.source} data-kind={item.kind}>
              <span className="muted">{dateTime(item.at)}</span>{' '}
              <span className={`badge source-${item.source}`}>{item.source}</span>{' '}
              <strong>{item.kind}</strong> by {item.actor}: {item.text}
            </li>
          ))}
        </ol>
      </section>
    </>
  );
}

function duration(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 60_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m`;
  return `${Math.round(ms / 360_000) / 10}h`;
}

export function bytes(count: number): string {
  if (count < 1024) return `${count} B`;
  if (count < 1024 * 1024) return `${Math.round(count / 102.4) / 10} KiB`;
  return `${Math.round(count / 104_857.6) / 10} MiB`;
}
