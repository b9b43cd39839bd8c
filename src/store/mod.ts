/**
 * The durable store: inbox, history, dead letters and outages — on SQLite
 * for one instance (`store.path`), or on PostgreSQL shared by several
 * (`store.url`), behind one interface.
 * @module
 */
export type * from "./types.ts";
export type { OutageRow, OutageState } from "./outages.ts";
export { SqliteStore } from "./sqlite.ts";
export { StoreInUseError } from "./sqlite_lock.ts";
export { PgStore, type PgStoreOptions } from "./pg/store.ts";
export { type OpenDatabaseOptions, SCHEMA_VERSION } from "./db.ts";
export { openStore, type OpenStoreOptions } from "./open.ts";
