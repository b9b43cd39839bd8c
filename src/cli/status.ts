// deno-lint-ignore-file no-console
/**
 * `mandrill status --config FILE [--json]`: the running instance's status,
 * read from `/api/status` on the config's `http.listen` — a terminal summary,
 * or the JSON as is.
 * @module
 */
import { loadConfig } from "../config/mod.ts";
import { parseListen } from "../http/mod.ts";
import { errorMessage } from "../log.ts";
import { formatStatusText, type Status } from "../status/mod.ts";
import { loadOrReport, parseCommand } from "./_common.ts";

/** Usage text of `mandrill status`. */
export const STATUS_USAGE = `Usage: mandrill status --config FILE [--json]

Shows the running mandrill's status: the kill switch, hosts down per group
against their budget, the hosts not up, requests waiting and executing, and
the last restarts with how long their hosts took to come back. Read from
/api/status on the config's http.listen (the live page is at / there).

Options:
  -c, --config FILE  Config file of the running instance (its http.listen is read)
      --json         Print the JSON of /api/status as is
  -h, --help         Show this help`;

/** Options of {@linkcode statusCommand}. */
export interface StatusCommandOptions {
  /** Give up on the request after this long (exit 1). Default: 5,000 ms. */
  timeoutMs?: number;
  /** ANSI colours in the summary. Default: stdout is a terminal and `NO_COLOR` is unset. */
  color?: boolean;
  /** Aborts the request (the command then exits 1). Default: none. */
  signal?: AbortSignal;
}

/**
 * The base URL that reaches a server listening on `listen`: an any-address
 * listen (`0.0.0.0`, `::`, `:9464`) is reached on loopback.
 * @throws {TypeError} when `listen` is not `host:port`.
 */
export function listenUrl(listen: string): string {
  const { hostname, port } = parseListen(listen);
  const host = hostname === "0.0.0.0" ? "127.0.0.1" : hostname === "::" ? "::1" : hostname;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** Runs `mandrill status`; resolves to the exit status (0 ok, 1 failed, 2 usage). */
export async function statusCommand(
  args: string[],
  options: StatusCommandOptions = {},
): Promise<number> {
  const values = parseCommand("status", {
    usage: STATUS_USAGE,
    flags: { config: { type: "string", short: "c" }, json: { type: "boolean" } },
    args,
  });
  if (typeof values === "number") return values;
  const file = values.config!;
  const config = await loadOrReport(() => loadConfig(file, { signal: options.signal }));
  if ("exit" in config) return config.exit;
  const fail = (message: string) => {
    console.error(`mandrill status: ${message}`);
    return 1;
  };
  const listen = config.http.listen;
  if (listen === null) {
    return fail(`http.listen is null in ${file}, so mandrill serves no status to read`);
  }
  const base = listenUrl(listen);
  if (parseListen(listen).port === 0) {
    return fail(`http.listen in ${file} asks for any free port (:0): no known port to ask`);
  }
  const timeoutMs = options.timeoutMs ?? 5_000;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  let body: string;
  try {
    const res = await fetch(`${base}/api/status`, { signal });
    body = await res.text();
    if (!res.ok) {
      return fail(
        `${base}/api/status answered ${res.status} (an older mandrill, or not mandrill?)`,
      );
    }
  } catch (err) {
    if (timeout.aborted) {
      return fail(`${base}/api/status did not answer within ${timeoutMs / 1000} s`);
    }
    if (options.signal?.aborted) return fail(errorMessage(err));
    return fail(`no mandrill answers on ${base} (is it running? http.listen in ${file})`);
  }
  if (values.json) {
    console.log(body.endsWith("\n") ? body.slice(0, -1) : body);
    return 0;
  }
  let status: Status;
  try {
    status = JSON.parse(body);
  } catch (err) {
    return fail(`${base}/api/status sent no JSON: ${errorMessage(err)}`);
  }
  console.log(formatStatusText(status, { color: options.color ?? _colorWanted() }));
  return 0;
}

function _colorWanted(): boolean {
  try {
    const noColor = Deno.env.get("NO_COLOR");
    if (noColor !== undefined && noColor !== "") return false;
  } catch { /* no --allow-env: colour follows the terminal */ }
  return Deno.stdout.isTerminal();
}
