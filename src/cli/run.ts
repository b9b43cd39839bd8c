// deno-lint-ignore-file no-console
/**
 * `mandrill run --config FILE`: the controller as a service. SIGINT/SIGTERM
 * shut it down gracefully (a second signal exits at once).
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../config/mod.ts";
import { runService } from "../service.ts";
import { errorMessage, setupLogging } from "../log.ts";

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
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: "string", short: "c" },
        debug: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`mandrill run: ${errorMessage(err)}\n\n${RUN_USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(RUN_USAGE);
    return 0;
  }
  if (!values.config) {
    console.error(`mandrill run: --config FILE is required\n\n${RUN_USAGE}`);
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
  const debug = values.debug || Deno.env.get("MANDRILL_DEBUG") === "1" || config.debug.enabled;
  await using _logging = await setupLogging({
    level: debug ? "debug" : config.log.level,
    format: config.log.format,
  });
  return await runService(config, { configPath: values.config, debug });
}
