/**
 * The durable store: inbox, history, dead letters and outages on SQLite.
 * @module
 */
export * from "./store.ts";
export { type OpenDatabaseOptions, SCHEMA_VERSION } from "./db.ts";
export type { OutageRow, OutageState } from "./outages.ts";
