/**
 * The fleet: per-host state from the agents' heartbeats and statuses, the
 * routes that feed it from MQTT, and recovery tracking after a restart.
 * @module
 */
export {
  type BootChange,
  type BootChangeListener,
  type FleetHost,
  FleetView,
  type FleetViewOptions,
} from "./fleet_view.ts";
export { type MessageRouter, routeFleet, type RouteFleetOptions } from "./routes.ts";
export {
  type BootProbe,
  type ProbeOutcome,
  type RecoveredEvent,
  type RecoveryTimeoutEvent,
  RecoveryTracker,
  type RecoveryTrackerOptions,
  type TrackRequest,
} from "./recovery.ts";
