import {
  alertDeliveryQuerySchema,
  alertListQuerySchema,
  alertNoiseQuerySchema,
  applyPolicyRequestSchema,
  assignAlertSchema,
  auditEntriesQuerySchema,
  auditExportQuerySchema,
  commentAlertSchema,
  complianceQuerySchema,
  createEnrollmentTokenSchema,
  createOperatorSchema,
  createSiteSchema,
  deviceListQuerySchema,
  EdgewardError,
  eventQuerySchema,
  type FleetView,
  historyQuerySchema,
  isolateDeviceRequestSchema,
  type Labels,
  policyPlanRequestSchema,
  releaseDeviceRequestSchema,
  resolveAlertSchema,
  revokeDeviceSchema,
  rollbackPolicyRequestSchema,
  suppressAlertSchema,
} from '@edgeward/core';
import type { Store } from '@edgeward/store';
import { dashboardPage } from '@edgeward/web';
import Fastify, { type FastifyBaseLogger, LogController } from 'fastify';
import type { Logger } from 'pino';
import * as z from 'zod/mini';
import type { DeclaredOutage } from '../federation/declared-outage.ts';
import type { SiteLinkStatus } from '../federation/site-uplink.ts';
import type { FleetPki } from '../pki/fleet-pki.ts';
import type { AlertService } from '../services/alert.service.ts';
import type { AuditChainService } from '../services/audit-chain.ts';
import type { ComplianceService } from '../services/compliance.service.ts';
import type { DeviceService } from '../services/device.service.ts';
import type { DeviceCommandService } from '../services/device-command.service.ts';
import type { EnrollmentTokenService } from '../services/enrollment-token.service.ts';
import type { EventService } from '../services/event.service.ts';
import { type OperatorService, requireRole } from '../services/operator.service.ts';
import type { OperatorContext } from '../services/operator-context.ts';
import type { PolicyService } from '../services/policy.service.ts';
import type { SiteService } from '../services/site.service.ts';
import { type HttpsApp, parseInput, registerErrorReplies } from './http-errors.ts';

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
const versionParams = z.object({ version: z.coerce.number().check(z.int(), z.minimum(1)) });
const includeQuery = z.object({ all: z._default(z.enum(['true', 'false']), 'false') });
const actionsQuery = z.object({
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(10_000)), 100),
  operator: z.optional(z.string()),
  target: z.optional(z.string()),
});

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
  /** On a hub: its sites. */
  sites?: SiteService;
  /** On a site: its link to the hub. */
  siteLink?: {
    status(): SiteLinkStatus;
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
    const header = request.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
    request.operator = await deps.operators.authenticate(token);
  });

  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(dashboardPage()));
  app.get('/healthz', async () => ({ status: 'ok' }));

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
    };
    return deps.devices.list(filter, query.limit, query.after);
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

  app.get('/api/v1/audit/verify', async () => deps.auditChain.verify());

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
