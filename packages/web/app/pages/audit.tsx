import type { AuditEntriesView, AuditVerifyView } from '@edgeward/core';
import { dateTime } from '../format.ts';
import { useApi, useLive } from '../hooks.ts';

/** The manager's audit chain: whether it verifies, or where it broke, and its latest entries. */
export function AuditPage() {
  const live = useLive();
  const verify = useApi<AuditVerifyView>('/api/v1/audit/verify', [live.alerts, live.commands]);
  const entries = useApi<AuditEntriesView>('/api/v1/audit/entries?limit=50', [live.alerts, live.commands]);
  const result = verify.data;
  return (
    <>
      <h1>Audit chain</h1>
      {result === undefined ? (
        <p className="muted">Verifying…</p>
      ) : result.ok ? (
        <p className="notice good" role="status" data-testid="audit-status">
          Verified: {result.entries} entries, {result.checkpoints} signed checkpoints
          {result.lastCheckpointSeq === null ? '' : ` (last at entry ${result.lastCheckpointSeq})`}, key{' '}
          {result.keyId.slice(0, 12)}….
        </p>
      ) : (
        <p className="notice bad" role="alert" data-testid="audit-status">
          Broken at entry {result.firstBadSeq}: {result.problem}. {result.message}
        </p>
      )}
      <button type="button" onClick={verify.reload}>
        Verify again
      </button>
      <div className="scroll">
        <table aria-label="Audit entries">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">When</th>
              <th scope="col">Kind</th>
              <th scope="col">Actor</th>
              <th scope="col">Subject</th>
              <th scope="col">Hash</th>
            </tr>
          </thead>
          <tbody>
            {(entries.data?.entries ?? []).map((entry) => (
              <tr key={entry.seq}>
                <td>{entry.seq}</td>
                <td>{dateTime(entry.at)}</td>
                <td className="mono">{entry.kind}</td>
                <td>{entry.actor}</td>
                <td className="mono">{entry.subject}</td>
                <td className="mono">{entry.hash.slice(0, 12)}…</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
