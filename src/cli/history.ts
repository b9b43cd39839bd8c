// deno-lint-ignore-file no-console
/**
 * `mandrill history --config FILE [--host H] [--json]`: what happened to each
 * request, newest first, read from the store.
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../config/mod.ts";
import { errorMessage } from "../log.ts";
import { type RequestView, Store } from "../store/mod.ts";
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
  return [
    _iso(r.receivedAt),
    r.id,
    r.host,
    r.state === "done" ? (r.outcome ?? "?") : r.state,
    e?.executor ?? "-",
    took,
    back,
    r.detail ?? "",
  ].join("\t");
}

/** Runs `mandrill history`; resolves to the exit status. */
export async function historyCommand(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: "string", short: "c" },
        host: { type: "string" },
        limit: { type: "string", short: "n" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`mandrill history: ${errorMessage(err)}\n\n${HISTORY_USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(HISTORY_USAGE);
    return 0;
  }
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (
    !values.config || !Number.isInteger(limit) || limit < 1 ||
    (values.host !== undefined && !isValidHost(values.host))
  ) {
    console.error(
      `mandrill history: --config FILE is required; --limit must be a positive integer; --host a host name\n\n${HISTORY_USAGE}`,
    );
    return 2;
  }
  let config;
  try {
    config = await loadConfig(values.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  }
  using store = Store.open(config.store.path);
  const rows = store.listRequests({ host: values.host, limit });
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
