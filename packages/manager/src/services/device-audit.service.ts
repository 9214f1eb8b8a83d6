import {
  type AuditChainVerification,
  type AuditVerifier,
  certificateDerSha256,
  certificatePublicKey,
  checkDeviceAuditExtension,
  type DeviceAuditAnchorReply,
  type DeviceAuditChainView,
  type DeviceAuditUpload,
  type DeviceAuditVerifyView,
  deviceAuditVerifier,
  EdgewardError,
  PROTOCOL_VERSION,
  verifyDeviceChain,
} from '@edgeward/core';
import type { Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { DeviceService } from './device.service.ts';
import type { CustodyRecorder } from './evidence.service.ts';

/** Whose chain is anchored: the kinds of the manager's entries about it and the error of a rewrite. */
interface ChainKind {
  readonly actor: 'device' | 'site';
  readonly anchorKind: string;
  readonly divergedKind: string;
  readonly divergedCode: 'EW_DEVICE_AUDIT_DIVERGED' | 'EW_SITE_AUDIT_DIVERGED';
}

const DEVICE_CHAIN: ChainKind = {
  actor: 'device',
  anchorKind: 'device.audit_anchor',
  divergedKind: 'device.audit_diverged',
  divergedCode: 'EW_DEVICE_AUDIT_DIVERGED',
};

const SITE_CHAIN: ChainKind = {
  actor: 'site',
  anchorKind: 'site.audit_anchor',
  divergedKind: 'site.audit_diverged',
  divergedCode: 'EW_SITE_AUDIT_DIVERGED',
};

/**
 * Anchors each device's own audit chain (isolations, releases, remediations, rule responses, captures,
 * policy bundles taken or refused) in the manager's chain. The device uploads its new entries with a
 * checkpoint signed by its key; the manager checks that they extend what it holds, stores them, and
 * appends a `device.audit_anchor` entry naming the checkpoint. From then on neither side can rewrite
 * the device's history alone: the device's next upload would not link, and an edit on the manager
 * breaks the device's signature or its own chain.
 */
export class DeviceAuditService {
  readonly #store: Store;
  readonly #record: CustodyRecorder;
  readonly #devices: DeviceService;
  readonly #logger: Logger;

  constructor(deps: { store: Store; record: CustodyRecorder; devices: DeviceService; logger: Logger }) {
    this.#store = deps.store;
    this.#record = deps.record;
    this.#devices = deps.devices;
    this.#logger = deps.logger;
  }

  anchor(deviceId: string, upload: DeviceAuditUpload): Promise<DeviceAuditAnchorReply> {
    return this.#anchor(deviceId, upload, DEVICE_CHAIN);
  }

  /**
   * Anchors a site manager's own audit chain (the operator actions taken at the site, the site's own
   * record of enrollments, revocations, overlays, commands) the same way: the site signs a checkpoint over
   * the entries it sends with its site key (ECDSA P-256, the key of its site certificate), and the hub
   * appends a `site.audit_anchor` entry. A site that rewrote anchored history is refused
   * (`EW_SITE_AUDIT_DIVERGED`) and `site.audit_diverged` is recorded.
   */
  anchorSite(siteId: string, upload: DeviceAuditUpload): Promise<DeviceAuditAnchorReply> {
    return this.#anchor(siteId, upload, SITE_CHAIN);
  }

  async #anchor(
    deviceId: string,
    upload: DeviceAuditUpload,
    chain: ChainKind,
  ): Promise<DeviceAuditAnchorReply> {
    await this.#devices.requireActive(deviceId);
    const verifier = await this.#verifierOf(deviceId, upload.certificatePem, chain);
    const outcome = await this.#store.transaction(async (tx) => {
      // Two uploads of one device at once cannot both store a seq: (device, seq) is unique, and the later
      // one fails and is sent again by the agent.
      const held = await tx.deviceAudit.entries(deviceId);
      const hashes = new Map(held.map((entry) => [entry.seq, entry.hash]));
      const extension = checkDeviceAuditExtension(
        { latest: held.at(-1), hashAt: (seq) => hashes.get(seq) },
        upload,
        verifier,
      );
      if (!extension.ok) return extension;
      await tx.deviceAudit.append(deviceId, extension.fresh);
      const anchored = held.at(-1)?.seq ?? 0;
      if (extension.fresh.length > 0 || anchored === 0 || upload.checkpoint.seq > anchored) {
        const entry = await this.#record(tx, {
          kind: chain.anchorKind,
          actor: `${chain.actor}:${deviceId}`,
          subject: deviceId,
          details: { ...upload.checkpoint },
        });
        await tx.deviceAudit.addAnchor({
          ...upload.checkpoint,
          deviceId,
          certificatePem: upload.certificatePem,
          managerSeq: (entry as { seq: number }).seq,
        });
      }
      return extension;
    });
    if (!outcome.ok) {
      await this.#store.transaction((tx) =>
        this.#record(tx, {
          kind: chain.divergedKind,
          actor: 'system',
          subject: deviceId,
          details: { firstBadSeq: outcome.firstBadSeq, message: outcome.message },
        }),
      );
      this.#logger.warn(
        { [chain.actor]: deviceId, firstBadSeq: outcome.firstBadSeq },
        `${chain.actor} audit chain diverged`,
      );
      throw new EdgewardError(
        chain.divergedCode,
        `${chain.actor} ${deviceId}: ${outcome.message.replace('the device chain', `the ${chain.actor} chain`)} (first bad seq ${outcome.firstBadSeq})`,
        { details: { firstBadSeq: outcome.firstBadSeq } },
      );
    }
    return { v: PROTOCOL_VERSION, anchoredSeq: upload.checkpoint.seq };
  }

  async chain(deviceId: string): Promise<DeviceAuditChainView> {
    await this.#devices.show(deviceId);
    const [entries, anchors] = await Promise.all([
      this.#store.deviceAudit.entries(deviceId),
      this.#store.deviceAudit.anchors(deviceId),
    ]);
    return {
      deviceId,
      entries,
      anchors: anchors.map(({ deviceId: _device, ...anchor }) => anchor),
    };
  }

  /**
   * Checks the device chain as the manager holds it against its anchors (the device's signatures), and
   * each anchor against the manager's own chain entry that recorded it.
   */
  verify(deviceId: string): Promise<DeviceAuditVerifyView> {
    return this.#verify(deviceId, DEVICE_CHAIN);
  }

  /** Checks a site's chain as the hub holds it, as `verify` does a device's. */
  verifySite(siteId: string): Promise<DeviceAuditVerifyView> {
    return this.#verify(siteId, SITE_CHAIN);
  }

  async #verify(deviceId: string, chain: ChainKind): Promise<DeviceAuditVerifyView> {
    const { entries, anchors } = await this.chain(deviceId);
    const fail = (firstBadSeq: number, message: string): DeviceAuditVerifyView => ({
      ok: false,
      firstBadSeq,
      problem: 'bad-checkpoint',
      message,
      deviceId,
      anchors: anchors.length,
    });
    for (const anchor of anchors) {
      const [recorded] = await this.#store.audit.range({ fromSeq: anchor.managerSeq, limit: 1 });
      const details = recorded?.details as { seq?: number; hash?: string; signature?: string } | undefined;
      if (
        recorded?.kind !== chain.anchorKind ||
        details?.seq !== anchor.seq ||
        details.hash !== anchor.hash ||
        details.signature !== anchor.signature
      ) {
        return fail(
          anchor.seq,
          `the anchor of entry ${anchor.seq} differs from what the manager's chain recorded at seq ${anchor.managerSeq}`,
        );
      }
    }
    const last = anchors.at(-1);
    const key = last === undefined ? undefined : certificatePublicKey(last.certificatePem);
    let result: AuditChainVerification;
    if (key === undefined) {
      result =
        entries.length === 0
          ? { ok: true, entries: 0, lastCheckpoint: null }
          : {
              ok: false,
              firstBadSeq: 1,
              problem: 'bad-checkpoint',
              message: `no anchored checkpoint holds a usable ${chain.actor} certificate`,
            };
    } else {
      result = verifyDeviceChain(entries, anchors, key);
    }
    if (!result.ok)
      this.#logger.warn(
        { [chain.actor]: deviceId, firstBadSeq: result.firstBadSeq },
        `${chain.actor} audit chain does not verify`,
      );
    return { ...result, deviceId, anchors: anchors.length };
  }

  async #verifierOf(deviceId: string, certificatePem: string, chain: ChainKind): Promise<AuditVerifier> {
    const fingerprint = certificateDerSha256(certificatePem);
    const issued = await this.#store.certificates.listByDevice(deviceId);
    const key = certificatePublicKey(certificatePem);
    if (
      fingerprint === undefined ||
      key === undefined ||
      !issued.some((entry) => entry.fingerprint === fingerprint)
    ) {
      throw new EdgewardError(
        chain.divergedCode,
        `the audit upload of ${chain.actor} ${deviceId} comes with a certificate this fleet never issued to it`,
      );
    }
    return deviceAuditVerifier(key);
  }
}
