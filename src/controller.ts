/**
 * `mandrill run`: builds the parts — store, MQTT connection, fleet view, kill
 * switch, unavailability budget, executors, the owner of each restart's life
 * (with recovery tracking and the breaker), dispatcher, intake, chaos, webhooks —
 * from a config, and shuts them down in order: stop taking new work, let
 * in-flight work finish up to `shutdown.graceSec`, abort the rest, disconnect
 * (flushing events) while webhooks get 2 s to send what is queued, close the store.
 * @module
 */
import { Semaphore } from "./async/mod.ts";
import type { ChaosScheduler, KillSwitch } from "./chaos/mod.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { Config } from "./config/mod.ts";
import { type Topics, topics } from "./contract/topics.ts";
import type { SyncWaiters } from "./contract/sync.ts";
import { ExecutorRegistry } from "./executors/registry.ts";
import type { Executor } from "./executors/types.ts";
import { FleetView, routeFleet } from "./fleet/mod.ts";
import { errorMessage, log } from "./log.ts";
import { MqttConnection, type MqttSettings } from "./mqtt/connection.ts";
import { Dispatcher } from "./pipeline/dispatcher.ts";
import { type EventSink, teeSinks } from "./pipeline/events.ts";
import { mqttEventSink } from "./pipeline/mqtt_sink.ts";
import { killSwitchNotification, Webhooks } from "./notify/mod.ts";
import { Breaker } from "./restart/breaker.ts";
import { learnKillSwitch, watchDelivery } from "./controller_broker.ts";
import { UnavailabilityBudget } from "./restart/budget.ts";
import { fleetFacts } from "./restart/facts.ts";
import { RestartLedger } from "./restart/ledger.ts";
import { Restarts } from "./restart/lifecycle.ts";
import { buildTopology, type Topology } from "./restart/topology.ts";
import { openStore, type Store } from "./store/mod.ts";
import { startUpkeep } from "./store/upkeep.ts";
import type { Metrics } from "./http/metrics.ts";
import { buildStatus, type Status } from "./status/model.ts";
import { VERSION } from "./version.ts";
import { filtersKey, readSeeds, type Seeds } from "./controller_seeds.ts";
import { redactUrl } from "./url.ts";
import {
  buildChaos,
  buildKillSwitch,
  IntakeClosedError,
  type LateCommit,
  readinessOf,
  routeIntake,
  shareStore,
  tripBreaker,
} from "./controller_parts.ts";

export { IntakeClosedError };

/** Options of {@linkcode Controller.start}. */
export interface ControllerOptions {
  /** Default: the system clock. */
  clock?: Clock;
  /** Extra event sinks (tests, metrics). */
  sinks?: EventSink[];
  /** Replaces executors built from config, by name (tests). */
  executors?: ReadonlyMap<string, Executor>;
  /** Metrics to feed. Default: none. */
  metrics?: Metrics;
  /** Told about a bug or an unwritable store in one request; the service shuts down. Default: none. */
  onFatal?: (kind: string, err: unknown) => void;
}

/** The MQTT settings of a config. */
export function mqttSettings(config: Config): MqttSettings {
  return { ...config.mqtt };
}

/** The running controller. Dispose (or call {@linkcode shutdown}) to stop it gracefully. */
export class Controller implements AsyncDisposable {
  #config: Config;
  #topology: Topology;
  readonly store: Store;
  readonly conn: MqttConnection;
  readonly topics: Topics;
  readonly fleet: FleetView;
  readonly killSwitch: KillSwitch;
  readonly budget: UnavailabilityBudget;
  readonly executors: ExecutorRegistry;
  readonly restarts: Restarts;
  readonly dispatcher: Dispatcher;
  readonly #clock: Clock;
  readonly #chaos: ChaosScheduler;
  readonly #stop = new AbortController();
  readonly #abort = new AbortController();
  readonly #running: Promise<void>;
  #intakeOpen = true;
  readonly #upkeep: Disposable;
  readonly #options: ControllerOptions;
  #shutdown: Promise<void> | undefined;

  private constructor(
    config: Config,
    parts: {
      store: Store;
      conn: MqttConnection;
      seeds: Seeds;
      commit: LateCommit;
    },
    options: ControllerOptions,
  ) {
    const { store, conn, seeds } = parts;
    this.#config = config;
    this.#options = options;
    this.store = store;
    this.conn = conn;
    this.topics = topics(config.mqtt.topicPrefix);
    const clock = this.#clock = options.clock ?? systemClock;
    const live = () => this.#config;
    const statusSink: EventSink = {
      event: () => this.#statusChanged(),
      deadLetter: () => {},
    };
    const webhooks = this.#webhooks = new Webhooks(config.notify.webhooks, {
      metrics: options.metrics,
    });
    const events = teeSinks(
      mqttEventSink(conn, this.topics),
      statusSink,
      webhooks,
      ...(options.sinks ?? []),
    );

    // 1. What the agents say: heartbeats and statuses of the hosts the config
    //    gives an agent, and results for the agent executors.
    this.fleet = new FleetView({ maxHosts: config.fleet.maxHosts });
    this.#topology = buildTopology(config, this.fleet);
    routeFleet(conn, {
      topics: this.topics,
      fleet: this.fleet,
      clock,
      accepts: (host) => this.#topology.acceptsAgent(host),
      onResult: (host, result) => this.executors.handleResult(host, result),
    });

    // 2. The kill switch: the retained message on {p}/control.
    this.killSwitch = buildKillSwitch({
      store,
      seeds,
      conn,
      topics: this.topics,
      clock,
      onChange: (state, message) => {
        this.#statusChanged();
        webhooks.notify(killSwitchNotification(state, message, clock.now()));
      },
      onReleased: (now) => this.#breaker.reset(now),
    });

    // 3. The unavailability budget: who is down, fleet-wide and per group.
    this.budget = new UnavailabilityBudget({
      topology: () => this.#topology,
      fleet: this.fleet,
      clock,
      limits: () => this.#config.policy,
    });
    this.budget.onChange(() => this.#statusChanged());

    // 4. How hosts are restarted.
    this.executors = new ExecutorRegistry(config, {
      agent: { conn, topics: this.topics, fleet: this.fleet, clock, signer: seeds.signer },
      overrides: options.executors,
    });

    // 5. A restart's life, from its start until its host is back; the breaker
    //    engages the kill switch when too many fail.
    const ledger = this.#ledger = new RestartLedger();
    for (const r of seeds.restarts) ledger.record(r.host, r.startedAt);
    this.#breaker = new Breaker({
      settings: () => this.#config.policy.breaker,
      clock,
      trip: (reason) =>
        tripBreaker(reason, {
          clock,
          killSwitch: this.killSwitch,
          webhooks,
          conn,
          topics: this.topics,
          signer: seeds.signer,
          onTrip: () => options.metrics?.onBreakerTrip(),
        }),
      seed: seeds.failures,
    });
    this.restarts = new Restarts({
      store,
      events,
      clock,
      executors: this.executors,
      topology: () => this.#topology,
      config: live,
      fleet: this.fleet,
      budget: this.budget,
      ledger,
      breaker: this.#breaker,
      probes: new Semaphore(config.recovery.maxProbes),
      hooks: {
        onPhase: (phase, info) => options.metrics?.onPhase(phase, info),
        onRecovered: (ms) => options.metrics?.onRecovered(ms),
        onFatal: (err) => options.onFatal?.("store failure", err),
      },
    });

    // 6. Which request runs when: the gate over the fleet's facts.
    this.dispatcher = new Dispatcher({
      store,
      clock,
      facts: fleetFacts({
        topology: () => this.#topology,
        hasExecutor: (name) => this.executors.has(name),
        fleet: this.fleet,
        paused: () => this.killSwitch.paused(),
        chaos: () => this.#config.chaos,
        ledger,
        budget: this.budget,
        clock,
      }),
      restarts: this.restarts,
      policy: () => this.#config.policy,
      onTaskError: (err) => options.onFatal?.("request failure", err),
    });

    // 7. Intake: {p}/restart into the inbox, then to the dispatcher.
    const intake = routeIntake({
      config,
      conn,
      topics: this.topics,
      store,
      events,
      clock,
      commit: parts.commit,
      isOpen: () => this.#intakeOpen,
      onAccepted: (row) => this.dispatcher.enqueue(row),
      onResult: (r) => options.metrics?.onIntake(r),
    });
    this.#intakeSyncs = intake.syncs;

    // 8. Chaos: requests through the same inbox and gate, only for hosts that
    //    are up and within budget.
    this.#chaos = buildChaos({
      config: () => this.#config,
      topology: () => this.#topology,
      budget: this.budget,
      ledger,
      intake,
      killSwitch: this.killSwitch,
      store,
      clock,
    });

    // 9. Upkeep: checkpoints, often and off the intake path; pruning.
    this.#upkeep = startUpkeep(store, {
      retentionDays: () => this.#config.store.retentionDays,
      clock,
    });
    this.#running = this.#run();
  }

  readonly #breaker: Breaker;
  readonly #webhooks: Webhooks;
  readonly #ledger: RestartLedger;
  readonly #statusListeners = new Set<() => void>();

  #statusChanged(): void {
    for (const listener of this.#statusListeners) listener();
  }

  /** The status page's view of everything (`/api/status`). */
  status(): Status {
    return buildStatus({
      version: VERSION,
      now: this.#clock.now(),
      topology: this.#topology,
      hosts: Object.keys(this.#config.hosts),
      limits: this.#config.policy,
      fleet: this.fleet,
      budget: this.budget,
      ledger: this.#ledger,
      paused: this.killSwitch.paused(),
      inFlight: this.dispatcher.inFlight(),
      restarts: this.restarts.lives(),
      recent: this.restarts.recent(),
    });
  }

  /** Calls `listener` after anything the status shows changed (often: coalesce). Dispose to stop. */
  onStatusChange(listener: () => void): Disposable {
    this.#statusListeners.add(listener);
    return { [Symbol.dispose]: () => this.#statusListeners.delete(listener) };
  }

  async #run(): Promise<void> {
    const stop = this.#stop.signal;
    try {
      await learnKillSwitch(this.conn, this.topics, this.killSwitch, stop);
    } catch {
      if (stop.aborted) return; // shut down before the broker was reached
      throw new Error("cannot learn the kill switch state");
    }
    this.#killSwitchKnown = true;
    if (!this.#config.mqtt.sharedGroup) {
      watchDelivery(this.conn, this.topics.restart, this.#intakeSyncs!, this.#undelivered, stop);
    }
    await this.restarts.resume();
    this.#rememberFilters();
    await Promise.all([
      this.dispatcher.run({ stop, abort: this.#abort.signal }),
      this.#chaos.run(stop),
      shareStore({
        config: this.#config,
        topics: this.topics,
        store: this.store,
        clock: this.#clock,
        budget: this.budget,
        breaker: this.#breaker,
        breakerWithinSec: () => this.#config.policy.breaker?.withinSec,
        resume: () => this.restarts.resume(),
        take: (rows) => this.dispatcher.take(rows),
      }, stop),
    ]);
  }

  #killSwitchKnown = false;
  /** Topics the broker does not deliver to this instance although subscribed (an ACL?), with why. */
  readonly #undelivered = new Map<string, string>();

  #intakeSyncs: SyncWaiters | undefined;

  /** Once subscribed, keeps the filters, so a later config can remove them from a kept session. */
  #rememberFilters(): void {
    this.conn.waitSubscribed(this.#stop.signal).then(
      () => this.store.metaSet(filtersKey(this.#config), JSON.stringify(this.conn.filters())),
    ).catch((err) => {
      if (this.#stop.signal.aborted) return;
      log("mqtt").warn("Cannot remember the subscriptions: {error}", { error: errorMessage(err) });
    });
  }

  /** Opens the store, connects, and starts dispatching. */
  static async start(config: Config, options: ControllerOptions = {}): Promise<Controller> {
    const store = await openStore(config, { instance: config.mqtt.clientId });
    try {
      const seeds = await readSeeds(store, config, (options.clock ?? systemClock).now());
      // Group commit: PUBACKs wait for the inbox writes of their batch to commit.
      const commit: LateCommit = { fn: () => Promise.resolve(), unrouted: () => {} };
      const conn = await MqttConnection.open(mqttSettings(config), {
        commitBatch: () => commit.fn(),
        unsubscribe: seeds.filters,
        onUnrouted: (topic, payload) => commit.unrouted(topic, payload),
      });
      log("run").info("mandrill started: store {store}, broker {clientId}", {
        store: config.store.url === undefined ? config.store.path : redactUrl(config.store.url),
        clientId: config.mqtt.clientId,
      });
      try {
        return new Controller(config, { store, conn, seeds, commit }, options);
      } catch (err) {
        await conn.close().catch(() => {});
        throw err;
      }
    } catch (err) {
      await Promise.resolve(store.close()).catch(() => {});
      throw err;
    }
  }

  /** Whether the controller can take work: broker connected and store open. */
  readiness(): { ok: boolean; reasons: string[] } {
    return readinessOf({
      conn: this.conn,
      url: this.#config.mqtt.url,
      undelivered: this.#undelivered,
      killSwitchKnown: this.#killSwitchKnown,
      controlTopic: this.topics.control,
      store: this.store,
      shuttingDown: this.#shutdown !== undefined,
    });
  }

  /**
   * Work in flight for `/debug/tasks`: requests waiting (and what for) or
   * executing, and restarted hosts coming back or not back.
   */
  tasks(): { requests: unknown[]; restarts: unknown[] } {
    return { requests: this.dispatcher.inFlight(), restarts: this.restarts.lives() };
  }

  /**
   * Rows pending in the inbox, for `mandrill_inbox_pending`: read at most once
   * a second (a shared store answers over the network).
   */
  pendingCount(): number {
    const now = this.#clock.now();
    if (this.store.isOpen && now - this.#pendingAt >= 1_000) {
      this.#pendingAt = now;
      const n = this.store.pendingCount();
      if (typeof n === "number") this.#pending = n;
      else n.then((v) => this.#pending = v, () => {});
    }
    return this.#pending;
  }

  #pending = 0;
  #pendingAt = -Infinity;

  /** The config in force. */
  get config(): Config {
    return this.#config;
  }

  /** Resolves when the dispatcher stops (after shutdown). */
  get done(): Promise<void> {
    return this.#running;
  }

  /**
   * Applies a new config live (SIGHUP): hosts, executors, policy and chaos take
   * effect for the next decision. Sections that need a restart (`mqtt`, `store`,
   * `http`, `notify`) keep their old values; their names are returned so the caller can warn.
   */
  reload(next: Config): { restartNeeded: string[] } {
    const old = this.#config;
    const restartNeeded = (["mqtt", "store", "http", "notify"] as const).filter((k) =>
      JSON.stringify(old[k]) !== JSON.stringify(next[k])
    );
    this.#config = {
      ...next,
      mqtt: old.mqtt,
      store: old.store,
      http: old.http,
      notify: old.notify,
    };
    this.executors.load(this.#config);
    this.#topology = buildTopology(this.#config, this.fleet);
    // Requests already waiting see the new limits at their next look.
    this.budget.invalidate();
    return { restartNeeded };
  }

  /**
   * Graceful shutdown: stop intake and claiming new rows, wait up to
   * `graceMs` (default `shutdown.graceSec`) for in-flight work, abort the rest,
   * disconnect, close the store. Idempotent.
   */
  shutdown(graceMs = this.#config.shutdown.graceSec * 1000): Promise<void> {
    this.#shutdown ??= this.#doShutdown(graceMs);
    return this.#shutdown;
  }

  async #doShutdown(graceMs: number): Promise<void> {
    const logger = log("run");
    const inFlight = this.dispatcher.inFlight().length;
    logger.info("Shutting down: {inFlight} in flight, grace {graceMs} ms", { inFlight, graceMs });
    this.#intakeOpen = false;
    this.#stop.abort(new Error("shutting down"));
    // In a shared group, leave it now so the other instances take new requests
    // during our grace period. A lone instance keeps its subscription: the
    // broker queues requests in its session until it is back.
    const sharedGroup = this.#config.mqtt.sharedGroup;
    if (sharedGroup) {
      this.conn.unsubscribe(`$share/${sharedGroup}/${this.topics.restart}`).catch(() => {});
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const graceOver = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    const errors: unknown[] = [];
    try {
      const first = await Promise.race([this.#running.then(() => "done" as const), graceOver]);
      if (first === "timeout") {
        logger.warn("Grace period over: aborting {n} restarts in flight", {
          n: this.dispatcher.inFlight().length,
        });
        this.#abort.abort(new Error("grace period over"));
      }
      await this.#running;
    } catch (err) {
      errors.push(err);
      logger.error("Dispatcher ended with errors: {error}", { error: errorMessage(err) });
    } finally {
      clearTimeout(timer);
    }
    await this.restarts[Symbol.asyncDispose]().catch((err) => errors.push(err));
    this.budget[Symbol.dispose]();
    this.executors[Symbol.dispose](); // after the recovery probes: they spawn ssh through it
    const notified = this.#webhooks.close(); // bounded (2 s), never rejects
    await this.conn.close().catch((err) => errors.push(err));
    await notified;
    this.#upkeep[Symbol.dispose]();
    try {
      await this.store.close();
    } catch (err) {
      errors.push(err);
    }
    logger.info("Shutdown complete");
    if (errors.length > 0) throw new AggregateError(errors, "Shutdown finished with errors");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}
