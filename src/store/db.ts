/**
 * The SQLite database behind the inbox, history and dead letters (`node:sqlite`,
 * WAL mode, schema migrations by `PRAGMA user_version`).
 * @module
 */
import { DatabaseSync } from "node:sqlite";

/**
 * Each entry migrates from user_version = index to index + 1. Append only.
 * `seq` is the rowid: it only grows as long as the newest row is never
 * deleted, which pruning guarantees.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE inbox (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    host         TEXT NOT NULL,
    request      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'started', 'done')),
    outcome      TEXT,
    detail       TEXT,
    received_at  INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER
  );
  CREATE INDEX inbox_pending ON inbox (seq) WHERE state = 'pending';
  CREATE INDEX inbox_started ON inbox (seq) WHERE state = 'started';
  CREATE INDEX inbox_host_seq ON inbox (host, seq);
  CREATE TABLE history (
    id            TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    executor      TEXT NOT NULL,
    requested_by  TEXT,
    reason        TEXT,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    outcome       TEXT,
    detail        TEXT,
    duration_ms   INTEGER,
    recovered_at  INTEGER,
    recovery_ms   INTEGER
  );
  CREATE INDEX history_host_started ON history (host, started_at);
  CREATE INDEX history_started ON history (started_at);
  CREATE INDEX inbox_done_finished ON inbox (finished_at) WHERE state = 'done';
  CREATE TABLE deadletter (
    seq    INTEGER PRIMARY KEY,
    topic  TEXT NOT NULL,
    payload TEXT NOT NULL,
    error  TEXT NOT NULL,
    ts     INTEGER NOT NULL
  );
  `,
  // Hosts mandrill made unavailable (restarting, coming back, not back), so the
  // budget and recovery tracking survive a restart of mandrill; and small
  // facts to remember (the last verified kill switch state).
  `
  CREATE TABLE outage (
    host            TEXT PRIMARY KEY,
    id              TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('restarting', 'coming_back', 'not_back')),
    executor        TEXT NOT NULL,
    started_at      INTEGER NOT NULL,
    boot_id_before  TEXT,
    since           INTEGER NOT NULL,
    interrupted     INTEGER NOT NULL DEFAULT 0,
    detail          TEXT
  );
  CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
  );
  `,
];

/** The schema version this build writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/** Options of {@linkcode openDatabase}. */
export interface OpenDatabaseOptions {
  /**
   * `"full"`: every commit is on disk before it returns, so an acknowledged
   * request or a `started` mark survives power loss. `"normal"`: a crash of
   * mandrill loses nothing, power loss may lose the last commits. Default: `"full"`.
   */
  synchronous?: "full" | "normal";
}

/** Opens (creating if needed) the database at `path` and migrates it to {@linkcode SCHEMA_VERSION}. */
export function openDatabase(path: string, options: OpenDatabaseOptions = {}): DatabaseSync {
  const db = new DatabaseSync(path);
  try {
    // First, so that even switching to WAL waits for another process's lock
    // (a `mandrill history` reading, a previous run still closing) instead of failing.
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA journal_mode = WAL");
    db.exec(`PRAGMA synchronous = ${options.synchronous === "normal" ? "NORMAL" : "FULL"}`);
    // Checkpoints run from Store.checkpoint() on a timer, not inside the commit
    // of whichever insert crosses the threshold (that stalls intake).
    db.exec("PRAGMA wal_autocheckpoint = 0");
    db.exec("PRAGMA foreign_keys = ON");
    const row = db.prepare("PRAGMA user_version").get() as { user_version: number };
    const from = row.user_version;
    if (from > SCHEMA_VERSION) {
      throw new RangeError(
        `Database ${path} has schema version ${from}, newer than this mandrill (${SCHEMA_VERSION})`,
      );
    }
    for (let v = from; v < SCHEMA_VERSION; v++) {
      db.exec("BEGIN");
      try {
        db.exec(MIGRATIONS[v]!);
        db.exec(`PRAGMA user_version = ${v + 1}`);
        db.exec("COMMIT");
      } catch (err) {
        db.exec("ROLLBACK");
        throw err;
      }
    }
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
