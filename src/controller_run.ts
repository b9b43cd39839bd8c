/**
 * The controller at work, reloaded, and shut down. At work: nothing is
 * restarted before the kill switch's state is known; then the broker's
 * delivery of `{p}/restart` is watched, what a previous run left is resumed,
 * and the dispatcher, chaos and (on a shared store) keeping in step with the
 * other instances run until stopped. A reload (SIGHUP) applies a new config
 * to the running parts, but for the sections that need a restart. Shutdown,
 * in order: stop taking new work (intake and claims; a shared group is left
 * at once), let in-flight work finish up to the grace period, abort the
 * rest, stop watching recoveries, then disconnect (flushing events) while
 * webhooks get 2 s to send what is queued, and close the store.
 * @module
 */
import type { ChaosScheduler, KillSwitch } from "./chaos/mod.ts";
import type { Clock } from "./clock.ts";
import type { Config } from "./config/mod.ts";
import type { SyncWaiters } from "./contract/sync.ts";
import type { Topics } from "./contract/topics.ts";
import type { ExecutorRegistry } from "./executors/registry.ts";
import type { FleetView } from "./fleet/mod.ts";
import { errorMessage, log } from "./log.ts";
import type { MqttConnection } from "./mqtt/mod.ts";
import type { Webhooks } from "./notify/mod.ts";
import type { Dispatcher } from "./pipeline/dispatcher.ts";
import type { Breaker } from "./restart/breaker.ts";
import type { UnavailabilityBudget } from "./restart/budget.ts";
import type { RestartLedger } from "./restart/ledger.ts";
import type { Restarts } from "./restart/lifecycle.ts";
import { shareStore } from "./restart/shared.ts";
import { buildTopology, type Topology } from "./restart/topology.ts";
import type { Store } from "./store/mod.ts";
import { learnKillSwitch, watchDelivery } from "./controller_broker.ts";
import { filtersKey } from "./controller_seeds.ts";

/** What a reload changes. */
export interface Live {
  /** The config in force. */
  config: Config;
  /** The hosts in force, from `config`. */
  topology: Topology;
}

/**
 * The controller's parts, built: {@linkcode run} runs them, {@linkcode reload}
 * reconfigures them, {@linkcode shutDown} stops them (and `controller_views.ts`
 * shows them).
 */
export interface Working {
  live: Live;
  store: Store;
  conn: MqttConnection;
  topics: Topics;
  clock: Clock;
  fleet: FleetView;
  killSwitch: KillSwitch;
  ledger: RestartLedger;
  budget: UnavailabilityBudget;
  breaker: Breaker;
  executors: ExecutorRegistry;
  restarts: Restarts;
  dispatcher: Dispatcher;
  chaos: ChaosScheduler;
  webhooks: Webhooks;
  upkeep: Disposable;
  /** Intake's sync markers, to see `{p}/restart` delivered. */
  syncs: SyncWaiters;
  /** Topics the broker does not deliver to this instance although subscribed, with why. */
  undelivered: Map<string, string>;
  /** Aborting it closes intake and stops claiming, chaos and the shared sync. */
  stop: AbortController;
  /** Aborting it aborts the restarts in flight. */
  abort: AbortController;
}

/** Runs `w` until `w.stop` aborts; `onKillSwitchKnown` once its state is known. */
export async function run(w: Working, onKillSwitchKnown: () => void): Promise<void> {
  const stop = w.stop.signal;
  // As soon as they are granted, not after the kill switch: a run stopped
  // before that still leaves the next config the filters to remove.
  _rememberFilters(w);
  try {
    await learnKillSwitch(w.conn, w.topics, w.killSwitch, stop);
  } catch {
    if (stop.aborted) return; // shut down before the broker was reached
    throw new Error("cannot learn the kill switch state");
  }
  onKillSwitchKnown();
  if (!w.live.config.mqtt.sharedGroup) {
    watchDelivery(w.conn, w.topics.restart, w.syncs, w.undelivered, stop);
  }
  await w.restarts.resume();
  await Promise.all([
    w.dispatcher.run({ stop, abort: w.abort.signal }),
    w.chaos.run(stop),
    shareStore({
      config: w.live.config,
      topics: w.topics,
      store: w.store,
      clock: w.clock,
      budget: w.budget,
      breaker: w.breaker,
      breakerWithinSec: () => w.live.config.policy.breaker?.withinSec,
      resume: () => w.restarts.resume(),
      take: (rows) => w.dispatcher.take(rows),
    }, stop),
  ]);
}

/** Once subscribed, keeps the filters, so a later config can remove them from a kept session. */
function _rememberFilters(w: Working): void {
  w.conn.waitSubscribed(w.stop.signal).then(
    () => w.store.metaSet(filtersKey(w.live.config), JSON.stringify(w.conn.filters())),
  ).catch((err) => {
    if (w.stop.signal.aborted) return;
    log("mqtt").warn("Cannot remember the subscriptions: {error}", { error: errorMessage(err) });
  });
}

/**
 * Applies a new config live (SIGHUP): hosts, executors, policy and chaos take
 * effect for the next decision. Sections that need a restart (`mqtt`, `store`,
 * `http`, `notify`) keep their old values; their names are returned so the caller can warn.
 */
export function reload(w: Working, next: Config): { restartNeeded: string[] } {
  const old = w.live.config;
  const restartNeeded = (["mqtt", "store", "http", "notify"] as const).filter((k) =>
    JSON.stringify(old[k]) !== JSON.stringify(next[k])
  );
  w.live.config = {
    ...next,
    mqtt: old.mqtt,
    store: old.store,
    http: old.http,
    notify: old.notify,
  };
  w.executors.load(w.live.config);
  w.live.topology = buildTopology(w.live.config, w.fleet);
  // Requests already waiting see the new limits at their next look.
  w.budget.invalidate();
  return { restartNeeded };
}

/**
 * Stops `w`, giving work in flight `graceMs` before it is aborted; see the
 * module doc. `running` is what {@linkcode run} returned. Throws what failed, at the end.
 */
export async function shutDown(w: Working, running: Promise<void>, graceMs: number): Promise<void> {
  const logger = log("run");
  const inFlight = w.dispatcher.inFlight().length;
  logger.info("Shutting down: {inFlight} in flight, grace {graceMs} ms", { inFlight, graceMs });
  w.stop.abort(new Error("shutting down"));
  // In a shared group, leave it now so the other instances take new requests
  // during our grace period. A lone instance keeps its subscription: the
  // broker queues requests in its session until it is back.
  const sharedGroup = w.live.config.mqtt.sharedGroup;
  if (sharedGroup) {
    w.conn.unsubscribe(`$share/${sharedGroup}/${w.topics.restart}`).catch(() => {});
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const graceOver = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), graceMs);
  });
  const errors: unknown[] = [];
  try {
    const first = await Promise.race([running.then(() => "done" as const), graceOver]);
    if (first === "timeout") {
      logger.warn("Grace period over: aborting {n} restarts in flight", {
        n: w.dispatcher.inFlight().length,
      });
      w.abort.abort(new Error("grace period over"));
    }
    await running;
  } catch (err) {
    errors.push(err);
    logger.error("Dispatcher ended with errors: {error}", { error: errorMessage(err) });
  } finally {
    clearTimeout(timer);
  }
  await w.restarts[Symbol.asyncDispose]().catch((err) => errors.push(err));
  w.budget[Symbol.dispose]();
  w.executors[Symbol.dispose](); // after the recovery probes: they spawn ssh through it
  const notified = w.webhooks.close(); // bounded (2 s), never rejects
  await w.conn.close().catch((err) => errors.push(err));
  await notified;
  w.upkeep[Symbol.dispose]();
  try {
    await w.store.close();
  } catch (err) {
    errors.push(err);
  }
  logger.info("Shutdown complete");
  if (errors.length > 0) throw new AggregateError(errors, "Shutdown finished with errors");
}
