import { createHmac, timingSafeEqual } from 'node:crypto';
import { type Clock, EdgewardError, type SessionView } from '@edgeward/core';
import type { Store } from '@edgeward/store';
import type { OperatorService } from './operator.service.ts';
import type { OperatorContext } from './operator-context.ts';

/**
 * Dashboard sessions: an operator token is exchanged once for a signed cookie value naming the operator
 * and an expiry. Stateless on purpose: nothing to store or prune, any replica sharing the key accepts
 * it, and every request still reads the operator, so revoking the operator ends its sessions at once.
 * Signing out clears the cookie in the browser; a copy taken before stays good until it expires, which
 * is why the lifetime is a working day and the cookie is httpOnly.
 */
export class SessionService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #operators: Pick<OperatorService, 'authenticate'>;
  readonly #key: Buffer;
  readonly #ttlMs: number;

  constructor(deps: {
    store: Store;
    clock: Clock;
    operators: Pick<OperatorService, 'authenticate'>;
    key: Buffer;
    /** Session lifetime, ms. */
    ttlMs: number;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#operators = deps.operators;
    this.#key = deps.key;
    this.#ttlMs = deps.ttlMs;
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** Checks the operator token and returns the cookie value that stands for it until `expiresAt`. */
  async login(token: string): Promise<{ session: SessionView; cookie: string }> {
    const operator = await this.#operators.authenticate(token);
    const expiresAt = this.#clock.now() + this.#ttlMs;
    const payload = Buffer.from(JSON.stringify({ o: operator.id, e: expiresAt })).toString('base64url');
    return { session: { operator, expiresAt }, cookie: `${payload}.${this.#sign(payload)}` };
  }

  /** The operator behind a cookie value, refused when altered, expired, or the operator was revoked. */
  async resume(cookie: string): Promise<OperatorContext> {
    const [payload = '', signature = ''] = cookie.split('.');
    const expected = Buffer.from(this.#sign(payload), 'base64url');
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new EdgewardError('EW_SESSION_INVALID', 'the session cookie is not valid; sign in again');
    }
    const { o: operatorId, e: expiresAt } = JSON.parse(
      Buffer.from(payload, 'base64url').toString('utf8'),
    ) as {
      o: string;
      e: number;
    };
    if (expiresAt <= this.#clock.now()) {
      throw new EdgewardError('EW_SESSION_INVALID', 'the session has expired; sign in again');
    }
    const record = await this.#store.operators.findById(operatorId);
    if (record === undefined || record.revokedAt !== null) {
      throw new EdgewardError(
        'EW_SESSION_INVALID',
        'the operator of this session was revoked; sign in again',
      );
    }
    return { id: record.id, name: record.name, role: record.role };
  }

  #sign(payload: string): string {
    return createHmac('sha256', this.#key).update(payload).digest('base64url');
  }
}
