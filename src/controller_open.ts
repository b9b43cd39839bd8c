/**
 * What the controller opens before it builds anything: the store and what it
 * remembers, then the broker connection, whose group commit is bound to
 * intake once intake exists. What failed to open closes what was opened.
 * @module
 */
import type { Clock } from "./clock.ts";
import type { Config } from "./config/mod.ts";
import { log } from "./log.ts";
import { MqttConnection, type MqttSettings } from "./mqtt/mod.ts";
import { openStore, type Store } from "./store/mod.ts";
import { readSeeds, type Seeds } from "./controller_seeds.ts";
import { redactUrl } from "./url.ts";

/** What the connection calls into intake, bound once intake exists. */
export interface LateCommit {
  fn: () => Promise<void>;
  unrouted: (topic: string, payload: Uint8Array) => void;
}

/** The store and the connection, open; the controller is built from them. */
export interface Opened {
  store: Store;
  conn: MqttConnection;
  seeds: Seeds;
  commit: LateCommit;
  /** Closes the connection, then the store, ignoring their errors. */
  close(): Promise<void>;
}

/** The MQTT settings of a config. */
export function mqttSettings(config: Config): MqttSettings {
  return { ...config.mqtt };
}

/** Opens the store, reads its seeds, and connects to the broker. */
export async function openParts(config: Config, clock: Clock): Promise<Opened> {
  const store = await openStore(config, { instance: config.mqtt.clientId });
  const closeStore = () => Promise.resolve(store.close()).catch(() => {});
  try {
    const seeds = await readSeeds(store, config, clock.now());
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
    const close = async () => {
      await conn.close().catch(() => {});
      await closeStore();
    };
    return { store, conn, seeds, commit, close };
  } catch (err) {
    await closeStore();
    throw err;
  }
}
