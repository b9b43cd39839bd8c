/**
 * The HTTP endpoint and the Prometheus metrics it serves.
 * @module
 */
export * from "./metrics.ts";
export * from "./server.ts";
