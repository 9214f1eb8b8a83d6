import type { CheckResult, CheckStatus } from '@edgeward/core';
import type { Dialect, SqlExecutor } from '../sql/executor.ts';
import type {
  ComplianceDeviceState,
  ComplianceReportInput,
  ComplianceRepository,
  ComplianceResultRecord,
  ComplianceSaveResult,
  ComplianceStatusCounts,
  ComplianceSummary,
  ComplianceTrendDay,
} from '../store.ts';
import { fromJsonColumn, limitOf, Params, toJsonColumn } from './sql-helpers.ts';

interface StateRow {
  device_id: string;
  bundle_version: number;
  segment: string;
  evaluated_at: number;
  stale: number;
  received_at: number;
}

interface ResultRow {
  check_id: string;
  segment: string;
  status: CheckStatus;
  detail: string;
  evaluated_at: number;
  bundle_version: number;
  remediation: string | null;
  status_since: number;
}

interface CountRow {
  key: string;
  status: CheckStatus;
  n: number;
}

const DAY_MS = 86_400_000;
const stateColumns = 'device_id, bundle_version, segment, evaluated_at, stale, received_at';
const resultColumns =
  'check_id, segment, status, detail, evaluated_at, bundle_version, remediation, status_since';
/** Revoked devices leave the fleet's figures; their rows stay for the record. */
const activeDevices = 'device_id NOT IN (SELECT id FROM devices WHERE revoked_at IS NOT NULL)';
/** Rows per multi-row INSERT: 10 values a row stays far below either engine's limit on bound values. */
const maxRowsPerInsert: Record<Dialect, number> = { sqlite: 50, postgres: 500 };

type HistoryStatus = CheckStatus | 'removed';

function toState(row: StateRow): ComplianceDeviceState {
  return {
    deviceId: row.device_id,
    bundleVersion: Number(row.bundle_version),
    segment: row.segment,
    evaluatedAt: Number(row.evaluated_at),
    stale: Number(row.stale) === 1,
    receivedAt: Number(row.received_at),
  };
}

function toResult(row: ResultRow): ComplianceResultRecord {
  const remediation = fromJsonColumn(row.remediation) as CheckResult['remediation'];
  return {
    checkId: row.check_id,
    status: row.status,
    detail: row.detail,
    evaluatedAt: Number(row.evaluated_at),
    ...(remediation === undefined ? {} : { remediation }),
    segment: row.segment,
    bundleVersion: Number(row.bundle_version),
    statusSince: Number(row.status_since),
  };
}

function emptyCounts(): { -readonly [Key in keyof ComplianceStatusCounts]: number } {
  return { pass: 0, fail: 0, error: 0, notApplicable: 0 };
}

const countKey = {
  pass: 'pass',
  fail: 'fail',
  error: 'error',
  'not-applicable': 'notApplicable',
} as const satisfies Record<CheckStatus, keyof ComplianceStatusCounts>;

/** Counts per key from (key, status, n) rows, ascending by key. */
function countsByKey(rows: readonly CountRow[]): Map<string, ComplianceStatusCounts> {
  const byKey = new Map<string, ReturnType<typeof emptyCounts>>();
  for (const row of rows) {
    let counts = byKey.get(row.key);
    if (counts === undefined) {
      counts = emptyCounts();
      byKey.set(row.key, counts);
    }
    counts[countKey[row.status]] += Number(row.n);
  }
  return new Map([...byKey].sort(([a], [b]) => compareText(a, b)));
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The last result per check id, in the order first seen. */
function lastPerCheck(results: readonly CheckResult[]): CheckResult[] {
  const byCheck = new Map<string, CheckResult>();
  for (const result of results) byCheck.set(result.checkId, result);
  return [...byCheck.values()];
}

export class SqlComplianceRepository implements ComplianceRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  saveReport(deviceId: string, report: ComplianceReportInput): Promise<ComplianceSaveResult> {
    return this.#db.transaction(async (tx) => {
      const held = await this.#lockState(tx, deviceId, report);
      if (held !== 'inserted') {
        if (
          report.bundleVersion < held.bundleVersion ||
          (report.bundleVersion === held.bundleVersion && report.evaluatedAt < held.evaluatedAt)
        ) {
          return { applied: false, stored: 0 };
        }
        await tx.run(
          `UPDATE compliance_state SET bundle_version = $2, segment = $3, evaluated_at = $4, stale = $5, received_at = $6
           WHERE device_id = $1`,
          [
            deviceId,
            report.bundleVersion,
            report.segment,
            report.evaluatedAt,
            report.stale ? 1 : 0,
            report.receivedAt,
          ],
        );
      }
      const previous = new Map(
        (
          await tx.query<{ check_id: string; status: CheckStatus; status_since: number }>(
            'SELECT check_id, status, status_since FROM compliance_results WHERE device_id = $1',
            [deviceId],
          )
        ).map((row) => [row.check_id, { status: row.status, since: Number(row.status_since) }]),
      );
      const results = lastPerCheck(report.results);
      const changes: { checkId: string; status: HistoryStatus; at: number }[] = [];
      const rows = results.map((result) => {
        const before = previous.get(result.checkId);
        previous.delete(result.checkId);
        const kept = before !== undefined && before.status === result.status;
        if (!kept) changes.push({ checkId: result.checkId, status: result.status, at: result.evaluatedAt });
        return { result, statusSince: kept ? before.since : result.evaluatedAt };
      });
      for (const checkId of previous.keys()) {
        changes.push({ checkId, status: 'removed', at: report.evaluatedAt });
      }
      await tx.run('DELETE FROM compliance_results WHERE device_id = $1', [deviceId]);
      const perInsert = maxRowsPerInsert[tx.dialect];
      for (let start = 0; start < rows.length; start += perInsert) {
        const params = new Params();
        const device = params.add(deviceId);
        const segment = params.add(report.segment);
        const version = params.add(report.bundleVersion);
        const values = rows.slice(start, start + perInsert).map(({ result, statusSince }) => {
          const row = [
            device,
            params.add(result.checkId),
            segment,
            params.add(result.status),
            params.add(result.detail),
            params.add(result.evaluatedAt),
            version,
            params.add(toJsonColumn(result.remediation)),
            params.add(statusSince),
          ];
          return `(${row.join(', ')})`;
        });
        await tx.run(
          `INSERT INTO compliance_results (device_id, ${resultColumns}) VALUES ${values.join(', ')}`,
          params.values,
        );
      }
      for (let start = 0; start < changes.length; start += perInsert) {
        const params = new Params();
        const device = params.add(deviceId);
        const values = changes
          .slice(start, start + perInsert)
          .map(
            (change) =>
              `(${device}, ${params.add(change.checkId)}, ${params.add(change.status)}, ${params.add(change.at)})`,
          );
        await tx.run(
          `INSERT INTO compliance_history (device_id, check_id, status, at) VALUES ${values.join(', ')}`,
          params.values,
        );
      }
      return { applied: true, stored: rows.length };
    });
  }

  async deviceState(deviceId: string): Promise<ComplianceDeviceState | undefined> {
    const [row] = await this.#db.query<StateRow>(
      `SELECT ${stateColumns} FROM compliance_state WHERE device_id = $1`,
      [deviceId],
    );
    return row === undefined ? undefined : toState(row);
  }

  async deviceResults(deviceId: string): Promise<ComplianceResultRecord[]> {
    const rows = await this.#db.query<ResultRow>(
      `SELECT ${resultColumns} FROM compliance_results WHERE device_id = $1 ORDER BY check_id`,
      [deviceId],
    );
    return rows.map(toResult);
  }

  async summary(): Promise<ComplianceSummary> {
    const [devices, bySegment, byCheck] = await Promise.all([
      this.#db.query<{ segment: string; devices: number; stale: number | null }>(
        `SELECT segment, COUNT(*) AS devices, SUM(stale) AS stale FROM compliance_state
         WHERE ${activeDevices} GROUP BY segment`,
      ),
      this.#db.query<CountRow>(
        `SELECT segment AS key, status, COUNT(*) AS n FROM compliance_results
         WHERE ${activeDevices} GROUP BY segment, status`,
      ),
      this.#db.query<CountRow>(
        `SELECT check_id AS key, status, COUNT(*) AS n FROM compliance_results
         WHERE ${activeDevices} GROUP BY check_id, status`,
      ),
    ]);
    const devicesBySegment = new Map(devices.map((row) => [row.segment, Number(row.devices)]));
    const segmentCounts = countsByKey(bySegment);
    // A segment whose devices reported no results still counts its devices.
    for (const segment of devicesBySegment.keys()) {
      if (!segmentCounts.has(segment)) segmentCounts.set(segment, emptyCounts());
    }
    return {
      devices: devices.reduce((total, row) => total + Number(row.devices), 0),
      staleDevices: devices.reduce((total, row) => total + Number(row.stale ?? 0), 0),
      bySegment: [...segmentCounts]
        .sort(([a], [b]) => compareText(a, b))
        .map(([segment, counts]) => ({ segment, devices: devicesBySegment.get(segment) ?? 0, ...counts })),
      byCheck: [...countsByKey(byCheck)].map(([checkId, counts]) => ({ checkId, ...counts })),
    };
  }

  async staleDevices(limit?: number): Promise<ComplianceDeviceState[]> {
    const rows = await this.#db.query<StateRow>(
      `SELECT ${stateColumns} FROM compliance_state WHERE stale = 1 AND ${activeDevices}
       ORDER BY evaluated_at, device_id LIMIT $1`,
      [limitOf(limit)],
    );
    return rows.map(toState);
  }

  async failingChecks(): Promise<Map<string, string[]>> {
    const rows = await this.#db.query<{ device_id: string; check_id: string }>(
      `SELECT device_id, check_id FROM compliance_results WHERE status = 'fail' AND ${activeDevices}`,
    );
    rows.sort((x, y) => compareText(x.device_id, y.device_id) || compareText(x.check_id, y.check_id));
    const byDevice = new Map<string, string[]>();
    for (const row of rows) {
      const checks = byDevice.get(row.device_id);
      if (checks === undefined) byDevice.set(row.device_id, [row.check_id]);
      else checks.push(row.check_id);
    }
    return byDevice;
  }

  async trend(from: number, to: number, dayMs = DAY_MS): Promise<ComplianceTrendDay[]> {
    const days = Math.max(0, Math.ceil((to - from) / dayMs));
    if (days === 0) return [];
    // Each status change adds one to its status and takes one from the status it replaced, so summing
    // the changes up to a moment gives the statuses in effect then: one pass over the history, grouped by
    // day (-1 for everything before `from`), however many devices and days.
    const rows = await this.#db.query<{
      day: number;
      status: HistoryStatus;
      previous: HistoryStatus | null;
      n: number;
    }>(
      `WITH changes AS (
         SELECT at, status,
                LAG(status) OVER (PARTITION BY device_id, check_id ORDER BY at, seq) AS previous
         FROM compliance_history
         WHERE at < CAST($2 AS BIGINT) AND ${activeDevices}
       ),
       dated AS (
         SELECT CASE WHEN at < CAST($1 AS BIGINT) THEN -1
                     ELSE CAST((at - CAST($1 AS BIGINT)) / CAST($3 AS BIGINT) AS BIGINT) END AS day,
                status, previous
         FROM changes
       )
       SELECT day, status, previous, COUNT(*) AS n FROM dated GROUP BY day, status, previous`,
      [from, to, dayMs],
    );
    const deltas = new Map<number, Map<HistoryStatus, number>>();
    const add = (day: number, status: HistoryStatus, n: number) => {
      let perStatus = deltas.get(day);
      if (perStatus === undefined) {
        perStatus = new Map();
        deltas.set(day, perStatus);
      }
      perStatus.set(status, (perStatus.get(status) ?? 0) + n);
    };
    for (const row of rows) {
      const day = Number(row.day);
      add(day, row.status, Number(row.n));
      if (row.previous !== null) add(day, row.previous, -Number(row.n));
    }
    const current = new Map<HistoryStatus, number>();
    const apply = (day: number) => {
      for (const [status, n] of deltas.get(day) ?? []) current.set(status, (current.get(status) ?? 0) + n);
    };
    apply(-1);
    const trend: ComplianceTrendDay[] = [];
    for (let day = 0; day < days; day++) {
      apply(day);
      trend.push({
        dayStart: from + day * dayMs,
        pass: current.get('pass') ?? 0,
        fail: current.get('fail') ?? 0,
        error: current.get('error') ?? 0,
        notApplicable: current.get('not-applicable') ?? 0,
      });
    }
    return trend;
  }

  /**
   * The device's state row, locked until the transaction ends, or 'inserted' when this report created it.
   * On PostgreSQL `FOR UPDATE` makes a concurrent report of the same device wait and then read what this
   * one commits; on SQLite the transaction already holds the database's write lock.
   */
  async #lockState(
    tx: SqlExecutor,
    deviceId: string,
    report: ComplianceReportInput,
  ): Promise<ComplianceDeviceState | 'inserted'> {
    const select = `SELECT ${stateColumns} FROM compliance_state WHERE device_id = $1${
      tx.dialect === 'postgres' ? ' FOR UPDATE' : ''
    }`;
    const [existing] = await tx.query<StateRow>(select, [deviceId]);
    if (existing !== undefined) return toState(existing);
    // Two first reports racing both miss the row: one inserts it, the other waits for that commit here,
    // then locks and reads the row like any later report.
    const inserted = await tx.run(
      `INSERT INTO compliance_state (${stateColumns}) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (device_id) DO NOTHING`,
      [
        deviceId,
        report.bundleVersion,
        report.segment,
        report.evaluatedAt,
        report.stale ? 1 : 0,
        report.receivedAt,
      ],
    );
    if (inserted === 1) return 'inserted';
    const [row] = await tx.query<StateRow>(select, [deviceId]);
    // The row exists: the insert above conflicted with it.
    return toState(row!);
  }
}
