import {
  type CertificateGrant,
  type Clock,
  checkCsr,
  EdgewardError,
  type EnrollRequest,
  type Labels,
  PROTOCOL_VERSION,
} from '@edgeward/core';
import type { Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { FleetPki, IssuedDeviceCertificate } from '../pki/fleet-pki.ts';
import type { AuditTrail } from './audit-trail.ts';
import type { EnrollmentTokenService } from './enrollment-token.service.ts';
import type { OperatorContext } from './operator-context.ts';
import { newId } from './secrets.ts';

/** Turns a one-time token plus a CSR into a device with a certificate; nothing is created on any failure. */
export class EnrollmentService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #pki: FleetPki;
  readonly #tokens: EnrollmentTokenService;
  readonly #audit: AuditTrail;
  readonly #certificateValidityMs: () => number;
  readonly #logger: Logger;

  constructor(deps: {
    store: Store;
    clock: Clock;
    pki: FleetPki;
    tokens: EnrollmentTokenService;
    audit: AuditTrail;
    /** A number, or (on a site) a function: a declared outage lengthens the certificates issued before it. */
    certificateValidityMs: number | (() => number);
    logger: Logger;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#pki = deps.pki;
    this.#tokens = deps.tokens;
    this.#audit = deps.audit;
    const validity = deps.certificateValidityMs;
    this.#certificateValidityMs = typeof validity === 'number' ? () => validity : validity;
    this.#logger = deps.logger;
  }

  async enroll(request: EnrollRequest): Promise<CertificateGrant> {
    // Check the CSR before touching the token, so a bad CSR does not burn it.
    await checkCsr(request.csrPem);
    const grant = await this.#store.transaction(async (store) => {
      const token = await this.#tokens.check(store, request.token);
      // A token made with `sites create` enrolls that site, under its own id, as a site identity.
      const site = await store.sites.findByEnrollmentToken(token.id);
      const deviceId = site?.id ?? newId('dev');
      const now = this.#clock.now();
      if (!(await store.tokens.markUsed(token.id, deviceId, now))) {
        throw new EdgewardError(
          'EW_ENROLLMENT_TOKEN_USED',
          `enrollment token ${token.id} was used by another device a moment ago; tokens are single-use`,
        );
      }
      await store.devices.create({
        id: deviceId,
        name: request.hostname || deviceId,
        labels: token.labels,
        enrolledAt: now,
        enrollmentTokenId: token.id,
        lastSeenAt: now,
        reportIntervalMs: request.reportIntervalMs,
        agentVersion: request.agentVersion,
        inventoryVersion: 0,
        revokedAt: null,
      });
      const issued = await this.#issue(store, deviceId, request.csrPem, now, site !== undefined);
      if (site !== undefined) await store.sites.update(site.id, { enrolledAt: now, lastSyncAt: now });
      await this.#audit.record(
        store,
        deviceActor(deviceId),
        site === undefined ? 'device.enroll' : 'site.enroll',
        deviceId,
        { token: token.id, serial: issued.serial, hostname: request.hostname },
      );
      return this.#grant(deviceId, issued, token.labels, site !== undefined, await tufRoot(store));
    });
    this.#logger.info({ deviceId: grant.deviceId, hostname: request.hostname }, 'device enrolled');
    return grant;
  }

  /** A fresh certificate for an enrolled, unrevoked device; the old one stays valid until it expires. */
  async renew(deviceId: string, csrPem: string): Promise<CertificateGrant> {
    await checkCsr(csrPem);
    return this.#store.transaction(async (store) => {
      const device = await store.devices.findById(deviceId);
      if (device === undefined) {
        throw new EdgewardError('EW_DEVICE_NOT_FOUND', `no device has id ${deviceId}`);
      }
      if (device.revokedAt !== null) {
        throw new EdgewardError('EW_DEVICE_REVOKED', `device ${deviceId} is revoked and cannot renew`);
      }
      const now = this.#clock.now();
      const isSite = (await store.sites.findById(deviceId)) !== undefined;
      const issued = await this.#issue(store, deviceId, csrPem, now, isSite);
      await store.devices.update(deviceId, { lastSeenAt: now });
      await this.#audit.record(store, deviceActor(deviceId), 'device.renew', deviceId, {
        serial: issued.serial,
        notAfter: issued.notAfter,
      });
      this.#logger.info(
        { deviceId, notAfter: new Date(issued.notAfter).toISOString() },
        'certificate renewed',
      );
      return this.#grant(deviceId, issued, device.labels, isSite, await tufRoot(store));
    });
  }

  /** Issues a certificate for the device and records it, so that it can be listed and revoked. */
  async #issue(
    store: Store,
    deviceId: string,
    csrPem: string,
    now: number,
    isSite: boolean,
  ): Promise<IssuedDeviceCertificate> {
    const issued = isSite
      ? await this.#pki.issueSiteCertificate(csrPem, deviceId, this.#certificateValidityMs())
      : await this.#pki.issueDeviceCertificate(csrPem, deviceId, this.#certificateValidityMs());
    await store.certificates.create({
      serial: issued.serial,
      deviceId,
      notBefore: issued.notBefore,
      notAfter: issued.notAfter,
      issuedAt: now,
      fingerprint: issued.fingerprint,
      revokedAt: null,
    });
    return issued;
  }

  #grant(
    deviceId: string,
    issued: IssuedDeviceCertificate,
    labels: Labels,
    isSite: boolean,
    tufRootJson: string | undefined,
  ): CertificateGrant {
    return {
      v: PROTOCOL_VERSION,
      deviceId,
      fleet: this.#pki.fleet,
      spiffeId: isSite ? this.#pki.siteSpiffeIdOf(deviceId) : this.#pki.spiffeIdOf(deviceId),
      certificatePem: issued.certPem,
      chainPem: this.#pki.chainPem,
      rootCaPem: this.#pki.rootCaPem,
      notAfter: issued.notAfter,
      labels,
      policyPublicKeyPem: this.#pki.policyPublicKeyPem,
      ...(tufRootJson === undefined ? {} : { tufRootJson }),
    };
  }
}

/** The TUF root devices start from: the newest this manager serves as `root.json`. */
async function tufRoot(store: Store): Promise<string | undefined> {
  return (await store.artifacts.latestTufMetadata('root'))?.body;
}

/** Enrollment and renewal are recorded as actions of the device itself. */
function deviceActor(deviceId: string): OperatorContext {
  return { id: 'device', name: deviceId, role: 'viewer' };
}
