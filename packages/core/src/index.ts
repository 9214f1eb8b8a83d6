export * from './audit/audit-chain.ts';
export * from './audit/audit-export.ts';
export * from './audit/device-audit.ts';
export * from './config/layered-config.ts';
export * from './errors/edgeward-error.ts';
export * from './errors/error-catalog.ts';
export * from './errors/error-docs.ts';
export * from './events/alert-signal.ts';
export * from './events/compact-batch.ts';
export * from './events/event.schema.ts';
export * from './events/event-id.ts';
export * from './events/sequence-ack.ts';
export * from './evidence/evidence.ts';
export * from './federation/federated-merge.ts';
export * from './federation/governed-policy.ts';
export * from './federation/governed-setting.ts';
export * from './federation/hub-federation.ts';
export * from './federation/hybrid-clock.ts';
export * from './federation/overlay-signing.ts';
export * from './federation/site-overlay.schema.ts';
export * from './federation/site-policy.ts';
export * from './fleet/device-status.ts';
export * from './fleet/records.ts';
export * from './incidents/incident.ts';
export * from './inventory/inventory.schema.ts';
export * from './inventory/inventory-changes.ts';
export * from './inventory/inventory-delta.ts';
export {
  canonicalizeInventory,
  type InventoryListItem,
  type InventoryListSection,
  type InventoryScalarSection,
  type InventorySection,
  inventoryItemKey,
  inventoryListSections,
  inventoryScalarSections,
  inventorySections,
} from './inventory/inventory-keys.ts';
export {
  type CertificateIssuer,
  CLOCK_SKEW_TOLERANCE_MS,
  type CreateIssuingCaParams,
  type CreateRootCaParams,
  type CreateSiteCaParams,
  createIssuingCa,
  createRootCa,
  createSiteCa,
  type IssueDeviceCertificateParams,
  type IssuedCertificate,
  type IssueServerCertificateParams,
  issueDeviceCertificate,
  issueServerCertificate,
} from './pki/authority.ts';
export {
  type ChainVerification,
  type ParsedCertificate,
  parseCertificate,
  type VerifyCertificateChainParams,
  verifyCertificateChain,
} from './pki/certificate.ts';
export {
  type CreateCrlParams,
  createCrl,
  type ParsedCrl,
  parseCrl,
  type RevokedCertificate,
} from './pki/crl.ts';
export { type CheckedCsr, checkCsr, MAX_CSR_PEM_LENGTH } from './pki/csr.ts';
export { type CreateCsrParams, createCsr } from './pki/csr-builder.ts';
export { certificateFingerprint, normalizeFingerprint } from './pki/fingerprint.ts';
export {
  exportPrivateKeyPem,
  exportPublicKeyPem,
  generateDeviceKeyPair,
  importKeyPairPem,
  importPrivateKeyPem,
  privateKeyMatchesCertificate,
} from './pki/keys.ts';
export { CRL_PEM_LABEL, splitPemChain } from './pki/pem.ts';
export {
  childSitePath,
  deviceSpiffeId,
  formatSpiffeId,
  isValidFleetName,
  isValidIdentityId,
  MAX_IDENTITY_ID_LENGTH,
  MAX_SITE_DEPTH,
  parseSpiffeId,
  type SpiffeIdentity,
  type SpiffeKind,
  siteDeviceSpiffeId,
  sitePathSpiffeId,
  siteSpiffeId,
  spiffeId,
  splitSitePath,
} from './pki/spiffe.ts';
export * from './policy/canonical-json.ts';
export { compilePolicy } from './policy/compile-policy.ts';
export {
  activeMaintenanceWindow,
  isInsideWindow,
  isValidTimeZone,
  windowsForSegment,
} from './policy/maintenance-window.ts';
export { activeMaintenanceWindowOnDemand } from './policy/maintenance-window-on-demand.ts';
export {
  compareApkVersions,
  compareDpkgVersions,
  comparePackageVersions,
  compareRpmVersions,
  type PackageVersionFormat,
  type VersionOrder,
} from './policy/package-version.ts';
export * from './policy/policy.schema.ts';
export * from './policy/policy-bundle.schema.ts';
export * from './policy/policy-plan.ts';
export * from './policy/policy-signing.ts';
export {
  checkAppliesTo,
  checksForSegment,
  evaluationIntervalFor,
  matchesSelector,
  segmentOf,
} from './policy/segments.ts';
export * from './protocol/dashboard.schema.ts';
export * from './protocol/device-api.schema.ts';
export * from './protocol/device-commands.schema.ts';
export * from './protocol/operator-api.schema.ts';
export * from './protocol/site-api.schema.ts';
export {
  fieldAccessor,
  logsourceFilter,
  type RuleEventFromJson,
  ruleEventFromJson,
} from './rules/field-mapping.ts';
export * from './rules/rule.schema.ts';
export type {
  RestoreResult,
  RuleEngineOptions,
  RuleEngineSnapshot,
  RuleEngineStats,
} from './rules/rule-engine.ts';
export { RuleEngine } from './rules/rule-engine-class.ts';
export { parseRuleFiles, type RuleParseResult } from './rules/rule-files.ts';
export { loadRuleEngine, parseRuleFilesOnDemand } from './rules/rule-files-on-demand.ts';
export {
  type SyslogEventSource,
  severityOfSyslog,
  syslogEvent,
} from './syslog/syslog-event.ts';
export { encodeOctetCounted, formatSyslog5424 } from './syslog/syslog-formatter.ts';
export {
  DEFAULT_SYSLOG_MAX_MESSAGE_BYTES,
  SyslogFrameDecoder,
  type SyslogFrameDecoderOptions,
  type SyslogFrameStats,
  type SyslogFraming,
} from './syslog/syslog-framing.ts';
export * from './syslog/syslog-message.ts';
export { type ParseSyslogOptions, parseSyslog } from './syslog/syslog-parser.ts';
export * from './text/duration.ts';
export * from './text/iso-time.ts';
export * from './text/time-bound.ts';
export * from './updates/rollout-plan.ts';
export * from './updates/update.schema.ts';
export { useEnglishSchemaMessages } from './validation/schema-messages.ts';
