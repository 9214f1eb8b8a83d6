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
import type * as z from 'zod/mini';
import type { SiteService } from '../services/site.service.ts';
import { type HttpsApp, parseInput } from './http-errors.ts';

/** The routes only a site identity may call on its hub's device API (mutual TLS). */
export function registerSiteRoutes(
  app: HttpsApp,
  deps: { sites: SiteService; authenticatedSite: (request: FastifyRequest) => string },
): void {
  const { sites } = deps;
  /** A site's upload: who sent it (from its certificate), what it sent (checked against `schema`). */
  const post = <Schema extends z.core.$ZodType>(
    path: string,
    schema: Schema,
    what: string,
    handle: (siteId: string, input: z.output<Schema>) => Promise<unknown>,
  ) =>
    app.post(path, async (request) =>
      handle(deps.authenticatedSite(request), parseInput(schema, request.body, what)),
    );

  post('/v1/site/delegation', siteDelegationRequestSchema, 'delegation request', (id, input) =>
    sites.delegate(id, input),
  );
  post('/v1/site/events', siteEventsBatchSchema, 'site event batch', (id, input) =>
    sites.ingestEvents(id, input),
  );
  post('/v1/site/inventory', siteInventoryBatchSchema, 'site inventory batch', (id, input) =>
    sites.ingestInventory(id, input),
  );
  post('/v1/site/compliance', siteComplianceBatchSchema, 'site compliance batch', (id, input) =>
    sites.ingestCompliance(id, input),
  );
  app.get('/v1/site/rollouts', async (request) => sites.rolloutsFor(deps.authenticatedSite(request)));
  post('/v1/site/rollouts', siteRolloutReportSchema, 'site rollout report', (id, input) =>
    sites.rolloutReport(id, input),
  );
  post('/v1/site/versions', siteVersionsBatchSchema, 'site versions batch', (id, input) =>
    sites.ingestVersions(id, input),
  );
  post('/v1/site/status', siteStatusReportSchema, 'site status', (id, input) => sites.status(id, input));
  post('/v1/site/alerts', siteAlertsBatchSchema, 'site alerts batch', (id, input) =>
    sites.ingestAlerts(id, input),
  );
  post('/v1/site/audit', deviceAuditUploadSchema, 'site audit upload', (id, input) =>
    sites.anchorAudit(id, input),
  );
  post('/v1/site/command-results', siteCommandResultsSchema, 'site command results', (id, input) =>
    sites.recordCommandResults(id, input),
  );
}
