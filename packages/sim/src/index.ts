export { type FaultMode, FaultProxy, type FaultProxyOptions } from './fault-proxy.ts';
export {
  type FleetReadyReport,
  type FleetSimulation,
  type FleetSimulationOptions,
  type FleetStats,
  type SimulatedAgentSettings,
  type SimulatedDevice,
  type SimulatedDeviceReport,
  type SimulatedDeviceState,
  startFleetSimulation,
} from './fleet-simulation.ts';
export { SyntheticBaseline, type SyntheticBaselineOptions } from './synthetic-baseline.ts';
export {
  evolveInventory,
  SyntheticCollector,
  type SyntheticCollectorOptions,
  type SyntheticInventoryOptions,
  simulatedHostname,
  syntheticInventory,
} from './synthetic-inventory.ts';
export { SyntheticSlots, UNHEALTHY_MARKER } from './synthetic-slots.ts';
