import {
  type Clock,
  type CreatedEnrollmentTokenView,
  EdgewardError,
  type EnrollmentTokenRecord,
  type EnrollmentTokenView,
  type Labels,
} from '@edgeward/core';
import type { Store } from '@edgeward/store';
import type { AuditTrail } from './audit-trail.ts';
import type { OperatorContext } from './operator-context.ts';
import { newId, newSecret, sameHash, sha256Hex } from './secrets.ts';

/**
 * One-time, expiring enrollment tokens. The token a user holds is `<id>.<secret>`: the id finds the
 * record (so an expired or used token can be named as such), the secret proves possession and is stored
 * only as a hash.
 */
export class EnrollmentTokenService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #audit: AuditTrail;
  readonly #enrollCommand: (token: string) => string;

  constructor(deps: {
    store: Store;
    clock: Clock;
    audit: AuditTrail;
    enrollCommand: (token: string) => string;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
    this.#enrollCommand = deps.enrollCommand;
  }

  async create(
    operator: OperatorContext,
    labels: Labels,
    ttlMs: number,
  ): Promise<CreatedEnrollmentTokenView> {
    const now = this.#clock.now();
    const secret = newSecret();
    const record: EnrollmentTokenRecord = {
      id: newId('et'),
      secretHash: sha256Hex(secret),
      labels,
      createdAt: now,
      createdBy: operator.name,
      expiresAt: now + ttlMs,
      usedAt: null,
      usedByDeviceId: null,
      revokedAt: null,
    };
    await this.#store.transaction(async (store) => {
      await store.tokens.create(record);
      await this.#audit.record(store, operator, 'token.create', record.id, {
        labels,
        expiresAt: record.expiresAt,
      });
    });
    const token = `${record.id}.${secret}`;
    return { ...this.#view(record), token, enrollCommand: this.#enrollCommand(token) };
  }

  async list(includeInactive: boolean): Promise<EnrollmentTokenView[]> {
    const now = this.#clock.now();
    const records = await this.#store.tokens.list({ includeInactive, now });
    return records.map((record) => this.#view(record));
  }

  async revoke(operator: OperatorContext, id: string): Promise<EnrollmentTokenView> {
    return this.#store.transaction(async (store) => {
      const record = await store.tokens.findById(id);
      if (record === undefined) {
        throw new EdgewardError(
          'EW_TOKEN_NOT_FOUND',
          `no enrollment token has id ${id}; see \`edgeward tokens list\``,
        );
      }
      await store.tokens.revoke(id, this.#clock.now());
      await this.#audit.record(store, operator, 'token.revoke', id);
      return this.#view((await store.tokens.findById(id)) ?? record);
    });
  }

  /**
   * Checks a presented token and names exactly what is wrong with it. Consumption happens in the
   * enrollment transaction (`Store.tokens.markUsed`), so two devices racing for one token cannot both win.
   */
  async check(store: Store, presented: string): Promise<EnrollmentTokenRecord> {
    const [id, secret] = presented.split('.', 2);
    const record = id === undefined ? undefined : await store.tokens.findById(id);
    if (record === undefined || secret === undefined || !sameHash(record.secretHash, sha256Hex(secret))) {
      throw new EdgewardError(
        'EW_ENROLLMENT_TOKEN_UNKNOWN',
        'the enrollment token is not known to this manager; check it was copied whole, or create one with `edgeward tokens create`',
      );
    }
    if (record.revokedAt !== null) {
      throw new EdgewardError('EW_ENROLLMENT_TOKEN_REVOKED', `enrollment token ${record.id} was revoked`);
    }
    if (record.usedAt !== null) {
      throw new EdgewardError(
        'EW_ENROLLMENT_TOKEN_USED',
        `enrollment token ${record.id} was already used by device ${record.usedByDeviceId}; tokens are single-use`,
      );
    }
    if (record.expiresAt <= this.#clock.now()) {
      throw new EdgewardError(
        'EW_ENROLLMENT_TOKEN_EXPIRED',
        `enrollment token ${record.id} expired at ${new Date(record.expiresAt).toISOString()}; create a new one with \`edgeward tokens create\``,
      );
    }
    return record;
  }

  #view(record: EnrollmentTokenRecord): EnrollmentTokenView {
    const now = this.#clock.now();
    const state =
      record.revokedAt !== null
        ? 'revoked'
        : record.usedAt !== null
          ? 'used'
          : record.expiresAt <= now
            ? 'expired'
            : 'active';
    return {
      id: record.id,
      labels: record.labels,
      createdAt: record.createdAt,
      createdBy: record.createdBy,
      expiresAt: record.expiresAt,
      state,
      usedByDeviceId: record.usedByDeviceId,
    };
  }
}
