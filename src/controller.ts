/**
 * `mandrill run`: over the store and the MQTT connection it opened, builds
 * the parts from a config in numbered steps — where events go, the fleet
 * view, kill switch and breaker, unavailability budget, executors, the owner
 * of each restart's life, dispatcher, intake, chaos, upkeep — then runs them
 * until it is shut down (`controller_run.ts`), and shows them over HTTP
 * (`controller_views.ts`).
 * @module
 */
import { Semaphore } from "./async/mod.ts";
import type { KillSwitch } from "./chaos/mod.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { Config } from "./config/mod.ts";
import { type Topics, topics } from "./contract/topics.ts";
import { ExecutorRegistry } from "./executors/registry.ts";
import type { Executor } from "./executors/types.ts";
import { FleetView, routeFleet } from "./fleet/mod.ts";
import type { Metrics } from "./http/metrics.ts";
import type { MqttConnection } from "./mqtt/mod.ts";
import { Webhooks } from "./notify/mod.ts";
import { Dispatcher } from "./pipeline/dispatcher.ts";
import { type EventSink, teeSinks } from "./pipeline/events.ts";
import { mqttEventSink } from "./pipeline/mqtt_sink.ts";
import { UnavailabilityBudget } from "./restart/budget.ts";
import { fleetFacts } from "./restart/facts.ts";
import { RestartLedger } from "./restart/ledger.ts";
import { Restarts } from "./restart/lifecycle.ts";
import { buildTopology } from "./restart/topology.ts";
import type { Status } from "./status/model.ts";
import type { Store } from "./store/mod.ts";
import { startUpkeep } from "./store/upkeep.ts";
import { IntakeClosedError, routeRequests } from "./controller_intake.ts";
import { buildKillSwitch } from "./controller_kill_switch.ts";
import { mqttSettings, type Opened, openParts } from "./controller_open.ts";
import { type Live, reload, run, shutDown, type Working } from "./controller_run.ts";
import { PendingCount, readinessOf, StatusChanges, statusOf, tasksOf } from "./controller_views.ts";

export { IntakeClosedError, mqttSettings };

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

/** The running controller. Dispose (or call {@linkcode shutdown}) to stop it gracefully. */
export class Controller implements AsyncDisposable {
  readonly store: Store;
  readonly conn: MqttConnection;
  readonly topics: Topics;
  readonly fleet: FleetView;
  readonly killSwitch: KillSwitch;
  readonly budget: UnavailabilityBudget;
  readonly executors: ExecutorRegistry;
  readonly restarts: Restarts;
  readonly dispatcher: Dispatcher;
  readonly #work: Working;
  readonly #running: Promise<void>;
  readonly #statusChanges = new StatusChanges();
  readonly #pending: PendingCount;
  #killSwitchKnown = false;
  #shutdown: Promise<void> | undefined;

  private constructor(config: Config, opened: Opened, options: ControllerOptions) {
    const { store, conn, seeds } = opened;
    const clock = options.clock ?? systemClock;
    this.store = store;
    this.conn = conn;
    this.topics = topics(config.mqtt.topicPrefix);

    // 1. Where events go: MQTT, the status page, webhooks, and the extra sinks.
    const webhooks = new Webhooks(config.notify.webhooks, { metrics: options.metrics });
    const events = teeSinks(
      mqttEventSink(conn, this.topics),
      { event: () => this.#statusChanges.changed(), deadLetter: () => {} },
      webhooks,
      ...(options.sinks ?? []),
    );

    // 2. What the agents say: heartbeats and statuses of the hosts the config
    //    gives an agent, and results for the agent executors.
    this.fleet = new FleetView({ maxHosts: config.fleet.maxHosts });
    const live: Live = { config, topology: buildTopology(config, this.fleet) };
    const topology = () => live.topology;
    routeFleet(conn, {
      topics: this.topics,
      fleet: this.fleet,
      clock,
      accepts: (host) => live.topology.acceptsAgent(host),
      onResult: (host, result) => this.executors.handleResult(host, result),
    });

    // 3. The kill switch, the retained message on {p}/control; the breaker
    //    engages it when too many restarts fail.
    const { killSwitch, breaker } = buildKillSwitch({
      store,
      seeds,
      conn,
      topics: this.topics,
      clock,
      webhooks,
      breakerSettings: () => live.config.policy.breaker,
      onChange: () => this.#statusChanges.changed(),
      onTrip: () => options.metrics?.onBreakerTrip(),
    });
    this.killSwitch = killSwitch;

    // 4. The unavailability budget: who is down, fleet-wide and per group.
    const budget = this.budget = new UnavailabilityBudget({
      topology,
      fleet: this.fleet,
      clock,
      limits: () => live.config.policy,
    });
    budget.onChange(() => this.#statusChanges.changed());

    // 5. How hosts are restarted.
    const executors = this.executors = new ExecutorRegistry(config, {
      agent: { conn, topics: this.topics, fleet: this.fleet, clock, signer: seeds.signer },
      overrides: options.executors,
    });

    // 6. A restart's life, from its start until its host is back (or not back).
    const ledger = new RestartLedger();
    for (const r of seeds.restarts) ledger.record(r.host, r.startedAt);
    const restarts = this.restarts = new Restarts({
      store,
      events,
      clock,
      executors,
      topology,
      config: () => live.config,
      fleet: this.fleet,
      budget,
      ledger,
      breaker,
      probes: new Semaphore(config.recovery.maxProbes),
      hooks: {
        onPhase: (phase, info) => options.metrics?.onPhase(phase, info),
        onRecovered: (ms) => options.metrics?.onRecovered(ms),
        onFatal: (err) => options.onFatal?.("store failure", err),
      },
    });

    // 7. Which request runs when: the gate over the fleet's facts.
    const dispatcher = this.dispatcher = new Dispatcher({
      store,
      clock,
      facts: fleetFacts({
        topology,
        hasExecutor: (name) => executors.has(name),
        fleet: this.fleet,
        paused: () => killSwitch.paused(),
        chaos: () => live.config.chaos,
        ledger,
        budget,
        clock,
      }),
      restarts,
      policy: () => live.config.policy,
      onTaskError: (err) => options.onFatal?.("request failure", err),
    });

    // 8. Where requests come in: {p}/restart, and chaos only for hosts that
    //    are up and within budget; both into the inbox, then to the dispatcher.
    const stop = new AbortController();
    const { intake, chaos } = routeRequests({
      config: () => live.config,
      topology,
      conn,
      topics: this.topics,
      store,
      events,
      clock,
      commit: opened.commit,
      isOpen: () => !stop.signal.aborted,
      onAccepted: (row) => dispatcher.enqueue(row),
      onResult: (r) => options.metrics?.onIntake(r),
      budget,
      ledger,
      killSwitch,
    });

    // 9. Upkeep: checkpoints, often and off the intake path; pruning.
    const upkeep = startUpkeep(store, {
      retentionDays: () => live.config.store.retentionDays,
      clock,
    });

    // 10. Run until shut down.
    this.#work = {
      live,
      store,
      conn,
      topics: this.topics,
      clock,
      fleet: this.fleet,
      killSwitch,
      ledger,
      budget,
      breaker,
      executors,
      restarts,
      dispatcher,
      chaos,
      webhooks,
      upkeep,
      syncs: intake.syncs,
      undelivered: new Map(),
      stop,
      abort: new AbortController(),
    };
    this.#pending = new PendingCount(store, clock);
    this.#running = run(this.#work, () => this.#killSwitchKnown = true);
  }

  /** Opens the store, connects, and starts dispatching. */
  static async start(config: Config, options: ControllerOptions = {}): Promise<Controller> {
    const opened = await openParts(config, options.clock ?? systemClock);
    try {
      return new Controller(config, opened, options);
    } catch (err) {
      await opened.close();
      throw err;
    }
  }

  /** The config in force. */
  get config(): Config {
    return this.#work.live.config;
  }

  /** Resolves when the dispatcher stops (after shutdown). */
  get done(): Promise<void> {
    return this.#running;
  }

  /** The status page's view of everything (`/api/status`). */
  status(): Status {
    return statusOf(this.#work);
  }

  /** Calls `listener` after anything the status shows changed (often: coalesce). Dispose to stop. */
  onStatusChange(listener: () => void): Disposable {
    return this.#statusChanges.on(listener);
  }

  /** Whether the controller can take work: broker connected and store open. */
  readiness(): { ok: boolean; reasons: string[] } {
    const shuttingDown = this.#shutdown !== undefined;
    return readinessOf(this.#work, { killSwitchKnown: this.#killSwitchKnown, shuttingDown });
  }

  /**
   * Work in flight for `/debug/tasks`: requests waiting (and what for) or
   * executing, and restarted hosts coming back or not back.
   */
  tasks(): { requests: unknown[]; restarts: unknown[] } {
    return tasksOf(this.#work);
  }

  /** Rows pending in the inbox, for `mandrill_inbox_pending`. */
  pendingCount(): number {
    return this.#pending.read();
  }

  /** Applies a new config live (SIGHUP); see {@linkcode reload}. */
  reload(next: Config): { restartNeeded: string[] } {
    return reload(this.#work, next);
  }

  /**
   * Graceful shutdown: stop intake and claiming new rows, wait up to
   * `graceMs` (default `shutdown.graceSec`) for in-flight work, abort the rest,
   * disconnect, close the store. Idempotent.
   */
  shutdown(graceMs = this.config.shutdown.graceSec * 1000): Promise<void> {
    this.#shutdown ??= shutDown(this.#work, this.#running, graceMs);
    return this.#shutdown;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}
