import { type KeyObject, verify } from 'node:crypto';
import {
  type Clock,
  canonicalJson,
  compareArtifactVersions,
  DEFAULT_POLICY_SETTINGS,
  type DeviceUpdatesView,
  EdgewardError,
  type PatchSlaBreachView,
  type PatchSlaView,
  type PolicySettings,
  type RunningVersionReport,
} from '@edgeward/core';
import type { Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { RolloutService } from './rollout.service.ts';

/**
 * What devices say they run (signed with their own key after every start), and the patch SLA computed
 * from it: per device and artifact name, the time from a release to its installation, against the policy's
 * SLA for the release's severity.
 */
export class DeviceVersionService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #rollouts: RolloutService;
  readonly #settings: () => Promise<PolicySettings | undefined>;
  readonly #logger: Logger;

  constructor(deps: {
    store: Store;
    clock: Clock;
    rollouts: RolloutService;
    /** The settings of the policy in force (patch SLAs); defaults when none is applied. */
    settings: () => Promise<PolicySettings | undefined>;
    logger: Logger;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#rollouts = deps.rollouts;
    this.#settings = deps.settings;
    this.#logger = deps.logger;
  }

  /**
   * Checks the report's signature against the public key of the certificate the device connected with,
   * stores the running version, and corrects the rollout's view when the device fell back.
   */
  async reportRunning(
    deviceId: string,
    report: RunningVersionReport,
    devicePublicKey: KeyObject,
  ): Promise<{ accepted: boolean }> {
    const { payload } = report;
    const signed = verify(
      'sha256',
      Buffer.from(canonicalJson(payload)),
      devicePublicKey,
      Buffer.from(report.signature, 'base64'),
    );
    if (!signed || payload.deviceId !== deviceId) {
      throw new EdgewardError(
        'EW_UPDATE_REPORT_SIGNATURE_INVALID',
        `the running-version report of ${deviceId} is not signed by its certificate's key or names another device`,
      );
    }
    await this.#store.artifacts.reportRunning({
      deviceId,
      name: payload.name,
      version: payload.version,
      fellBackFrom: payload.fellBackFrom,
      reportedAt: this.#clock.now(),
    });
    if (payload.fellBackFrom !== null) {
      await this.#rollouts.deviceFellBack(
        deviceId,
        payload.name,
        payload.fellBackFrom,
        `the device runs ${payload.version ?? 'its previous version'}: it fell back from ${payload.fellBackFrom}`,
      );
    }
    this.#logger.debug(
      { deviceId, name: payload.name, version: payload.version },
      'running version reported',
    );
    return { accepted: true };
  }

  /**
   * Devices in breach of the patch SLA: for each artifact name a device runs, every release newer than
   * what it runs whose SLA (by severity) has passed. One line per device and name: the oldest such release.
   */
  async slaBreaches(): Promise<PatchSlaView> {
    const now = this.#clock.now();
    const sla = (await this.#settings())?.patchSlaMs ?? DEFAULT_POLICY_SETTINGS.patchSlaMs;
    const artifacts = await this.#store.artifacts.list();
    const breaches: PatchSlaBreachView[] = [];
    for (const name of new Set(artifacts.map((artifact) => artifact.name))) {
      const releases = artifacts
        .filter((artifact) => artifact.name === name)
        .sort((a, b) => a.releasedAt - b.releasedAt);
      for (const running of await this.#store.artifacts.runningOf(name)) {
        const overdue = releases.find((release) => {
          const slaMs = sla[release.severity];
          const newer =
            running.version === null || compareArtifactVersions(release.version, running.version) > 0;
          return newer && slaMs !== undefined && release.releasedAt + slaMs <= now;
        });
        if (overdue === undefined) continue;
        const slaMs = sla[overdue.severity] ?? 0;
        breaches.push({
          deviceId: running.deviceId,
          name,
          version: overdue.version,
          severity: overdue.severity,
          releasedAt: overdue.releasedAt,
          slaMs,
          dueAt: overdue.releasedAt + slaMs,
          running: running.version,
        });
      }
    }
    breaches.sort((a, b) => a.dueAt - b.dueAt || a.deviceId.localeCompare(b.deviceId));
    return { breaches };
  }

  /**
   * One device's updates: the versions it reports running, its rows in the latest 50 rollouts and its
   * patch SLA breaches. An unknown device has none of them.
   */
  async deviceUpdates(deviceId: string): Promise<DeviceUpdatesView> {
    const names = new Set((await this.#store.artifacts.list()).map((artifact) => artifact.name));
    const running: DeviceUpdatesView['running'][number][] = [];
    for (const name of names) {
      const record = await this.#store.artifacts.running(deviceId, name);
      if (record === undefined) continue;
      running.push({
        name,
        version: record.version,
        fellBackFrom: record.fellBackFrom,
        installedAt: record.installedAt,
        reportedAt: record.reportedAt,
      });
    }
    const rollouts: DeviceUpdatesView['rollouts'][number][] = [];
    for (const rollout of await this.#store.rollouts.list(50)) {
      const row = await this.#store.rollouts.device(rollout.id, deviceId);
      if (row === undefined) continue;
      rollouts.push({
        rolloutId: rollout.id,
        name: rollout.spec.artifact.name,
        version: rollout.spec.artifact.version,
        rolloutState: rollout.state,
        phase: row.phase,
        state: row.state,
        detail: row.detail,
        finishedAt: row.finishedAt,
        updatedAt: row.updatedAt,
      });
    }
    const { breaches } = await this.slaBreaches();
    return {
      deviceId,
      running,
      rollouts,
      slaBreaches: breaches.filter((breach) => breach.deviceId === deviceId),
    };
  }
}
