/**
 * The controller's parts that are built from several others: the kill switch
 * with what it remembers, intake on `{p}/restart`, the chaos scheduler, the
 * breaker's pause, keeping in step with other instances on a shared store,
 * and readiness. Each takes what it needs and nothing else; the controller
 * (src/controller.ts) puts them together in order.
 * @module
 */
import { ChaosScheduler, KillSwitch, publishControl, routeKillSwitch } from "./chaos/mod.ts";
import type { ControlMessage, PauseState } from "./chaos/control.ts";
import type { Clock } from "./clock.ts";
import type { Config } from "./config/mod.ts";
import type { Topics } from "./contract/topics.ts";
import { Intake, type IntakeOptions } from "./intake/intake.ts";
import { errorMessage, log } from "./log.ts";
import { type MqttConnection, NotNowError } from "./mqtt/connection.ts";
import type { EventSink } from "./pipeline/events.ts";
import type { Webhooks } from "./notify/mod.ts";
import type { UnavailabilityBudget } from "./restart/budget.ts";
import type { RestartLedger } from "./restart/ledger.ts";
import { announce, chaosTurns, runSharedSync, type SharedSyncOptions } from "./restart/shared.ts";
import type { Topology } from "./restart/topology.ts";
import type { CommandSigner } from "./security/mod.ts";
import type { InboxRow, Store } from "./store/mod.ts";
import { BREAKER_RESET_KEY, CONTROL_KEY, type Seeds } from "./controller_seeds.ts";
import { redactUrl } from "./url.ts";

/** Raised when a message arrives after intake stopped: it is not acknowledged (the broker sends it again). */
export class IntakeClosedError extends NotNowError {
  override name = "IntakeClosedError";
}

/** What the connection calls into intake, bound once intake exists. */
export interface LateCommit {
  fn: () => Promise<void>;
  unrouted: (topic: string, payload: Uint8Array) => void;
}

function _remember(store: Store, key: string, value: string, what: string): void {
  Promise.resolve(store.metaSet(key, value)).catch((err) => {
    log("control").warn(`Cannot remember ${what}: {error}`, { error: errorMessage(err) });
  });
}

/**
 * The kill switch on `{p}/control`: it starts from the last verified state in
 * the store and remembers each one it accepts; `onReleased` runs (and the
 * release time is remembered, for the breaker's window) when it is lifted.
 */
export function buildKillSwitch(o: {
  store: Store;
  seeds: Seeds;
  conn: MqttConnection;
  topics: Topics;
  clock: Clock;
  onChange: (state: PauseState | undefined, message?: ControlMessage) => void;
  onReleased: (now: number) => void;
}): KillSwitch {
  const killSwitch = new KillSwitch({
    verifier: o.seeds.verifier,
    initial: o.seeds.control,
    onAccepted: (message) =>
      _remember(o.store, CONTROL_KEY, JSON.stringify(message), "the kill switch state"),
    onChange: (state, message) => {
      o.onChange(state, message);
      if (state !== undefined) return;
      const now = o.clock.now();
      o.onReleased(now);
      _remember(o.store, BREAKER_RESET_KEY, String(now), "when the kill switch was released");
    },
  });
  routeKillSwitch(o.conn, o.topics, killSwitch);
  return killSwitch;
}

/**
 * Intake on `{p}/restart` (through the shared group, if any): into the inbox,
 * then to `onAccepted`. The connection's group commit is bound to it; once
 * `isOpen` says no, messages are not taken (the broker sends them again).
 */
export function routeIntake(o: {
  config: Config;
  conn: MqttConnection;
  topics: Topics;
  store: Store;
  events: EventSink;
  clock: Clock;
  commit: LateCommit;
  isOpen: () => boolean;
  onAccepted: (row: InboxRow) => void;
  onResult?: IntakeOptions["onResult"];
}): Intake {
  const intake = new Intake({
    store: o.store,
    events: o.events,
    clock: o.clock,
    onAccepted: o.onAccepted,
    onResult: o.onResult,
  });
  // Group commit: the connection holds each batch's PUBACKs until this resolved.
  o.commit.fn = () => intake.commit();
  o.commit.unrouted = (topic, payload) => intake.unserved(topic, payload);
  const group = o.config.mqtt.sharedGroup;
  const filter = group ? `$share/${group}/${o.topics.restart}` : o.topics.restart;
  o.conn.route(filter, 1, (topic, payload) => {
    if (!o.isOpen()) throw new IntakeClosedError("intake is closed: shutting down");
    intake.handle(topic, payload);
  });
  return intake;
}

/**
 * Chaos: its requests go through the same inbox and gate, only for hosts that
 * are up and within budget; on a shared store each group's schedule runs on
 * one instance at a time.
 */
export function buildChaos(o: {
  config: () => Config;
  topology: () => Topology;
  budget: UnavailabilityBudget;
  ledger: RestartLedger;
  intake: Intake;
  killSwitch: KillSwitch;
  store: Store;
  clock: Clock;
}): ChaosScheduler {
  const chaosTopic = `${o.config().mqtt.topicPrefix}/chaos`;
  return new ChaosScheduler({
    config: () => o.config().chaos,
    hostsOfGroup: (group) => o.topology().hostsOfGroup(group),
    isOnline: (host) => o.budget.stateOf(host) === undefined,
    hasBudget: (host) => o.budget.check(host).ok,
    lastRestartAt: (host) => o.ledger.lastRestartAt(host),
    submit: (req) => {
      o.intake.handle(chaosTopic, new TextEncoder().encode(JSON.stringify(req)));
      o.intake.commit().catch((err) => {
        log("chaos").error("Cannot store the chaos request {id}: {error}", {
          id: req.id,
          error: errorMessage(err),
        });
      });
    },
    paused: () => o.killSwitch.paused(),
    clock: o.clock,
    ...(o.store.kind === "postgres" ? chaosTurns(o.store, o.config) : {}),
  });
}

/** The breaker tripped: pause at once here, and for every instance through the signed retained message. */
export function tripBreaker(reason: string, o: {
  clock: Clock;
  killSwitch: KillSwitch;
  webhooks: Webhooks;
  conn: MqttConnection;
  topics: Topics;
  signer: CommandSigner | undefined;
  onTrip?: () => void;
}): void {
  const now = o.clock.now();
  log("control").error("Breaker tripped, engaging the kill switch: {reason}", { reason });
  o.onTrip?.();
  o.webhooks.notify({ phase: "breaker", reason, ts: now });
  o.killSwitch.engage({ reason, by: "breaker", since: now });
  publishControl(o.conn, o.topics, {
    paused: true,
    reason,
    by: "breaker",
    clock: o.clock,
    signer: o.signer,
  }).catch((err) => {
    log("control").error("Cannot publish the breaker's pause: {error}", {
      error: errorMessage(err),
    });
  });
}

/** A shared store: announce this instance, then keep in step with the others until `stop`. */
export async function shareStore(
  o: Omit<SharedSyncOptions, "self" | "leaseMs" | "refreshMs"> & { config: Config; topics: Topics },
  stop: AbortSignal,
): Promise<void> {
  if (o.store.kind !== "postgres") return;
  const self = {
    id: o.config.mqtt.clientId,
    topic: o.topics.restart,
    sharedGroup: o.config.mqtt.sharedGroup ?? null,
  };
  await announce(o.store, self).catch((err) => {
    log("run").warn("Cannot announce this instance on the shared store: {error}", {
      error: errorMessage(err),
    });
  });
  const { config: _config, topics: _topics, ...sync } = o;
  await runSharedSync({ ...sync, self, leaseMs: o.config.store.leaseSec * 1000 }, stop);
}

/** Whether the controller can take work: broker connected and delivering, kill switch known, store writable. */
export function readinessOf(o: {
  conn: MqttConnection;
  url: string;
  undelivered: ReadonlyMap<string, string>;
  killSwitchKnown: boolean;
  controlTopic: string;
  store: Store;
  shuttingDown: boolean;
}): { ok: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (!o.conn.connected) {
    const why = o.conn.lastError;
    reasons.push(`MQTT broker ${redactUrl(o.url)} not connected${why ? `: ${why}` : ""}`);
  } else if (!o.conn.subscribed) reasons.push("MQTT subscriptions not granted yet");
  for (const [filter, why] of o.conn.refusedFilters()) {
    reasons.push(`MQTT subscription to ${filter} ${why}`);
  }
  for (const why of o.undelivered.values()) reasons.push(why);
  if (!o.killSwitchKnown) {
    reasons.push(`kill switch state not known yet (nothing delivered on ${o.controlTopic})`);
  }
  if (!o.store.isOpen) reasons.push("store closed");
  else if (o.store.problem !== undefined) reasons.push(o.store.problem);
  if (o.shuttingDown) reasons.push("shutting down");
  return { ok: reasons.length === 0, reasons };
}
