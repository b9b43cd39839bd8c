// deno-lint-ignore-file no-console
/**
 * `mandrill history --config FILE [--host H] [--json]`: what happened to each
 * request, newest first, read from the store.
 * @module
 */
import { loadConfig } from "../config/mod.ts";
import { loadOrReport, parseCommand, usageError } from "./_common.ts";
import { openStore, type RequestView } from "../store/mod.ts";
import { StartupError } from "../errors.ts";
import { isValidHost } from "../contract/ids.ts";

/** Usage text of `mandrill history`. */
export const HISTORY_USAGE =
  `Usage: mandrill history --config FILE [--host HOST] [--limit N] [--json]

Lists requests newest first: when each arrived, how it ended, and for
executed restarts how long they took and how long the host took to come back.

Options:
  -c, --config FILE  Config file (its store.path is read)
      --host HOST    Only this host
  -n, --limit N      At most N requests (default 50)
      --json         One JSON object per line
  -h, --help         Show this help`;

function _iso(ms: number | null): string {
  return ms === null ? "-" : new Date(ms).toISOString();
}

/** One line of the text table. */
export function formatHistoryLine(r: RequestView): string {
  const e = r.execution;
  const took = e?.durationMs != null ? `${(e.durationMs / 1000).toFixed(1)}s` : "-";
  const back = e?.recoveryMs != null ? `${(e.recoveryMs / 1000).toFixed(1)}s` : "-";
  // The restart succeeded but the host did not come back: the history says
  // failed ("did not come back within ..."), and so does the table.
  const notBack = r.outcome === "succeeded" && e?.outcome === "failed";
  return [
    _iso(r.receivedAt),
    r.id,
    r.host,
    r.state === "done" ? (notBack ? "failed" : r.outcome ?? "?") : r.state,
    e?.executor ?? "-",
    took,
    back,
    (notBack ? e?.detail : r.detail) ?? "",
  ].join("\t");
}

/** Runs `mandrill history`; resolves to the exit status. */
export async function historyCommand(args: string[]): Promise<number> {
  const values = parseCommand("history", {
    usage: HISTORY_USAGE,
    flags: {
      config: { type: "string", short: "c" },
      host: { type: "string" },
      limit: { type: "string", short: "n" },
      json: { type: "boolean" },
    },
    args,
  });
  if (typeof values === "number") return values;
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) {
    return usageError(
      "history",
      HISTORY_USAGE,
      `--limit must be a positive integer, got "${values.limit}"`,
    );
  }
  if (values.host !== undefined && !isValidHost(values.host)) {
    return usageError("history", HISTORY_USAGE, `--host must be a host name, got "${values.host}"`);
  }
  const config = await loadOrReport(() => loadConfig(values.config!));
  if ("exit" in config) return config.exit;
  let store;
  try {
    store = await openStore(config, { reader: true });
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    console.error(`mandrill history: ${err.message}`);
    return err.exitCode;
  }
  let rows: RequestView[];
  try {
    rows = await store.listRequests({ host: values.host, limit });
  } finally {
    await store.close();
  }
  if (values.json) {
    for (const r of rows) console.log(JSON.stringify(r));
  } else {
    console.log(
      ["received", "id", "host", "outcome", "executor", "took", "back in", "detail"].join("\t"),
    );
    for (const r of rows) console.log(formatHistoryLine(r));
  }
  return 0;
}
