import type { DeviceListView, FleetOverviewView } from '@edgeward/core';
import { useEffect, useState } from 'react';
import { query } from '../api.ts';
import { ago, labelsText } from '../format.ts';
import { navigate, useApi, useLive } from '../hooks.ts';

const PAGE_SIZE = 50;
const sortable = [
  { key: 'name', title: 'Name' },
  { key: 'id', title: 'Id' },
  { key: 'lastSeen', title: 'Last contact' },
  { key: 'enrolled', title: 'Enrolled' },
] as const;

/**
 * The device table: filters live in the address (so a filtered view can be shared), pages are cut by
 * the server with a keyset cursor, so the table is as fast on page 2,000 as on page 1.
 */
export function DevicesPage(props: { params: URLSearchParams }) {
  const { params } = props;
  const live = useLive();
  const status = params.get('status') ?? '';
  const segment = params.get('segment') ?? '';
  const site = params.get('site') ?? '';
  const label = params.get('label') ?? '';
  const search = params.get('search') ?? '';
  const revoked = params.get('revoked') === 'true';
  const sort = params.get('sort') ?? 'name';
  const order = params.get('order') === 'desc' ? 'desc' : 'asc';
  const [searchText, setSearchText] = useState(search);
  const [labelText, setLabelText] = useState(label);
  // Cursors of the pages before this one, to go back; reset whenever the filters or the order change.
  const [cursors, setCursors] = useState<string[]>([]);
  const filterKey = `${status}|${segment}|${site}|${label}|${search}|${sort}|${order}|${revoked}`;
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new filter starts from the first page
  useEffect(() => setCursors([]), [filterKey]);
  useEffect(() => setSearchText(search), [search]);
  const facets = useApi<FleetOverviewView>('/api/v1/fleet/overview');
  const labels = [
    ...(site === '' ? [] : [`site=${site}`]),
    ...label
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry.includes('=')),
  ];
  const path = `/api/v1/devices${query({
    status,
    segment,
    label: labels,
    search,
    sort,
    order,
    includeRevoked: revoked ? 'true' : undefined,
    limit: PAGE_SIZE,
    cursor: cursors.at(-1),
  })}`;
  const list = useApi<DeviceListView>(path, [live.devices, live.fleet]);

  const update = (changes: Record<string, string>) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value === '') next.delete(key);
      else next.set(key, value);
    }
    navigate('/devices', next);
  };
  // Typing waits for a pause before it asks the server.
  useEffect(() => {
    if (searchText === search) return;
    const timer = window.setTimeout(() => update({ search: searchText }), 300);
    return () => window.clearTimeout(timer);
  });
  const page = cursors.length + 1;
  const data = list.data;
  return (
    <>
      <h1>Devices</h1>
      <form className="filters" aria-label="Device filters" onSubmit={(event) => event.preventDefault()}>
        <label>
          Search
          <input
            type="search"
            name="search"
            placeholder="id or name"
            value={searchText}
            onChange={(event) => setSearchText(event.target.value)}
          />
        </label>
        <label>
          Status
          <select name="status" value={status} onChange={(event) => update({ status: event.target.value })}>
            <option value="">any</option>
            <option value="online">online</option>
            <option value="offline">offline</option>
          </select>
        </label>
        <label>
          Segment
          <select
            name="segment"
            value={segment}
            onChange={(event) => update({ segment: event.target.value })}
          >
            <option value="">any</option>
            {(facets.data?.bySegment ?? [])
              .filter((entry) => entry.segment !== 'unreported')
              .map((entry) => (
                <option key={entry.segment} value={entry.segment}>
                  {entry.segment} ({entry.devices})
                </option>
              ))}
          </select>
        </label>
        <label>
          Site
          <select name="site" value={site} onChange={(event) => update({ site: event.target.value })}>
            <option value="">any</option>
            {(facets.data?.bySite ?? [])
              .filter((entry) => entry.site !== '(none)')
              .map((entry) => (
                <option key={entry.site} value={entry.site}>
                  {entry.site} ({entry.devices})
                </option>
              ))}
          </select>
        </label>
        <label>
          Labels
          <input
            name="labels"
            placeholder="key=value, …"
            value={labelText}
            onChange={(event) => setLabelText(event.target.value)}
            onBlur={() => update({ label: labelText })}
            onKeyDown={(event) => {
              if (event.key === 'Enter') update({ label: labelText });
            }}
          />
        </label>
        <label className="check-label">
          <input
            type="checkbox"
            name="revoked"
            checked={revoked}
            onChange={(event) => update({ revoked: event.target.checked ? 'true' : '' })}
          />
          Include revoked
        </label>
      </form>
      {list.error !== undefined && <p role="alert">{list.error.message}</p>}
      <p className="muted" aria-live="polite" data-testid="device-total">
        {data === undefined ? 'Loading…' : `${data.total} device${data.total === 1 ? '' : 's'}`}
      </p>
      <div className="scroll">
        <table aria-label="Devices" aria-busy={list.loading}>
          <thead>
            <tr>
              {sortable.map((column) => (
                <th
                  key={column.key}
                  scope="col"
                  aria-sort={sort === column.key ? (order === 'asc' ? 'ascending' : 'descending') : 'none'}
                >
                  <button
                    type="button"
                    className="sort"
                    onClick={() =>
                      update({
                        sort: column.key,
                        order: sort === column.key && order === 'asc' ? 'desc' : 'asc',
                      })
                    }
                  >
                    {column.title}
                    <span aria-hidden="true">
                      {sort === column.key ? (order === 'asc' ? ' ▲' : ' ▼') : ''}
                    </span>
                  </button>
                </th>
              ))}
              <th scope="col">Status</th>
              <th scope="col">Labels</th>
            </tr>
          </thead>
          <tbody>
            {(data?.devices ?? []).map((device) => (
              <tr key={device.id}>
                <td>
                  <a href={`#/devices/${encodeURIComponent(device.id)}`}>{device.name}</a>
                </td>
                <td className="mono">{device.id}</td>
                <td>{ago(device.lastSeenAt)}</td>
                <td>{new Date(device.enrolledAt).toISOString().slice(0, 10)}</td>
                <td>
                  <span className={`status ${device.status}`}>{device.status}</span>
                </td>
                <td className="labels">{labelsText(device.labels)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <nav className="pager" aria-label="Pages">
        <button
          type="button"
          disabled={cursors.length === 0}
          onClick={() => setCursors(cursors.slice(0, -1))}
        >
          Previous
        </button>
        <span>Page {page}</span>
        <button
          type="button"
          disabled={data?.nextCursor === null || data?.nextCursor === undefined}
          onClick={() => data?.nextCursor && setCursors([...cursors, data.nextCursor])}
        >
          Next
        </button>
      </nav>
    </>
  );
}
