/**
 * The dispatcher: takes pending inbox rows in arrival order with a bounded
 * window in memory — handed over by intake as they are inserted, or read back
 * from the store after a start or whenever the hand-over queue overflowed —
 * never two actions on one host at once, and runs each through the policy
 * gate: a skip ends the row; a restart that would exceed the unavailability
 * budget waits (pending, up to `policy.maxWaitSec`) and goes as soon as the
 * budget allows; an allowed one is handed to the owner of a restart's life.
 * Work in flight is aborted through its AbortSignal on shutdown.
 * @module
 */
import { KeyedLimiter, TaskGroup } from "../async/mod.ts";
import { errorMessage, log, withLogContext } from "../log.ts";
import type { InboxRow } from "../store/mod.ts";
import type { DispatcherOptions, InFlight } from "./dispatch_types.ts";
import { gateRow } from "./gate_row.ts";
import { RowFeed } from "./row_feed.ts";
import type { GateDecision, SkipCode, WaitCode } from "./policy.ts";
import type { SharedFacts, StartVerdict } from "../store/mod.ts";

export type {
  DispatcherOptions,
  DispatchPolicy,
  GateFacts,
  HostTarget,
  InFlight,
  RestartRunner,
} from "./dispatch_types.ts";

/** A start the shared store could not take is tried again after this long, ms. */
const STORE_RETRY_MS = 1_000;

/** Takes pending rows and drives each through the gate. */
export class Dispatcher {
  readonly #o: DispatcherOptions;
  /** One key per host: never two actions on one host at once. */
  readonly #hosts = new KeyedLimiter({ limit: Infinity });
  readonly #claimed = new Map<string, _Flight>();
  #wake: (() => void) | undefined;
  #woken = false;
  #windowFreed: (() => void) | undefined;
  readonly #feed: RowFeed;

  /** Builds a dispatcher; call {@linkcode run} to start it. */
  constructor(options: DispatcherOptions) {
    this.#o = options;
    this.#feed = new RowFeed(options.store, () => {
      this.#woken = true;
      this.#wake?.();
    });
  }

  /** Tells the dispatcher new rows are pending in the store. Cheap; call after inserts. */
  wake(): void {
    this.#feed.wake();
  }

  /**
   * Hands over a row just inserted (same connection, so readable even before
   * its group commit; anything done with it commits first). Rows must come in
   * seq order; memory stays bounded (see {@linkcode RowFeed.enqueue}).
   */
  enqueue(row: InboxRow): void {
    this.#feed.enqueue(row);
  }

  /**
   * Takes over rows another instance held (a shared store, its lease
   * expired), in any seq order: they go first. A row already claimed here is
   * ignored.
   */
  take(rows: readonly InboxRow[]): void {
    const fresh = rows.filter((r) => !this.#claimed.has(r.id));
    if (fresh.length > 0) this.#feed.adopt(fresh);
  }

  /** Work claimed and not finished. */
  inFlight(): InFlight[] {
    return [...this.#claimed.values()].map(({ waitingFor, ...f }) =>
      waitingFor === undefined
        ? f
        : { ...f, waitingFor: typeof waitingFor === "string" ? waitingFor : waitingFor.reason }
    );
  }

  /** How many requests wait for the budget, by why (`mandrill_requests_waiting{reason}`). */
  waitingCounts(): Record<WaitCode | "store", number> {
    const out: Record<WaitCode | "store", number> = { group: 0, fleet: 0, store: 0 };
    for (const f of this.#claimed.values()) if (f.waitCode) out[f.waitCode]++;
    return out;
  }

  /**
   * Dispatches until `stop` aborts (no new rows claimed; rows still waiting
   * stay pending), then waits for work in flight until `abort` aborts it.
   */
  async run(options: { stop: AbortSignal; abort: AbortSignal }): Promise<void> {
    try {
      await this.#dispatch(options);
    } finally {
      // What finished last is still in the open batch: commit it (and send its
      // events) before the caller closes the connection and the store.
      await Promise.resolve(this.#o.store.commitBatch()).catch(() => {}); // logged by the store
    }
  }

  async #dispatch(options: { stop: AbortSignal; abort: AbortSignal }): Promise<void> {
    await using group = new TaskGroup({ signal: options.abort, name: "dispatcher" });
    const windowSize = this.#o.windowSize ?? 1024;
    while (!options.stop.aborted) {
      this.#woken = false;
      const { rows, adopted } = await this.#feed.next();
      let i = 0;
      while (i < rows.length && !options.stop.aborted) {
        if (this.#claimed.size >= windowSize) {
          await this.#waitFor(options.stop, "window");
          continue;
        }
        // Claim synchronously while the window has room. Skips decided here go
        // into the store's open group-commit batch, their events out after it.
        for (; i < rows.length && this.#claimed.size < windowSize; i++) {
          const row = rows[i]!;
          if (!adopted) this.#feed.passed(row.seq);
          if (this.#claim(row)) {
            group.spawn((signal) => this.#process(row, { signal, stop: options.stop }), {
              independent: true,
              name: row.id,
            });
          }
        }
      }
      if (rows.length === 0 && !this.#woken) await this.#waitFor(options.stop, "wake");
    }
  }

  #waitFor(stop: AbortSignal, what: "wake" | "window"): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        stop.removeEventListener("abort", done);
        if (what === "wake") this.#wake = undefined;
        else this.#windowFreed = undefined;
        resolve();
      };
      if (stop.aborted) return resolve();
      stop.addEventListener("abort", done, { once: true });
      if (what === "wake") this.#wake = done;
      else this.#windowFreed = done;
    });
  }

  /**
   * The gate again, inside a shared store's start transaction, on the fleet's
   * facts: every instance's outages, restarts and last restart of the host.
   */
  #recheck(row: InboxRow, facts: SharedFacts): StartVerdict {
    const local = gateRow(row, this.#o, facts);
    return local.decision.kind === "allow" ? { kind: "allow" } : local.decision;
  }

  /**
   * Synchronous first pass: skip at once what the gate already refuses, or
   * claim the row. The gate runs again once the host's turn comes; that
   * decision, taken in the same synchronous step as marking the row started,
   * is the one that counts.
   */
  #claim(row: InboxRow): boolean {
    // A shared store may hand a row over twice (taken over, then read by a scan).
    if (this.#claimed.has(row.id)) return false;
    const { decision } = gateRow(row, this.#o);
    if (decision.kind === "skip") {
      this.#o.restarts.skip(row, decision.code, decision.reason);
      return false;
    }
    this.#claimed.set(row.id, {
      id: row.id,
      host: row.host,
      phase: "waiting",
      since: this.#o.clock.now(),
    });
    return true;
  }

  #release(row: InboxRow): void {
    this.#claimed.delete(row.id);
    this.#windowFreed?.();
  }

  async #process(
    row: InboxRow,
    { signal, stop }: { signal: AbortSignal; stop: AbortSignal },
  ): Promise<void> {
    await withLogContext({ id: row.id, host: row.host }, async () => {
      const waiting = AbortSignal.any([signal, stop]);
      try {
        using _host = await this.#hosts.acquire(row.host, { signal: waiting });
        const flight = this.#claimed.get(row.id)!;
        let reasonAt = -Infinity;
        /** Waits for something other than this instance's budget (another's restarts, the store). */
        let rest = false;
        for (;;) {
          // A row still waiting when shutdown starts stays pending for the next start.
          if (stop.aborted) return;
          const gated = gateRow(row, this.#o);
          const target = gated.target;
          let decision: GateDecision | StartVerdict = gated.decision;
          if (decision.kind === "allow") {
            Object.assign(flight, {
              phase: "executing",
              since: this.#o.clock.now(),
              waitingFor: undefined,
              waitCode: undefined,
            });
            // The start holds the host before its first await: then its turn ends.
            const running = this.#o.restarts.run(
              row,
              target!,
              signal,
              (facts) => this.#recheck(row, facts),
            );
            this.#o.facts.budgetLeave(waiting);
            const ran = await running;
            if (ran.kind === "done") return;
            rest = true;
            if (ran.kind === "unavailable") {
              // Nothing was started: the row stays pending and tries again.
              this.#storeWait(row, flight, ran.detail);
              await this.#o.facts.budgetWait(row.host, {
                signal: waiting,
                timeoutMs: STORE_RETRY_MS,
                rest,
              });
              continue;
            }
            // Another instance's restarts, seen in the shared store: as the gate says.
            decision = ran.verdict;
          }
          if (decision.kind === "skip") {
            // The store's verdicts come from the same gate: their codes are skip codes.
            return this.#o.restarts.skip(row, decision.code as SkipCode, decision.reason);
          }
          const giveUp = this.#giveUp(row, decision);
          if (giveUp !== undefined) return this.#o.restarts.skip(row, "budget", giveUp);
          if (flight.waitCode === undefined) {
            // Lazily: the reason is written only if the line is (most requests never show it).
            log("dispatcher").info("Request {id} for {host} waits: {reason}", () => ({
              id: row.id,
              host: row.host,
              reason: decision.reason,
            }));
          }
          // What it waits for, taken at most once a second (each change gates it again)
          // and written out only when shown.
          const now = this.#o.clock.now();
          if (flight.waitCode !== decision.code || now - reasonAt >= 1_000) {
            Object.assign(flight, { waitingFor: decision, waitCode: decision.code });
            reasonAt = now;
          }
          await this.#o.facts.budgetWait(row.host, {
            signal: waiting,
            timeoutMs: this.#o.recheckMs ?? 1_000,
            rest,
          });
          rest = false;
        }
      } catch (err) {
        if (signal.aborted || (stop.aborted && err === stop.reason)) {
          log("dispatcher").info("Request {id} left pending: shutting down", { id: row.id });
          return;
        }
        log("dispatcher").error("Request {id} failed unexpectedly: {error}", {
          id: row.id,
          error: errorMessage(err),
        });
        this.#o.onTaskError?.(err);
        throw err;
      } finally {
        this.#o.facts.budgetLeave(waiting);
        this.#release(row);
      }
    });
  }

  #storeWait(row: InboxRow, flight: _Flight, detail: string): void {
    if (flight.waitCode !== "store") {
      log("dispatcher").warn("Request {id} for {host} waits for the store: {detail}", {
        id: row.id,
        host: row.host,
        detail,
      });
    }
    Object.assign(flight, { phase: "waiting", waitingFor: detail, waitCode: "store" });
  }

  /** Why a request that would wait is skipped instead (chaos never waits; nobody waits past maxWaitSec). */
  #giveUp(row: InboxRow, decision: { reason: string }): string | undefined {
    if (row.request.requestedBy === "chaos") {
      return `chaos does not wait for the budget: ${decision.reason}`;
    }
    const maxWaitSec = this.#o.policy().maxWaitSec;
    const waitedSec = (this.#o.clock.now() - row.receivedAt) / 1000;
    if (waitedSec < maxWaitSec) return undefined;
    return `waited ${
      Math.floor(waitedSec)
    }s for the budget (maxWaitSec ${maxWaitSec}): ${decision.reason}`;
  }
}

/** An {@linkcode InFlight} as kept: what it waits for is a decision whose reason is read when shown. */
type _Flight = Omit<InFlight, "waitingFor"> & { waitingFor?: string | { readonly reason: string } };
