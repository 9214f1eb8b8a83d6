import { X509Certificate } from 'node:crypto';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import {
  compactEventBatchSchema,
  complianceReportSchema,
  decodeCompactBatch,
  deviceAuditUploadSchema,
  deviceCommandResultSchema,
  EdgewardError,
  enrollRequestSchema,
  eventBatchSchema,
  evidenceOfferSchema,
  heartbeatSchema,
  inventoryDeltaReportSchema,
  inventoryFullReportSchema,
  PROTOCOL_VERSION,
  parseSpiffeId,
  renewRequestSchema,
} from '@edgeward/core';
import Fastify, { type FastifyBaseLogger, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from 'pino';
import * as z from 'zod/mini';
import type { FleetPki } from '../pki/fleet-pki.ts';
import { PushHub } from '../push/push-hub.ts';
import type { ComplianceService } from '../services/compliance.service.ts';
import type { DeviceService } from '../services/device.service.ts';
import type { DeviceAuditService } from '../services/device-audit.service.ts';
import type { DeviceCommandService } from '../services/device-command.service.ts';
import type { EnrollmentService } from '../services/enrollment.service.ts';
import type { EventService } from '../services/event.service.ts';
import type { EvidenceService } from '../services/evidence.service.ts';
import type { PolicyService } from '../services/policy.service.ts';
import type { RevocationService } from '../services/revocation.service.ts';
import type { SiteService } from '../services/site.service.ts';
import { type HttpsApp, parseInput, registerErrorReplies } from './http-errors.ts';
import { acceptCompressedBodies } from './request-decompression.ts';
import { registerSiteRoutes } from './site-routes.ts';
import { registerUpdateDeviceRoutes, type UpdateServices } from './update-routes.ts';

const inventoryReportSchema = z.discriminatedUnion('kind', [
  inventoryFullReportSchema,
  inventoryDeltaReportSchema,
]);

const zstdCompress = promisify(zlib.zstdCompress);
const gzip = promisify(zlib.gzip);

/** GET /v1/policy: the bundle the agent holds, if any; both or neither. */
const policyQuerySchema = z
  .object({
    version: z.optional(z.coerce.number().check(z.int(), z.minimum(1))),
    issuedAt: z.optional(z.coerce.number().check(z.int())),
  })
  .check(
    z.refine((query) => (query.version === undefined) === (query.issuedAt === undefined), {
      message: 'give version and issuedAt together (the bundle held), or neither',
      path: ['issuedAt'],
    }),
  );

const commandParams = z.object({ id: z.uuid() });
const chunkQuery = z.object({ offset: z.coerce.number().check(z.int(), z.minimum(0)) });

export interface DeviceServer {
  readonly app: HttpsApp;
  /** The devices' push connections (WebSocket on /v1/push over the same mutual TLS). */
  readonly push: PushHub;
  /** Closes every open connection of the device (after revocation). */
  disconnect(deviceId: string): void;
}

/**
 * The device API: HTTPS with mutual TLS. A client that presents a certificate which does not verify —
 * another CA, revoked, expired — is dropped as soon as the handshake ends, before any request is read.
 * A client without a certificate may only enroll and fetch the CA bundle.
 */
export function buildDeviceServer(deps: {
  pki: FleetPki;
  revocations: RevocationService;
  enrollment: EnrollmentService;
  devices: DeviceService;
  events: EventService;
  /** A site serves the bundles its hub signed, from its cache. */
  policies: Pick<PolicyService, 'bundleFor'>;
  compliance: ComplianceService;
  commands: DeviceCommandService;
  /** TUF repository, targets and rollouts; absent in servers built without updates. */
  updates?: UpdateServices;
  evidence: EvidenceService;
  deviceAudit: DeviceAuditService;
  /** On a hub: what its sites call (`/v1/site/…`), for site identities only. */
  sites?: SiteService;
  /** On a site: the overlay it signed, served beside the hub's bundle. */
  siteOverlay?: () => Promise<unknown>;
  /** On a site: whether a device should renew now, its certificate ending within a declared outage. */
  renewalAdvice?: (deviceId: string) => Promise<boolean>;
  logger: Logger;
  bodyLimitBytes: number;
  /** Ping period of push connections. */
  pushPingMs: number;
  now: () => number;
}): DeviceServer {
  const { pki, revocations } = deps;
  const tlsOptions = () => ({
    key: pki.serverCredentials.keyPem,
    cert: pki.serverCredentials.certChainPem,
    ca: pki.caPems,
    crl: [...revocations.crls],
  });
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Per-request lines would dominate a fleet's logs; refusals and failures are logged by the error mapper.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimitBytes,
    https: { ...tlsOptions(), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' },
  });
  const deviceOfSocket = new WeakMap<TLSSocket, string>();
  const sitesSockets = new WeakSet<TLSSocket>();
  const socketsOfDevice = new Map<string, Set<TLSSocket>>();

  app.server.on('secureConnection', (socket: TLSSocket) => {
    const peer = socket.getPeerCertificate();
    const presented = peer !== null && Object.keys(peer).length > 0;
    if (!presented) return;
    const identity = socket.authorized ? parseSpiffeId(uriOf(peer.subjectaltname)) : undefined;
    // Every tier takes only identities directly under its own path (a hub: its devices and sites; a region:
    // its devices and lower sites; a site: its devices), and only from its own issuing CA: X.509 constrains
    // a URI by host alone, so a region's CA could otherwise mint `.../site/<other>` and pass.
    const accepted =
      identity !== undefined &&
      identity.fleet === pki.fleet &&
      identity.site === pki.sitePath &&
      issuedHere(socket);
    if (!accepted) {
      deps.logger.info(
        {
          remote: socket.remoteAddress,
          reason: socket.authorizationError ?? 'not a device identity of this fleet',
        },
        'client certificate refused',
      );
      socket.destroy();
      return;
    }
    deviceOfSocket.set(socket, identity.id);
    if (identity.kind === 'site') sitesSockets.add(socket);
    let sockets = socketsOfDevice.get(identity.id);
    if (sockets === undefined) {
      sockets = new Set();
      socketsOfDevice.set(identity.id, sockets);
    }
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0) socketsOfDevice.delete(identity.id);
    });
  });

  // Renewed site CAs keep their key, so the key (not the certificate) names the issuer.
  let issuingKey = { pem: '', der: Buffer.alloc(0) };
  const issuedHere = (socket: TLSSocket): boolean => {
    if (issuingKey.pem !== pki.issuingCaPem) {
      const der = new X509Certificate(pki.issuingCaPem).publicKey.export({ type: 'spki', format: 'der' });
      issuingKey = { pem: pki.issuingCaPem, der };
    }
    const issuer = socket.getPeerCertificate(true).issuerCertificate;
    if (issuer?.raw === undefined) return false;
    const der = new X509Certificate(issuer.raw).publicKey.export({ type: 'spki', format: 'der' });
    return der.equals(issuingKey.der);
  };

  revocations.onChange(() => {
    (app.server as unknown as { setSecureContext(options: object): void }).setSecureContext(tlsOptions());
  });

  const deviceOf = (raw: IncomingMessage): string => {
    const deviceId = deviceOfSocket.get(raw.socket as TLSSocket);
    if (deviceId === undefined) {
      throw new EdgewardError(
        'EW_CLIENT_CERT_REQUIRED',
        `${raw.method} ${raw.url} needs a fleet device certificate; enroll first with \`edgeward agent enroll\``,
      );
    }
    return deviceId;
  };
  const authenticatedDevice = (request: FastifyRequest): string => deviceOf(request.raw);

  const push = new PushHub({
    logger: deps.logger.child({ module: 'push' }),
    now: deps.now,
    pingIntervalMs: deps.pushPingMs,
    // The same check as every device call, plus the registry: a CRL that lags does not let a revoked
    // device hold a push connection.
    authenticate: async (request) => {
      const deviceId = deviceOf(request);
      await deps.devices.requireActive(deviceId);
      return deviceId;
    },
    onConnected: async (deviceId) => {
      await deps.commands.pushOpen(deviceId);
    },
  });
  push.attach(app.server as unknown as HttpServer);
  deps.commands.usePush((command) => push.send(command));
  deps.updates?.rollouts.usePush((deviceId, rolloutId) => push.nudgeUpdate(deviceId, rolloutId));

  registerErrorReplies(app);
  acceptCompressedBodies(app);

  app.get('/v1/ca', async () => ({
    v: PROTOCOL_VERSION,
    fleet: pki.fleet,
    rootCaPem: pki.rootCaPem,
    issuingCaPem: pki.issuingCaPem,
    ...(pki.caPems.length > 2 ? { intermediateCaPems: pki.caPems.slice(1, -1) } : {}),
  }));

  app.post('/v1/enroll', async (request) =>
    deps.enrollment.enroll(parseInput(enrollRequestSchema, request.body, 'enrollment request')),
  );

  app.post('/v1/renew', async (request) => {
    const deviceId = authenticatedDevice(request);
    const body = parseInput(renewRequestSchema, request.body, 'renewal request');
    return deps.enrollment.renew(deviceId, body.csrPem);
  });

  app.post('/v1/heartbeat', async (request) => {
    const deviceId = authenticatedDevice(request);
    const reply = await deps.devices.heartbeat(
      deviceId,
      parseInput(heartbeatSchema, request.body, 'heartbeat'),
    );
    const renew = (await deps.renewalAdvice?.(deviceId)) === true;
    // Devices without a push connection get their commands here, at their next contact.
    return {
      ...reply,
      ...(renew ? { renewCertificate: true } : {}),
      commands: await deps.commands.takeOpen(deviceId),
    };
  });

  app.get('/v1/commands', async (request) => {
    const deviceId = authenticatedDevice(request);
    await deps.devices.requireActive(deviceId);
    return { v: PROTOCOL_VERSION, commands: await deps.commands.takeOpen(deviceId) };
  });

  app.post('/v1/commands/:id/result', async (request) => {
    const deviceId = authenticatedDevice(request);
    const { id } = parseInput(commandParams, request.params, 'path');
    const result = parseInput(deviceCommandResultSchema, request.body, 'command result');
    return { v: PROTOCOL_VERSION, ...(await deps.commands.recordResult(deviceId, id, result)) };
  });

  // Evidence uploads resume: the offer answers with the bytes held, chunks go to that offset.
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => {
    done(null, body);
  });

  app.post('/v1/evidence', async (request) => {
    const deviceId = authenticatedDevice(request);
    return deps.evidence.offer(deviceId, parseInput(evidenceOfferSchema, request.body, 'evidence offer'));
  });

  app.get('/v1/evidence/:id', async (request) => {
    const deviceId = authenticatedDevice(request);
    const { id } = parseInput(commandParams, request.params, 'path');
    return deps.evidence.uploadStatus(deviceId, id);
  });

  app.put('/v1/evidence/:id/content', async (request) => {
    const deviceId = authenticatedDevice(request);
    const { id } = parseInput(commandParams, request.params, 'path');
    const { offset } = parseInput(chunkQuery, request.query, 'chunk query');
    if (!Buffer.isBuffer(request.body)) {
      throw new EdgewardError('EW_REQUEST_INVALID', 'an evidence chunk is sent as application/octet-stream');
    }
    return deps.evidence.putChunk(deviceId, id, offset, request.body);
  });

  app.post('/v1/audit', async (request) => {
    const deviceId = authenticatedDevice(request);
    return deps.deviceAudit.anchor(
      deviceId,
      parseInput(deviceAuditUploadSchema, request.body, 'audit upload'),
    );
  });

  app.post('/v1/inventory', async (request) => {
    const deviceId = authenticatedDevice(request);
    return deps.devices.ingestInventory(
      deviceId,
      parseInput(inventoryReportSchema, request.body, 'inventory report'),
    );
  });

  app.post('/v1/events', async (request) => {
    const deviceId = authenticatedDevice(request);
    return deps.events.ingest(deviceId, parseEventBatch(request.body));
  });

  app.get('/v1/policy', async (request, reply) => {
    const deviceId = authenticatedDevice(request);
    const held = parseInput(policyQuerySchema, request.query, 'policy query');
    await deps.devices.requireActive(deviceId);
    const update = await deps.policies.bundleFor(held);
    if (update === undefined) return reply.status(204).send();
    // A bundle is hundreds of KiB of repetitive JSON; compressed it is a few percent of that, which
    // matters on the slow links devices poll over.
    const accepted = String(request.headers['accept-encoding'] ?? '');
    const encoding = /\bzstd\b/.test(accepted) ? 'zstd' : /\bgzip\b/.test(accepted) ? 'gzip' : undefined;
    if (encoding === undefined) return update;
    const json = Buffer.from(JSON.stringify(update));
    const body = encoding === 'zstd' ? await zstdCompress(json) : await gzip(json);
    return reply
      .header('content-type', 'application/json; charset=utf-8')
      .header('content-encoding', encoding)
      .header('vary', 'accept-encoding')
      .send(body);
  });

  const siteOverlay = deps.siteOverlay;
  if (siteOverlay !== undefined) {
    app.get('/v1/policy/overlay', async (request, reply) => {
      await deps.devices.requireActive(authenticatedDevice(request));
      const overlay = await siteOverlay();
      return overlay === undefined ? reply.status(204).send() : { v: PROTOCOL_VERSION, overlay };
    });
  }

  if (deps.sites !== undefined) {
    registerSiteRoutes(app, {
      sites: deps.sites,
      authenticatedSite: (request) => {
        const siteId = authenticatedDevice(request);
        if (!sitesSockets.has(request.raw.socket as TLSSocket)) {
          throw new EdgewardError(
            'EW_SITE_IDENTITY_REQUIRED',
            `${request.method} ${request.url} is for site managers; a device certificate cannot call it`,
          );
        }
        return siteId;
      },
    });
  }

  app.post('/v1/compliance', async (request) => {
    const deviceId = authenticatedDevice(request);
    return deps.compliance.ingest(
      deviceId,
      parseInput(complianceReportSchema, request.body, 'compliance report'),
    );
  });

  if (deps.updates !== undefined) registerUpdateDeviceRoutes(app, deps.updates, authenticatedDevice);

  // Before the listener closes: it waits for every open socket, upgraded ones included.
  app.addHook('preClose', async () => push.close());

  return {
    app,
    push,
    disconnect(deviceId) {
      push.disconnect(deviceId);
      for (const socket of socketsOfDevice.get(deviceId) ?? []) socket.destroy();
    },
  };
}

function uriOf(subjectAltName: string | undefined): string {
  const match = /URI:(spiffe:\/\/[^,\s]+)/.exec(subjectAltName ?? '');
  return match?.[1] ?? '';
}

/** A v1 batch as it is, a v2 (compact) batch decoded into the same events and checked like them. */
function parseEventBatch(body: unknown): z.output<typeof eventBatchSchema> {
  if ((body as { v?: unknown } | null)?.v !== 2) return parseInput(eventBatchSchema, body, 'event batch');
  const compact = parseInput(compactEventBatchSchema, body, 'event batch');
  const events = decodeCompactBatch(compact);
  return parseInput(eventBatchSchema, { v: 1, floorSeq: compact.floorSeq, events }, 'event batch');
}
