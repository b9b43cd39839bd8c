/**
 * The HTTP endpoint and the Prometheus metrics it serves.
 * @module
 */
export { type MetricsSources, UNAVAILABLE_STATES } from "./live_gauges.ts";
export * from "./metrics.ts";
export * from "./server.ts";
