/**
 * What the controller reads before it starts: the rate limits' and the
 * breaker's past from the store, the last verified kill switch state, the
 * subscriptions of the last run, and the signing key — and the store keys
 * where it keeps them.
 * @module
 */
import { type ControlMessage, controlMessageSchema } from "./chaos/mod.ts";
import type { Config } from "./config/mod.ts";
import { EXIT, StartupError } from "./errors.ts";
import { errorMessage } from "./log.ts";
import type { BreakerFailure } from "./restart/breaker.ts";
import { CommandSigner, type SignatureVerifier } from "./security/mod.ts";
import type { Store } from "./store/mod.ts";

/** Where the time of the last kill switch release is kept (the breaker forgets failures before it). */
export const BREAKER_RESET_KEY = "breaker.resetAt";

/** What the controller reads from the store before it starts: the rate limits' and the breaker's past. */
export interface Seeds {
  restarts: { host: string; startedAt: number }[];
  failures: BreakerFailure[];
  /** The last verified control message this instance accepted. */
  control?: ControlMessage;
  /** Signs agent commands and control (`security.commandKeyFile`), and verifies control. */
  signer?: CommandSigner;
  verifier?: SignatureVerifier;
  /** The MQTT filters the last run subscribed (a kept session may still hold them). */
  filters: string[];
}

/** Where the filters of the last run are kept (per instance on a shared store). */
export function filtersKey(config: Config): string {
  return config.store.url === undefined ? "mqtt.filters" : `mqtt.filters:${config.mqtt.clientId}`;
}
/** Where the time of a group's last chaos restart is kept (for the next holder of its turn). */
export const CHAOS_LAST_KEY = "chaos.last:";
/** Where the last verified control message is kept (a kill switch that survives a restart). */
export const CONTROL_KEY = "control.lastVerified";

export async function readSeeds(store: Store, config: Config, now: number): Promise<Seeds> {
  const restarts = await store.restartsSince(
    now - Math.max(3_600_000, config.policy.minIntervalSec * 1000),
  );
  const filters = _strings(await store.metaGet(filtersKey(config)));
  const keys = await _keys(config);
  const control = _control(await store.metaGet(CONTROL_KEY));
  const breaker = config.policy.breaker;
  if (breaker === null) return { restarts, failures: [], filters, control, ...keys };
  // Failures within the breaker's window, after the last release of the kill switch.
  const resetAt = Number(await store.metaGet(BREAKER_RESET_KEY) ?? 0);
  const failures = await store.failuresSince(Math.max(now - breaker.withinSec * 1000, resetAt + 1));
  return { restarts, failures, filters, control, ...keys };
}

async function _keys(
  config: Config,
): Promise<{ signer?: CommandSigner; verifier?: SignatureVerifier }> {
  const file = config.security.commandKeyFile;
  if (file === undefined) return {};
  try {
    const signer = await CommandSigner.fromFile(file);
    return { signer, verifier: await signer.verifier() };
  } catch (err) {
    throw new StartupError(`security.commandKeyFile: ${errorMessage(err)}`, {
      exitCode: EXIT.configFile,
      cause: err,
    });
  }
}

function _control(json: string | undefined): ControlMessage | undefined {
  if (json === undefined) return undefined;
  try {
    const parsed = controlMessageSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function _strings(json: string | undefined): string[] {
  try {
    const v = JSON.parse(json ?? "[]");
    return Array.isArray(v) ? v.filter((x) => typeof x === "string") : [];
  } catch {
    return [];
  }
}
