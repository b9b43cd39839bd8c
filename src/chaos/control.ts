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
import type { MqttConnection } from "../mqtt/mod.ts";
import { SyncWaiters } from "../contract/sync.ts";
import type { CommandSigner, SignatureVerifier } from "../security/mod.ts";

/** The payload on `{p}/control`. Unknown fields are ignored, for later additions. */
export const controlMessageSchema = z.object({
  paused: z.boolean(),
  reason: z.string().max(1024).optional(),
  by: z.string().max(256).optional(),
  ts: z.number().optional(),
  sig: z.string().max(200).optional(),
});
/** A validated control message. */
export type ControlMessage = z.infer<typeof controlMessageSchema>;

/** The kill switch while engaged. */
export interface PauseState {
  /** Why, as given to `mandrill pause --reason`. */
  reason?: string;
  /** Who paused (`user@host`, `breaker`, `mandrill` when a control message did not verify), when known. */
  by?: string;
  /** When it was paused (ms), as written in the message. */
  since?: number;
}

/** Options of {@linkcode KillSwitch}. */
export interface KillSwitchOptions {
  /**
   * Called whenever the state changes, with the new state (undefined: running)
   * and the control message that changed it, if one did (a resume's reason and
   * who are only there). Default: none.
   */
  onChange?: (state: PauseState | undefined, message?: ControlMessage) => void;
  /**
   * Only control messages signed by the controller count (`security.commandKeyFile`):
   * others — unsigned, badly signed, replayed (not newer than the last one
   * accepted), or a deleted retained message — are logged and ignored; and
   * one seen at start, before the sync marker, pauses (fail closed) until a
   * verified one arrives. Default: none, every valid message counts.
   */
  verifier?: SignatureVerifier;
  /** The last verified message this instance accepted (it survives a restart in the store). Default: none. */
  initial?: ControlMessage;
  /** Called with each verified message accepted, to remember it. Default: none. */
  onAccepted?: (message: ControlMessage) => void;
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
  readonly #syncs = new SyncWaiters();
  readonly #o: KillSwitchOptions;
  #state: PauseState | undefined;
  #last: ControlMessage | undefined;
  /** True once a sync marker came back: the retained message, if any, was seen. */
  #synced = false;

  /** Starts as `initial` says (running when none), until a control message says otherwise. */
  constructor(options: KillSwitchOptions = {}) {
    this.#o = options;
    this.#last = options.initial;
    this.#state = options.initial ? _stateOf(options.initial) : undefined;
  }

  /**
   * Resolves when the sync marker `id` (see {@linkcode syncMarkerPayload}) comes
   * back on the control topic: by then the broker has delivered the retained
   * state, which it sends before anything published after the subscription.
   */
  waitForSync(id: string, signal: AbortSignal): Promise<void> {
    return this.#syncs.wait(id, signal);
  }

  /**
   * Applies one `{p}/control` payload. Without a verifier, synchronously: an
   * empty payload (the retained message was deleted) means not paused, an
   * invalid one is logged and ignored. With a verifier, once its signature is
   * checked (see {@linkcode KillSwitchOptions.verifier}).
   */
  handle(payload: Uint8Array): void | Promise<void> {
    if (this.#syncs.take(payload)) {
      this.#synced = true;
      return;
    }
    const verifier = this.#o.verifier;
    if (verifier === undefined) {
      const next = _parse(payload);
      if (next !== "invalid") this.#set(next === undefined ? undefined : _stateOf(next), next);
      return;
    }
    return this.#verified(payload, verifier);
  }

  async #verified(payload: Uint8Array, verifier: SignatureVerifier): Promise<void> {
    const message = _parse(payload);
    if (message === "invalid" || message === undefined) {
      return this.#unverifiable(
        message === undefined ? "the retained message was deleted" : "not a valid control message",
      );
    }
    if (!(await verifier.verifyControl(message))) {
      return this.#unverifiable(
        message.sig === undefined ? "unsigned" : "its signature does not verify",
      );
    }
    const last = this.#last;
    if (last !== undefined && (message.ts ?? 0) <= (last.ts ?? 0)) {
      if (message.sig === last.sig) return this.#set(_stateOf(message), message); // the same one, again
      return this.#unverifiable("replayed: not newer than the last one accepted");
    }
    this.#last = message;
    this.#o.onAccepted?.(message);
    this.#set(_stateOf(message), message);
  }

  #unverifiable(why: string): void {
    log("control").warn("Ignoring a control message that does not verify ({why})", { why });
    // At start, the retained state cannot be trusted: fail closed (a pause
    // remembered from before stays as it was).
    if (this.#synced || this.#state !== undefined) return;
    this.#set({
      reason:
        `unverified control message (${why}): paused until a verified one arrives (mandrill resume)`,
      by: "mandrill",
    });
  }

  /** Engages the kill switch from inside this instance (the breaker), at once. */
  engage(state: PauseState): void {
    this.#set(state);
  }

  #set(next: PauseState | undefined, message?: ControlMessage): void {
    const before = this.#state;
    this.#state = next;
    if (_sameState(before, next)) return;
    const logger = log("control");
    if (next) {
      logger.warn("Kill switch engaged: all new restarts paused{reasonText}", {
        reasonText: next.reason ? `: ${next.reason}` : "",
        reason: next.reason,
        by: next.by,
      });
    } else logger.info("Kill switch released: restarts resume");
    this.#o.onChange?.(next, message);
  }

  /** The state while paused, undefined while running. */
  paused(): PauseState | undefined {
    return this.#state ? { ...this.#state } : undefined;
  }
}

function _stateOf(m: ControlMessage): PauseState | undefined {
  if (!m.paused) return undefined;
  const state: PauseState = {};
  if (m.reason !== undefined) state.reason = m.reason;
  if (m.by !== undefined) state.by = m.by;
  if (m.ts !== undefined) state.since = m.ts;
  return state;
}

/** The message in `payload`: undefined when empty (a deleted retained message), "invalid" when not one (logged). */
function _parse(payload: Uint8Array): ControlMessage | undefined | "invalid" {
  if (payload.byteLength === 0) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch (err) {
    log("control").warn("Ignoring an invalid control message (not JSON: {error})", {
      error: errorMessage(err),
    });
    return "invalid";
  }
  const parsed = controlMessageSchema.safeParse(json);
  if (!parsed.success) {
    log("control").warn("Ignoring an invalid control message: {error}", {
      error: parsed.error.issues.map((i) => `${i.path.join(".") || "payload"}: ${i.message}`)
        .join("; "),
    });
    return "invalid";
  }
  return parsed.data;
}

function _sameState(a: PauseState | undefined, b: PauseState | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.reason === b.reason && a.by === b.by && a.since === b.since;
}

/**
 * Routes `{p}/control` (QoS 1, never shared: every instance needs it) to
 * `killSwitch`. The connection subscribes on every connect, and the broker
 * sends the retained state each time, so a restarted instance learns that
 * restarts are paused.
 */
export function routeKillSwitch(
  conn: Pick<MqttConnection, "route">,
  topics: Pick<Topics, "control">,
  killSwitch: KillSwitch,
): void {
  conn.route(topics.control, 1, (_topic, payload) => killSwitch.handle(payload));
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
  /** Signs the message (`security.commandKeyFile`). Default: none, unsigned. */
  signer?: CommandSigner;
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
  const signed = options.signer ? await options.signer.signControl(message) : message;
  signal?.throwIfAborted();
  const published = conn.publish(topics.control, JSON.stringify(signed), {
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

export { syncMarkerPayload } from "../contract/sync.ts";
