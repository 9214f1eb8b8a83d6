export { buildManager, type FirstStart, type Manager, type ManagerDeps } from './build-manager.ts';
export {
  type ManagerConfig,
  managerConfigKeys,
  managerConfigSchema,
  resolveManagerConfig,
} from './config/manager-config.ts';
export * from './syslog/audit-syslog-entry.ts';
export * from './syslog/syslog-forwarder.ts';
export * from './syslog/syslog-listener.ts';
export * from './syslog/syslog-out-url.ts';
export { TufRepository } from './updates/tuf-repository.ts';
export { signMetadataJson } from './updates/tuf-signing.ts';
