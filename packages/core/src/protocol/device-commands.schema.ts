import * as z from 'zod/mini';
import { captureParamsSchema } from '../evidence/evidence.ts';
import { heartbeatReplySchema, PROTOCOL_VERSION } from './device-api.schema.ts';

/**
 * Commands from the manager to one device (incident response: isolate, release, capture). The manager stores each
 * command, pushes it over the device's WebSocket (`/v1/push`) when one is open, and otherwise hands it
 * over with the next heartbeat reply or `GET /v1/commands`. The device posts one result per command
 * (`POST /v1/commands/:id/result`); a command is executed at most once per device, however often it is
 * delivered.
 */

const version = z.literal(PROTOCOL_VERSION);
const reasonSchema = z.string().check(z.minLength(1), z.maxLength(500));

/** A peer the isolated device may still talk to (the manager itself is always allowed). */
export const isolationAllowSchema = z.object({
  name: z.string().check(z.minLength(1), z.maxLength(64)),
  /** An IPv4 or IPv6 address, optionally with a /prefix. */
  address: z.string().check(z.minLength(1), z.maxLength(64)),
  port: z.optional(z.number().check(z.int(), z.minimum(1), z.maximum(65_535))),
  protocol: z._default(z.enum(['tcp', 'udp', 'any']), 'any'),
  direction: z._default(z.enum(['out', 'in', 'both']), 'out'),
});
export type IsolationAllow = z.infer<typeof isolationAllowSchema>;

export const isolateParamsSchema = z.object({
  reason: reasonSchema,
  allow: z._default(z.array(isolationAllowSchema).check(z.maxLength(64)), []),
  /** The device lifts the isolation by itself after this long, even without a release command. */
  releaseAfterMs: z.optional(z.number().check(z.int(), z.minimum(60_000), z.maximum(30 * 86_400_000))),
  /** Keep DNS (udp and tcp 53) open to the configured resolvers. */
  allowDns: z._default(z.boolean(), false),
});
export type IsolateParams = z.infer<typeof isolateParamsSchema>;

export const releaseParamsSchema = z.object({ reason: reasonSchema });
export type ReleaseParams = z.infer<typeof releaseParamsSchema>;

const commandBase = {
  id: z.uuid(),
  deviceId: z.string().check(z.minLength(1)),
  createdAt: z.number().check(z.int()),
  /** The operator's name (who asked for it). */
  createdBy: z.string(),
};

export const deviceCommandSchema = z.discriminatedUnion('kind', [
  z.object({ ...commandBase, kind: z.literal('isolate'), params: isolateParamsSchema }),
  z.object({ ...commandBase, kind: z.literal('release'), params: releaseParamsSchema }),
  z.object({ ...commandBase, kind: z.literal('capture'), params: captureParamsSchema }),
]);
export type DeviceCommand = z.infer<typeof deviceCommandSchema>;
export type DeviceCommandKind = DeviceCommand['kind'];

/** The device's isolation as its enforcer reports it after a command (or as the manager wants it). */
export const isolationStateSchema = z.object({
  isolated: z.boolean(),
  /** When the isolation began (device clock), null when not isolated. */
  since: z.nullable(z.number().check(z.int())),
  /** When the device lifts it by itself, null for never or not isolated. */
  releaseAt: z.nullable(z.number().check(z.int())),
  reason: z.nullable(z.string().check(z.maxLength(500))),
});
export type IsolationState = z.infer<typeof isolationStateSchema>;

export const NOT_ISOLATED: IsolationState = { isolated: false, since: null, releaseAt: null, reason: null };

/** POST /v1/commands/:id/result. `refused`: the device would not or could not carry it out. */
export const deviceCommandResultSchema = z.object({
  v: version,
  commandId: z.uuid(),
  status: z.enum(['done', 'failed', 'refused']),
  detail: z.string().check(z.maxLength(2000)),
  /** Device clock. */
  at: z.number().check(z.int()),
  state: isolationStateSchema,
});
export type DeviceCommandResult = z.infer<typeof deviceCommandResultSchema>;

/** GET /v1/commands: what the device has not yet reported a result for, oldest first. */
export const pendingCommandsReplySchema = z.object({ v: version, commands: z.array(deviceCommandSchema) });
export type PendingCommandsReply = z.infer<typeof pendingCommandsReplySchema>;

/** The heartbeat reply carries pending commands, for devices without a push connection. */
export const heartbeatReplyWithCommandsSchema = z.extend(heartbeatReplySchema, {
  commands: z._default(z.array(deviceCommandSchema), []),
});
export type HeartbeatReplyWithCommands = z.infer<typeof heartbeatReplyWithCommandsSchema>;

/** Manager → device over the push WebSocket. */
export const pushMessageSchema = z.discriminatedUnion('type', [
  z.object({ v: version, type: z.literal('command'), command: deviceCommandSchema }),
  z.object({ v: version, type: z.literal('hello'), serverTime: z.number().check(z.int()) }),
  /** A rollout has something new for the device (its turn came, or a rollback): poll `GET /v1/update` now. */
  z.object({ v: version, type: z.literal('update'), rolloutId: z.string() }),
]);
export type PushMessage = z.infer<typeof pushMessageSchema>;

/** POST /api/v1/devices/:id/isolate (operator role). */
export const isolateDeviceRequestSchema = isolateParamsSchema;
export type IsolateDeviceRequest = z.input<typeof isolateDeviceRequestSchema>;
/** POST /api/v1/devices/:id/release (operator role). */
export const releaseDeviceRequestSchema = releaseParamsSchema;
export type ReleaseDeviceRequest = z.input<typeof releaseDeviceRequestSchema>;

/** A refused command counts as failed; its result says it was refused. */
export type DeviceCommandStatus = 'pending' | 'sent' | 'done' | 'failed';

export interface DeviceCommandView {
  readonly id: string;
  readonly deviceId: string;
  readonly kind: DeviceCommandKind;
  readonly params: DeviceCommand['params'];
  readonly createdAt: number;
  readonly createdBy: string;
  readonly status: DeviceCommandStatus;
  readonly sentAt: number | null;
  readonly acknowledgedAt: number | null;
  readonly result: DeviceCommandResult | null;
}

export interface DeviceCommandListView {
  readonly commands: DeviceCommandView[];
}

/** The device's isolation: what operators asked for, and what the device last reported. */
export interface DeviceIsolationView {
  /** `isolated` or `released` by the latest command; null when never asked. */
  readonly desired: 'isolated' | 'released' | null;
  readonly desiredAt: number | null;
  readonly desiredBy: string | null;
  readonly reason: string | null;
  /** From the latest result; null until the device reported one. */
  readonly reported: IsolationState | null;
  readonly reportedAt: number | null;
  /** The latest command, for its status. */
  readonly commandId: string | null;
}
