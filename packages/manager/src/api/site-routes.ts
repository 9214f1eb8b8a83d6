import {
  deviceAuditUploadSchema,
  siteAlertsBatchSchema,
  siteCommandResultsSchema,
  siteComplianceBatchSchema,
  siteDelegationRequestSchema,
  siteEventsBatchSchema,
  siteInventoryBatchSchema,
  siteRolloutReportSchema,
  siteStatusReportSchema,
  siteVersionsBatchSchema,
} from '@edgeward/core';
import type { FastifyRequest } from 'fastify';
import type { SiteService } from '../services/site.service.ts';
import { type HttpsApp, parseInput } from './http-errors.ts';

/** The routes only a site identity may call on its hub's device API (mutual TLS). */
export function registerSiteRoutes(
  app: HttpsApp,
  deps: { sites: SiteService; authenticatedSite: (request: FastifyRequest) => string },
): void {
  app.post('/v1/site/delegation', async (request) =>
    deps.sites.delegate(
      deps.authenticatedSite(request),
      parseInput(siteDelegationRequestSchema, request.body, 'delegation request'),
    ),
  );

  app.post('/v1/site/events', async (request) =>
    deps.sites.ingestEvents(
      deps.authenticatedSite(request),
      parseInput(siteEventsBatchSchema, request.body, 'site event batch'),
    ),
  );

  app.post('/v1/site/inventory', async (request) =>
    deps.sites.ingestInventory(
      deps.authenticatedSite(request),
      parseInput(siteInventoryBatchSchema, request.body, 'site inventory batch'),
    ),
  );

  app.post('/v1/site/compliance', async (request) =>
    deps.sites.ingestCompliance(
      deps.authenticatedSite(request),
      parseInput(siteComplianceBatchSchema, request.body, 'site compliance batch'),
    ),
  );

  app.get('/v1/site/rollouts', async (request) => deps.sites.rolloutsFor(deps.authenticatedSite(request)));

  app.post('/v1/site/rollouts', async (request) =>
    deps.sites.rolloutReport(
      deps.authenticatedSite(request),
      parseInput(siteRolloutReportSchema, request.body, 'site rollout report'),
    ),
  );

  app.post('/v1/site/versions', async (request) =>
    deps.sites.ingestVersions(
      deps.authenticatedSite(request),
      parseInput(siteVersionsBatchSchema, request.body, 'site versions batch'),
    ),
  );

  app.post('/v1/site/status', async (request) =>
    deps.sites.status(
      deps.authenticatedSite(request),
      parseInput(siteStatusReportSchema, request.body, 'site status'),
    ),
  );

  app.post('/v1/site/alerts', async (request) =>
    deps.sites.ingestAlerts(
      deps.authenticatedSite(request),
      parseInput(siteAlertsBatchSchema, request.body, 'site alerts batch'),
    ),
  );

  app.post('/v1/site/audit', async (request) =>
    deps.sites.anchorAudit(
      deps.authenticatedSite(request),
      parseInput(deviceAuditUploadSchema, request.body, 'site audit upload'),
    ),
  );

  app.post('/v1/site/command-results', async (request) =>
    deps.sites.recordCommandResults(
      deps.authenticatedSite(request),
      parseInput(siteCommandResultsSchema, request.body, 'site command results'),
    ),
  );
}
