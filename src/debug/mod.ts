/**
 * Debugging aids for a running controller: the event-loop lag monitor.
 * @module
 */
export * from "./lag_monitor.ts";
