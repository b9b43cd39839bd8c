/**
 * `mandrill agent --config FILE`: the agent on a fleet host. SIGINT/SIGTERM
 * publish the offline status, disconnect and exit 0 (a second signal exits at once).
 * @module
 */
import { Agent } from "../agent/agent.ts";
import { describeUnreadable, loadAgentConfig, unreadableFiles } from "../config/mod.ts";
import { EXIT } from "../errors.ts";
import { debugRequested, loadOrReport, parseCommand } from "./_common.ts";
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
  const values = parseCommand("agent", {
    usage: AGENT_USAGE,
    flags: { config: { type: "string", short: "c" }, debug: { type: "boolean" } },
    args,
  });
  if (typeof values === "number") return values;
  const config = await loadOrReport(() => loadAgentConfig(values.config!));
  if ("exit" in config) return config.exit;
  const debug = debugRequested(values.debug);
  await using _logging = await setupLogging({
    level: debug ? "debug" : config.log.level,
    format: config.log.format,
  });
  const logger = log("agent");
  const unreadable = await unreadableFiles(config);
  if (unreadable.length > 0) {
    logger.fatal("Cannot start the agent: {error}", { error: describeUnreadable(unreadable) });
    return EXIT.configFile;
  }
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
