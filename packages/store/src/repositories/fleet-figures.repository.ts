import type { SqlExecutor } from '../sql/executor.ts';
import type { AttentionDeviceRecord, FleetFigures, FleetFiguresRepository } from '../store.ts';

/** A device is offline after this many silent reporting intervals (as in the device list). */
const silentIntervalsOffline = 3;

interface CountRow {
  key: string;
  count: number | string;
}

/**
 * The fleet's figures for the dashboard's overview, each one grouped query over the tables that hold
 * them, so the page costs a handful of index scans whatever the fleet's size.
 */
export class SqlFleetFiguresRepository implements FleetFiguresRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async overview(now: number, attentionLimit: number): Promise<FleetFigures> {
    const online = `(d.last_seen_at IS NOT NULL AND d.last_seen_at >= $1 - ${silentIntervalsOffline} * d.report_interval_ms)`;
    const [status] = await this.#db.query<{
      total: number | string | null;
      online: number | string | null;
      revoked: number | string | null;
    }>(
      `SELECT
         SUM(CASE WHEN d.revoked_at IS NULL THEN 1 ELSE 0 END) AS total,
         SUM(CASE WHEN d.revoked_at IS NULL AND ${online} THEN 1 ELSE 0 END) AS online,
         SUM(CASE WHEN d.revoked_at IS NOT NULL THEN 1 ELSE 0 END) AS revoked
       FROM devices d`,
      [now],
    );
    const bySegment = await this.#db.query<CountRow>(
      `SELECT COALESCE(c.segment, 'unreported') AS key, COUNT(*) AS count
       FROM devices d LEFT JOIN compliance_state c ON c.device_id = d.id
       WHERE d.revoked_at IS NULL GROUP BY COALESCE(c.segment, 'unreported') ORDER BY key`,
    );
    const bySite = await this.#db.query<CountRow>(
      `SELECT COALESCE(l.value, '(none)') AS key, COUNT(*) AS count
       FROM devices d LEFT JOIN device_labels l ON l.device_id = d.id AND l.key = 'site'
       WHERE d.revoked_at IS NULL GROUP BY COALESCE(l.value, '(none)') ORDER BY key`,
    );
    const alerts = await this.#db.query<CountRow>(
      `SELECT tier AS key, COUNT(*) AS count FROM alerts WHERE state <> 'resolved' GROUP BY tier`,
    );
    // One row per device that needs a look, with a flag per reason; the list and the counts share it.
    const attentionSql = `
      SELECT d.id, d.name, d.last_seen_at,
        CASE WHEN ${online} THEN 0 ELSE 1 END AS offline,
        CASE WHEN EXISTS (SELECT 1 FROM compliance_results r WHERE r.device_id = d.id AND r.status = 'fail')
          THEN 1 ELSE 0 END AS drifted,
        CASE WHEN c.stale = 1 THEN 1 ELSE 0 END AS stale,
        CASE WHEN i.desired = 'isolated' THEN 1 ELSE 0 END AS isolated
      FROM devices d
      LEFT JOIN compliance_state c ON c.device_id = d.id
      LEFT JOIN device_isolation i ON i.device_id = d.id
      WHERE d.revoked_at IS NULL`;
    const [counts] = await this.#db.query<
      Record<'offline' | 'drifted' | 'stale' | 'isolated', number | string | null>
    >(
      `SELECT SUM(offline) AS offline, SUM(drifted) AS drifted, SUM(stale) AS stale, SUM(isolated) AS isolated
       FROM (${attentionSql}) a`,
      [now],
    );
    const rows = await this.#db.query<{
      id: string;
      name: string;
      last_seen_at: number | string | null;
      offline: number | string;
      drifted: number | string;
      stale: number | string;
      isolated: number | string;
    }>(
      `SELECT * FROM (${attentionSql}) a
       WHERE offline + drifted + stale + isolated > 0
       ORDER BY isolated + drifted + stale + offline DESC, isolated DESC, id
       LIMIT $2`,
      [now, attentionLimit],
    );
    const total = Number(status?.total ?? 0);
    const onlineCount = Number(status?.online ?? 0);
    return {
      total,
      online: onlineCount,
      offline: total - onlineCount,
      revoked: Number(status?.revoked ?? 0),
      bySegment: bySegment.map((row) => ({ segment: row.key, devices: Number(row.count) })),
      bySite: bySite.map((row) => ({ site: row.key, devices: Number(row.count) })),
      openAlertsByTier: alerts.map((row) => ({ tier: row.key, count: Number(row.count) })),
      attention: {
        offline: Number(counts?.offline ?? 0),
        drifted: Number(counts?.drifted ?? 0),
        stalePolicy: Number(counts?.stale ?? 0),
        isolated: Number(counts?.isolated ?? 0),
        devices: rows.map(
          (row): AttentionDeviceRecord => ({
            id: row.id,
            name: row.name,
            lastSeenAt: row.last_seen_at === null ? null : Number(row.last_seen_at),
            offline: Number(row.offline) === 1,
            drifted: Number(row.drifted) === 1,
            stalePolicy: Number(row.stale) === 1,
            isolated: Number(row.isolated) === 1,
          }),
        ),
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
      count: Number(row.count),
    }));
  }
}
