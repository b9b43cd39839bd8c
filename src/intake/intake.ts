/**
 * Intake: validates each restart request and writes it to the inbox in one
 * synchronous step, before the PUBACK leaves. Invalid payloads are dead-lettered
 * (table and topic), acknowledged, and never executed; a known id is ignored.
 * @module
 */
import { isValidHost, isValidId } from "../contract/ids.ts";
import { restartRequestSchema } from "../contract/messages.ts";
import type { Clock } from "../clock.ts";
import type { EventSink } from "../pipeline/events.ts";
import type { InboxRow, Store } from "../store/mod.ts";
import { log } from "../log.ts";

/** Largest payload accepted: 64 KiB. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** Dead letters carry at most this much of the payload. */
export const DEADLETTER_PAYLOAD_BYTES = 4 * 1024;

/** The result of one intake step. */
export type IntakeResult =
  | { kind: "accepted"; id: string; host: string }
  | { kind: "duplicate"; id: string }
  | { kind: "rejected"; error: string; id?: string };

/** Options of {@linkcode Intake}. */
export interface IntakeOptions {
  store: Store;
  events: EventSink;
  clock: Clock;
  /**
   * Leave writes in the store's group-commit batch (the caller commits before
   * acknowledging, see `MqttConnectionOptions.commitBatch`). Default: false.
   */
  groupCommit?: boolean;
  /** Called with each accepted request's new inbox row, to hand it to the dispatcher. */
  onAccepted?: (row: InboxRow) => void;
  /** Called with every result, for metrics. */
  onResult?: (r: IntakeResult) => void;
}

const decoder = new TextDecoder("utf-8", { fatal: true });
const lenient = new TextDecoder("utf-8");

/** Turns a zod error into one line naming each bad field. */
function _zodMessage(issues: { path: PropertyKey[]; message: string }[]): string {
  return issues
    .map((i) => `${i.path.length ? i.path.map(String).join(".") : "(root)"}: ${i.message}`)
    .join("; ");
}

/** Validates, dedupes and stores restart requests. */
export class Intake {
  readonly #o: IntakeOptions;
  readonly #write: { deferCommit: boolean };

  /** Builds an intake over the store and event sink. */
  constructor(options: IntakeOptions) {
    this.#o = options;
    this.#write = { deferCommit: options.groupCommit ?? false };
  }

  /**
   * Handles one payload from `topic`. Synchronous: when it returns, the request is
   * durable (or dead-lettered) and may be acknowledged. Throws only if the store
   * cannot be written, so the message is not acknowledged and will come again.
   */
  handle(topic: string, payload: Uint8Array): IntakeResult {
    const r = this.#classify(payload);
    const now = this.#o.clock.now();
    if (r.kind === "rejected") {
      const text = lenient.decode(payload.subarray(0, DEADLETTER_PAYLOAD_BYTES));
      this.#o.store.addDeadLetter({ topic, payload: text, error: r.error, ts: now }, this.#write);
      this.#o.events.deadLetter({ topic, payload: text, error: r.error, ts: now });
      if (r.id) {
        this.#o.events.event({
          id: r.id,
          host: r.host ?? "",
          phase: "rejected",
          detail: r.error,
          ts: now,
        });
      }
      log("intake").warn("Rejected a message on {topic}: {error}", {
        topic,
        error: r.error,
        id: r.id,
      });
      const result: IntakeResult = { kind: "rejected", error: r.error, id: r.id };
      this.#o.onResult?.(result);
      return result;
    }
    const row = this.#o.store.insertRequest(r.request, now, this.#write);
    const result: IntakeResult = row
      ? { kind: "accepted", id: r.request.id, host: r.request.host }
      : { kind: "duplicate", id: r.request.id };
    if (row) {
      this.#o.events.event({ id: r.request.id, host: r.request.host, phase: "received", ts: now });
      this.#o.onAccepted?.(row);
    } else {
      log("intake").debug("Ignored duplicate request {id}", { id: r.request.id });
    }
    this.#o.onResult?.(result);
    return result;
  }

  #classify(payload: Uint8Array):
    | { kind: "ok"; request: ReturnType<typeof restartRequestSchema.parse> }
    | { kind: "rejected"; error: string; id?: string; host?: string } {
    if (payload.byteLength === 0) return { kind: "rejected", error: "empty payload" };
    if (payload.byteLength > MAX_PAYLOAD_BYTES) {
      return {
        kind: "rejected",
        error: `payload too large: ${payload.byteLength} bytes, limit ${MAX_PAYLOAD_BYTES}`,
      };
    }
    let text: string;
    try {
      text = decoder.decode(payload);
    } catch {
      return { kind: "rejected", error: "payload is not UTF-8 text" };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      return { kind: "rejected", error: `payload is not JSON: ${(err as Error).message}` };
    }
    const parsed = restartRequestSchema.safeParse(json);
    if (parsed.success) return { kind: "ok", request: parsed.data };
    const obj = typeof json === "object" && json !== null ? json as Record<string, unknown> : {};
    return {
      kind: "rejected",
      error: _zodMessage(parsed.error.issues),
      id: isValidId(obj.id) ? obj.id : undefined,
      host: isValidHost(obj.host) ? obj.host : undefined,
    };
  }
}
