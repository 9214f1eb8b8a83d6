import { createReadStream } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import {
  artifactNameSchema,
  compatSchema,
  createRolloutRequestSchema,
  EdgewardError,
  runningVersionReportSchema,
  setFloorRequestSchema,
  updateReportSchema,
  uploadArtifactQuerySchema,
} from '@edgeward/core';
import type { FastifyRequest } from 'fastify';
import * as z from 'zod/mini';
import { requireRole } from '../services/operator.service.ts';
import type { ArtifactService } from '../updates/artifact.service.ts';
import type { DeviceVersionService } from '../updates/device-version.service.ts';
import type { RolloutAction, RolloutService } from '../updates/rollout.service.ts';
import type { TufSource } from '../updates/tuf-repository.ts';
import { type HttpsApp, parseInput } from './http-errors.ts';

/** The update feature's routes on both listeners, kept here so the servers only call one function each. */

export interface UpdateServices {
  readonly tuf: TufSource;
  readonly artifacts: ArtifactService;
  readonly rollouts: RolloutService;
  readonly versions: DeviceVersionService;
}

/** Largest artifact accepted by the operator API (the upload is held in memory while it is hashed). */
export const ARTIFACT_MAX_BYTES = 256 * 1024 * 1024;

const fileParams = z.object({ file: z.string().check(z.maxLength(64)) });
const targetParams = z.object({ sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)) });
const rolloutParams = z.object({ id: z.string().check(z.minLength(1), z.maxLength(100)) });
const deviceParams = rolloutParams;
const actionParams = z.object({
  id: z.string().check(z.minLength(1), z.maxLength(100)),
  action: z.enum(['start', 'pause', 'resume', 'abort', 'rollback']),
});
const actionBody = z.object({ reason: z.optional(z.string().check(z.minLength(1), z.maxLength(500))) });
const floorParams = z.object({ name: artifactNameSchema });
const rootDraftBody = z.object({
  rootPublicKeysPem: z.array(z.string().check(z.minLength(1))).check(z.minLength(1), z.maxLength(16)),
  threshold: z.number().check(z.int(), z.minimum(1)),
});
const rootBody = z.object({ root: z.string().check(z.minLength(1)) });

/**
 * Device API (mutual TLS): the TUF repository, the targets with HTTP Range, the device's assignment
 * (polled), its progress reports and its signed running version.
 */
export function registerUpdateDeviceRoutes(
  app: HttpsApp,
  services: UpdateServices,
  authenticatedDevice: (request: FastifyRequest) => string,
): void {
  app.get('/v1/tuf/:file', async (request, reply) => {
    authenticatedDevice(request);
    const { file } = parseInput(fileParams, request.params, 'path');
    const body = await services.tuf.metadataFile(file);
    if (body === undefined) {
      // The TUF client reads a 404 on N.root.json as "no newer root".
      return reply
        .status(404)
        .send({ error: { code: 'EW_ROUTE_NOT_FOUND', message: `no TUF metadata ${file}` } });
    }
    return reply
      .header('content-type', 'application/json; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(body);
  });

  app.get('/v1/targets/:sha256', async (request, reply) => {
    authenticatedDevice(request);
    const { sha256 } = parseInput(targetParams, request.params, 'path');
    const target = await services.artifacts.targetFile(sha256);
    if (target === undefined) {
      throw new EdgewardError('EW_ARTIFACT_NOT_FOUND', `no published artifact has sha256 ${sha256}`);
    }
    const range = parseRange(request.headers.range, target.length);
    reply.header('accept-ranges', 'bytes').header('content-type', 'application/octet-stream');
    if (range === 'unsatisfiable') {
      return reply.status(416).header('content-range', `bytes */${target.length}`).send();
    }
    if (range === undefined) {
      return reply.header('content-length', target.length).send(createReadStream(target.path));
    }
    return reply
      .status(206)
      .header('content-range', `bytes ${range.start}-${range.end}/${target.length}`)
      .header('content-length', range.end - range.start + 1)
      .send(createReadStream(target.path, { start: range.start, end: range.end }));
  });

  app.get('/v1/update', async (request) => services.rollouts.assignmentFor(authenticatedDevice(request)));

  app.post('/v1/update/report', async (request) => {
    const deviceId = authenticatedDevice(request);
    const report = parseInput(updateReportSchema, request.body, 'update report');
    return { v: 1, ...(await services.rollouts.report(deviceId, report)) };
  });

  app.post('/v1/update/running', async (request) => {
    const deviceId = authenticatedDevice(request);
    const report = parseInput(runningVersionReportSchema, request.body, 'running-version report');
    const certificate = (request.raw.socket as TLSSocket).getPeerX509Certificate();
    if (certificate === undefined) {
      throw new EdgewardError(
        'EW_CLIENT_CERT_REQUIRED',
        'the running-version report needs the device certificate',
      );
    }
    return { v: 1, ...(await services.versions.reportRunning(deviceId, report, certificate.publicKey)) };
  });
}

/** Operator API: artifacts, floors, rollouts, patch SLA and root changes by detached signatures. */
export function registerUpdateOperatorRoutes(app: HttpsApp, services: UpdateServices): void {
  app.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer', bodyLimit: ARTIFACT_MAX_BYTES },
    (_request, body, done) => done(null, body),
  );

  app.post('/api/v1/artifacts', { bodyLimit: ARTIFACT_MAX_BYTES }, async (request, reply) => {
    requireRole(request.operator, 'operator', 'uploading an artifact');
    const query = parseInput(uploadArtifactQuerySchema, request.query, 'artifact upload');
    if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
      throw new EdgewardError(
        'EW_REQUEST_INVALID',
        'send the artifact as the body, content-type application/octet-stream',
      );
    }
    let compat: unknown;
    try {
      compat = JSON.parse(query.compat);
    } catch (error) {
      throw new EdgewardError('EW_REQUEST_INVALID', 'compat must be a JSON object of KEY: VALUE', {
        cause: error,
      });
    }
    const view = await services.artifacts.upload(request.operator, request.body, {
      name: query.name,
      version: query.version,
      severity: query.severity,
      compat: parseInput(compatSchema, compat, 'compat'),
    });
    return reply.status(201).send(view);
  });

  app.get('/api/v1/artifacts', async () => services.artifacts.list());

  app.post('/api/v1/artifacts/:name/floor', async (request) => {
    requireRole(request.operator, 'operator', 'setting an artifact floor');
    const { name } = parseInput(floorParams, request.params, 'path');
    const { version } = parseInput(setFloorRequestSchema, request.body, 'floor');
    await services.artifacts.setFloor(request.operator, name, version);
    return services.artifacts.list();
  });

  app.post('/api/v1/rollouts', async (request, reply) => {
    requireRole(request.operator, 'operator', 'creating a rollout');
    const spec = parseInput(createRolloutRequestSchema, request.body, 'rollout');
    const result = await services.rollouts.create(request.operator, spec);
    return reply.status(spec.dryRun ? 200 : 201).send(result);
  });

  app.get('/api/v1/rollouts', async () => services.rollouts.list());

  app.get('/api/v1/rollouts/:id', async (request) => {
    const { id } = parseInput(rolloutParams, request.params, 'path');
    return services.rollouts.status(id);
  });

  app.get('/api/v1/rollouts/:id/devices', async (request) => {
    const { id } = parseInput(rolloutParams, request.params, 'path');
    return services.rollouts.devices(id);
  });

  app.post('/api/v1/rollouts/:id/:action', async (request) => {
    const { id, action } = parseInput(actionParams, request.params, 'path');
    requireRole(request.operator, 'operator', `${action} of a rollout`);
    const { reason } = parseInput(actionBody, request.body ?? {}, 'rollout action');
    return services.rollouts.act(request.operator, id, action as RolloutAction, reason);
  });

  app.get('/api/v1/patches/sla', async () => services.versions.slaBreaches());

  app.get('/api/v1/devices/:id/updates', async (request) => {
    const { id } = parseInput(deviceParams, request.params, 'path');
    return services.versions.deviceUpdates(id);
  });

  app.post('/api/v1/tuf/root-draft', async (request) => {
    requireRole(request.operator, 'admin', 'drafting a TUF root');
    const body = parseInput(rootDraftBody, request.body, 'root draft');
    return { root: await services.tuf.rootDraft(body.rootPublicKeysPem, body.threshold) };
  });

  app.post('/api/v1/tuf/root', async (request) => {
    requireRole(request.operator, 'admin', 'installing a TUF root');
    const { root } = parseInput(rootBody, request.body, 'signed root');
    return { version: await services.tuf.installRoot(root) };
  });
}

/** `bytes=START-` or `bytes=START-END` (one range; what the agent's downloader sends). */
export function parseRange(
  header: string | undefined,
  length: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (match === null) return undefined;
  const start = Number(match[1]);
  const end = match[2] === '' ? length - 1 : Math.min(Number(match[2]), length - 1);
  if (start >= length || end < start) return 'unsatisfiable';
  return { start, end };
}
