// deno-lint-ignore-file no-console
/**
 * `mandrill pause|resume --config FILE [--reason TEXT]`: engage or release the
 * chaos kill switch by publishing the retained `{p}/control` message, which
 * every running instance (and every one started later) sees.
 * @module
 */
import { publishControl } from "../chaos/control.ts";
import type { Clock } from "../clock.ts";
import { type Config, loadConfig } from "../config/mod.ts";
import { loadOrReport, parseCommand, usageError } from "./_common.ts";
import { topics } from "../contract/topics.ts";
import { errorMessage } from "../log.ts";
import { CommandSigner } from "../security/mod.ts";
import { MqttConnection, type MqttSettings } from "../mqtt/mod.ts";
import { redactUrl } from "../url.ts";

/** Usage text of `mandrill pause`. */
export const PAUSE_USAGE = `Usage: mandrill pause --config FILE [--reason TEXT]

Pauses chaos on every mandrill instance of the config's broker and topic
prefix: publishes {"paused": true} retained on {topicPrefix}/control, so
instances started later see it too. Exits 0 once the broker acknowledged it.

Options:
  -c, --config FILE  Config file (its mqtt section is used)
  -r, --reason TEXT  Why (shown in logs and skip reasons), at most 1024 characters
  -h, --help         Show this help`;

/** Usage text of `mandrill resume`. */
export const RESUME_USAGE = `Usage: mandrill resume --config FILE [--reason TEXT]

Resumes chaos after "mandrill pause": publishes {"paused": false} retained on
{topicPrefix}/control. Exits 0 once the broker acknowledged it.

Options:
  -c, --config FILE  Config file (its mqtt section is used)
  -r, --reason TEXT  Why, at most 1024 characters
  -h, --help         Show this help`;

/** Options of {@linkcode pauseCommand} and {@linkcode resumeCommand}. */
export interface ControlCommandOptions {
  /** Give up connecting and publishing after this long (exit 1). Default: 10_000 ms. */
  timeoutMs?: number;
  /** Stamps the message's `ts`. Default: the system clock. */
  clock?: Clock;
  /** Aborts the command (it then exits 1). Default: none. */
  signal?: AbortSignal;
}

/** Runs `mandrill pause`; resolves to the exit status (0 ok, 1 failed, 2 usage). */
export function pauseCommand(args: string[], options: ControlCommandOptions = {}): Promise<number> {
  return _controlCommand("pause", args, options);
}

/** Runs `mandrill resume`; resolves to the exit status (0 ok, 1 failed, 2 usage). */
export function resumeCommand(
  args: string[],
  options: ControlCommandOptions = {},
): Promise<number> {
  return _controlCommand("resume", args, options);
}

async function _controlCommand(
  command: "pause" | "resume",
  args: string[],
  options: ControlCommandOptions,
): Promise<number> {
  const usage = command === "pause" ? PAUSE_USAGE : RESUME_USAGE;
  const values = parseCommand(command, {
    usage,
    flags: { config: { type: "string", short: "c" }, reason: { type: "string", short: "r" } },
    args,
  });
  if (typeof values === "number") return values;
  if (values.reason !== undefined && values.reason.length > 1024) {
    return usageError(command, usage, "--reason is longer than 1024 characters");
  }
  const config = await loadOrReport(() => loadConfig(values.config!, { signal: options.signal }));
  if ("exit" in config) return config.exit;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const signal = AbortSignal.any([
    AbortSignal.timeout(timeoutMs),
    ...(options.signal ? [options.signal] : []),
  ]);
  const paused = command === "pause";
  const prefix = config.mqtt.topicPrefix;
  const url = redactUrl(config.mqtt.url);
  let signer: CommandSigner | undefined;
  if (config.security.commandKeyFile !== undefined) {
    try {
      signer = await CommandSigner.fromFile(config.security.commandKeyFile);
    } catch (err) {
      console.error(`mandrill ${command}: security.commandKeyFile: ${errorMessage(err)}`);
      return 1;
    }
  }
  const conn = await MqttConnection.open(_controlSettings(config), { persistent: false });
  try {
    try {
      await conn.waitConnected(signal);
    } catch (err) {
      console.error(
        `mandrill ${command}: cannot connect to the broker at ${url}` +
          (options.signal?.aborted ? `: ${errorMessage(err)}` : ` within ${timeoutMs / 1000} s`),
      );
      return 1;
    }
    try {
      await publishControl(conn, topics(prefix), {
        paused,
        reason: values.reason,
        by: _whoAmI(),
        clock: options.clock,
        signal,
        signer,
      });
    } catch (err) {
      console.error(
        `mandrill ${command}: the broker at ${url} did not acknowledge ${prefix}/control` +
          (signal.aborted ? ` within ${timeoutMs / 1000} s` : `: ${errorMessage(err)}`),
      );
      return 1;
    }
  } finally {
    await conn.close(1_000);
  }
  console.log(
    paused
      ? `Restarts paused (chaos and requests)${
        values.reason ? ` (${values.reason})` : ""
      }: retained on ${prefix}/control at ${url}.`
      : `Restarts resumed: retained on ${prefix}/control at ${url}.`,
  );
  return 0;
}

/**
 * The MQTT settings of a short-lived control connection: the config's, with
 * a client id of its own (`<clientId>-ctl-<random>`), so it never kicks a
 * running controller off the broker.
 */
function _controlSettings(config: Config): MqttSettings {
  const rand = crypto.randomUUID().slice(0, 8);
  return { ...config.mqtt, clientId: `${config.mqtt.clientId}-ctl-${rand}` };
}

function _whoAmI(): string | undefined {
  try {
    const user = Deno.env.get("USER") ?? Deno.env.get("LOGNAME");
    let host: string | undefined;
    try {
      host = Deno.hostname();
    } catch { /* no --allow-sys */ }
    return user ? (host ? `${user}@${host}` : user) : host;
  } catch {
    return undefined; // no --allow-env
  }
}
