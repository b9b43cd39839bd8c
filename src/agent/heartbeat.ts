/**
 * The agent's heartbeat: its boot id, uptime and version, published every
 * `heartbeatSec` while connected and once on every connect.
 * @module
 */
import { delay } from "../async/mod.ts";
import type { Clock } from "../clock.ts";
import type { Heartbeat } from "../contract/messages.ts";
import { errorMessage, log } from "../log.ts";
import { readUptimeSec } from "./proc.ts";

/** What the heartbeat needs from the agent's connection. */
export interface HeartbeatLink {
  readonly connected: boolean;
  publishLater(topic: string, payload: string, options?: { qos?: 0 | 1 }): void;
}

/** Options of {@linkcode Heartbeats}. */
export interface HeartbeatsOptions {
  /** Where heartbeats are published. Required. */
  link: HeartbeatLink;
  /** `{p}/agents/{host}/heartbeat`. Required. */
  topic: string;
  /** This host's name. Required. */
  host: string;
  /** This host's boot id. Required. */
  bootId: string;
  /** Version in heartbeats. Required. */
  version: string;
  /** Time source for `ts`. Required. */
  clock: Clock;
  /** Where procfs is, for the uptime. Required. */
  procRoot: string;
  /** Seconds between heartbeats. Required. */
  intervalSec: number;
}

/** Beats every `intervalSec` while connected until {@linkcode Heartbeats.stop}; {@linkcode Heartbeats.beat} beats now. */
export class Heartbeats {
  readonly #o: HeartbeatsOptions;
  readonly #stop = new AbortController();
  readonly #loop: Promise<void>;
  #beating: Promise<void> | undefined;
  #stopped = false;

  /** Starts the loop; the first timed beat comes after one interval. */
  constructor(options: HeartbeatsOptions) {
    this.#o = options;
    this.#loop = this.#run(this.#stop.signal);
  }

  /** Publishes a heartbeat now, unless one is being read already. */
  beat(): void {
    if (this.#beating !== undefined) return; // one read at a time
    const o = this.#o;
    this.#beating = readUptimeSec(o.procRoot).then((uptimeSec) => {
      if (this.#stopped || !o.link.connected) return;
      const hb: Heartbeat = {
        host: o.host,
        bootId: o.bootId,
        uptimeSec,
        version: o.version,
        ts: o.clock.now(),
      };
      // QoS 0: a lost heartbeat is replaced by the next; no backlog for an offline controller.
      o.link.publishLater(o.topic, JSON.stringify(hb), { qos: 0 });
    }, (err) => {
      log("agent").warn("Skipping a heartbeat: {error}", { error: errorMessage(err) });
    }).finally(() => this.#beating = undefined);
  }

  /** Stops beating; resolves once the loop and any beat in progress are over. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stop.abort(new Error("shutting down"));
    await this.#loop;
    await this.#beating;
  }

  async #run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await delay(this.#o.intervalSec * 1000, { signal });
      } catch {
        return;
      }
      if (this.#o.link.connected) this.beat();
    }
  }
}
