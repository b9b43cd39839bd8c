// deno-lint-ignore-file no-console
/**
 * `mandrill agent --config FILE`: the agent on a fleet host. SIGINT/SIGTERM
 * publish the offline status, disconnect and exit 0 (a second signal exits at once).
 * @module
 */
import { parseArgs } from "node:util";
import { Agent } from "../agent/agent.ts";
import { ConfigError, loadAgentConfig } from "../config/mod.ts";
import { errorMessage, log, setupLogging } from "../log.ts";

/** Usage text of `mandrill agent`. */
export const AGENT_USAGE = `Usage: mandrill agent --config FILE [--debug]

Runs the agent of one fleet host: announces it (retained online status, offline
as its last will), heartbeats its boot id and uptime, and runs restart.argv
(no shell, no arguments added) for each restart command from mandrill, at most
once per command id. SIGINT/SIGTERM shut it down cleanly and exit 0.

Options:
  -c, --config FILE  Agent config file (JSON)
      --debug        Debug-level logs (also MANDRILL_DEBUG=1)
  -h, --help         Show this help`;

/** Runs `mandrill agent` with its arguments; resolves to the exit status. */
export async function agentCommand(args: string[]): Promise<number> {
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
    console.error(`mandrill agent: ${errorMessage(err)}\n\n${AGENT_USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(AGENT_USAGE);
    return 0;
  }
  if (!values.config) {
    console.error(`mandrill agent: --config FILE is required\n\n${AGENT_USAGE}`);
    return 2;
  }
  let config;
  try {
    config = await loadAgentConfig(values.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  }
  const debug = values.debug || Deno.env.get("MANDRILL_DEBUG") === "1";
  await using _logging = await setupLogging({
    level: debug ? "debug" : config.log.level,
    format: config.log.format,
  });
  const logger = log("agent");
  let agent: Agent;
  try {
    agent = await Agent.start(config);
  } catch (err) {
    logger.fatal("Cannot start the agent: {error}", { error: errorMessage(err) });
    return 1;
  }
  const stopped = Promise.withResolvers<void>();
  let signals = 0;
  const onSignal = (sig: Deno.Signal) => () => {
    signals++;
    if (signals > 1) {
      logger.error("Second {sig}: exiting at once", { sig });
      Deno.exit(130);
    }
    logger.info("Received {sig}: shutting down", { sig });
    agent.shutdown().then(stopped.resolve, stopped.reject);
  };
  const handlers = (["SIGINT", "SIGTERM"] as const).map((sig) => {
    const h = onSignal(sig);
    Deno.addSignalListener(sig, h);
    return [sig, h] as const;
  });
  try {
    await stopped.promise;
    return 0;
  } catch (err) {
    logger.error("Shutdown failed: {error}", { error: errorMessage(err) });
    return 1;
  } finally {
    for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
  }
}
