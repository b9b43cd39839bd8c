/**
 * How a watched restart is checked, again and again until it is done: the
 * fleet view for agent hosts (costs nothing), probes and health checks for
 * the others — processes, which share one {@linkcode Semaphore}
 * (`recovery.maxProbes`) and back off per host (see `nextCheckMs`). What a
 * check sees goes to the tracker, which moves the restart on.
 * @module
 */
import type { Semaphore } from "../async/mod.ts";
import type { Clock } from "../clock.ts";
import type { FleetView } from "../fleet/fleet_view.ts";
import { errorMessage, log } from "../log.ts";
import { type CheckPace, nextCheckMs } from "./recovery_rules.ts";
import type { BootProbe, HealthCheck, ProbeOutcome, TrackRequest } from "./recovery_types.ts";

/** One restart being watched. */
export interface RecoveryEntry {
  req: TrackRequest;
  bootIdBefore: string | undefined;
  phase: "boot" | "health" | "not_back" | "done";
  /** When the current phase began, ms. */
  since: number;
  attempt: number;
  bootId: string | undefined;
  controller: AbortController;
  timer: ReturnType<typeof setTimeout> | undefined;
  wake: (() => void) | undefined;
  loop: Promise<void> | undefined;
}

/** Where what a check saw goes: the tracker's moves. */
export interface CheckMoves {
  /** A boot id was seen (with the uptime, if known): a new boot? */
  consider(entry: RecoveryEntry, bootId: string, uptimeSec?: number): void;
  /** The health check passed after the new boot. */
  recovered(entry: RecoveryEntry): void;
  /** A host that did not come back answered. */
  seenAgain(entry: RecoveryEntry): void;
}

/** Options of {@linkcode RecoveryChecks}. */
export interface RecoveryChecksOptions {
  clock: Clock;
  fleet: FleetView | undefined;
  pool: Semaphore;
  pace: CheckPace;
  moves: CheckMoves;
}

/** Checks watched restarts; see the module doc. */
export class RecoveryChecks {
  readonly #o: RecoveryChecksOptions;

  /** Checks for `options.moves`. */
  constructor(options: RecoveryChecksOptions) {
    this.#o = options;
  }

  /** Checks `entry` again and again, with backoff, until it is done. */
  async watch(entry: RecoveryEntry): Promise<void> {
    const signal = entry.controller.signal;
    while (entry.phase !== "done") {
      const woken = await this.#sleep(entry);
      if ((entry.phase as RecoveryEntry["phase"]) === "done") return;
      if (!woken) entry.attempt++;
      try {
        await this.#check(entry, signal);
      } catch (err) {
        if (signal.aborted) return;
        log("recovery").debug("Check {attempt} of {host} failed: {error}", {
          attempt: entry.attempt,
          host: entry.req.host,
          error: errorMessage(err),
        });
      }
    }
  }

  /** Waits for the entry's next check; true when woken early (a phase change). */
  #sleep(entry: RecoveryEntry): Promise<boolean> {
    const phase = entry.phase === "done" ? "not_back" : entry.phase;
    const ms = nextCheckMs(
      { source: entry.req.source, phase, attempt: entry.attempt },
      this.#o.pace,
    );
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        entry.wake = undefined;
        resolve(false);
      }, ms);
      entry.wake = () => {
        clearTimeout(timer);
        entry.wake = undefined;
        resolve(true);
      };
    });
  }

  async #check(entry: RecoveryEntry, signal: AbortSignal): Promise<void> {
    const { req } = entry;
    const { fleet, clock, moves } = this.#o;
    if (entry.phase === "health") {
      if (await this.#healthy(req.healthCheck!, signal, entry)) moves.recovered(entry);
      return;
    }
    if (req.source === "agent") {
      const known = fleet?.get(req.host);
      const alive = known?.online === true && (known.lastHeartbeatAt ?? -Infinity) > entry.since;
      if (entry.phase === "not_back" || req.interrupted) {
        if (alive && entry.phase === "not_back") return moves.seenAgain(entry);
        if (alive) return moves.consider(entry, known!.bootId ?? "", known!.uptimeSec);
        return;
      }
      if (known?.bootId !== undefined && known.bootId !== entry.bootIdBefore && alive) {
        moves.consider(entry, known.bootId, fleet?.uptimeOf(req.host, clock.now()));
      }
      return;
    }
    if (req.source === "none") {
      // Not back, watched by its health check alone.
      if (await this.#healthy(req.healthCheck!, signal, entry)) moves.seenAgain(entry);
      return;
    }
    const outcome = await this.#probe(req.probe!, signal);
    if (signal.aborted) return;
    if (outcome.kind !== "ok") {
      log("recovery").debug("Probe {attempt} of {host} failed: {detail}", {
        attempt: entry.attempt,
        host: req.host,
        detail: outcome.detail,
      });
      return;
    }
    if (entry.phase === "not_back") return moves.seenAgain(entry);
    moves.consider(entry, outcome.bootId, outcome.uptimeSec);
  }

  async #probe(probe: BootProbe, signal: AbortSignal): Promise<ProbeOutcome> {
    using _permit = await this.#o.pool.acquire({ signal });
    try {
      return await probe(signal);
    } catch (err) {
      return { kind: "failed", detail: errorMessage(err) };
    }
  }

  async #healthy(check: HealthCheck, signal: AbortSignal, entry: RecoveryEntry): Promise<boolean> {
    using _permit = await this.#o.pool.acquire({ signal });
    const result = await check(signal).catch((err) => ({
      ok: false as const,
      detail: errorMessage(err),
    }));
    if (!result.ok && !signal.aborted) {
      log("recovery").info("Health check {attempt} of {host} failed: {detail}", {
        attempt: entry.attempt,
        host: entry.req.host,
        detail: result.detail,
      });
    }
    return result.ok;
  }
}
