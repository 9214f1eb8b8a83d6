import {
  type Clock,
  type CompiledPolicy,
  compilePolicy,
  EdgewardError,
  formatPolicyPlan,
  type HybridTimestamp,
  hubFederationOf,
  type PolicyBundle,
  type PolicyBundleReply,
  type PolicyPlanView,
  type PolicyProblem,
  type PolicySourceFile,
  type PolicyVersionDetailView,
  type PolicyVersionListView,
  type PolicyVersionView,
  PROTOCOL_VERSION,
  planPolicy,
  policyDigest,
} from '@edgeward/core';
import type { PolicyBundleHead, PolicyVersionSummary, SignedPolicyBundle, Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { FleetPki } from '../pki/fleet-pki.ts';
import type { AuditTrail } from './audit-trail.ts';
import type { OperatorContext } from './operator-context.ts';
import type { RevocationService } from './revocation.service.ts';

/** Problems named in the message of EW_POLICY_INVALID; the details list them all. */
const PROBLEMS_IN_MESSAGE = 5;
/** Compiled policies kept in memory by version (versions never change, so nothing goes stale). */
const CACHED_POLICIES = 8;
/** Devices read per page while planning. */
const PLAN_PAGE = 1000;

interface NewVersion {
  readonly sourceFiles: readonly PolicySourceFile[];
  readonly policy: CompiledPolicy;
  readonly digest: string;
  readonly message: string;
  readonly gitCommit: string | null;
  readonly rollbackOf: number | null;
}

/**
 * Policy versions: compiled from a folder, stored with who, why and which commit, and served to devices
 * as a signed bundle. The version in force (the highest) is re-signed — same version, later `issuedAt` —
 * when half its lifetime has passed, and when the fleet's revocations change, so that the CRLs it carries
 * stay current; replicas sharing the database race for that safely (the store keeps the first re-sign).
 */
export class PolicyService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #pki: FleetPki;
  readonly #revocations: RevocationService;
  readonly #audit: AuditTrail;
  readonly #logger: Logger;
  readonly #policies = new Map<number, CompiledPolicy>();
  #served: PolicyBundle | undefined;
  #resigning: Promise<void> | undefined;
  #warnedKeyId: string | undefined;
  readonly #onVersion: (() => void) | undefined;

  constructor(deps: {
    store: Store;
    clock: Clock;
    pki: FleetPki;
    revocations: RevocationService;
    audit: AuditTrail;
    logger: Logger;
    /** Hears each new version this replica commits (others find it by polling). */
    onVersion?: () => void;
  }) {
    this.#onVersion = deps.onVersion;
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#pki = deps.pki;
    this.#revocations = deps.revocations;
    this.#audit = deps.audit;
    this.#logger = deps.logger;
  }

  /** What applying `files` would change against the version in force, for the fleet as it is now. */
  async plan(files: readonly PolicySourceFile[]): Promise<PolicyPlanView> {
    const { policy: next, warnings } = compileOrThrow(files);
    const latest = await this.#store.policies.latest();
    const current = latest === undefined ? undefined : await this.policyOf(latest.version);
    const plan = planPolicy({ current, next, devices: await this.#fleetForPlan() });
    return { plan, text: formatPolicyPlan(plan), warnings };
  }

  /**
   * Makes `files` the next version: compiled (EW_POLICY_INVALID lists every problem), refused when it is
   * the policy in force already (EW_POLICY_UNCHANGED), else stored with its signed bundle and recorded as
   * the operator's action, all in one transaction.
   */
  async apply(
    operator: OperatorContext,
    files: readonly PolicySourceFile[],
    message: string,
    gitCommit: string | undefined,
  ): Promise<PolicyVersionView> {
    const { policy } = compileOrThrow(files);
    const digest = policyDigest(policy);
    const created = await this.#store.transaction(async (store) => {
      const latest = await store.policies.lockLatest();
      if (latest !== undefined && latest.policyDigest === digest) {
        throw new EdgewardError(
          'EW_POLICY_UNCHANGED',
          `the policy compiles to version ${latest.version}, which is in force already; nothing was applied`,
          { details: { version: latest.version, policyDigest: digest } },
        );
      }
      return this.#create(store, operator, latest, {
        sourceFiles: files,
        policy,
        digest,
        message,
        gitCommit: gitCommit ?? null,
        rollbackOf: null,
      });
    });
    this.#logger.info(
      { version: created.version, by: operator.name, policyDigest: digest, gitCommit },
      'policy version applied',
    );
    this.#onVersion?.();
    return created;
  }

  /** A new version whose policy (and source files) are those of `version`: versions only go up. */
  async rollback(operator: OperatorContext, version: number, message: string): Promise<PolicyVersionView> {
    const target = await this.#store.policies.get(version);
    if (target === undefined) throw versionNotFound(version);
    const created = await this.#store.transaction(async (store) => {
      const latest = await store.policies.lockLatest();
      if (latest !== undefined && latest.policyDigest === target.policyDigest) {
        throw new EdgewardError(
          'EW_POLICY_UNCHANGED',
          `version ${version} has the policy of version ${latest.version}, which is in force already; nothing was rolled back`,
          { details: { version: latest.version, policyDigest: target.policyDigest } },
        );
      }
      return this.#create(store, operator, latest, {
        sourceFiles: target.sourceFiles,
        policy: target.policy,
        digest: target.policyDigest,
        message,
        gitCommit: target.gitCommit,
        rollbackOf: version,
      });
    });
    this.#logger.info(
      { version: created.version, rollbackOf: version, by: operator.name },
      'policy rolled back',
    );
    this.#onVersion?.();
    return created;
  }

  /** Newest first. */
  async history(limit = 1000): Promise<PolicyVersionListView> {
    const versions = await this.#store.policies.list({ limit });
    const inForce = versions[0]?.version;
    return { versions: versions.map((summary) => toView(summary, inForce)) };
  }

  async show(version: number): Promise<PolicyVersionDetailView> {
    const [record, latest] = await Promise.all([
      this.#store.policies.get(version),
      this.#store.policies.latest(),
    ]);
    if (record === undefined) throw versionNotFound(version);
    const { payload, signature } = record.signed.bundle;
    return {
      ...toView(
        { ...record, bundleIssuedAt: payload.issuedAt, bundleExpiresAt: payload.expiresAt },
        latest?.version,
      ),
      sourceFiles: [...record.sourceFiles],
      policy: record.policy,
      bundle: { issuedAt: payload.issuedAt, expiresAt: payload.expiresAt, keyId: signature.keyId },
    };
  }

  /** The compiled policy of a version; undefined when there is no such version. */
  async policyOf(version: number): Promise<CompiledPolicy | undefined> {
    const cached = this.#policies.get(version);
    if (cached !== undefined) return cached;
    const record = await this.#store.policies.get(version);
    if (record === undefined) return undefined;
    if (this.#policies.size >= CACHED_POLICIES) {
      const oldest = this.#policies.keys().next().value;
      if (oldest !== undefined) this.#policies.delete(oldest);
    }
    this.#policies.set(version, record.policy);
    return record.policy;
  }

  /**
   * GET /v1/policy: the bundle in force, or undefined when none is applied or the device already holds
   * it (same version and issue time).
   */
  async bundleFor(held: {
    version?: number | undefined;
    issuedAt?: number | undefined;
  }): Promise<PolicyBundleReply | undefined> {
    const bundle = await this.currentBundle();
    if (bundle === undefined) return undefined;
    if (held.version === bundle.payload.version && held.issuedAt === bundle.payload.issuedAt)
      return undefined;
    return { v: PROTOCOL_VERSION, bundle };
  }

  /** The signed bundle of the version in force, re-signed first when it is due (see the class comment). */
  async currentBundle(): Promise<PolicyBundle | undefined> {
    const head = await this.#store.policies.head();
    if (head === undefined) return undefined;
    if (!this.#needsResign(head)) return this.#bundleOf(head);
    this.#resigning ??= this.#resign(head).finally(() => {
      this.#resigning = undefined;
    });
    await this.#resigning;
    // Whoever won the race, the store now holds the bundle to serve.
    const after = await this.#store.policies.head();
    return after === undefined ? undefined : this.#bundleOf(after);
  }

  async #create(
    store: Store,
    operator: OperatorContext,
    latest: PolicyVersionSummary | undefined,
    next: NewVersion,
  ): Promise<PolicyVersionView> {
    const version = (latest?.version ?? 0) + 1;
    const now = this.#clock.now();
    const signed = await this.#sign(store, {
      version,
      policy: next.policy,
      digest: next.digest,
      issuedAt: now,
      changedAt: { wallMs: now, counter: 0, node: 'hub' },
    });
    await store.policies.create({
      version,
      createdAt: now,
      authorId: operator.id,
      authorName: operator.name,
      message: next.message,
      gitCommit: next.gitCommit,
      sourceFiles: next.sourceFiles,
      policy: next.policy,
      policyDigest: next.digest,
      rollbackOf: next.rollbackOf,
      signed,
    });
    await this.#audit.record(
      store,
      operator,
      next.rollbackOf === null ? 'policy.apply' : 'policy.rollback',
      `policy/${version}`,
      {
        version,
        policyDigest: next.digest,
        message: next.message,
        gitCommit: next.gitCommit,
        files: next.sourceFiles.length,
        ...(next.rollbackOf === null ? {} : { rollbackOf: next.rollbackOf }),
      },
    );
    const { payload } = signed.bundle;
    return toView(
      {
        version,
        createdAt: now,
        authorId: operator.id,
        authorName: operator.name,
        message: next.message,
        gitCommit: next.gitCommit,
        policyDigest: next.digest,
        rollbackOf: next.rollbackOf,
        bundleIssuedAt: payload.issuedAt,
        bundleExpiresAt: payload.expiresAt,
      },
      version,
    );
  }

  async #sign(
    store: Store,
    input: {
      version: number;
      policy: CompiledPolicy;
      digest: string;
      issuedAt: number;
      /** When the version's governed settings changed (its creation), for the federation block. */
      changedAt: HybridTimestamp;
    },
  ): Promise<SignedPolicyBundle> {
    const revocations = this.#revocations;
    const sites =
      input.policy.federation === undefined
        ? []
        : (await store.sites.list()).map((site) => ({
            site: site.id,
            overlayPublicKeyPem: site.overlayPublicKeyPem,
            maxOfflineMs: site.maxOfflineMs,
          }));
    const federation = hubFederationOf(input.policy.federation, sites, input.changedAt);
    const bundle = this.#pki.signPolicyBundle({
      fleet: this.#pki.fleet,
      version: input.version,
      issuedAt: input.issuedAt,
      expiresAt: input.issuedAt + input.policy.settings.bundleExpiryMs,
      crlPems: [...revocations.crls],
      policyDigest: input.digest,
      policy: input.policy,
      ...(federation === undefined ? {} : { federation }),
    });
    return { bundle, crlDigest: revocations.revokedDigest, crlIssuedAt: revocations.issuedAt };
  }

  /**
   * Re-signs the version in force now when it governs settings across sites, so that a site's new
   * delegation (its overlay key) reaches the devices in a bundle they can verify.
   */
  async sitesChanged(): Promise<void> {
    const head = await this.#store.policies.head();
    if (head === undefined) return;
    const current = await this.#store.policies.signedBundle(head.version);
    if (current?.bundle.payload.policy.federation === undefined) return;
    this.#resigning ??= this.#resign(head).finally(() => {
      this.#resigning = undefined;
    });
    await this.#resigning;
  }

  /**
   * Due when half the bundle's lifetime has passed, or when this replica holds CRLs newer than the
   * bundle's that revoke other certificates, or that are fresher while the bundle's are half expired.
   * A replica whose CRLs are older than the bundle's never re-signs, so replicas cannot take turns
   * replacing each other's bundles.
   */
  #needsResign(head: PolicyBundleHead): boolean {
    const now = this.#clock.now();
    if (now - head.issuedAt >= (head.expiresAt - head.issuedAt) / 2) return true;
    const revocations = this.#revocations;
    if (revocations.issuedAt >= head.crlIssuedAt && revocations.revokedDigest !== head.crlDigest) return true;
    // Only CRLs that are themselves fresh help: re-signing with CRLs as old would change nothing.
    const halfValidity = revocations.crlValidityMs / 2;
    return (
      revocations.issuedAt > head.crlIssuedAt &&
      now - head.crlIssuedAt >= halfValidity &&
      now - revocations.issuedAt < halfValidity
    );
  }

  async #resign(head: PolicyBundleHead): Promise<void> {
    const current = await this.#store.policies.signedBundle(head.version);
    if (current === undefined) return;
    const { payload } = current.bundle;
    const signed = await this.#sign(this.#store, {
      version: payload.version,
      policy: payload.policy,
      digest: payload.policyDigest,
      // Later than the bundle it replaces even when clocks disagree: agents only take a later one.
      issuedAt: Math.max(this.#clock.now(), payload.issuedAt + 1),
      // The same version: its settings did not change.
      changedAt: Object.values(payload.federation?.settings ?? {})[0]?.changedAt ?? {
        wallMs: head.issuedAt,
        counter: 0,
        node: 'hub',
      },
    });
    const replaced = await this.#store.policies.replaceBundle(head.version, head.issuedAt, signed);
    this.#logger.info(
      {
        version: head.version,
        issuedAt: signed.bundle.payload.issuedAt,
        crlsChanged: signed.crlDigest !== head.crlDigest,
        replaced,
      },
      replaced ? 'policy bundle re-signed' : 'policy bundle re-signed by another replica first',
    );
  }

  async #bundleOf(head: PolicyBundleHead): Promise<PolicyBundle | undefined> {
    const served = this.#served;
    if (served?.payload.version === head.version && served.payload.issuedAt === head.issuedAt) return served;
    const signed = await this.#store.policies.signedBundle(head.version);
    if (signed === undefined) return undefined;
    const keyId = signed.bundle.signature.keyId;
    if (keyId !== this.#pki.policyKeyId && this.#warnedKeyId !== keyId) {
      this.#warnedKeyId = keyId;
      this.#logger.warn(
        { version: head.version, bundleKeyId: keyId, ownKeyId: this.#pki.policyKeyId },
        'the policy bundle in force was signed with another key: replicas sharing the database must share the pki directory',
      );
    }
    this.#served = signed.bundle;
    return signed.bundle;
  }

  /** Every unrevoked device with its labels and the checks it fails now. */
  async #fleetForPlan(): Promise<
    { id: string; labels: Record<string, string>; failingCheckIds: string[] }[]
  > {
    const failing = await this.#store.compliance.failingChecks();
    const devices: { id: string; labels: Record<string, string>; failingCheckIds: string[] }[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.#store.devices.list(
        {},
        { limit: PLAN_PAGE, ...(after === undefined ? {} : { after }) },
      );
      for (const device of page) {
        devices.push({ id: device.id, labels: device.labels, failingCheckIds: failing.get(device.id) ?? [] });
      }
      if (page.length < PLAN_PAGE) return devices;
      after = page.at(-1)?.id;
    }
  }
}

function compileOrThrow(files: readonly PolicySourceFile[]): {
  policy: CompiledPolicy;
  warnings: readonly PolicyProblem[];
} {
  const result = compilePolicy(files);
  if (result.ok) return { policy: result.policy, warnings: result.warnings };
  const { problems } = result;
  const shown = problems.slice(0, PROBLEMS_IN_MESSAGE).map(problemText).join('; ');
  const more =
    problems.length > PROBLEMS_IN_MESSAGE ? `; and ${problems.length - PROBLEMS_IN_MESSAGE} more` : '';
  throw new EdgewardError(
    'EW_POLICY_INVALID',
    `the policy has ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${shown}${more}; fix them and apply again (\`edgeward policy validate\` shows them all)`,
    { details: { problems } },
  );
}

/** `baselines/ssh.yaml:12:5 checks.0.check.port: expected a number`. */
function problemText(problem: PolicyProblem): string {
  const position =
    problem.line === undefined
      ? ''
      : `:${problem.line}${problem.column === undefined ? '' : `:${problem.column}`}`;
  const field = problem.field === undefined || problem.field === '' ? '' : ` ${problem.field}`;
  return `${problem.file}${position}${field}: ${problem.message}`;
}

function versionNotFound(version: number): EdgewardError {
  return new EdgewardError(
    'EW_POLICY_VERSION_NOT_FOUND',
    `no policy version ${version}; \`edgeward policy history\` lists them`,
  );
}

function toView(summary: PolicyVersionSummary, inForce: number | undefined): PolicyVersionView {
  return {
    version: summary.version,
    createdAt: summary.createdAt,
    author: summary.authorName,
    authorId: summary.authorId,
    message: summary.message,
    gitCommit: summary.gitCommit,
    policyDigest: summary.policyDigest,
    rollbackOf: summary.rollbackOf,
    inForce: summary.version === inForce,
  };
}
