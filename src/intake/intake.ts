/**
 * Intake: validates each restart request and adds it to the store's intake
 * batch; {@linkcode Intake.commit} makes the batch durable before its PUBACKs
 * leave (group commit), then reports what was new. Invalid payloads are
 * dead-lettered (table and topic), acknowledged, and never executed; a known
 * id is acknowledged and ignored.
 * @module
 */
import { isValidHost, isValidId } from "../contract/ids.ts";
import { restartRequestSchema } from "../contract/messages.ts";
import type { Clock } from "../clock.ts";
import type { EventSink } from "../pipeline/events.ts";
import type { InboxRow, Store } from "../store/mod.ts";
import type { DeadLetter, RestartEvent } from "../contract/messages.ts";
import { syncMarkerId, SyncWaiters } from "../contract/sync.ts";
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
  /** Called, once committed, with each accepted request's new inbox row, to hand it to the dispatcher. */
  onAccepted?: (row: InboxRow) => void;
  /** Called with every result (once known), for metrics. */
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
  /** What the open batch's rejections publish once it is committed. */
  #rejected: { dl: DeadLetter; event?: RestartEvent }[] = [];
  /** Commits run one after another, so PUBACKs and hand-overs keep arrival order. */
  #committing: Promise<void> = Promise.resolve();
  /** Sync markers on the restart topic: this instance checking that the broker delivers it. */
  readonly syncs = new SyncWaiters();

  /** Builds an intake over the store and event sink. */
  constructor(options: IntakeOptions) {
    this.#o = options;
  }

  /**
   * Handles one payload from `topic`, synchronously: the request (or its dead
   * letter) joins the store's intake batch. It is durable, and may be
   * acknowledged, once {@linkcode commit} resolved.
   */
  handle(topic: string, payload: Uint8Array): void {
    if (this.syncs.take(payload)) return; // a delivery check, not a request
    const r = this.#classify(payload);
    const now = this.#o.clock.now();
    if (r.kind === "ok") {
      this.#o.store.insertRequest(r.request, now);
      return;
    }
    const text = lenient.decode(payload.subarray(0, DEADLETTER_PAYLOAD_BYTES));
    const dl = { topic, payload: text, error: r.error, ts: now };
    this.#o.store.addDeadLetter(dl);
    const event: RestartEvent | undefined = r.id
      ? { id: r.id, host: r.host ?? "", phase: "rejected", detail: r.error, ts: now }
      : undefined;
    this.#rejected.push({ dl, event });
    log("intake").warn("Rejected a message on {topic}: {error}", {
      topic,
      error: r.error,
      id: r.id,
    });
    this.#o.onResult?.({ kind: "rejected", error: r.error, id: r.id });
  }

  /**
   * A message on a topic mandrill does not serve (a subscription an earlier
   * config left in the broker's session): dead-lettered with the reason,
   * never executed, acknowledged only once that is stored.
   */
  unserved(topic: string, payload: Uint8Array): void {
    if (syncMarkerId(payload) !== undefined) return; // an earlier run's delivery check
    const now = this.#o.clock.now();
    const text = lenient.decode(payload.subarray(0, DEADLETTER_PAYLOAD_BYTES));
    const error = `mandrill does not serve ${topic} ` +
      "(a subscription of an earlier config, kept by the broker's session): not executed";
    const dl = { topic, payload: text, error, ts: now };
    this.#o.store.addDeadLetter(dl);
    this.#rejected.push({ dl });
    log("intake").warn("Dead-lettered a message on {topic}: {error}", { topic, error });
  }

  /**
   * Makes the batch durable (the group commit of the PUBACKs), then publishes
   * its events and hands new rows to the dispatcher. Rejects when the store
   * cannot write: nothing of the batch is acknowledged, the broker sends it again.
   */
  commit(): Promise<void> {
    const rejected = this.#rejected;
    this.#rejected = [];
    // The batch is taken synchronously (in arrival order); its commit waits for the one before.
    let committed;
    try {
      committed = this.#o.store.commitIntake();
    } catch (err) {
      return Promise.reject(err);
    }
    const next = this.#committing.then(async () => {
      const result = await committed;
      const { events } = this.#o;
      for (const row of result.accepted) {
        events.event({ id: row.id, host: row.host, phase: "received", ts: row.receivedAt });
        this.#o.onResult?.({ kind: "accepted", id: row.id, host: row.host });
        this.#o.onAccepted?.(row);
      }
      for (const id of result.duplicates) {
        log("intake").debug("Ignored duplicate request {id}", { id });
        this.#o.onResult?.({ kind: "duplicate", id });
      }
      for (const { dl, event } of rejected) {
        events.deadLetter(dl);
        if (event) events.event(event);
      }
    });
    this.#committing = next.catch(() => {});
    return next;
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
