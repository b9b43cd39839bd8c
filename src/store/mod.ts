/**
 * The durable store: inbox, history and dead letters on SQLite.
 * @module
 */
export * from "./store.ts";
export { SCHEMA_VERSION } from "./db.ts";
