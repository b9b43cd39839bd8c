/**
 * What the controller checks with the broker before and while it works:
 * the kill switch's state is known before anything restarts, and the broker
 * really delivers `{p}/restart` to this instance.
 * @module
 */
import { delay } from "./async/mod.ts";
import { type KillSwitch, syncMarkerPayload } from "./chaos/mod.ts";
import type { Topics } from "./contract/topics.ts";
import { syncMarkerPayload as restartSyncPayload, type SyncWaiters } from "./contract/sync.ts";
import { errorMessage, log } from "./log.ts";
import type { MqttConnection } from "./mqtt/mod.ts";

/**
 * Nothing is restarted before the kill switch's state is known. A pause is a
 * retained message, which the broker delivers right after the SUBACK of its
 * topic; so subscribe, publish a sync marker on the topic, and wait for the
 * marker to come back: the retained state, if any, came before it. Retries
 * with backoff until `signal` aborts.
 */
export async function learnKillSwitch(
  conn: MqttConnection,
  topics: Topics,
  killSwitch: KillSwitch,
  signal: AbortSignal,
): Promise<void> {
  const logger = log("control");
  for (let attempt = 1;; attempt++) {
    if (!conn.connected) {
      logger.info(
        "Waiting for the broker before restarting anything: the kill switch state is unknown",
      );
    }
    await conn.waitConnected(signal);
    try {
      const granted = await conn.client.subscribeAsync(topics.control, { qos: 1 });
      if (granted.some((g) => g.qos === 128)) {
        throw new Error(`the broker refused ${topics.control}`);
      }
      const id = crypto.randomUUID();
      const synced = killSwitch.waitForSync(
        id,
        AbortSignal.any([signal, AbortSignal.timeout(5_000)]),
      );
      // Awaited below; until then a stop must not turn it into an unhandled rejection.
      synced.catch(() => {});
      await conn.publish(topics.control, syncMarkerPayload(id), { qos: 1 });
      await synced;
      break;
    } catch (err) {
      signal.throwIfAborted();
      logger.warn("Cannot learn the kill switch state yet (attempt {attempt}): {error}", {
        attempt,
        error: errorMessage(err),
      });
      await delay(Math.min(5_000, 500 * attempt), { signal });
    }
  }
  const paused = killSwitch.paused();
  logger.info("Kill switch: {state}", {
    state: paused ? `paused (${paused.reason ?? "no reason"})` : "running",
  });
}

/**
 * Checks, now and after every reconnect, that the broker delivers `topic`
 * (`{p}/restart`) to this instance: a sync marker published there must come
 * back (an ACL that denies reading it may grant the subscription and deliver
 * nothing). What is not delivered, with why, is kept in `undelivered` for
 * readiness. Not with a shared group: the marker would go to one instance of
 * the group, not necessarily this one.
 */
export function watchDelivery(
  conn: MqttConnection,
  topic: string,
  syncs: SyncWaiters,
  undelivered: Map<string, string>,
  stop: AbortSignal,
): void {
  const check = async () => {
    try {
      await conn.waitSubscribed(stop);
      const id = crypto.randomUUID();
      const back = syncs.wait(id, AbortSignal.any([stop, AbortSignal.timeout(5_000)]));
      back.catch(() => {}); // awaited below
      await conn.publish(topic, restartSyncPayload(id), { qos: 1 });
      await back;
      if (undelivered.delete(topic)) {
        log("mqtt").info("The broker delivers {topic} again", { topic });
      }
    } catch (err) {
      if (stop.aborted) return;
      undelivered.set(
        topic,
        `the broker does not deliver ${topic} to mandrill although subscribed (an ACL that denies reading it?): no request would arrive`,
      );
      log("mqtt").error("{problem} ({error})", {
        problem: undelivered.get(topic),
        error: errorMessage(err),
      });
    }
  };
  void check();
  conn.client.on("connect", () => void check());
}
