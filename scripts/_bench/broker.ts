/**
 * The bench's broker: a real Mosquitto on an ephemeral port (the test helper:
 * persistence off, queue and in-flight limits lifted), which also logs notices
 * (where Mosquitto reports dropped messages) and subscriptions (to see what
 * mandrill subscribed to). {@linkcode assertNoDrops} fails the bench loudly
 * if the broker dropped anything.
 * @module
 */
import { Mosquitto } from "../../tests/_helpers/mosquitto.ts";
import { connectClient } from "../../tests/_helpers/mqtt.ts";

/** Starts the bench broker. */
export async function startBroker(): Promise<Mosquitto> {
  return await Mosquitto.start({
    extraConfig: [
      "log_type notice",
      "log_type subscribe",
      "sys_interval 1",
    ],
  });
}

/** Mosquitto 2's log lines when it drops messages ("Outgoing messages are being dropped for client X."). */
const DROP_RE = /messages are being dropped|dropped too large|out of memory/i;

/** Throws if the broker's log mentions dropped messages (checked after every scenario). */
export async function assertNoDrops(broker: Mosquitto, where: string): Promise<void> {
  const log = await broker.log();
  if (!log.includes("New client connected")) {
    throw new Error(`Mosquitto's log is not being written (${broker.dir}): cannot check for drops`);
  }
  const drops = log.split("\n").filter((l) => DROP_RE.test(l));
  if (drops.length > 0) {
    throw new Error(
      `Mosquitto dropped messages during ${where}; the figures would be wrong:\n  ${
        drops.slice(0, 10).join("\n  ")
      }`,
    );
  }
}

/**
 * Watches the broker's own count of dropped publishes
 * (`$SYS/broker/publish/messages/dropped`) for the whole bench, as a second
 * check next to the log. Mosquitto publishes it only when it changes, retained
 * but with a 60 s expiry, so it must be watched from the start, not read at the end.
 */
export class DropWatcher implements AsyncDisposable {
  /** The latest count, or undefined if the broker has not said yet. */
  value: number | undefined;
  readonly #client: AsyncDisposable;

  private constructor(client: AsyncDisposable) {
    this.#client = client;
  }

  /** Subscribes; the first value (retained, 0) arrives within a second. */
  static async start(broker: Mosquitto): Promise<DropWatcher> {
    const client = await connectClient(broker.url);
    const w = new DropWatcher(client);
    client.on("message", (_t, payload) => {
      w.value = Number(new TextDecoder().decode(payload));
    });
    await client.subscribeAsync("$SYS/broker/publish/messages/dropped", { qos: 0 });
    return w;
  }

  /** The count once the broker has refreshed $SYS (every second) after everything so far. */
  async settled(): Promise<number | undefined> {
    await new Promise((r) => setTimeout(r, 1100));
    return this.value;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#client[Symbol.asyncDispose]();
  }
}

/** Filters `clientId` subscribed to, from the broker log ("CLIENT QOS FILTER" lines). */
export async function subscriptionsOf(broker: Mosquitto, clientId: string): Promise<string[]> {
  const out: string[] = [];
  for (const line of (await broker.log()).split("\n")) {
    // "1700000000: mandrill-x 1 mandrill/restart"
    const m = line.match(/^\d+: (\S+) (\d) (\S+)$/);
    if (m && m[1] === clientId) out.push(m[3]!);
  }
  return out;
}
