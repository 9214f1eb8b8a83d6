import type { CompiledPolicy, PolicyBundle, PolicySourceFile } from '@edgeward/core';
import type { SqlExecutor } from '../sql/executor.ts';
import type {
  PolicyBundleHead,
  PolicyRepository,
  PolicyVersionRecord,
  PolicyVersionSummary,
  SignedPolicyBundle,
} from '../store.ts';
import { limitOf, Params } from './sql-helpers.ts';

interface SummaryRow {
  version: number;
  created_at: number;
  author_id: string;
  author_name: string;
  message: string;
  git_commit: string | null;
  policy_digest: string;
  rollback_of: number | null;
  bundle_issued_at: number;
  bundle_expires_at: number;
}

interface RecordRow extends SummaryRow {
  source_files: string;
  policy: string;
  bundle: string;
  crl_digest: string;
  crl_issued_at: number;
}

interface HeadRow {
  version: number;
  bundle_issued_at: number;
  bundle_expires_at: number;
  crl_digest: string;
  crl_issued_at: number;
}

const summaryColumns =
  'version, created_at, author_id, author_name, message, git_commit, policy_digest, rollback_of, bundle_issued_at, bundle_expires_at';
const recordColumns = `${summaryColumns}, source_files, policy, bundle, crl_digest, crl_issued_at`;
const headColumns = 'version, bundle_issued_at, bundle_expires_at, crl_digest, crl_issued_at';

// Held until the transaction ends, so two applies on different replicas cannot both read version n and
// both write n + 1. SQLite needs none: BEGIN IMMEDIATE already lets one writer in at a time.
const lockVersions =
  "SELECT pg_advisory_xact_lock(hashtext('edgeward.policy_versions.' || current_schema()))";

function toSummary(row: SummaryRow): PolicyVersionSummary {
  return {
    version: Number(row.version),
    createdAt: Number(row.created_at),
    authorId: row.author_id,
    authorName: row.author_name,
    message: row.message,
    gitCommit: row.git_commit,
    policyDigest: row.policy_digest,
    rollbackOf: row.rollback_of === null ? null : Number(row.rollback_of),
    bundleIssuedAt: Number(row.bundle_issued_at),
    bundleExpiresAt: Number(row.bundle_expires_at),
  };
}

function toRecord(row: RecordRow): PolicyVersionRecord {
  const { bundleIssuedAt: _issuedAt, bundleExpiresAt: _expiresAt, ...summary } = toSummary(row);
  return {
    ...summary,
    sourceFiles: JSON.parse(row.source_files) as PolicySourceFile[],
    policy: JSON.parse(row.policy) as CompiledPolicy,
    signed: toSigned(row),
  };
}

function toSigned(row: Pick<RecordRow, 'bundle' | 'crl_digest' | 'crl_issued_at'>): SignedPolicyBundle {
  return {
    bundle: JSON.parse(row.bundle) as PolicyBundle,
    crlDigest: row.crl_digest,
    crlIssuedAt: Number(row.crl_issued_at),
  };
}

export class SqlPolicyRepository implements PolicyRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async lockLatest(): Promise<PolicyVersionSummary | undefined> {
    if (this.#db.dialect === 'postgres') await this.#db.query(lockVersions);
    return this.latest();
  }

  async create(record: PolicyVersionRecord): Promise<void> {
    const { bundle } = record.signed;
    await this.#db.run(
      `INSERT INTO policy_versions (${recordColumns})
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      [
        record.version,
        record.createdAt,
        record.authorId,
        record.authorName,
        record.message,
        record.gitCommit,
        record.policyDigest,
        record.rollbackOf,
        bundle.payload.issuedAt,
        bundle.payload.expiresAt,
        JSON.stringify(record.sourceFiles),
        JSON.stringify(record.policy),
        JSON.stringify(bundle),
        record.signed.crlDigest,
        record.signed.crlIssuedAt,
      ],
    );
  }

  async latest(): Promise<PolicyVersionSummary | undefined> {
    const rows = await this.#db.query<SummaryRow>(
      `SELECT ${summaryColumns} FROM policy_versions ORDER BY version DESC LIMIT 1`,
    );
    return rows[0] === undefined ? undefined : toSummary(rows[0]);
  }

  async get(version: number): Promise<PolicyVersionRecord | undefined> {
    const rows = await this.#db.query<RecordRow>(
      `SELECT ${recordColumns} FROM policy_versions WHERE version = $1`,
      [version],
    );
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  async has(version: number): Promise<boolean> {
    const rows = await this.#db.query('SELECT 1 AS found FROM policy_versions WHERE version = $1', [version]);
    return rows.length > 0;
  }

  async list(options: { limit?: number; before?: number } = {}): Promise<PolicyVersionSummary[]> {
    const params = new Params();
    const where = options.before === undefined ? '' : `WHERE version < ${params.add(options.before)}`;
    const rows = await this.#db.query<SummaryRow>(
      `SELECT ${summaryColumns} FROM policy_versions ${where} ORDER BY version DESC LIMIT ${params.add(limitOf(options.limit))}`,
      params.values,
    );
    return rows.map(toSummary);
  }

  async head(): Promise<PolicyBundleHead | undefined> {
    const [row] = await this.#db.query<HeadRow>(
      `SELECT ${headColumns} FROM policy_versions ORDER BY version DESC LIMIT 1`,
    );
    if (row === undefined) return undefined;
    return {
      version: Number(row.version),
      issuedAt: Number(row.bundle_issued_at),
      expiresAt: Number(row.bundle_expires_at),
      crlDigest: row.crl_digest,
      crlIssuedAt: Number(row.crl_issued_at),
    };
  }

  async signedBundle(version: number): Promise<SignedPolicyBundle | undefined> {
    const [row] = await this.#db.query<Pick<RecordRow, 'bundle' | 'crl_digest' | 'crl_issued_at'>>(
      'SELECT bundle, crl_digest, crl_issued_at FROM policy_versions WHERE version = $1',
      [version],
    );
    return row === undefined ? undefined : toSigned(row);
  }

  async replaceBundle(version: number, expectedIssuedAt: number, next: SignedPolicyBundle): Promise<boolean> {
    const changed = await this.#db.run(
      `UPDATE policy_versions
       SET bundle = $3, bundle_issued_at = $4, bundle_expires_at = $5, crl_digest = $6, crl_issued_at = $7
       WHERE version = $1 AND bundle_issued_at = $2`,
      [
        version,
        expectedIssuedAt,
        JSON.stringify(next.bundle),
        next.bundle.payload.issuedAt,
        next.bundle.payload.expiresAt,
        next.crlDigest,
        next.crlIssuedAt,
      ],
    );
    return changed === 1;
  }
}
