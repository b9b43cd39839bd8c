/**
 * The fleet: per-host state from the agents' heartbeats and statuses, and the
 * routes that feed it from MQTT.
 * @module
 */
export {
  type BootChange,
  type BootChangeListener,
  type FleetHost,
  FleetView,
  type FleetViewOptions,
  type OnlineChangeListener,
} from "./fleet_view.ts";
export { type MessageRouter, routeFleet, type RouteFleetOptions } from "./routes.ts";
