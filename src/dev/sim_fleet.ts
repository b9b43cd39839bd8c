/**
 * A simulated fleet for `mandrill dev`: agents that heartbeat, take restart
 * commands, "reboot" (drop off the broker so their last will fires, come back
 * a few seconds later with a new boot id) — the contract of a real agent
 * without touching a real machine.
 * @module
 */
import mqtt, { type MqttClient } from "mqtt";
import { agentCommandSchema } from "../contract/messages.ts";
import { type Topics, topics as topicsOf } from "../contract/topics.ts";
import { errorMessage, log } from "../log.ts";
import { VERSION } from "../version.ts";

/** Options of {@linkcode SimulatedFleet.start}. */
export interface SimulatedFleetOptions {
  /** Broker URL. */
  url: string;
  /** Host names to simulate. */
  hosts: string[];
  /** Topic prefix. Default: `mandrill`. */
  topicPrefix?: string;
  /** Seconds between heartbeats. Default: 2. */
  heartbeatSec?: number;
  /** A reboot takes between these many seconds. Default: [2, 6]. */
  rebootSec?: [number, number];
}

class SimAgent {
  client: MqttClient | undefined;
  bootId = crypto.randomUUID();
  bootedAt = Date.now();
  heartbeat: ReturnType<typeof setInterval> | undefined;
  rebootTimer: ReturnType<typeof setTimeout> | undefined;
  readonly seen = new Set<string>();
  closed = false;

  constructor(readonly host: string, readonly t: Topics, readonly options: SimulatedFleetOptions) {}

  connect(): void {
    const status = this.t.status(this.host);
    const client = mqtt.connect(this.options.url, {
      clientId: `sim-agent-${this.host}`,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 1000,
      will: {
        topic: status,
        payload: JSON.stringify({ state: "offline", ts: Date.now() }),
        qos: 1,
        retain: true,
      },
    });
    this.client = client;
    client.on("connect", () => {
      client.publish(
        status,
        JSON.stringify({ state: "online", bootId: this.bootId, ts: Date.now() }),
        {
          qos: 1,
          retain: true,
        },
      );
      client.subscribe(this.t.commands(this.host), { qos: 1 });
      this.beat();
    });
    client.on("message", (_topic, payload) => this.onCommand(payload));
    client.on(
      "error",
      (err) =>
        log("dev").debug("sim agent {host}: {error}", {
          host: this.host,
          error: errorMessage(err),
        }),
    );
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => this.beat(), (this.options.heartbeatSec ?? 2) * 1000);
  }

  beat(): void {
    if (!this.client?.connected) return;
    const hb = {
      host: this.host,
      bootId: this.bootId,
      uptimeSec: Math.round((Date.now() - this.bootedAt) / 1000),
      version: `${VERSION}-sim`,
      ts: Date.now(),
    };
    this.client.publish(this.t.heartbeat(this.host), JSON.stringify(hb), { qos: 0 });
  }

  onCommand(payload: Uint8Array): void {
    let cmd;
    try {
      cmd = agentCommandSchema.parse(JSON.parse(new TextDecoder().decode(payload)));
    } catch {
      return;
    }
    if (this.seen.has(cmd.id)) return;
    this.seen.add(cmd.id);
    const client = this.client!;
    client.publish(
      this.t.results(this.host),
      JSON.stringify({ id: cmd.id, ok: true, detail: "rebooting" }),
      { qos: 1 },
      () => {
        // "Reboot": vanish without a goodbye so the broker publishes the last will.
        clearInterval(this.heartbeat);
        client.end(true);
        const [lo, hi] = this.options.rebootSec ?? [2, 6];
        const downMs = (lo + Math.random() * (hi - lo)) * 1000;
        log("dev").info("sim agent {host} rebooting, back in {s}s", {
          host: this.host,
          s: (downMs / 1000).toFixed(1),
        });
        this.rebootTimer = setTimeout(() => {
          if (this.closed) return;
          this.bootId = crypto.randomUUID();
          this.bootedAt = Date.now();
          this.connect();
        }, downMs);
      },
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.rebootTimer);
    await this.client?.endAsync(true);
  }
}

/** A set of simulated agents. Dispose to stop them all. */
export class SimulatedFleet implements AsyncDisposable {
  readonly #agents: SimAgent[];

  private constructor(agents: SimAgent[]) {
    this.#agents = agents;
  }

  /** Connects one simulated agent per host. */
  static start(options: SimulatedFleetOptions): SimulatedFleet {
    const t = topicsOf(options.topicPrefix);
    const agents = options.hosts.map((h) => new SimAgent(h, t, options));
    for (const a of agents) a.connect();
    return new SimulatedFleet(agents);
  }

  /** Number of agents currently connected. */
  get online(): number {
    return this.#agents.filter((a) => a.client?.connected).length;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.#agents.map((a) => a.close()));
  }
}
