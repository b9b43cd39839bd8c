/**
 * The kill switch on `{p}/control`, and the breaker that engages it: the
 * switch starts from the last verified state in the store and remembers each
 * one it accepts; lifting it resets the breaker (and the release time is
 * remembered, for the breaker's window). A trip pauses at once here, and for
 * every instance through the signed retained message. Webhooks hear of both.
 * @module
 */
import { KillSwitch, publishControl, routeKillSwitch } from "./chaos/mod.ts";
import type { Clock } from "./clock.ts";
import type { Topics } from "./contract/topics.ts";
import { errorMessage, log } from "./log.ts";
import type { MqttConnection } from "./mqtt/mod.ts";
import { killSwitchNotification, type Webhooks } from "./notify/mod.ts";
import { Breaker, type BreakerSettings } from "./restart/breaker.ts";
import type { CommandSigner } from "./security/mod.ts";
import type { Store } from "./store/mod.ts";
import { BREAKER_RESET_KEY, CONTROL_KEY, type Seeds } from "./controller_seeds.ts";

/** What {@linkcode buildKillSwitch} needs. */
export interface KillSwitchParts {
  store: Store;
  seeds: Seeds;
  conn: MqttConnection;
  topics: Topics;
  clock: Clock;
  webhooks: Webhooks;
  /** The live `policy.breaker`. */
  breakerSettings: () => BreakerSettings;
  /** The switch was engaged or lifted. */
  onChange: () => void;
  /** The breaker tripped. */
  onTrip?: () => void;
}

/** The kill switch, routed on `{p}/control`, and the breaker that engages it; see the module doc. */
export function buildKillSwitch(o: KillSwitchParts): { killSwitch: KillSwitch; breaker: Breaker } {
  const { store, clock, webhooks } = o;
  const killSwitch = new KillSwitch({
    verifier: o.seeds.verifier,
    initial: o.seeds.control,
    onAccepted: (message) =>
      _remember(store, CONTROL_KEY, JSON.stringify(message), "the kill switch state"),
    onChange: (state, message) => {
      o.onChange();
      webhooks.notify(killSwitchNotification(state, message, clock.now()));
      if (state !== undefined) return;
      const now = clock.now();
      breaker.reset(now);
      _remember(store, BREAKER_RESET_KEY, String(now), "when the kill switch was released");
    },
  });
  const breaker = new Breaker({
    settings: o.breakerSettings,
    clock,
    trip: (reason) => _trip(reason, { ...o, killSwitch, signer: o.seeds.signer }),
    seed: o.seeds.failures,
  });
  routeKillSwitch(o.conn, o.topics, killSwitch);
  return { killSwitch, breaker };
}

/** The breaker tripped: pause at once here, and for every instance through the signed retained message. */
function _trip(reason: string, o: {
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

function _remember(store: Store, key: string, value: string, what: string): void {
  Promise.resolve(store.metaSet(key, value)).catch((err) => {
    log("control").warn(`Cannot remember ${what}: {error}`, { error: errorMessage(err) });
  });
}
