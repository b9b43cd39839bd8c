/**
 * Picking a restart's life up again after a restart of mandrill (SIGTERM or
 * kill -9): requests left `started` are reported interrupted, never run
 * again; hosts left restarting are watched as coming back (whether the
 * restart happened is unknown); hosts coming back or not back are held and
 * watched again, so they still count in the budget and are still reported
 * recovered.
 * @module
 */
import type { ExecutorEntry } from "../executors/registry.ts";
import { log } from "../log.ts";
import type { InboxRow, OutageRow } from "../store/mod.ts";
import type { RestartsOptions } from "./restart_types.ts";
import type { HostTarget } from "./topology.ts";

/** What resuming hands back to the restarts' owner. */
export interface ResumeHandlers {
  /** A request left `started` was ended as interrupted. */
  interrupted(row: InboxRow): void;
  /** Hold and watch this host again. */
  comingBack(outage: OutageRow, entry: ExecutorEntry, target: HostTarget): void;
  /** Nothing can watch this host any more (its executor is gone): let it go. */
  drop(outage: OutageRow): void;
}

/**
 * Resumes what a previous run left (a shared store: what an instance that is
 * gone left); see the module doc. Returns how many rows and hosts it took over.
 */
export async function resumeRestarts(
  o: RestartsOptions,
  handlers: ResumeHandlers,
): Promise<{ interrupted: number; outages: number }> {
  const { store, events, clock } = o;
  const logger = log("dispatcher");
  const interrupted = await store.interruptStarted(clock.now());
  for (const row of interrupted) {
    events.event({
      id: row.id,
      host: row.host,
      phase: "interrupted",
      detail: "mandrill stopped while the restart was running",
      ts: clock.now(),
    });
    handlers.interrupted(row);
    logger.warn(
      "Request {id} for {host} was interrupted by a stop (of this instance's previous run, or of an instance that is gone); not executed again",
      {
        id: row.id,
        host: row.host,
      },
    );
  }
  const outages = await store.adoptOutages(clock.now());
  for (const outage of outages) {
    const entry = o.executors.get(outage.executor);
    const target = o.topology().target(outage.host) ?? { executor: outage.executor };
    if (entry === undefined) {
      log("recovery").warn(
        "Cannot watch {host} coming back: its executor {executor} is no longer configured",
        { host: outage.host, executor: outage.executor },
      );
      handlers.drop(outage);
      continue;
    }
    // A restart that was running when mandrill stopped may or may not have happened.
    const resumed: OutageRow = outage.state === "restarting"
      ? { ...outage, state: "coming_back", interrupted: true }
      : outage;
    handlers.comingBack(resumed, entry, target);
  }
  if (outages.length > 0) {
    log("recovery").info(
      "Watching {n} hosts left coming back or not back by a previous run or an instance that is gone",
      {
        n: outages.length,
      },
    );
  }
  return { interrupted: interrupted.length, outages: outages.length };
}
