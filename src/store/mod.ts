/**
 * The durable store: inbox, history and dead letters on SQLite.
 * @module
 */
export * from "./store.ts";
export { type OpenDatabaseOptions, SCHEMA_VERSION } from "./db.ts";
