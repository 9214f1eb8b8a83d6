import type { RolloutPhaseView, RolloutView } from '@edgeward/core';
import { useEffect, useState } from 'react';
import { api } from '../api.ts';
import { ConfirmAction } from '../confirm.tsx';
import { ago, dateTime, labelsText } from '../format.ts';
import { useApi, usePoll } from '../hooks.ts';
import { useCanAct } from '../session.ts';

/** Rollouts move without a live topic of their own: an open page reads them again this often. */
const ROLLOUT_POLL_MS = 2000;

const activeStates: readonly RolloutView['state'][] = ['created', 'running', 'paused'];

interface RolloutDeviceRow {
  readonly deviceId: string;
  readonly phase: number;
  readonly site: string;
  readonly state: string;
  readonly finishedAt: number | null;
  readonly detail: string;
  readonly updatedAt: number;
}

export function RolloutsPage(props: { id: string | undefined }) {
  return props.id === undefined ? <RolloutList /> : <RolloutDetail id={props.id} />;
}

function RolloutList() {
  const round = usePoll(ROLLOUT_POLL_MS, true);
  const list = useApi<{ rollouts: RolloutView[] }>('/api/v1/rollouts', [round]);
  const rollouts = list.data?.rollouts;
  return (
    <section>
      <h1>Rollouts</h1>
      {list.error !== undefined && <p role="alert">{list.error.message}</p>}
      {rollouts === undefined ? (
        <p className="muted">Loading…</p>
      ) : rollouts.length === 0 ? (
        <p className="muted">
          No rollout yet: <code>npx edgeward rollouts create …</code> starts one.
        </p>
      ) : (
        <div className="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Artifact</th>
                <th scope="col">State</th>
                <th scope="col">Phase</th>
                <th scope="col">Progress</th>
                <th scope="col">Devices</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {rollouts.map((rollout) => {
                const totals = sumPhases(rollout.phaseViews);
                return (
                  <tr key={rollout.id} data-rollout={rollout.id}>
                    <td>
                      <a href={`#/rollouts/${encodeURIComponent(rollout.id)}`}>
                        {rollout.artifact.name} {rollout.artifact.version}
                      </a>{' '}
                      <span className="muted mono">{rollout.id.slice(0, 8)}</span>
                    </td>
                    <td>
                      <RolloutState state={rollout.state} />
                    </td>
                    <td>{phaseLabel(rollout)}</td>
                    <td>
                      {totals.committed}/{totals.devices} committed
                      {totals.failed > 0 && <span className="bad"> · {totals.failed} failed</span>}
                    </td>
                    <td>{labelsText(selectorLabels(rollout.selector)) || 'all'}</td>
                    <td>{ago(rollout.updatedAt)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function RolloutDetail(props: { id: string }) {
  const id = encodeURIComponent(props.id);
  const canAct = useCanAct();
  // Finished rollouts no longer change; only an active one is read again while the page is open.
  const [active, setActive] = useState(true);
  const round = usePoll(ROLLOUT_POLL_MS, active);
  const rollout = useApi<RolloutView>(`/api/v1/rollouts/${id}`, [round]);
  const devices = useApi<{ devices: RolloutDeviceRow[] }>(`/api/v1/rollouts/${id}/devices`, [round]);
  const state = rollout.data?.state;
  useEffect(() => {
    if (state !== undefined) setActive(activeStates.includes(state));
  }, [state]);
  const data = rollout.data;
  if (data === undefined) {
    return rollout.error === undefined ? (
      <p className="muted">Loading…</p>
    ) : (
      <p role="alert">{rollout.error.message}</p>
    );
  }
  const act = (action: 'pause' | 'resume' | 'abort') => async (reason: string) => {
    await api(`/api/v1/rollouts/${id}/${action}`, { method: 'POST', body: { reason } });
    rollout.reload();
    devices.reload();
  };
  // The gates hold per phase: the current one's figures are what the manager weighs next.
  const current = data.phaseViews[data.currentPhase];
  const failed = current?.failed ?? 0;
  const finished = (current?.committed ?? 0) + failed;
  const successPercent =
    finished === 0 ? null : Math.round(((current?.committed ?? 0) / finished) * 1000) / 10;
  return (
    <>
      <p>
        <a href="#/rollouts">← Rollouts</a>
      </p>
      <h1>
        {data.artifact.name} {data.artifact.version} <RolloutState state={data.state} />
      </h1>
      <dl className="facts">
        <dt>Id</dt>
        <dd className="mono">{data.id}</dd>
        <dt>Devices</dt>
        <dd>{labelsText(selectorLabels(data.selector)) || 'all'}</dd>
        <dt>Phases</dt>
        <dd>
          {data.phases} · now {phaseLabel(data)}
        </dd>
        <dt>Created</dt>
        <dd>
          {dateTime(data.createdAt)} by {data.createdBy}
        </dd>
        {data.reason !== null && (
          <>
            <dt>Reason</dt>
            <dd data-testid="rollout-reason">{data.reason}</dd>
          </>
        )}
        <dt>Soak</dt>
        <dd>{Math.round(data.soakMs / 1000)}s after each phase</dd>
        <dt>Windows</dt>
        <dd>
          {data.respectWindows ? 'installs only inside maintenance windows' : 'installs at any time'}
          {data.siteConcurrency === null ? '' : ` · at most ${data.siteConcurrency} at once per site`}
        </dd>
      </dl>
      {canAct && activeStates.includes(data.state) && (
        <section className="toolbar" aria-label="Rollout actions">
          {data.state === 'running' && (
            <ConfirmAction
              label="Pause"
              title={`Pause the rollout of ${data.artifact.name} ${data.artifact.version}?`}
              confirmLabel="Pause rollout"
              onConfirm={act('pause')}
            >
              <p>No further device is offered the update until the rollout is resumed.</p>
            </ConfirmAction>
          )}
          {data.state === 'paused' && (
            <ConfirmAction
              label="Resume"
              title={`Resume the rollout of ${data.artifact.name} ${data.artifact.version}?`}
              confirmLabel="Resume rollout"
              onConfirm={act('resume')}
            >
              <p>Devices are offered the update again, phase by phase, as the gates allow.</p>
            </ConfirmAction>
          )}
          <ConfirmAction
            label="Abort"
            title={`Abort the rollout of ${data.artifact.name} ${data.artifact.version}?`}
            confirmLabel="Abort rollout"
            danger
            onConfirm={act('abort')}
          >
            <p>
              Devices that have not started are never offered the update. An aborted rollout cannot be
              resumed.
            </p>
          </ConfirmAction>
        </section>
      )}
      <section className="panel" aria-labelledby="gates">
        <h2 id="gates">Gates{current === undefined ? '' : ` of phase ${current.label}`}</h2>
        <div className="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Gate</th>
                <th scope="col">Limit</th>
                <th scope="col">Now</th>
              </tr>
            </thead>
            <tbody>
              <tr data-testid="gate-failures">
                <td>Failed devices in the phase (install or health check)</td>
                <td>at most {data.gates.maxFailures}</td>
                <td className={failed > data.gates.maxFailures ? 'bad' : 'good'}>{failed}</td>
              </tr>
              <tr data-testid="gate-success">
                <td>Committed, of the phase's devices that finished</td>
                <td>at least {data.gates.minSuccessPercent}%</td>
                <td
                  className={
                    successPercent === null
                      ? ''
                      : successPercent >= data.gates.minSuccessPercent
                        ? 'good'
                        : 'bad'
                  }
                >
                  {successPercent === null ? 'none finished yet' : `${successPercent}%`}
                </td>
              </tr>
              <tr>
                <td>A new alert on an updated device counts as a failure</td>
                <td>{data.gates.alertSeverity} and above</td>
                <td className="muted">not shown; a breach names them</td>
              </tr>
            </tbody>
          </table>
        </div>
      </section>
      <section className="panel" aria-labelledby="phases">
        <h2 id="phases">Phases</h2>
        <div className="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Phase</th>
                <th scope="col">Devices</th>
                <th scope="col">Pending</th>
                <th scope="col">In progress</th>
                <th scope="col">Committed</th>
                <th scope="col">Failed</th>
                <th scope="col">Skipped</th>
                <th scope="col">Rolled back</th>
                <th scope="col">Progress</th>
              </tr>
            </thead>
            <tbody>
              {data.phaseViews.map((phase) => (
                <tr
                  key={phase.index}
                  data-phase={phase.label}
                  aria-current={phase.index === data.currentPhase ? 'step' : undefined}
                >
                  <th scope="row">
                    {phase.label}
                    {phase.index === data.currentPhase && activeStates.includes(data.state) && (
                      <span className="badge">current</span>
                    )}
                  </th>
                  <td>{phase.devices}</td>
                  <td>{phase.pending}</td>
                  <td>{phase.inProgress}</td>
                  <td data-testid="phase-committed">{phase.committed}</td>
                  <td className={phase.failed > 0 ? 'bad' : ''}>{phase.failed}</td>
                  <td>{phase.skipped}</td>
                  <td>{phase.rolledBack}</td>
                  <td>
                    <PhaseBar phase={phase} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <section className="panel" aria-labelledby="rollout-devices">
        <h2 id="rollout-devices">Devices</h2>
        {(devices.data?.devices ?? []).length === 0 ? (
          <p className="muted">No device selected.</p>
        ) : (
          <div className="scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Device</th>
                  <th scope="col">Phase</th>
                  <th scope="col">Site</th>
                  <th scope="col">State</th>
                  <th scope="col">Detail</th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {(devices.data?.devices ?? []).map((row) => (
                  <tr key={row.deviceId}>
                    <td>
                      <a href={`#/devices/${encodeURIComponent(row.deviceId)}`} className="mono">
                        {row.deviceId}
                      </a>
                    </td>
                    <td>{data.phaseViews[row.phase]?.label ?? row.phase + 1}</td>
                    <td>{row.site || '—'}</td>
                    <td>
                      <span className={`badge device-${row.state}`}>{row.state}</span>
                    </td>
                    <td className="detail">{row.detail}</td>
                    <td>{ago(row.updatedAt)}</td>
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

/** One phase's devices as a stacked bar: committed, failed, in progress, skipped, the rest pending. */
function PhaseBar(props: { phase: RolloutPhaseView }) {
  const { phase } = props;
  const total = Math.max(1, phase.devices);
  const parts = [
    { key: 'committed', value: phase.committed, tone: 'good' },
    { key: 'failed', value: phase.failed + phase.rolledBack, tone: 'bad' },
    { key: 'in progress', value: phase.inProgress, tone: 'warn' },
    { key: 'skipped', value: phase.skipped, tone: 'muted' },
  ];
  let x = 0;
  return (
    <svg
      className="phase-bar"
      role="img"
      aria-label={`${phase.label}: ${parts.map((part) => `${part.value} ${part.key}`).join(', ')}, ${phase.pending} pending`}
      viewBox="0 0 100 10"
      preserveAspectRatio="none"
    >
      <rect x={0} y={0} width={100} height={10} className="phase-rest" />
      {parts.map((part) => {
        const width = (part.value / total) * 100;
        const rect = (
          <rect key={part.key} x={x} y={0} width={width} height={10} className={`bar ${part.tone}`} />
        );
        x += width;
        return rect;
      })}
    </svg>
  );
}

export function RolloutState(props: { state: RolloutView['state'] }) {
  const tone =
    props.state === 'completed'
      ? 'good'
      : props.state === 'aborted' || props.state === 'rolled-back'
        ? 'bad'
        : props.state === 'paused'
          ? 'warn'
          : '';
  return (
    <span className={`badge rollout-state ${tone}`} data-testid="rollout-state">
      {props.state}
    </span>
  );
}

export function sumPhases(phases: readonly RolloutPhaseView[]): {
  devices: number;
  committed: number;
  failed: number;
  rolledBack: number;
} {
  return phases.reduce(
    (sum, phase) => ({
      devices: sum.devices + phase.devices,
      committed: sum.committed + phase.committed,
      failed: sum.failed + phase.failed,
      rolledBack: sum.rolledBack + phase.rolledBack,
    }),
    { devices: 0, committed: 0, failed: 0, rolledBack: 0 },
  );
}

export function phaseLabel(rollout: RolloutView): string {
  const phase = rollout.phaseViews[rollout.currentPhase];
  return phase === undefined
    ? '—'
    : `${rollout.currentPhase + 1} of ${rollout.phaseViews.length} (${phase.label})`;
}

function selectorLabels(selector: Record<string, string | string[]>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(selector).map(([key, value]) => [key, Array.isArray(value) ? value.join('|') : value]),
  );
}
