export * from './errors/edgeward-error.ts';
export * from './errors/error-catalog.ts';
export * from './inventory/inventory.schema.ts';
export * from './fleet/records.ts';
