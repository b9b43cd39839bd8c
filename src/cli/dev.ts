/**
 * `mandrill dev`: the embedded broker, a simulated fleet and the controller in one process.
 * @module
 */
import { errorMessage, setupLogging } from "../log.ts";
import { parseCommand, usageError } from "./_common.ts";
import { runDev } from "../dev/dev.ts";

/** Usage text of `mandrill dev`. */
export const DEV_USAGE = `Usage: mandrill dev [--hosts N] [--port PORT] [--http-port PORT]

Runs everything on this machine with no outside service: an embedded MQTT
broker (aedes, MQTT 3.1.1) on 127.0.0.1, a simulated fleet of agents that
heartbeat and "reboot" when told, and the controller with chaos on at a fast
pace and /metrics served. Ctrl-C shuts everything down.

Options:
      --hosts N          Simulated hosts (default 20)
      --port PORT        Broker port (default 1883, or a free port when taken; 0 picks one)
      --http-port PORT   /metrics port (default 9464, or a free port when taken; 0 picks one)
  -h, --help             Show this help`;

function _int(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`--${name} must be an integer from ${min} to ${max}, got "${v}"`);
  }
  return n;
}

/** Runs `mandrill dev`; resolves to the exit status. */
export async function devCommand(args: string[]): Promise<number> {
  const values = parseCommand("dev", {
    usage: DEV_USAGE,
    flags: { hosts: { type: "string" }, port: { type: "string" }, "http-port": { type: "string" } },
    args,
  }, { requireConfig: false });
  if (typeof values === "number") return values;
  let options;
  try {
    options = {
      hosts: _int(values.hosts, "hosts", 1, 10_000),
      port: _int(values.port, "port", 0, 65535),
      httpPort: _int(values["http-port"], "http-port", 0, 65535),
    };
  } catch (err) {
    return usageError("dev", DEV_USAGE, errorMessage(err));
  }
  await using _logging = await setupLogging({ level: "info", format: "pretty" });
  return await runDev(options);
}
