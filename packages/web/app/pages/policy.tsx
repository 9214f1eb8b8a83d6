import type { PolicyVersionDetailView, PolicyVersionListView } from '@edgeward/core';
import { useEffect, useState } from 'react';
import { diffLines } from '../diff.ts';
import { dateTime } from '../format.ts';
import { useApi } from '../hooks.ts';

/** Policy versions, and the differences of their source files between any two of them. */
export function PolicyPage() {
  const versions = useApi<PolicyVersionListView>('/api/v1/policy/versions');
  const list = versions.data?.versions ?? [];
  const [from, setFrom] = useState<number | undefined>();
  const [to, setTo] = useState<number | undefined>();
  useEffect(() => {
    if (list.length > 0 && to === undefined) {
      setTo(list[0]?.version);
      setFrom(list[1]?.version ?? list[0]?.version);
    }
  }, [list, to]);
  const older = useApi<PolicyVersionDetailView>(
    from === undefined ? null : `/api/v1/policy/versions/${from}`,
  );
  const newer = useApi<PolicyVersionDetailView>(to === undefined ? null : `/api/v1/policy/versions/${to}`);
  if (versions.data !== undefined && list.length === 0) {
    return (
      <>
        <h1>Policy</h1>
        <p>
          No policy applied yet. <code>npx edgeward policy apply policies/starter -m "starter baseline"</code>{' '}
          makes the first version.
        </p>
      </>
    );
  }
  const paths = [
    ...new Set(
      [...(older.data?.sourceFiles ?? []), ...(newer.data?.sourceFiles ?? [])].map((file) => file.path),
    ),
  ].sort();
  return (
    <>
      <h1>Policy</h1>
      <div className="scroll">
        <table aria-label="Policy versions">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">When</th>
              <th scope="col">Author</th>
              <th scope="col">Message</th>
              <th scope="col">Commit</th>
            </tr>
          </thead>
          <tbody>
            {list.map((version) => (
              <tr key={version.version}>
                <td>
                  v{version.version} {version.inForce && <span className="badge good">in force</span>}
                  {version.rollbackOf !== null && (
                    <span className="muted"> (restores v{version.rollbackOf})</span>
                  )}
                </td>
                <td>{dateTime(version.createdAt)}</td>
                <td>{version.author}</td>
                <td>{version.message}</td>
                <td className="mono">{version.gitCommit?.slice(0, 12) ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <section className="panel" aria-labelledby="differences">
        <h2 id="differences">Differences</h2>
        <form
          className="filters"
          onSubmit={(event) => event.preventDefault()}
          aria-label="Versions to compare"
        >
          <label>
            From
            <select value={from ?? ''} onChange={(event) => setFrom(Number(event.target.value))}>
              {list.map((version) => (
                <option key={version.version} value={version.version}>
                  v{version.version}
                </option>
              ))}
            </select>
          </label>
          <label>
            To
            <select value={to ?? ''} onChange={(event) => setTo(Number(event.target.value))}>
              {list.map((version) => (
                <option key={version.version} value={version.version}>
                  v{version.version}
                </option>
              ))}
            </select>
          </label>
        </form>
        {paths.map((path) => {
          const before = older.data?.sourceFiles.find((file) => file.path === path)?.text ?? '';
          const after = newer.data?.sourceFiles.find((file) => file.path === path)?.text ?? '';
          if (before === after) return null;
          return (
            <article key={path} className="change">
              <h3 className="mono">{path}</h3>
              <pre className="diff">
                {diffLines(before, after).map((line, index) =>
                  line.kind === ' ' ? null : (
                    // biome-ignore lint/suspicious/noArrayIndexKey: lines of one diff, never reordered
                    <span key={index} className={line.kind === '+' ? 'add' : 'del'}>
                      {line.kind} {line.text}
                      {'\n'}
                    </span>
                  ),
                )}
              </pre>
            </article>
          );
        })}
        {paths.every(
          (path) =>
            (older.data?.sourceFiles.find((file) => file.path === path)?.text ?? '') ===
            (newer.data?.sourceFiles.find((file) => file.path === path)?.text ?? ''),
        ) && <p className="muted">The two versions have the same source files.</p>}
      </section>
    </>
  );
}
