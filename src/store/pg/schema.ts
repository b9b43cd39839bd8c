/**
 * The PostgreSQL store's schema, migrated like the SQLite one: a list of
 * steps, each applied once, in order, under an advisory lock (several
 * instances may start at once). Times are ms since the epoch (BIGINT); leases
 * are measured on the database's clock, so the instances' clocks may differ.
 * @module
 */
import type { Db } from "./sql.ts";

/** Each entry migrates from version = index to index + 1. Append only. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE inbox (
    seq          BIGSERIAL PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    host         TEXT NOT NULL,
    request      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'started', 'done')),
    outcome      TEXT,
    detail       TEXT,
    received_at  BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT,
    claimed_by   TEXT,
    lease_until  BIGINT
  );
  CREATE INDEX inbox_pending ON inbox (seq) WHERE state = 'pending';
  CREATE INDEX inbox_started ON inbox (seq) WHERE state = 'started';
  CREATE INDEX inbox_host_seq ON inbox (host, seq);
  CREATE INDEX inbox_done_finished ON inbox (finished_at) WHERE state = 'done';
  CREATE TABLE history (
    id            TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    executor      TEXT NOT NULL,
    requested_by  TEXT,
    reason        TEXT,
    started_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    outcome       TEXT,
    detail        TEXT,
    duration_ms   BIGINT,
    recovered_at  BIGINT,
    recovery_ms   BIGINT
  );
  CREATE INDEX history_host_started ON history (host, started_at);
  CREATE INDEX history_started ON history (started_at);
  CREATE TABLE deadletter (
    seq      BIGSERIAL PRIMARY KEY,
    topic    TEXT NOT NULL,
    payload  TEXT NOT NULL,
    error    TEXT NOT NULL,
    ts       BIGINT NOT NULL
  );
  CREATE TABLE outage (
    host            TEXT PRIMARY KEY,
    id              TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('restarting', 'coming_back', 'not_back')),
    executor        TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    boot_id_before  TEXT,
    since           BIGINT NOT NULL,
    interrupted     BOOLEAN NOT NULL DEFAULT false,
    detail          TEXT,
    owner           TEXT NOT NULL,
    lease_until     BIGINT NOT NULL
  );
  CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
  );
  CREATE TABLE instance (
    id            TEXT PRIMARY KEY,
    topic         TEXT NOT NULL,
    shared_group  TEXT,
    started_at    BIGINT NOT NULL,
    seen_at       BIGINT NOT NULL
  );
  CREATE TABLE chaos_turn (
    grp          TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    lease_until  BIGINT NOT NULL
  );
  `,
];

/** The schema version this build writes. */
export const PG_SCHEMA_VERSION: number = MIGRATIONS.length;

/** Key of the advisory lock migrations run under. */
const _MIGRATION_LOCK = 72_613_001;

/** Creates or migrates the schema to {@linkcode PG_SCHEMA_VERSION}; refuses a newer one. */
export async function migrate(sql: Db): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${_MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS mandrill_schema (version INTEGER NOT NULL)`;
    const rows = await tx`SELECT version FROM mandrill_schema`;
    let version = rows.length === 0 ? 0 : Number(rows[0]!.version);
    if (rows.length === 0) await tx`INSERT INTO mandrill_schema (version) VALUES (0)`;
    if (version > PG_SCHEMA_VERSION) {
      throw new RangeError(
        `the database has schema version ${version}, newer than this mandrill (${PG_SCHEMA_VERSION})`,
      );
    }
    for (; version < PG_SCHEMA_VERSION; version++) {
      await tx.unsafe(MIGRATIONS[version]!);
      await tx`UPDATE mandrill_schema SET version = ${version + 1}`;
    }
  });
}

/** Refuses a database without mandrill's schema, or with a newer one (a reader does not migrate). */
export async function checkSchema(sql: Db): Promise<void> {
  const exists = await sql`SELECT to_regclass('mandrill_schema') AS t`;
  if (exists[0]?.t === null) throw new Error("the database has no mandrill schema yet");
  const rows = await sql`SELECT version FROM mandrill_schema`;
  const version = Number(rows[0]?.version ?? 0);
  if (version > PG_SCHEMA_VERSION) {
    throw new RangeError(
      `the database has schema version ${version}, newer than this mandrill (${PG_SCHEMA_VERSION})`,
    );
  }
}
