/** Seeding a store for tests through its real write paths. */
import type { RestartRequest } from "../../src/contract/messages.ts";
import type { InboxRow, OutageRow, SqliteStore, StartRequest } from "../../src/store/mod.ts";

/** Inserts `requests` through an intake commit; returns their new rows, by id. */
export function insertRows(
  store: SqliteStore,
  requests: RestartRequest[],
  now = Date.now(),
): Map<string, InboxRow> {
  for (const r of requests) store.insertRequest(r, now);
  return new Map(store.commitIntake().accepted.map((r) => [r.id, r]));
}

/** What the restarts' owner asks the store when it starts `row` (its outage, its history start). */
export function startRequestOf(
  row: InboxRow,
  options: { executor?: string; now?: number } = {},
): StartRequest {
  const now = options.now ?? Date.now();
  const executor = options.executor ?? "local";
  const outage: OutageRow = {
    host: row.host,
    id: row.id,
    state: "restarting",
    executor,
    startedAt: now,
    bootIdBefore: null,
    since: now,
    interrupted: false,
    detail: null,
  };
  return {
    row,
    outage,
    now,
    history: {
      id: row.id,
      host: row.host,
      executor,
      requestedBy: row.request.requestedBy ?? null,
      reason: row.request.reason ?? null,
      startedAt: now,
    },
  };
}

/** Starts `row` as the restarts' owner does; resolves once committed. */
export async function startRow(
  store: SqliteStore,
  row: InboxRow,
  options: { executor?: string; now?: number } = {},
): Promise<void> {
  const r = await store.tryStart(startRequestOf(row, options), () => ({ kind: "allow" }));
  if (r.kind !== "started") throw new Error(`cannot start ${row.id}: ${r.kind}`);
}
