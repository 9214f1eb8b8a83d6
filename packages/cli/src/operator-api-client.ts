import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import {
  type AlertDeliveryListView,
  type AlertDetailView,
  type AlertListView,
  type AlertNoiseView,
  type AlertView,
  type ApplyPolicyRequest,
  type ArtifactListView,
  type ArtifactView,
  type AuditEntriesView,
  type AuditExportBundle,
  type AuditVerifyView,
  type CaptureDeviceRequest,
  type ChangeView,
  type ComplianceFleetView,
  type CreatedEnrollmentTokenView,
  type CreatedOperatorView,
  type CreatedSiteView,
  type CreateRolloutRequest,
  type CreateSite,
  type DeviceAuditChainView,
  type DeviceAuditVerifyView,
  type DeviceCommandListView,
  type DeviceCommandView,
  type DeviceComplianceView,
  type DeviceDetailWithIsolationView,
  type DeviceListView,
  type DeviceView,
  EdgewardError,
  type EnrollmentTokenView,
  type EventListView,
  type EvidenceDetailView,
  type EvidenceListView,
  type FleetView,
  type IncidentDetailView,
  type IncidentListView,
  type IncidentState,
  type IncidentView,
  type IsolateDeviceRequest,
  isErrorCode,
  type OpenIncidentRequest,
  type OperatorActionView,
  type OperatorView,
  type PatchSlaView,
  type PolicyPlanRequest,
  type PolicyPlanView,
  type PolicyVersionDetailView,
  type PolicyVersionListView,
  type PolicyVersionView,
  type ReleaseDeviceRequest,
  type ResolveAlertRequest,
  type RollbackPolicyRequest,
  type RolloutDryRunView,
  type RolloutView,
  type SiteView,
} from '@edgeward/core';
import type { CliIo } from './cli-io.ts';

export interface OperatorApiOptions {
  /** https://HOST:PORT of the operator API. */
  readonly url: string;
  readonly token: string | undefined;
  /** PEM of the fleet root CA that signed the manager's server certificate. */
  readonly caPem: string;
}

/** The typed client of the operator API that every operator command goes through. */
export class OperatorApiClient {
  readonly #options: OperatorApiOptions;

  constructor(options: OperatorApiOptions) {
    this.#options = options;
  }

  fleet() {
    return this.#call<FleetView>('GET', '/api/v1/fleet');
  }
  listDevices(query: URLSearchParams) {
    return this.#call<DeviceListView>('GET', `/api/v1/devices?${query}`);
  }
  showDevice(id: string) {
    return this.#call<DeviceDetailWithIsolationView>('GET', `/api/v1/devices/${encodeURIComponent(id)}`);
  }
  isolateDevice(id: string, request: IsolateDeviceRequest) {
    return this.#call<DeviceCommandView>(
      'POST',
      `/api/v1/devices/${encodeURIComponent(id)}/isolate`,
      request,
    );
  }
  releaseDevice(id: string, request: ReleaseDeviceRequest) {
    return this.#call<DeviceCommandView>(
      'POST',
      `/api/v1/devices/${encodeURIComponent(id)}/release`,
      request,
    );
  }
  captureDevice(id: string, request: CaptureDeviceRequest) {
    return this.#call<DeviceCommandView>(
      'POST',
      `/api/v1/devices/${encodeURIComponent(id)}/capture`,
      request,
    );
  }
  listEvidence(query: URLSearchParams) {
    return this.#call<EvidenceListView>('GET', `/api/v1/evidence?${query}`);
  }
  showEvidence(id: string) {
    return this.#call<EvidenceDetailView>('GET', `/api/v1/evidence/${encodeURIComponent(id)}`);
  }
  evidenceContent(id: string) {
    return this.#call<Buffer>('GET', `/api/v1/evidence/${encodeURIComponent(id)}/content`, undefined, true);
  }
  deviceCommands(id: string) {
    return this.#call<DeviceCommandListView>('GET', `/api/v1/devices/${encodeURIComponent(id)}/commands`);
  }
  deviceHistory(id: string, query: URLSearchParams) {
    return this.#call<{ changes: ChangeView[] }>(
      'GET',
      `/api/v1/devices/${encodeURIComponent(id)}/history?${query}`,
    );
  }
  revokeDevice(id: string, reason: string) {
    return this.#call<DeviceView>('POST', `/api/v1/devices/${encodeURIComponent(id)}/revoke`, { reason });
  }
  listEvents(query: URLSearchParams) {
    return this.#call<EventListView>('GET', `/api/v1/events?${query}`);
  }
  createToken(labels: Record<string, string>, ttlMs: number) {
    return this.#call<CreatedEnrollmentTokenView>('POST', '/api/v1/tokens', { labels, ttlMs });
  }
  listTokens(all: boolean) {
    return this.#call<{ tokens: EnrollmentTokenView[] }>('GET', `/api/v1/tokens?all=${all}`);
  }
  revokeToken(id: string) {
    return this.#call<EnrollmentTokenView>('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
  }
  createSite(request: CreateSite) {
    return this.#call<CreatedSiteView>('POST', '/api/v1/sites', request);
  }
  listSites() {
    return this.#call<{ sites: SiteView[] }>('GET', '/api/v1/sites');
  }
  showSite(id: string) {
    return this.#call<SiteView>('GET', `/api/v1/sites/${encodeURIComponent(id)}`);
  }
  revokeSite(id: string, reason: string) {
    return this.#call<SiteView>('POST', `/api/v1/sites/${encodeURIComponent(id)}/revoke`, { reason });
  }
  createOperator(name: string, role: string) {
    return this.#call<CreatedOperatorView>('POST', '/api/v1/operators', { name, role });
  }
  listOperators(all: boolean) {
    return this.#call<{ operators: OperatorView[] }>('GET', `/api/v1/operators?all=${all}`);
  }
  revokeOperator(id: string) {
    return this.#call<OperatorView>('DELETE', `/api/v1/operators/${encodeURIComponent(id)}`);
  }
  planPolicy(request: PolicyPlanRequest) {
    return this.#call<PolicyPlanView>('POST', '/api/v1/policy/plan', request);
  }
  applyPolicy(request: ApplyPolicyRequest) {
    return this.#call<PolicyVersionView>('POST', '/api/v1/policy/versions', request);
  }
  rollbackPolicy(request: RollbackPolicyRequest) {
    return this.#call<PolicyVersionView>('POST', '/api/v1/policy/rollback', request);
  }
  policyVersions() {
    return this.#call<PolicyVersionListView>('GET', '/api/v1/policy/versions');
  }
  policyVersion(version: number) {
    return this.#call<PolicyVersionDetailView>('GET', `/api/v1/policy/versions/${version}`);
  }
  compliance(days: number) {
    return this.#call<ComplianceFleetView>('GET', `/api/v1/compliance?days=${days}`);
  }
  deviceCompliance(id: string) {
    return this.#call<DeviceComplianceView>('GET', `/api/v1/compliance/devices/${encodeURIComponent(id)}`);
  }
  listAlerts(query: URLSearchParams) {
    return this.#call<AlertListView>('GET', `/api/v1/alerts?${query}`);
  }
  showAlert(id: string) {
    return this.#call<AlertDetailView>('GET', `/api/v1/alerts/${encodeURIComponent(id)}`);
  }
  acknowledgeAlert(id: string) {
    return this.#call<AlertView>('POST', `/api/v1/alerts/${encodeURIComponent(id)}/ack`, {});
  }
  resolveAlert(id: string, request: ResolveAlertRequest) {
    return this.#call<AlertView>('POST', `/api/v1/alerts/${encodeURIComponent(id)}/resolve`, request);
  }
  assignAlert(id: string, assignee: string) {
    return this.#call<AlertView>('POST', `/api/v1/alerts/${encodeURIComponent(id)}/assign`, { assignee });
  }
  commentAlert(id: string, text: string) {
    return this.#call<AlertView>('POST', `/api/v1/alerts/${encodeURIComponent(id)}/comment`, { text });
  }
  suppressAlert(id: string, until: string, note?: string) {
    return this.#call<AlertView>('POST', `/api/v1/alerts/${encodeURIComponent(id)}/suppress`, {
      until,
      ...(note === undefined ? {} : { note }),
    });
  }
  alertNoise(days: number) {
    return this.#call<AlertNoiseView>('GET', `/api/v1/alerts/noise?days=${days}`);
  }
  alertDeliveries(query: URLSearchParams) {
    return this.#call<AlertDeliveryListView>('GET', `/api/v1/alert-deliveries?${query}`);
  }
  openIncident(request: OpenIncidentRequest) {
    return this.#call<IncidentView>('POST', '/api/v1/incidents', request);
  }
  listIncidents(query: URLSearchParams) {
    return this.#call<IncidentListView>('GET', `/api/v1/incidents?${query}`);
  }
  showIncident(id: string) {
    return this.#call<IncidentDetailView>('GET', `/api/v1/incidents/${encodeURIComponent(id)}`);
  }
  changeIncidentState(id: string, state: IncidentState, note?: string) {
    return this.#call<IncidentView>('POST', `/api/v1/incidents/${encodeURIComponent(id)}/state`, {
      state,
      ...(note === undefined ? {} : { note }),
    });
  }
  assignIncident(id: string, assignee: string) {
    return this.#call<IncidentView>('POST', `/api/v1/incidents/${encodeURIComponent(id)}/assign`, {
      assignee,
    });
  }
  noteIncident(id: string, text: string) {
    return this.#call<IncidentView>('POST', `/api/v1/incidents/${encodeURIComponent(id)}/notes`, { text });
  }
  tickIncidentStep(id: string, step: string, done: boolean, note?: string) {
    return this.#call<IncidentView>(
      'POST',
      `/api/v1/incidents/${encodeURIComponent(id)}/steps/${encodeURIComponent(step)}`,
      { done, ...(note === undefined ? {} : { note }) },
    );
  }
  closeIncident(id: string, resolution: string) {
    return this.#call<IncidentView>('POST', `/api/v1/incidents/${encodeURIComponent(id)}/close`, {
      resolution,
    });
  }
  deviceAuditChain(id: string) {
    return this.#call<DeviceAuditChainView>('GET', `/api/v1/audit/devices/${encodeURIComponent(id)}`);
  }
  verifyDeviceAudit(id: string) {
    return this.#call<DeviceAuditVerifyView>('GET', `/api/v1/audit/devices/${encodeURIComponent(id)}/verify`);
  }
  siteAuditChain(id: string) {
    return this.#call<DeviceAuditChainView>('GET', `/api/v1/audit/sites/${encodeURIComponent(id)}`);
  }
  verifySiteAudit(id: string) {
    return this.#call<DeviceAuditVerifyView>('GET', `/api/v1/audit/sites/${encodeURIComponent(id)}/verify`);
  }
  verifyAudit() {
    return this.#call<AuditVerifyView>('GET', '/api/v1/audit/verify');
  }
  exportAudit(since: string | undefined) {
    const query = since === undefined ? '' : `?${new URLSearchParams({ since })}`;
    return this.#call<AuditExportBundle>('GET', `/api/v1/audit/export${query}`);
  }
  auditEntries(query: URLSearchParams) {
    return this.#call<AuditEntriesView>('GET', `/api/v1/audit/entries?${query}`);
  }
  actions(limit: number) {
    return this.#call<{ actions: OperatorActionView[] }>('GET', `/api/v1/actions?limit=${limit}`);
  }

  uploadArtifact(content: Buffer, query: URLSearchParams) {
    return this.#call<ArtifactView>('POST', `/api/v1/artifacts?${query}`, content);
  }
  listArtifacts() {
    return this.#call<ArtifactListView>('GET', '/api/v1/artifacts');
  }
  setArtifactFloor(name: string, version: string) {
    return this.#call<ArtifactListView>('POST', `/api/v1/artifacts/${encodeURIComponent(name)}/floor`, {
      version,
    });
  }
  createRollout(request: CreateRolloutRequest) {
    return this.#call<RolloutView | RolloutDryRunView>('POST', '/api/v1/rollouts', request);
  }
  listRollouts() {
    return this.#call<{ rollouts: RolloutView[] }>('GET', '/api/v1/rollouts');
  }
  rollout(id: string) {
    return this.#call<RolloutView>('GET', `/api/v1/rollouts/${encodeURIComponent(id)}`);
  }
  actOnRollout(id: string, action: string, reason: string | undefined) {
    return this.#call<RolloutView>(
      'POST',
      `/api/v1/rollouts/${encodeURIComponent(id)}/${action}`,
      reason === undefined ? {} : { reason },
    );
  }
  patchSla() {
    return this.#call<PatchSlaView>('GET', '/api/v1/patches/sla');
  }
  tufRootDraft(rootPublicKeysPem: string[], threshold: number) {
    return this.#call<{ root: string }>('POST', '/api/v1/tuf/root-draft', { rootPublicKeysPem, threshold });
  }
  installTufRoot(root: string) {
    return this.#call<{ version: number }>('POST', '/api/v1/tuf/root', { root });
  }

  /**
   * JSON in and out; a Buffer body is sent as it is (application/octet-stream), and with `rawReply` the
   * reply comes back as a Buffer; either gets a longer timeout.
   */
  #call<T>(method: string, path: string, body?: unknown, rawReply = false): Promise<T> {
    const url = new URL(path, this.#options.url);
    const raw = Buffer.isBuffer(body);
    const payload = body === undefined ? undefined : raw ? body : Buffer.from(JSON.stringify(body));
    const timeoutMs = raw || rawReply ? 600_000 : 30_000;
    return new Promise((resolve, reject) => {
      const outgoing = request(
        url,
        {
          method,
          ca: this.#options.caPem,
          timeout: timeoutMs,
          headers: {
            accept: 'application/json',
            ...(this.#options.token === undefined ? {} : { authorization: `Bearer ${this.#options.token}` }),
            ...(payload === undefined
              ? {}
              : {
                  'content-type': raw ? 'application/octet-stream' : 'application/json',
                  'content-length': payload.length,
                }),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            if (rawReply && (response.statusCode ?? 0) < 300) {
              resolve(Buffer.concat(chunks) as T);
              return;
            }
            const text = Buffer.concat(chunks).toString('utf8');
            const parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
            if ((response.statusCode ?? 0) < 300) {
              resolve(parsed as T);
              return;
            }
            const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
            reject(
              error?.code !== undefined && isErrorCode(error.code)
                ? new EdgewardError(error.code, error.message ?? error.code)
                : new EdgewardError(
                    'EW_MANAGER_UNREACHABLE',
                    `${url.origin} answered HTTP ${response.statusCode}`,
                  ),
            );
          });
        },
      );
      outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
      outgoing.on('error', (error) =>
        reject(
          new EdgewardError(
            'EW_MANAGER_UNREACHABLE',
            `cannot reach the operator API at ${url.origin}: ${error.message} (set --api or EDGEWARD_API)`,
            { cause: error },
          ),
        ),
      );
      outgoing.end(payload);
    });
  }
}

export interface ApiFlags {
  readonly api?: string;
  readonly token?: string;
  readonly caFile?: string;
  readonly dataDir?: string;
}

/**
 * Where the operator API is and how to trust it: flags, then EDGEWARD_API / EDGEWARD_TOKEN /
 * EDGEWARD_CA_FILE, then the local manager's data directory (its root CA and first admin token).
 */
export function operatorApiFrom(flags: ApiFlags, io: CliIo): OperatorApiClient {
  const dataDir = flags.dataDir ?? io.env.EDGEWARD_DATA_DIR ?? '.edgeward';
  const caFile = flags.caFile ?? io.env.EDGEWARD_CA_FILE ?? join(dataDir, 'pki', 'root-ca.crt');
  if (!existsSync(caFile)) {
    throw new EdgewardError(
      'EW_CONFIG_INVALID',
      `cannot find the fleet CA certificate at ${caFile}; pass --ca-file (or EDGEWARD_CA_FILE) with the manager's pki/root-ca.crt`,
    );
  }
  const adminTokenFile = join(dataDir, 'admin.token');
  const token =
    flags.token ??
    io.env.EDGEWARD_TOKEN ??
    (existsSync(adminTokenFile) ? readFileSync(adminTokenFile, 'utf8').trim() : undefined);
  return new OperatorApiClient({
    url: flags.api ?? io.env.EDGEWARD_API ?? 'https://127.0.0.1:8444',
    token,
    caPem: readFileSync(caFile, 'utf8'),
  });
}
