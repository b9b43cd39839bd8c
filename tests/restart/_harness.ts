/**
 * The controller's core without MQTT, for unit tests: store, fleet view,
 * budget, executors (fakes), the restarts' owner, the gate's facts and the
 * dispatcher, built from a config the way `Controller` builds them.
 * @module
 */
import { Semaphore } from "../../src/async/mod.ts";
import { FakeClock } from "../../src/clock.ts";
import { type Config, type ConfigInput, parseConfig } from "../../src/config/mod.ts";
import { topics } from "../../src/contract/topics.ts";
import { ExecutorRegistry } from "../../src/executors/registry.ts";
import type { Executor } from "../../src/executors/types.ts";
import { FleetView } from "../../src/fleet/mod.ts";
import { Dispatcher } from "../../src/pipeline/dispatcher.ts";
import { RecordingEventSink } from "../../src/pipeline/events.ts";
import {
  Breaker,
  buildTopology,
  fleetFacts,
  type PhaseInfo,
  RestartLedger,
  Restarts,
  UnavailabilityBudget,
} from "../../src/restart/mod.ts";
import { SqliteStore } from "../../src/store/mod.ts";

/** Options of {@linkcode core}. */
export interface CoreOptions {
  /** Config input; `executors`/`hosts` name the fakes. */
  config: ConfigInput;
  /** Fake executors by name. */
  executors: Record<string, Executor>;
  /** Default: a fresh in-memory store. */
  store?: SqliteStore;
  /** Default: a fake clock. */
  clock?: { now(): number };
  /** Called for every phase (metrics). */
  onPhase?: (phase: string, info: PhaseInfo) => void;
}

/** A running core; dispose it to stop everything. */
// deno-lint-ignore explicit-module-boundary-types -- a test fixture: its shape is what tests read
export function core(options: CoreOptions) {
  let config: Config = parseConfig(options.config);
  const store = options.store ?? SqliteStore.open(":memory:");
  const events = new RecordingEventSink();
  const clock = options.clock ?? new FakeClock();
  const fleet = new FleetView();
  let topology = buildTopology(config, fleet);
  let paused: { reason?: string } | undefined;
  const budget = new UnavailabilityBudget({
    topology: () => topology,
    fleet,
    clock,
    limits: () => config.policy,
  });
  const executors = new ExecutorRegistry(config, {
    agent: {
      conn: { publish: () => Promise.reject(new Error("no broker in unit tests")) },
      topics: topics("mandrill"),
      fleet,
      clock,
    },
    overrides: new Map(Object.entries(options.executors)),
    spawnerThreads: 1,
  });
  const ledger = new RestartLedger();
  const trips: string[] = [];
  const breaker = new Breaker({
    settings: () => config.policy.breaker,
    clock,
    trip: (reason) => {
      trips.push(reason);
      paused = { reason };
    },
  });
  const fatal: unknown[] = [];
  const restarts = new Restarts({
    store,
    events,
    clock,
    executors,
    topology: () => topology,
    config: () => config,
    fleet,
    budget,
    ledger,
    breaker,
    probes: new Semaphore(config.recovery.maxProbes),
    hooks: {
      onPhase: (phase, info) => options.onPhase?.(phase, info),
      onFatal: (err) => fatal.push(err),
    },
  });
  const dispatcher = new Dispatcher({
    store,
    clock,
    facts: fleetFacts({
      topology: () => topology,
      hasExecutor: (name) => executors.has(name),
      fleet,
      paused: () => paused,
      chaos: () => config.chaos,
      ledger,
      budget,
      clock,
    }),
    restarts,
    policy: () => config.policy,
    onTaskError: (err) => fatal.push(err),
    recheckMs: 50,
  });
  const stop = new AbortController();
  const abort = new AbortController();
  const resumed = restarts.resume();
  const running = resumed.then(() => dispatcher.run({ stop: stop.signal, abort: abort.signal }));
  return {
    store,
    events,
    clock,
    fleet,
    budget,
    restarts,
    dispatcher,
    trips,
    fatal,
    running,
    /** Resolves once what a previous run left is picked up again (before any dispatching). */
    resumed,
    pause: (state: { reason?: string } | undefined) => paused = state,
    /** Inserts a request and hands it over, as intake does. */
    submit(id: string, host: string, extra: Record<string, unknown> = {}) {
      store.insertRequest({ id, host, ...extra }, clock.now());
      for (const row of store.commitIntake().accepted) dispatcher.enqueue(row);
    },
    /** Applies a new config live, as SIGHUP does. */
    reload(next: ConfigInput) {
      config = parseConfig(next);
      executors.load(config);
      topology = buildTopology(config, fleet);
      budget.invalidate();
    },
    stop: () => stop.abort(new Error("shutting down")),
    async [Symbol.asyncDispose]() {
      stop.abort();
      abort.abort();
      await running.catch(() => {});
      await restarts[Symbol.asyncDispose]();
      budget[Symbol.dispose]();
      executors[Symbol.dispose]();
      await store.close();
    },
  };
}
