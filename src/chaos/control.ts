/**
 * The kill switch: one retained message on `{p}/control`,
 * `{"paused": true, "reason": "..."}` or `{"paused": false}`. Because it is
 * retained, every instance sees the latest state when it subscribes, and
 * again after every restart.
 * @module
 */
import { z } from "zod";
import { type Clock, systemClock } from "../clock.ts";
import type { Topics } from "../contract/topics.ts";
import { errorMessage, log } from "../log.ts";
import type { MqttConnection } from "../mqtt/connection.ts";

/** The payload on `{p}/control`. Unknown fields are ignored, for later additions. */
export const controlMessageSchema = z.object({
  paused: z.boolean(),
  reason: z.string().max(1024).optional(),
  by: z.string().max(256).optional(),
  ts: z.number().optional(),
});
/** A validated control message. */
export type ControlMessage = z.infer<typeof controlMessageSchema>;

/** The kill switch while engaged. */
export interface PauseState {
  /** Why, as given to `mandrill pause --reason`. */
  reason?: string;
  /** Who paused (`user@host`), when known. */
  by?: string;
  /** When it was paused (ms), as written in the message. */
  since?: number;
}

/** Options of {@linkcode KillSwitch}. */
export interface KillSwitchOptions {
  /** Called whenever the state changes, with the new state (undefined: running). Default: none. */
  onChange?: (state: PauseState | undefined) => void;
}

/**
 * Holds the kill switch state from the retained `{p}/control` message. Route
 * the topic to {@linkcode handle} (see {@linkcode routeKillSwitch}).
 *
 * @example
 * ```ts
 * const killSwitch = new KillSwitch({ onChange: (s) => console.log(s ? "paused" : "running") });
 * killSwitch.handle(new TextEncoder().encode('{"paused": true, "reason": "incident 42"}'));
 * killSwitch.paused(); // { reason: "incident 42" }
 * ```
 */
export class KillSwitch {
  readonly #syncs = new Map<string, () => void>();

  /**
   * Resolves when the sync marker `id` (see {@linkcode syncMarkerPayload}) comes
   * back on the control topic: by then the broker has delivered the retained
   * state, which it sends before anything published after the subscription.
   */
  waitForSync(id: string, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#syncs.delete(id);
        reject(signal.reason);
      };
      this.#syncs.set(id, () => {
        this.#syncs.delete(id);
        signal.removeEventListener("abort", onAbort);
        resolve();
      });
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  #state: PauseState | undefined;
  readonly #onChange: ((state: PauseState | undefined) => void) | undefined;

  /** Starts not paused, until a control message says otherwise. */
  constructor(options: KillSwitchOptions = {}) {
    this.#onChange = options.onChange;
  }

  /**
   * Applies one `{p}/control` payload, synchronously. An empty payload (the
   * retained message was deleted) means not paused. An invalid payload is
   * logged and ignored: the state stays what the latest valid message said.
   */
  handle(payload: Uint8Array): void {
    const marker = _syncMarker(payload);
    if (marker !== undefined) {
      this.#syncs.get(marker)?.();
      return;
    }
    const next = _parse(payload);
    if (next === "invalid") return;
    const before = this.#state;
    this.#state = next;
    if (!_sameState(before, next)) {
      const logger = log("control");
      if (next) {
        logger.warn("Kill switch engaged: all new restarts paused{reasonText}", {
          reasonText: next.reason ? `: ${next.reason}` : "",
          reason: next.reason,
          by: next.by,
        });
      } else logger.info("Kill switch released: restarts resume");
      this.#onChange?.(next);
    }
  }

  /** The state while paused, undefined while running. */
  paused(): PauseState | undefined {
    return this.#state ? { ...this.#state } : undefined;
  }
}

function _parse(payload: Uint8Array): PauseState | undefined | "invalid" {
  if (payload.byteLength === 0) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch (err) {
    log("chaos").warn("Ignoring an invalid control message (not JSON: {error})", {
      error: errorMessage(err),
    });
    return "invalid";
  }
  const parsed = controlMessageSchema.safeParse(json);
  if (!parsed.success) {
    log("chaos").warn("Ignoring an invalid control message: {error}", {
      error: parsed.error.issues.map((i) => `${i.path.join(".") || "payload"}: ${i.message}`)
        .join("; "),
    });
    return "invalid";
  }
  const m = parsed.data;
  if (!m.paused) return undefined;
  const state: PauseState = {};
  if (m.reason !== undefined) state.reason = m.reason;
  if (m.by !== undefined) state.by = m.by;
  if (m.ts !== undefined) state.since = m.ts;
  return state;
}

function _sameState(a: PauseState | undefined, b: PauseState | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.reason === b.reason && a.by === b.by && a.since === b.since;
}

/**
 * Routes `{p}/control` (QoS 1, never shared: every instance needs it) to
 * `killSwitch`, and subscribes again on every reconnect that found a
 * persistent session: the broker sends retained messages only in answer to a
 * SUBSCRIBE, and {@linkcode MqttConnection} does not resubscribe when the
 * session survived, so without this a restarted instance would not learn that
 * chaos is paused.
 */
export function routeKillSwitch(
  conn: MqttConnection,
  topics: Pick<Topics, "control">,
  killSwitch: KillSwitch,
): void {
  conn.route(topics.control, 1, (_topic, payload) => killSwitch.handle(payload));
  conn.client.on("connect", (connack) => {
    if (!connack.sessionPresent) return;
    conn.client.subscribe(topics.control, { qos: 1 }, (err) => {
      if (err) {
        log("chaos").error("Cannot subscribe to {topic}: {error}", {
          topic: topics.control,
          error: errorMessage(err),
        });
      }
    });
  });
}

/** What {@linkcode publishControl} needs of a connection: {@linkcode MqttConnection} has it. */
export interface ControlPublisher {
  publish(topic: string, payload: string, options: { qos: 0 | 1; retain: boolean }): Promise<void>;
}

/** Options of {@linkcode publishControl}. */
export interface PublishControlOptions {
  /** Pause (true) or resume (false) chaos. */
  paused: boolean;
  /** Why; shown in skip reasons and logs. Default: none. */
  reason?: string;
  /** Who (`user@host`). Default: none. */
  by?: string;
  /** Stamps the message's `ts`. Default: the system clock. */
  clock?: Clock;
  /** Stops waiting for the broker's acknowledgement. Default: none. */
  signal?: AbortSignal;
}

/**
 * Publishes the kill switch state, retained at QoS 1, and resolves once the
 * broker acknowledged it. Rejects with `signal.reason` if aborted first.
 *
 * @example
 * ```ts
 * await publishControl(conn, topics("mandrill"), { paused: true, reason: "incident 42" });
 * ```
 */
export async function publishControl(
  conn: ControlPublisher,
  topics: Pick<Topics, "control">,
  options: PublishControlOptions,
): Promise<void> {
  const { signal } = options;
  signal?.throwIfAborted();
  const message: ControlMessage = { paused: options.paused };
  if (options.reason !== undefined) message.reason = options.reason;
  if (options.by !== undefined) message.by = options.by;
  message.ts = (options.clock ?? systemClock).now();
  const published = conn.publish(topics.control, JSON.stringify(message), {
    qos: 1,
    retain: true,
  });
  if (!signal) return await published;
  await new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    published.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** A non-retained control message that only marks a point in the stream. */
export function syncMarkerPayload(id: string): string {
  return JSON.stringify({ sync: id });
}

function _syncMarker(payload: Uint8Array): string | undefined {
  if (payload.byteLength > 200) return undefined;
  try {
    const v = JSON.parse(new TextDecoder().decode(payload));
    return typeof v === "object" && v !== null && typeof v.sync === "string" &&
        Object.keys(v).length === 1
      ? v.sync
      : undefined;
  } catch {
    return undefined;
  }
}
