import {
  alertDeliveryQuerySchema,
  alertListQuerySchema,
  alertNoiseQuerySchema,
  alertVolumeQuerySchema,
  applyPolicyRequestSchema,
  assignAlertSchema,
  auditEntriesQuerySchema,
  auditExportQuerySchema,
  captureDeviceRequestSchema,
  commentAlertSchema,
  complianceQuerySchema,
  createEnrollmentTokenSchema,
  createOperatorSchema,
  createSiteSchema,
  deviceListQuerySchema,
  EdgewardError,
  eventQuerySchema,
  evidenceListQuerySchema,
  type FleetView,
  historyQuerySchema,
  incidentAssignSchema,
  incidentCloseSchema,
  incidentListQuerySchema,
  incidentNoteSchema,
  incidentStateChangeSchema,
  incidentStepSchema,
  isolateDeviceRequestSchema,
  type Labels,
  openIncidentSchema,
  policyPlanRequestSchema,
  releaseDeviceRequestSchema,
  resolveAlertSchema,
  revokeDeviceSchema,
  revokeSiteSchema,
  rollbackPolicyRequestSchema,
  sessionLoginSchema,
  suppressAlertSchema,
} from '@edgeward/core';
import type { Store } from '@edgeward/store';
import type { DashboardBundle } from '@edgeward/web';
import { parseCookie, stringifySetCookie } from 'cookie';
import Fastify, { type FastifyBaseLogger, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from 'pino';
import * as z from 'zod/mini';
import type { DeclaredOutage } from '../federation/declared-outage.ts';
import type { SiteLinkStatus } from '../federation/site-uplink.ts';
import type { FleetPki } from '../pki/fleet-pki.ts';
import type { AlertService } from '../services/alert.service.ts';
import type { AuditChainService } from '../services/audit-chain.ts';
import type { ComplianceService } from '../services/compliance.service.ts';
import type { DeviceService } from '../services/device.service.ts';
import type { DeviceAuditService } from '../services/device-audit.service.ts';
import type { DeviceCommandService } from '../services/device-command.service.ts';
import type { EnrollmentTokenService } from '../services/enrollment-token.service.ts';
import type { EventService } from '../services/event.service.ts';
import type { EvidenceService } from '../services/evidence.service.ts';
import type { FleetOverviewService } from '../services/fleet-overview.service.ts';
import type { IncidentService } from '../services/incident.service.ts';
import type { LiveFeed } from '../services/live-feed.ts';
import { type OperatorService, requireRole } from '../services/operator.service.ts';
import type { OperatorContext } from '../services/operator-context.ts';
import type { PolicyService } from '../services/policy.service.ts';
import type { SessionService } from '../services/session.service.ts';
import type { SiteService } from '../services/site.service.ts';
import { type HttpsApp, parseInput, registerErrorReplies } from './http-errors.ts';
import { registerUpdateOperatorRoutes, type UpdateServices } from './update-routes.ts';

const overlayEditsSchema = z.object({
  edits: z.array(
    z.object({
      setting: z.string().check(z.minLength(1), z.maxLength(200)),
      value: z.union([z.array(z.string()), z.number(), z.boolean(), z.string()]),
      expiresAt: z.number().check(z.int()),
      reason: z.optional(z.string().check(z.maxLength(500))),
    }),
  ),
});
const declareOutageSchema = z.object({
  /** Epoch ms; default now. */
  startsAt: z.optional(z.number().check(z.int())),
  durationMs: z.number().check(z.int(), z.minimum(60_000)),
  reason: z._default(z.string().check(z.maxLength(500)), ''),
});
const idParams = z.object({ id: z.string().check(z.minLength(1), z.maxLength(100)) });
const stepParams = z.object({
  id: z.string().check(z.minLength(1), z.maxLength(100)),
  step: z.string().check(z.minLength(1), z.maxLength(100)),
});
const versionParams = z.object({ version: z.coerce.number().check(z.int(), z.minimum(1)) });
const includeQuery = z.object({ all: z._default(z.enum(['true', 'false']), 'false') });
const actionsQuery = z.object({
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(10_000)), 100),
  operator: z.optional(z.string()),
  target: z.optional(z.string()),
});

/**
 * The dashboard's session cookie (httpOnly, Secure, SameSite=Strict). Browsers scope cookies by host, not
 * port, so its name carries the port: a hub and a site manager on one machine keep separate sessions.
 */
function sessionCookieName(request: FastifyRequest): string {
  return `edgeward_session_${request.port ?? 443}`;
}
/**
 * Writes authenticated by the cookie must carry this header. A page of another site cannot set a custom
 * header on a cross-origin request without a CORS preflight, which this server never grants.
 */
const CSRF_HEADER = 'x-edgeward-csrf';
/** The dashboard's page and files: only this origin, no inline script, no framing. */
const DASHBOARD_CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
const LIVE_PING_MS = 15_000;

declare module 'fastify' {
  interface FastifyRequest {
    operator: OperatorContext;
  }
}

/** The operator API and the dashboard: HTTPS with the fleet server certificate, a bearer token per call. */
export function buildOperatorServer(deps: {
  pki: FleetPki;
  store: Store;
  devices: DeviceService;
  events: EventService;
  tokens: EnrollmentTokenService;
  operators: OperatorService;
  policies: PolicyService;
  compliance: ComplianceService;
  alerts: AlertService;
  auditChain: AuditChainService;
  commands: DeviceCommandService;
  /** Artifacts, rollouts, patch SLA; absent in servers built without updates. */
  updates?: UpdateServices;
  evidence: EvidenceService;
  incidents: IncidentService;
  deviceAudit: DeviceAuditService;
  sessions: SessionService;
  overview: FleetOverviewService;
  live: LiveFeed;
  dashboard: DashboardBundle;
  /** On a hub: its sites. */
  sites?: SiteService;
  /** On a site: its link to the hub. */
  siteLink?: {
    status(): SiteLinkStatus | Promise<SiteLinkStatus>;
    declareOutage(request: {
      startsAt?: number | undefined;
      durationMs: number;
      reason: string;
    }): Promise<DeclaredOutage>;
    overlay(): Promise<unknown>;
    publishOverlay(edits: z.output<typeof overlayEditsSchema>['edits']): Promise<unknown>;
  };
  deviceApiUrl: string;
  logger: Logger;
  bodyLimitBytes: number;
}): HttpsApp {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Per-request lines would dominate a fleet's logs; refusals and failures are logged by the error mapper.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimitBytes,
    https: { key: deps.pki.serverCredentials.keyPem, cert: deps.pki.serverCredentials.certChainPem },
  });
  registerErrorReplies(app);
  app.decorateRequest('operator', null as unknown as OperatorContext);
  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/api/')) return;
    // Signing in and out are the two calls without a caller to check.
    if (request.url === '/api/v1/session' && (request.method === 'POST' || request.method === 'DELETE'))
      return;
    const header = request.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
    const session = token === undefined ? sessionCookie(request) : undefined;
    if (session === undefined) {
      request.operator = await deps.operators.authenticate(token);
      return;
    }
    request.operator = await deps.sessions.resume(session);
    if (request.method !== 'GET' && request.method !== 'HEAD' && request.headers[CSRF_HEADER] !== '1') {
      throw new EdgewardError(
        'EW_SESSION_CSRF_MISSING',
        `${request.method} ${request.url.split('?')[0]} came with the session cookie but without the ${CSRF_HEADER} header; changes are only accepted from the dashboard itself`,
      );
    }
  });
  // Open live streams would hold the listener open; they end first.
  app.addHook('preClose', async () => deps.live.close());

  app.get('/', async (_request, reply) => {
    const page = deps.dashboard.page;
    void reply.header('cache-control', 'no-store').header('content-security-policy', DASHBOARD_CSP);
    if (page === undefined)
      return reply.status(503).type('text/html; charset=utf-8').send(deps.dashboard.missingPage);
    return reply.type(page.contentType).header('x-content-type-options', 'nosniff').send(page.body);
  });

  app.get('/assets/*', async (request, reply) => {
    const asset = deps.dashboard.assets.get(request.url.split('?')[0] ?? '');
    if (asset === undefined) {
      throw new EdgewardError('EW_ROUTE_NOT_FOUND', `no dashboard file ${request.url}; reload the page`);
    }
    // Built file names carry a hash of their content, so a name never changes meaning.
    return reply
      .type(asset.contentType)
      .header('cache-control', 'public, max-age=31536000, immutable')
      .header('x-content-type-options', 'nosniff')
      .send(asset.body);
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  if (deps.updates !== undefined) registerUpdateOperatorRoutes(app, deps.updates);

  app.post('/api/v1/session', async (request, reply) => {
    const { token } = parseInput(sessionLoginSchema, request.body, 'sign-in');
    const { session, cookie } = await deps.sessions.login(token);
    return reply
      .header(
        'set-cookie',
        stringifySetCookie({
          name: sessionCookieName(request),
          value: cookie,
          httpOnly: true,
          secure: true,
          sameSite: 'strict',
          path: '/',
          maxAge: Math.floor(deps.sessions.ttlMs / 1000),
        }),
      )
      .status(201)
      .send(session);
  });

  app.delete('/api/v1/session', async (request, reply) =>
    reply
      .header(
        'set-cookie',
        stringifySetCookie({
          name: sessionCookieName(request),
          value: '',
          httpOnly: true,
          secure: true,
          sameSite: 'strict',
          path: '/',
          maxAge: 0,
        }),
      )
      .send({ signedOut: true }),
  );

  app.get('/api/v1/stream', (request, reply) => {
    // Server-sent events: the reply stays open and carries one message per change.
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    raw.write('retry: 3000\n\n');
    const ping = setInterval(() => raw.write(': ping\n\n'), LIVE_PING_MS).unref();
    const stop = deps.live.subscribe(
      (update) => raw.write(`event: ${update.topic}\ndata: ${JSON.stringify(update)}\n\n`),
      () => raw.end(),
    );
    request.raw.on('close', () => {
      clearInterval(ping);
      stop();
    });
  });

  app.get('/api/v1/fleet/overview', async () => deps.overview.overview());

  app.get('/api/v1/fleet', async (): Promise<FleetView> => {
    return {
      fleet: deps.pki.fleet,
      caFingerprint: deps.pki.caFingerprint,
      deviceApiUrl: deps.deviceApiUrl,
      devices: await deps.devices.summary(),
    };
  });

  app.get('/api/v1/devices', async (request) => {
    const query = parseInput(deviceListQuerySchema, request.query, 'device list query');
    const filter = {
      ...(query.label === undefined ? {} : { labels: parseLabelSelectors(query.label) }),
      ...(query.status === undefined ? {} : { status: query.status }),
      ...(query.search === undefined ? {} : { search: query.search }),
      ...(query.includeRevoked === undefined ? {} : { includeRevoked: query.includeRevoked }),
      ...(query.segment === undefined ? {} : { segment: query.segment }),
    };
    return deps.devices.list(filter, query.limit, query.after, {
      ...(query.sort === undefined ? {} : { sort: query.sort }),
      ...(query.order === undefined ? {} : { order: query.order }),
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
    });
  });

  app.get('/api/v1/devices/:id', async (request) => {
    const { id } = parseInput(idParams, request.params, 'path');
    const device = await deps.devices.show(id);
    return { ...device, isolation: await deps.commands.isolation(id) };
  });

  app.post('/api/v1/devices/:id/isolate', async (request, reply) => {
    requireRole(request.operator, 'operator', 'isolating a device');
    const { id } = parseInput(idParams, request.params, 'path');
    const body = parseInput(isolateDeviceRequestSchema, request.body ?? {}, 'isolation request');
    return reply.status(201).send(await deps.commands.isolate(request.operator, id, body));
  });

  app.post('/api/v1/devices/:id/release', async (request, reply) => {
    requireRole(request.operator, 'operator', 'releasing a device');
    const { id } = parseInput(idParams, request.params, 'path');
    const body = parseInput(releaseDeviceRequestSchema, request.body ?? {}, 'release request');
    return reply.status(201).send(await deps.commands.release(request.operator, id, body));
  });

  app.post('/api/v1/devices/:id/capture', async (request, reply) => {
    requireRole(request.operator, 'operator', 'capturing evidence from a device');
    const { id } = parseInput(idParams, request.params, 'path');
    const body = parseInput(captureDeviceRequestSchema, request.body ?? {}, 'capture request');
    return reply.status(201).send(await deps.evidence.capture(request.operator, id, body));
  });

  app.get('/api/v1/evidence', async (request) => {
    const query = parseInput(evidenceListQuerySchema, request.query, 'evidence query');
    return deps.evidence.list(query.device, query.limit);
  });

  app.get('/api/v1/evidence/:id', async (request) => {
    const { id } = parseInput(idParams, request.params, 'path');
    return deps.evidence.show(id);
  });

  app.get('/api/v1/evidence/:id/content', async (request, reply) => {
    requireRole(request.operator, 'operator', 'downloading evidence');
    const { id } = parseInput(idParams, request.params, 'path');
    const { bytes, stream } = await deps.evidence.content(request.operator, id);
    return reply.type('application/octet-stream').header('content-length', bytes).send(stream);
  });

  app.get('/api/v1/devices/:id/commands', async (request) => {
    const { id } = parseInput(idParams, request.params, 'path');
    return deps.commands.list(id);
  });

  app.get('/api/v1/devices/:id/history', async (request) => {
    const { id } = parseInput(idParams, request.params, 'path');
    const query = parseInput(historyQuerySchema, request.query, 'history query');
    return {
      changes: await deps.devices.history(id, {
        limit: query.limit,
        ...(query.section === undefined ? {} : { section: query.section }),
      }),
    };
  });

  app.post('/api/v1/devices/:id/revoke', async (request) => {
    requireRole(request.operator, 'operator', 'revoking a device');
    const { id } = parseInput(idParams, request.params, 'path');
    const body = parseInput(revokeDeviceSchema, request.body ?? {}, 'revocation');
    return deps.devices.revoke(request.operator, id, body.reason);
  });

  app.get('/api/v1/events', async (request) =>
    deps.events.query(parseInput(eventQuerySchema, request.query, 'event query')),
  );

  app.get('/api/v1/tokens', async (request) => {
    const { all } = parseInput(includeQuery, request.query, 'token list query');
    return { tokens: await deps.tokens.list(all === 'true') };
  });

  app.post('/api/v1/tokens', async (request, reply) => {
    requireRole(request.operator, 'operator', 'creating an enrollment token');
    const body = parseInput(createEnrollmentTokenSchema, request.body ?? {}, 'token request');
    return reply.status(201).send(await deps.tokens.create(request.operator, body.labels, body.ttlMs));
  });

  app.delete('/api/v1/tokens/:id', async (request) => {
    requireRole(request.operator, 'operator', 'revoking an enrollment token');
    const { id } = parseInput(idParams, request.params, 'path');
    return deps.tokens.revoke(request.operator, id);
  });

  const siteLink = deps.siteLink;
  if (siteLink !== undefined) {
    app.get('/api/v1/site', async () => siteLink.status());

    app.post('/api/v1/site/outage', async (request, reply) => {
      requireRole(request.operator, 'operator', 'declaring an outage');
      const body = parseInput(declareOutageSchema, request.body ?? {}, 'outage');
      return reply.status(201).send(await siteLink.declareOutage(body));
    });

    app.get('/api/v1/site/overlay', async (_request, reply) => {
      const overlay = await siteLink.overlay();
      return overlay === undefined ? reply.status(204).send() : { overlay };
    });

    app.put('/api/v1/site/overlay', async (request) => {
      requireRole(request.operator, 'operator', 'publishing the site overlay');
      const body = parseInput(overlayEditsSchema, request.body ?? {}, 'overlay');
      return { overlay: await siteLink.publishOverlay(body.edits) };
    });
  }

  const sites = deps.sites;
  if (sites !== undefined) {
    app.get('/api/v1/sites', async () => ({ sites: await sites.list() }));

    app.get('/api/v1/sites/:id', async (request) => {
      const { id } = parseInput(idParams, request.params, 'path');
      return sites.show(id);
    });

    app.post('/api/v1/sites', async (request, reply) => {
      requireRole(request.operator, 'admin', 'creating a site');
      const body = parseInput(createSiteSchema, request.body ?? {}, 'site request');
      return reply.status(201).send(await sites.create(request.operator, body));
    });

    app.post('/api/v1/sites/:id/revoke', async (request) => {
      requireRole(request.operator, 'admin', 'revoking a site');
      const { id } = parseInput(idParams, request.params, 'path');
      const body = parseInput(revokeSiteSchema, request.body ?? {}, 'site revocation');
      return sites.revoke(request.operator, id, body.reason);
    });

    app.get('/api/v1/audit/sites/:id', async (request) => {
      const { id } = parseInput(idParams, request.params, 'path');
      await sites.show(id);
      return deps.deviceAudit.chain(id);
    });

    app.get('/api/v1/audit/sites/:id/verify', async (request) => {
      const { id } = parseInput(idParams, request.params, 'path');
      await sites.show(id);
      return deps.deviceAudit.verifySite(id);
    });
  }

  app.get('/api/v1/operators', async (request) => {
    requireRole(request.operator, 'admin', 'listing operators');
    const { all } = parseInput(includeQuery, request.query, 'operator list query');
    return { operators: await deps.operators.list(all === 'true') };
  });

  app.post('/api/v1/operators', async (request, reply) => {
    requireRole(request.operator, 'admin', 'creating an operator');
    const body = parseInput(createOperatorSchema, request.body, 'operator request');
    return reply.status(201).send(await deps.operators.create(request.operator, body.name, body.role));
  });

  app.delete('/api/v1/operators/:id', async (request) => {
    requireRole(request.operator, 'admin', 'revoking an operator');
    const { id } = parseInput(idParams, request.params, 'path');
    return deps.operators.revoke(request.operator, id);
  });

  app.get('/api/v1/whoami', async (request) => request.operator);

  app.get('/api/v1/actions', async (request) => {
    requireRole(request.operator, 'admin', 'reading the operator action log');
    const query = parseInput(actionsQuery, request.query, 'action query');
    return {
      actions: await deps.store.actions.list({
        limit: query.limit,
        ...(query.operator === undefined ? {} : { operatorId: query.operator }),
        ...(query.target === undefined ? {} : { target: query.target }),
      }),
    };
  });

  app.get('/api/v1/policy/versions', async () => deps.policies.history());

  app.get('/api/v1/policy/versions/:version', async (request) => {
    const { version } = parseInput(versionParams, request.params, 'path');
    return deps.policies.show(version);
  });

  app.post('/api/v1/policy/plan', async (request) => {
    const body = parseInput(policyPlanRequestSchema, request.body, 'policy plan request');
    return deps.policies.plan(body.files);
  });

  app.post('/api/v1/policy/versions', async (request, reply) => {
    requireRole(request.operator, 'operator', 'applying a policy');
    const body = parseInput(applyPolicyRequestSchema, request.body, 'policy');
    return reply
      .status(201)
      .send(await deps.policies.apply(request.operator, body.files, body.message, body.gitCommit));
  });

  app.post('/api/v1/policy/rollback', async (request, reply) => {
    requireRole(request.operator, 'operator', 'rolling back the policy');
    const body = parseInput(rollbackPolicyRequestSchema, request.body, 'rollback');
    return reply.status(201).send(await deps.policies.rollback(request.operator, body.version, body.message));
  });

  app.get('/api/v1/compliance', async (request) => {
    const { days } = parseInput(complianceQuerySchema, request.query, 'compliance query');
    return deps.compliance.fleet(days);
  });

  app.get('/api/v1/compliance/devices/:id', async (request) => {
    const { id } = parseInput(idParams, request.params, 'path');
    return deps.compliance.device(id);
  });

  app.get('/api/v1/alerts', async (request) =>
    deps.alerts.list(parseInput(alertListQuerySchema, request.query, 'alert query')),
  );

  // The router prefers this static path to /alerts/:id, so no alert id can be "noise".
  app.get('/api/v1/alerts/noise', async (request) => {
    const { days } = parseInput(alertNoiseQuerySchema, request.query, 'alert noise query');
    return deps.alerts.noise(days);
  });

  app.get('/api/v1/alerts/volume', async (request) => {
    const { days } = parseInput(alertVolumeQuerySchema, request.query, 'alert volume query');
    return deps.overview.alertVolume(days);
  });

  app.get('/api/v1/alerts/:id', async (request) => {
    const { id } = parseInput(idParams, request.params, 'path');
    return deps.alerts.show(id);
  });

  app.post('/api/v1/alerts/:id/ack', async (request) => {
    requireRole(request.operator, 'operator', 'acknowledging an alert');
    const { id } = parseInput(idParams, request.params, 'path');
    return deps.alerts.acknowledge(request.operator, id);
  });

  app.post('/api/v1/alerts/:id/resolve', async (request) => {
    requireRole(request.operator, 'operator', 'resolving an alert');
    const { id } = parseInput(idParams, request.params, 'path');
    const body = parseInput(resolveAlertSchema, request.body, 'resolution');
    return deps.alerts.resolve(request.operator, id, body.resolution, body.note);
  });

  app.post('/api/v1/alerts/:id/assign', async (request) => {
    requireRole(request.operator, 'operator', 'assigning an alert');
    const { id } = parseInput(idParams, request.params, 'path');
    const body = parseInput(assignAlertSchema, request.body, 'assignment');
    return deps.alerts.assign(request.operator, id, body.assignee);
  });

  app.post('/api/v1/alerts/:id/comment', async (request) => {
    requireRole(request.operator, 'operator', 'commenting on an alert');
    const { id } = parseInput(idParams, request.params, 'path');
    const body = parseInput(commentAlertSchema, request.body, 'comment');
    return deps.alerts.comment(request.operator, id, body.text);
  });

  app.post('/api/v1/alerts/:id/suppress', async (request) => {
    requireRole(request.operator, 'operator', 'suppressing an alert');
    const { id } = parseInput(idParams, request.params, 'path');
    const body = parseInput(suppressAlertSchema, request.body, 'suppression');
    return deps.alerts.suppress(request.operator, id, body.until, body.note);
  });

  app.get('/api/v1/alert-deliveries', async (request) => {
    const query = parseInput(alertDeliveryQuerySchema, request.query, 'delivery query');
    return deps.alerts.deliveries(query.state, query.limit);
  });

  app.post('/api/v1/incidents', async (request, reply) => {
    requireRole(request.operator, 'operator', 'opening an incident');
    const body = parseInput(openIncidentSchema, request.body, 'incident');
    return reply.status(201).send(await deps.incidents.open(request.operator, body));
  });

  app.get('/api/v1/incidents', async (request) => {
    const query = parseInput(incidentListQuerySchema, request.query, 'incident query');
    return deps.incidents.list({
      limit: query.limit,
      ...(query.state === undefined ? {} : { state: query.state }),
      ...(query.device === undefined ? {} : { deviceId: query.device }),
      ...(query.active === 'true' ? { active: true } : {}),
    });
  });

  app.get('/api/v1/incidents/:id', async (request) => {
    const { id } = parseInput(idParams, request.params, 'path');
    return deps.incidents.show(id);
  });

  app.post('/api/v1/incidents/:id/state', async (request) => {
    requireRole(request.operator, 'operator', 'changing an incident state');
    const { id } = parseInput(idParams, request.params, 'path');
    const body = parseInput(incidentStateChangeSchema, request.body, 'state change');
    return deps.incidents.changeState(request.operator, id, body.state, body.note);
  });

  app.post('/api/v1/incidents/:id/assign', async (request) => {
    requireRole(request.operator, 'operator', 'assigning an incident');
    const { id } = parseInput(idParams, request.params, 'path');
    const body = parseInput(incidentAssignSchema, request.body, 'assignment');
    return deps.incidents.assign(request.operator, id, body.assignee);
  });

  app.post('/api/v1/incidents/:id/notes', async (request) => {
    requireRole(request.operator, 'operator', 'noting on an incident');
    const { id } = parseInput(idParams, request.params, 'path');
    const body = parseInput(incidentNoteSchema, request.body, 'note');
    return deps.incidents.note(request.operator, id, body.text);
  });

  app.post('/api/v1/incidents/:id/steps/:step', async (request) => {
    requireRole(request.operator, 'operator', 'ticking a playbook step');
    const { id, step } = parseInput(stepParams, request.params, 'path');
    const body = parseInput(incidentStepSchema, request.body ?? {}, 'step');
    return deps.incidents.tickStep(request.operator, id, step, body.done, body.note);
  });

  app.post('/api/v1/incidents/:id/close', async (request) => {
    requireRole(request.operator, 'operator', 'closing an incident');
    const { id } = parseInput(idParams, request.params, 'path');
    const body = parseInput(incidentCloseSchema, request.body, 'closing');
    return deps.incidents.close(request.operator, id, body.resolution);
  });

  app.get('/api/v1/audit/verify', async () => deps.auditChain.verify());

  app.get('/api/v1/audit/devices/:id', async (request) => {
    const { id } = parseInput(idParams, request.params, 'path');
    return deps.deviceAudit.chain(id);
  });

  app.get('/api/v1/audit/devices/:id/verify', async (request) => {
    const { id } = parseInput(idParams, request.params, 'path');
    return deps.deviceAudit.verify(id);
  });

  app.get('/api/v1/audit/entries', async (request) => {
    const query = parseInput(auditEntriesQuerySchema, request.query, 'audit entries query');
    return deps.auditChain.list(query.limit, query.before);
  });

  app.get('/api/v1/audit/export', async (request) => {
    requireRole(request.operator, 'admin', 'exporting the audit chain');
    const { since } = parseInput(auditExportQuerySchema, request.query, 'audit export query');
    return deps.auditChain.export(since);
  });

  return app;
}

function parseLabelSelectors(selectors: string | string[]): Labels {
  const labels: Labels = {};
  for (const selector of Array.isArray(selectors) ? selectors : [selectors]) {
    const separator = selector.indexOf('=');
    if (separator <= 0) {
      throw new EdgewardError('EW_REQUEST_INVALID', `label selector "${selector}" must look like key=value`);
    }
    labels[selector.slice(0, separator)] = selector.slice(separator + 1);
  }
  return labels;
}

function sessionCookie(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (header === undefined) return undefined;
  const value = parseCookie(header)[sessionCookieName(request)];
  return value === undefined || value === '' ? undefined : value;
}
