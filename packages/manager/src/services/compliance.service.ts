import {
  type Clock,
  type CompiledPolicy,
  type ComplianceCountsView,
  type ComplianceFleetView,
  type ComplianceReply,
  type ComplianceReport,
  type DeviceComplianceView,
  EdgewardError,
  PROTOCOL_VERSION,
} from '@edgeward/core';
import type { ComplianceStatusCounts, Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { DeviceService } from './device.service.ts';
import type { PolicyService } from './policy.service.ts';

const DAY_MS = 86_400_000;
/** Stale devices named in the fleet view. */
const STALE_DEVICES_SHOWN = 100;

/**
 * Compliance: each device's latest result per check, as its agent reports them under a bundle version,
 * and the fleet's figures over them — per segment, per check, stale devices, and the daily trend.
 * Percent is passing checks over evaluated ones (pass, fail, error); not-applicable checks do not count.
 */
export class ComplianceService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #devices: Pick<DeviceService, 'requireActive'>;
  readonly #policies: Pick<PolicyService, 'policyOf'>;
  readonly #logger: Logger;

  constructor(deps: {
    store: Store;
    clock: Clock;
    devices: Pick<DeviceService, 'requireActive'>;
    policies: Pick<PolicyService, 'policyOf'>;
    logger: Logger;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#devices = deps.devices;
    this.#policies = deps.policies;
    this.#logger = deps.logger;
  }

  /**
   * Replaces the device's results with the report's. A report for an older bundle version than the one
   * stored (or evaluated before it) arrives late and is ignored: `stored` is 0. A version this manager
   * never issued is refused.
   */
  async ingest(deviceId: string, report: ComplianceReport): Promise<ComplianceReply> {
    const now = this.#clock.now();
    const saved = await this.#store.transaction(async (store) => {
      await this.#devices.requireActive(deviceId, store);
      if (!(await store.policies.has(report.bundleVersion))) {
        throw new EdgewardError(
          'EW_REQUEST_INVALID',
          `compliance report is for policy version ${report.bundleVersion}, which this manager never issued; report under the bundle fetched from GET /v1/policy`,
        );
      }
      const outcome = await store.compliance.saveReport(deviceId, {
        bundleVersion: report.bundleVersion,
        segment: report.segment,
        evaluatedAt: report.evaluatedAt,
        stale: report.stale,
        receivedAt: now,
        results: report.results,
      });
      await store.devices.update(deviceId, { lastSeenAt: now });
      return outcome;
    });
    if (!saved.applied) {
      this.#logger.debug(
        { deviceId, bundleVersion: report.bundleVersion, evaluatedAt: report.evaluatedAt },
        'compliance report older than the one held: ignored',
      );
    }
    return { v: PROTOCOL_VERSION, stored: saved.stored };
  }

  /** The fleet's compliance, with a trend of `days` UTC days ending today. */
  async fleet(days: number): Promise<ComplianceFleetView> {
    const now = this.#clock.now();
    const todayStart = Math.floor(now / DAY_MS) * DAY_MS;
    const from = todayStart - (days - 1) * DAY_MS;
    const [summary, stale, trend, latest] = await Promise.all([
      this.#store.compliance.summary(),
      this.#store.compliance.staleDevices(STALE_DEVICES_SHOWN),
      this.#store.compliance.trend(from, now + 1),
      this.#store.policies.latest(),
    ]);
    const policy = latest === undefined ? undefined : await this.#policies.policyOf(latest.version);
    const checks = new Map(policy?.checks.map((check) => [check.id, check]));
    const overall = summary.bySegment.reduce(
      (total, segment) => ({
        pass: total.pass + segment.pass,
        fail: total.fail + segment.fail,
        error: total.error + segment.error,
        notApplicable: total.notApplicable + segment.notApplicable,
      }),
      { pass: 0, fail: 0, error: 0, notApplicable: 0 },
    );
    return {
      policyVersion: latest?.version ?? null,
      devicesReporting: summary.devices,
      overall: withPercent(overall),
      segments: summary.bySegment.map((segment) => ({
        segment: segment.segment,
        devices: segment.devices,
        ...withPercent(segment),
      })),
      checks: summary.byCheck.map((check) => {
        const compiled = checks.get(check.checkId);
        return {
          checkId: check.checkId,
          title: compiled?.title ?? null,
          severity: compiled?.severity ?? null,
          ...withPercent(check),
        };
      }),
      staleDevices: {
        count: summary.staleDevices,
        devices: stale.map((state) => ({
          deviceId: state.deviceId,
          bundleVersion: state.bundleVersion,
          evaluatedAt: state.evaluatedAt,
        })),
      },
      trend: trend.map((day) => ({
        day: new Date(day.dayStart).toISOString().slice(0, 10),
        dayStart: day.dayStart,
        ...withPercent(day),
      })),
    };
  }

  /** One device's latest results; a device that never reported has none (and null fields). */
  async device(deviceId: string): Promise<DeviceComplianceView> {
    if ((await this.#store.devices.findById(deviceId)) === undefined) {
      throw new EdgewardError(
        'EW_DEVICE_NOT_FOUND',
        `no device has id ${deviceId}; see \`edgeward devices list\``,
      );
    }
    const [state, results] = await Promise.all([
      this.#store.compliance.deviceState(deviceId),
      this.#store.compliance.deviceResults(deviceId),
    ]);
    const policy: CompiledPolicy | undefined =
      state === undefined ? undefined : await this.#policies.policyOf(state.bundleVersion);
    const checks = new Map(policy?.checks.map((check) => [check.id, check]));
    const counts = { pass: 0, fail: 0, error: 0, notApplicable: 0 };
    for (const result of results) {
      if (result.status === 'not-applicable') counts.notApplicable += 1;
      else counts[result.status] += 1;
    }
    return {
      deviceId,
      segment: state?.segment ?? null,
      bundleVersion: state?.bundleVersion ?? null,
      evaluatedAt: state?.evaluatedAt ?? null,
      receivedAt: state?.receivedAt ?? null,
      stale: state?.stale ?? false,
      counts: withPercent(counts),
      checks: results.map((result) => {
        const compiled = checks.get(result.checkId);
        return {
          checkId: result.checkId,
          title: compiled?.title ?? null,
          severity: compiled?.severity ?? null,
          status: result.status,
          detail: result.detail,
          evaluatedAt: result.evaluatedAt,
          statusSince: result.statusSince,
          remediation: result.remediation ?? null,
        };
      }),
    };
  }
}

/** Percent to one decimal; null when nothing was evaluated (only not-applicable checks, or none). */
function withPercent(counts: ComplianceStatusCounts): ComplianceCountsView {
  const evaluated = counts.pass + counts.fail + counts.error;
  return {
    pass: counts.pass,
    fail: counts.fail,
    error: counts.error,
    notApplicable: counts.notApplicable,
    percent: evaluated === 0 ? null : Math.round((counts.pass / evaluated) * 1000) / 10,
  };
}
