/**
 * `mandrill run --config FILE`: the controller as a service. SIGINT/SIGTERM
 * shut it down gracefully (a second signal exits at once).
 * @module
 */
import { loadConfig } from "../config/mod.ts";
import { debugRequested, loadOrReport, parseCommand } from "./_common.ts";
import { runService } from "../service.ts";
import { errorMessage, log, setupLogging } from "../log.ts";
import { StartupError } from "../errors.ts";

/** Usage text of `mandrill run`. */
export const RUN_USAGE = `Usage: mandrill run --config FILE [--debug]

Runs the controller: consumes restart requests from MQTT, decides, restarts,
records and reports. SIGINT/SIGTERM drain and exit 0; a second signal exits at once.
SIGHUP reloads hosts, executors and policy; SIGUSR1 logs the work in flight.

Options:
  -c, --config FILE  Config file (JSON; see "mandrill config schema")
      --debug        Debug-level logs (also MANDRILL_DEBUG=1)
  -h, --help         Show this help`;

/** Runs `mandrill run` with its arguments; resolves to the exit status. */
export async function runCommand(args: string[]): Promise<number> {
  const values = parseCommand("run", {
    usage: RUN_USAGE,
    flags: { config: { type: "string", short: "c" }, debug: { type: "boolean" } },
    args,
  });
  if (typeof values === "number") return values;
  const config = await loadOrReport(() => loadConfig(values.config!));
  if ("exit" in config) return config.exit;
  const debug = debugRequested(values.debug) || config.debug.enabled;
  await using _logging = await setupLogging({
    level: debug ? "debug" : config.log.level,
    format: config.log.format,
  });
  try {
    return await runService(config, { configPath: values.config!, debug });
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    // One line naming the file or port, and an exit code that says why.
    log("run").fatal("Cannot start: {error}", { error: errorMessage(err) });
    return err.exitCode;
  }
}
