// deno-lint-ignore-file no-console
/**
 * `mandrill store migrate --from FILE --to URL`: moves an SQLite store to a
 * PostgreSQL one shared by several instances.
 * @module
 */
import { errorMessage } from "../log.ts";
import { importSqlite } from "../store/pg/import.ts";
import { redactUrl } from "../url.ts";
import { parseCommand, usageError } from "./_common.ts";

/** Usage text of `mandrill store`. */
export const STORE_USAGE = `Usage: mandrill store migrate --from FILE --to URL [--ca-file FILE]

Copies an SQLite store (store.path) into an empty PostgreSQL database
(store.url): every request with its order, the history, dead letters, the
hosts restarts hold and the kill switch's last verified state. Stop the
mandrill that uses FILE first (its lock is held during the copy). Requests
left pending are taken by the first instance on the database; requests left
running end interrupted and their hosts are watched coming back, as after a
restart. The password comes from PGPASSWORD (or the other PG* variables).

Options:
      --from FILE     The SQLite store
      --to URL        postgres://user@host:5432/db
      --ca-file FILE  TLS to PostgreSQL, verifying its certificate against FILE
  -h, --help          Show this help`;

/** Runs `mandrill store ...`; resolves to the exit status (0 ok, 1 failed, 2 usage). */
export async function storeCommand(args: string[]): Promise<number> {
  if (args[0] === "-h" || args[0] === "--help") {
    console.log(STORE_USAGE);
    return 0;
  }
  if (args[0] !== "migrate") {
    return usageError(
      "store",
      STORE_USAGE,
      args[0] === undefined ? "a subcommand is required" : `unknown subcommand "${args[0]}"`,
    );
  }
  const values = parseCommand("store migrate", {
    usage: STORE_USAGE,
    flags: {
      from: { type: "string" },
      to: { type: "string" },
      "ca-file": { type: "string" },
    },
    args: args.slice(1),
  }, { requireConfig: false });
  if (typeof values === "number") return values;
  if (!values.from) return usageError("store migrate", STORE_USAGE, "--from FILE is required");
  if (!values.to || !/^postgres(ql)?:\/\//.test(values.to)) {
    return usageError("store migrate", STORE_USAGE, "--to postgres://... is required");
  }
  const to = redactUrl(values.to);
  try {
    const counts = await importSqlite(values.from, {
      url: values.to,
      tls: values["ca-file"] ? { caFile: values["ca-file"], rejectUnauthorized: true } : undefined,
    });
    console.log(
      `Copied ${values.from} to ${to}: ${counts.inbox} requests, ${counts.history} executions, ` +
        `${counts.deadletter} dead letters, ${counts.outage} hosts held, ${counts.meta} facts.\n` +
        `Set "store": { "url": "${to}" } (and no store.path) on every instance.`,
    );
    return 0;
  } catch (err) {
    console.error(`mandrill store migrate: ${values.from} → ${to}: ${errorMessage(err)}`);
    return 1;
  }
}
