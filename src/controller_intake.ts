/**
 * Where requests come in: `{p}/restart` (through the shared group, if any),
 * and the chaos scheduler. Both go into the inbox, and from there to the
 * dispatcher.
 * @module
 */
import { ChaosScheduler, type KillSwitch } from "./chaos/mod.ts";
import type { Clock } from "./clock.ts";
import type { Config } from "./config/mod.ts";
import type { Topics } from "./contract/topics.ts";
import { Intake, type IntakeOptions } from "./intake/intake.ts";
import { errorMessage, log } from "./log.ts";
import { type MqttConnection, NotNowError } from "./mqtt/mod.ts";
import type { EventSink } from "./pipeline/events.ts";
import type { UnavailabilityBudget } from "./restart/budget.ts";
import type { RestartLedger } from "./restart/ledger.ts";
import { chaosTurns } from "./restart/shared.ts";
import type { Topology } from "./restart/topology.ts";
import type { InboxRow, Store } from "./store/mod.ts";
import type { LateCommit } from "./controller_open.ts";

/** Raised when a message arrives after intake stopped: it is not acknowledged (the broker sends it again). */
export class IntakeClosedError extends NotNowError {
  override name = "IntakeClosedError";
}

/** What {@linkcode routeRequests} needs. */
export interface RequestSources {
  /** The config in force. */
  config: () => Config;
  topology: () => Topology;
  conn: MqttConnection;
  topics: Topics;
  store: Store;
  events: EventSink;
  clock: Clock;
  /** The connection's group commit, bound here to intake. */
  commit: LateCommit;
  /** Once it says no, messages are not taken (the broker sends them again). */
  isOpen: () => boolean;
  /** Each accepted request's new inbox row, once committed. */
  onAccepted: (row: InboxRow) => void;
  onResult?: IntakeOptions["onResult"];
  budget: UnavailabilityBudget;
  ledger: RestartLedger;
  killSwitch: KillSwitch;
}

/** Intake on `{p}/restart`, and the chaos scheduler beside it; see the module doc. */
export function routeRequests(o: RequestSources): { intake: Intake; chaos: ChaosScheduler } {
  const intake = _intake(o);
  return { intake, chaos: _chaos(o, intake) };
}

/**
 * Intake on `{p}/restart` (through the shared group, if any): into the inbox,
 * then to `onAccepted`. The connection's group commit is bound to it.
 */
function _intake(o: RequestSources): Intake {
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
  const group = o.config().mqtt.sharedGroup;
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
function _chaos(o: RequestSources, intake: Intake): ChaosScheduler {
  const chaosTopic = `${o.config().mqtt.topicPrefix}/chaos`;
  return new ChaosScheduler({
    config: () => o.config().chaos,
    hostsOfGroup: (group) => o.topology().hostsOfGroup(group),
    isOnline: (host) => o.budget.stateOf(host) === undefined,
    hasBudget: (host) => o.budget.check(host).ok,
    lastRestartAt: (host) => o.ledger.lastRestartAt(host),
    submit: (req) => {
      intake.handle(chaosTopic, new TextEncoder().encode(JSON.stringify(req)));
      intake.commit().catch((err) => {
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
