import type { SqlExecutor } from '../sql/executor.ts';
import type { AttentionDeviceRecord, FleetFigures, FleetFiguresRepository } from '../store.ts';

/** A device is offline after this many silent reporting intervals (as in the device list). */
const silentIntervalsOffline = 3;

interface CountRow {
  key: string;
  count: number | string;
}

const count = (value: number | string | null | undefined): number => Number(value ?? 0);

/**
 * The fleet's figures for the dashboard's overview. At 100,000 devices one scan of the devices table is
 * unavoidable (online depends on each device's own interval); everything else reads an index that holds
 * only what is counted (labels by key, segments, failing checks, stale bundles, revoked devices), and
 * revoked devices are subtracted through their own small index rather than joined to every row.
 */
export class SqlFleetFiguresRepository implements FleetFiguresRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async overview(now: number, attentionLimit: number): Promise<FleetFigures> {
    const online = `(d.last_seen_at IS NOT NULL AND d.last_seen_at >= $1 - ${silentIntervalsOffline} * d.report_interval_ms)`;
    const [status] = await this.#db.query<Record<'total' | 'online' | 'revoked', number | string | null>>(
      `SELECT
         SUM(CASE WHEN d.revoked_at IS NULL THEN 1 ELSE 0 END) AS total,
         SUM(CASE WHEN d.revoked_at IS NULL AND ${online} THEN 1 ELSE 0 END) AS online,
         SUM(CASE WHEN d.revoked_at IS NOT NULL THEN 1 ELSE 0 END) AS revoked
       FROM devices d`,
      [now],
    );
    const total = count(status?.total);
    const onlineCount = count(status?.online);
    const revokedOnly = 'd.revoked_at IS NOT NULL';
    const bySegment = subtract(
      await this.#db.query<CountRow>(
        'SELECT segment AS key, COUNT(*) AS count FROM compliance_state GROUP BY segment',
      ),
      await this.#db.query<CountRow>(
        `SELECT c.segment AS key, COUNT(*) AS count FROM devices d JOIN compliance_state c ON c.device_id = d.id
         WHERE ${revokedOnly} GROUP BY c.segment`,
      ),
    );
    const bySite = subtract(
      await this.#db.query<CountRow>(
        "SELECT value AS key, COUNT(*) AS count FROM device_labels WHERE key = 'site' GROUP BY value",
      ),
      await this.#db.query<CountRow>(
        `SELECT l.value AS key, COUNT(*) AS count FROM devices d JOIN device_labels l ON l.device_id = d.id
         WHERE ${revokedOnly} AND l.key = 'site' GROUP BY l.value`,
      ),
    );
    const segmentsReported = bySegment.reduce((sum, entry) => sum + entry.count, 0);
    const sitesLabelled = bySite.reduce((sum, entry) => sum + entry.count, 0);
    const alerts = await this.#db.query<CountRow>(
      `SELECT tier AS key, COUNT(*) AS count FROM alerts WHERE state <> 'resolved' GROUP BY tier`,
    );

    // Each reason is a set read through its own index; active devices only.
    const reasons = {
      drifted: `SELECT DISTINCT r.device_id AS id FROM compliance_results r JOIN devices d ON d.id = r.device_id
                WHERE r.status = 'fail' AND d.revoked_at IS NULL`,
      stale: `SELECT s.device_id AS id FROM compliance_state s JOIN devices d ON d.id = s.device_id
              WHERE s.stale = 1 AND d.revoked_at IS NULL`,
      isolated: `SELECT i.device_id AS id FROM device_isolation i JOIN devices d ON d.id = i.device_id
                 WHERE i.desired = 'isolated' AND d.revoked_at IS NULL`,
    };
    const counted = async (sql: string) =>
      count(
        (await this.#db.query<{ count: number | string }>(`SELECT COUNT(*) AS count FROM (${sql}) x`))[0]
          ?.count,
      );
    const [drifted, stale, isolated] = [
      await counted(reasons.drifted),
      await counted(reasons.stale),
      await counted(reasons.isolated),
    ];
    // Up to the limit from each reason, then the flags of those few, ordered by how many reasons they have.
    const ids = new Set<string>();
    for (const sql of [
      `${reasons.isolated} ORDER BY id LIMIT $1`,
      `${reasons.drifted} ORDER BY id LIMIT $1`,
      `${reasons.stale} ORDER BY id LIMIT $1`,
    ]) {
      for (const row of await this.#db.query<{ id: string }>(sql, [attentionLimit])) ids.add(row.id);
    }
    for (const row of await this.#db.query<{ id: string }>(
      `SELECT d.id FROM devices d WHERE d.revoked_at IS NULL AND NOT ${online} ORDER BY d.id LIMIT $2`,
      [now, attentionLimit],
    )) {
      ids.add(row.id);
    }
    const devices = ids.size === 0 ? [] : await this.#flags([...ids], now);
    devices.sort(
      (a, b) =>
        reasonCount(b) - reasonCount(a) || Number(b.isolated) - Number(a.isolated) || (a.id < b.id ? -1 : 1),
    );
    return {
      total,
      online: onlineCount,
      offline: total - onlineCount,
      revoked: count(status?.revoked),
      bySegment: [
        ...bySegment.map((entry) => ({ segment: entry.key, devices: entry.count })),
        ...(total > segmentsReported ? [{ segment: 'unreported', devices: total - segmentsReported }] : []),
      ].sort((a, b) => (a.segment < b.segment ? -1 : 1)),
      bySite: [
        ...(total > sitesLabelled ? [{ site: '(none)', devices: total - sitesLabelled }] : []),
        ...bySite.map((entry) => ({ site: entry.key, devices: entry.count })),
      ].sort((a, b) => (a.site < b.site ? -1 : 1)),
      openAlertsByTier: alerts.map((row) => ({ tier: row.key, count: count(row.count) })),
      attention: {
        offline: total - onlineCount,
        drifted,
        stalePolicy: stale,
        isolated,
        devices: devices.slice(0, attentionLimit),
      },
    };
  }

  async alertVolume(
    from: number,
    bucketMs: number,
  ): Promise<{ bucket: number; tier: string; count: number }[]> {
    const rows = await this.#db.query<{ bucket: number | string; tier: string; count: number | string }>(
      `SELECT (h.at - $1) / $2 AS bucket, a.tier AS tier, COUNT(*) AS count
       FROM alert_history h JOIN alerts a ON a.id = h.alert_id
       WHERE h.at >= $1 AND h.kind IN ('created', 'reopened')
       GROUP BY (h.at - $1) / $2, a.tier`,
      [from, bucketMs],
    );
    return rows.map((row) => ({
      bucket: Math.floor(Number(row.bucket)),
      tier: row.tier,
      count: count(row.count),
    }));
  }

  async #flags(ids: readonly string[], now: number): Promise<AttentionDeviceRecord[]> {
    const placeholders = ids.map((_, index) => `$${index + 2}`).join(', ');
    const rows = await this.#db.query<{
      id: string;
      name: string;
      last_seen_at: number | string | null;
      offline: number | string;
      drifted: number | string;
      stale: number | string;
      isolated: number | string;
    }>(
      `SELECT d.id, d.name, d.last_seen_at,
         CASE WHEN d.last_seen_at IS NOT NULL AND d.last_seen_at >= $1 - ${silentIntervalsOffline} * d.report_interval_ms
           THEN 0 ELSE 1 END AS offline,
         CASE WHEN EXISTS (SELECT 1 FROM compliance_results r WHERE r.device_id = d.id AND r.status = 'fail')
           THEN 1 ELSE 0 END AS drifted,
         CASE WHEN EXISTS (SELECT 1 FROM compliance_state s WHERE s.device_id = d.id AND s.stale = 1)
           THEN 1 ELSE 0 END AS stale,
         CASE WHEN EXISTS (SELECT 1 FROM device_isolation i WHERE i.device_id = d.id AND i.desired = 'isolated')
           THEN 1 ELSE 0 END AS isolated
       FROM devices d WHERE d.id IN (${placeholders})`,
      [now, ...ids],
    );
    return rows.map((row) => ({
      id: row.id,
      name: row.name,
      lastSeenAt: row.last_seen_at === null ? null : Number(row.last_seen_at),
      offline: Number(row.offline) === 1,
      drifted: Number(row.drifted) === 1,
      stalePolicy: Number(row.stale) === 1,
      isolated: Number(row.isolated) === 1,
    }));
  }
}

function reasonCount(device: AttentionDeviceRecord): number {
  return (
    Number(device.offline) + Number(device.drifted) + Number(device.stalePolicy) + Number(device.isolated)
  );
}

/** Counts per key of `all` less those of `removed`; keys left at zero are dropped. */
function subtract(all: readonly CountRow[], removed: readonly CountRow[]): { key: string; count: number }[] {
  const less = new Map(removed.map((row) => [row.key, count(row.count)]));
  return all
    .map((row) => ({ key: row.key, count: count(row.count) - (less.get(row.key) ?? 0) }))
    .filter((row) => row.count > 0);
}
