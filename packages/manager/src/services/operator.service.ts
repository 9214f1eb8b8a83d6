import {
  type Clock,
  type CreatedOperatorView,
  EdgewardError,
  type OperatorRecord,
  type OperatorRole,
  type OperatorView,
} from '@edgeward/core';
import type { Store } from '@edgeward/store';
import type { AuditTrail } from './audit-trail.ts';
import type { OperatorContext } from './operator-context.ts';
import { newId, newSecret, sha256Hex } from './secrets.ts';

const rank: Record<OperatorRole, number> = { viewer: 0, operator: 1, admin: 2 };

/** Throws unless `operator` holds at least `role` (viewer < operator < admin). */
export function requireRole(operator: OperatorContext, role: OperatorRole, action: string): void {
  if (rank[operator.role] < rank[role]) {
    throw new EdgewardError(
      'EW_OPERATOR_ROLE_INSUFFICIENT',
      `${action} needs the ${role} role; ${operator.name} is a ${operator.role}`,
    );
  }
}

/** Operator API tokens (`ewo_…`), stored as hashes, each with a role. */
export class OperatorService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #audit: AuditTrail;

  constructor(deps: { store: Store; clock: Clock; audit: AuditTrail }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
  }

  async authenticate(token: string | undefined): Promise<OperatorContext> {
    if (token === undefined || token === '') {
      throw new EdgewardError(
        'EW_OPERATOR_TOKEN_MISSING',
        'this call needs an operator token: pass --token or set EDGEWARD_TOKEN (HTTP: Authorization: Bearer TOKEN)',
      );
    }
    const record = await this.#store.operators.findByTokenHash(sha256Hex(token));
    if (record === undefined || record.revokedAt !== null) {
      throw new EdgewardError('EW_OPERATOR_TOKEN_INVALID', 'the operator token is unknown or revoked');
    }
    return { id: record.id, name: record.name, role: record.role };
  }

  /** Creates the first admin when the fleet has none; returns its token, shown once. */
  async bootstrapAdmin(creator: OperatorContext): Promise<CreatedOperatorView | undefined> {
    if ((await this.#store.operators.countActiveAdmins()) > 0) return undefined;
    return this.create(creator, 'admin', 'admin');
  }

  async create(operator: OperatorContext, name: string, role: OperatorRole): Promise<CreatedOperatorView> {
    const token = `ewo_${newSecret(32)}`;
    const record: OperatorRecord = {
      id: newId('op'),
      name,
      role,
      tokenHash: sha256Hex(token),
      createdAt: this.#clock.now(),
      createdBy: operator.name,
      revokedAt: null,
    };
    await this.#store.transaction(async (store) => {
      await store.operators.create(record);
      await this.#audit.record(store, operator, 'operator.create', record.id, { name, role });
    });
    return { ...view(record), token };
  }

  async list(includeRevoked: boolean): Promise<OperatorView[]> {
    return (await this.#store.operators.list({ includeRevoked })).map(view);
  }

  async revoke(operator: OperatorContext, id: string): Promise<OperatorView> {
    return this.#store.transaction(async (store) => {
      const record = await store.operators.findById(id);
      if (record === undefined) {
        throw new EdgewardError(
          'EW_OPERATOR_NOT_FOUND',
          `no operator has id ${id}; see \`edgeward operators list\``,
        );
      }
      if (
        record.role === 'admin' &&
        record.revokedAt === null &&
        (await store.operators.countActiveAdmins()) <= 1
      ) {
        throw new EdgewardError(
          'EW_LAST_ADMIN',
          `${record.name} is the last admin; create another admin first`,
        );
      }
      await store.operators.revoke(id, this.#clock.now());
      await this.#audit.record(store, operator, 'operator.revoke', id, { name: record.name });
      return view((await store.operators.findById(id)) ?? record);
    });
  }
}

function view(record: OperatorRecord): OperatorView {
  return {
    id: record.id,
    name: record.name,
    role: record.role,
    createdAt: record.createdAt,
    createdBy: record.createdBy,
    revokedAt: record.revokedAt,
  };
}
