/**
 * The fleet view: what the agents' heartbeats and retained statuses say about
 * each host (online, boot id, uptime, last seen), kept in memory, bounded, and
 * lean enough for 100,000 hosts (one small fixed-shape object per host).
 *
 * Every update is synchronous and takes `now` from the caller, so MQTT
 * handlers can apply it before their PUBACK and tests need no clock.
 * @module
 */
import type { AgentStatus, Heartbeat } from "../contract/messages.ts";
import { errorMessage, log } from "../log.ts";

/** What the fleet view knows about one host. Times are ms since the epoch. */
export interface FleetHost {
  /** Whether the agent is up: its last status said online, or a heartbeat came after it. */
  readonly online: boolean;
  /** Boot id from the latest heartbeat or online status. */
  readonly bootId: string | undefined;
  /** Uptime reported by the latest heartbeat, in seconds (see {@linkcode FleetView.uptimeOf}). */
  readonly uptimeSec: number | undefined;
  /** When anything (heartbeat or status) was last received from the host. */
  readonly lastSeen: number;
  /** When the latest heartbeat was received; staleness is measured from it. */
  readonly lastHeartbeatAt: number | undefined;
  /** When the latest status was received. */
  readonly lastStatusAt: number | undefined;
  /** When the host was first seen offline since it was last online (last will or clean shutdown). */
  readonly offlineSince: number | undefined;
}

/** A host's boot id changed (a heartbeat or online status carried a new one): it rebooted. */
export interface BootChange {
  host: string;
  /** The new boot id. */
  bootId: string;
  /** The boot id known before, if any. */
  previousBootId: string | undefined;
  /** When it was received (the `now` of the update), ms. */
  at: number;
  /** The uptime that came with it, in s: set when a heartbeat brought the change. */
  uptimeSec?: number;
}

/** Listener of {@linkcode FleetView.onBootChange}; called synchronously, must not throw. */
export type BootChangeListener = (change: BootChange) => void;

/** Listener of {@linkcode FleetView.onOnlineChange}; called synchronously, must not throw. */
export type OnlineChangeListener = (host: string, online: boolean) => void;

/** Options of {@linkcode FleetView}. */
export interface FleetViewOptions {
  /** Most hosts tracked; heartbeats and statuses of further new hosts are refused (counted, logged). Default: 200,000. */
  maxHosts?: number;
}

// A class rather than object literals: every record shares one hidden class.
class _HostRecord implements FleetHost {
  online = false;
  bootId: string | undefined = undefined;
  uptimeSec: number | undefined = undefined;
  lastSeen: number;
  lastHeartbeatAt: number | undefined = undefined;
  lastStatusAt: number | undefined = undefined;
  offlineSince: number | undefined = undefined;
  constructor(now: number) {
    this.lastSeen = now;
  }
}

/**
 * Per-host state built from heartbeats (`{p}/agents/+/heartbeat`) and statuses
 * (`{p}/agents/+/status`, retained, including the agents' last wills).
 *
 * @example
 * ```ts
 * const fleet = new FleetView({ maxHosts: 100_000 });
 * fleet.onHeartbeat(heartbeat, clock.now());
 * fleet.isStale("web-1", 90, clock.now()); // false
 * fleet.uptimeOf("web-1", clock.now()); // heartbeat's uptime + time since
 * ```
 */
export class FleetView {
  readonly #hosts = new Map<string, _HostRecord>();
  readonly #listeners = new Set<BootChangeListener>();
  readonly #onlineListeners = new Set<OnlineChangeListener>();
  readonly #maxHosts: number;
  #refused = 0;

  /** Throws a `RangeError` if `maxHosts` is not an integer >= 1. */
  constructor(options: FleetViewOptions = {}) {
    const { maxHosts = 200_000 } = options;
    if (!(Number.isInteger(maxHosts) && maxHosts >= 1)) {
      throw new RangeError(`FleetView maxHosts must be an integer >= 1, got ${maxHosts}`);
    }
    this.#maxHosts = maxHosts;
  }

  /** Number of hosts tracked. */
  get size(): number {
    return this.#hosts.size;
  }

  /** The `maxHosts` limit. */
  get maxHosts(): number {
    return this.#maxHosts;
  }

  /** How many messages from new hosts were refused because the view was full. */
  get refused(): number {
    return this.#refused;
  }

  /** The host's state, or undefined if nothing was ever heard from it. Read-only: do not keep it across updates. */
  get(host: string): FleetHost | undefined {
    return this.#hosts.get(host);
  }

  /** Names of every tracked host, in first-seen order. */
  hosts(): IterableIterator<string> {
    return this.#hosts.keys();
  }

  /** Applies a validated heartbeat received at `now`: the host is online. False if refused (view full). */
  onHeartbeat(hb: Heartbeat, now: number): boolean {
    const rec = this.#record(hb.host, now);
    if (rec === undefined) return false;
    // Fresh before the listeners hear it is online: they read its staleness.
    rec.offlineSince = undefined;
    rec.uptimeSec = hb.uptimeSec;
    rec.lastSeen = now;
    rec.lastHeartbeatAt = now;
    this.#setOnline(hb.host, rec, true);
    this.#setBootId(hb.host, rec, hb.bootId, now, hb.uptimeSec);
    return true;
  }

  /**
   * Applies a validated status of `host` received at `now` (online with its
   * boot id, or offline from a last will or a clean shutdown). False if refused.
   */
  onStatus(host: string, status: AgentStatus, now: number): boolean {
    const rec = this.#record(host, now);
    if (rec === undefined) return false;
    rec.lastSeen = now;
    rec.lastStatusAt = now;
    if (status.state === "online") {
      this.#setOnline(host, rec, true);
      rec.offlineSince = undefined;
      if (status.bootId !== undefined) this.#setBootId(host, rec, status.bootId, now);
    } else {
      if (rec.online || rec.offlineSince === undefined) rec.offlineSince = now;
      this.#setOnline(host, rec, false);
    }
    return true;
  }

  /**
   * Current uptime in seconds: the latest heartbeat's uptime plus the time
   * since it arrived. Undefined when no heartbeat was seen or the host is
   * offline (it may be rebooting: its uptime is unknown until it is back).
   */
  uptimeOf(host: string, now: number): number | undefined {
    const rec = this.#hosts.get(host);
    if (rec === undefined || !rec.online) return undefined;
    if (rec.uptimeSec === undefined || rec.lastHeartbeatAt === undefined) return undefined;
    return rec.uptimeSec + Math.max(0, now - rec.lastHeartbeatAt) / 1000;
  }

  /** True when no heartbeat from `host` arrived within the last `staleSec` seconds (or ever). */
  isStale(host: string, staleSec: number, now: number): boolean {
    const at = this.#hosts.get(host)?.lastHeartbeatAt;
    return at === undefined || now - at > staleSec * 1000;
  }

  /**
   * Calls `listener` whenever a host's boot id changes, including the first
   * boot id learnt for a host. Dispose the result to stop listening.
   */
  onBootChange(listener: BootChangeListener): Disposable {
    this.#listeners.add(listener);
    return { [Symbol.dispose]: () => this.#listeners.delete(listener) };
  }

  /**
   * Calls `listener` whenever a host's agent goes online or offline (a status,
   * a last will, or a heartbeat after an offline status). Dispose the result to
   * stop listening.
   */
  onOnlineChange(listener: OnlineChangeListener): Disposable {
    this.#onlineListeners.add(listener);
    return { [Symbol.dispose]: () => this.#onlineListeners.delete(listener) };
  }

  #setOnline(host: string, rec: _HostRecord, online: boolean): void {
    if (rec.online === online) return;
    rec.online = online;
    for (const listener of this.#onlineListeners) {
      try {
        listener(host, online);
      } catch (err) {
        log("fleet").error("Online listener failed for {host}: {error}", {
          host,
          error: errorMessage(err),
        });
      }
    }
  }

  /** Forgets a host (e.g. decommissioned). True if it was known. */
  forget(host: string): boolean {
    return this.#hosts.delete(host);
  }

  #record(host: string, now: number): _HostRecord | undefined {
    let rec = this.#hosts.get(host);
    if (rec !== undefined) return rec;
    if (this.#hosts.size >= this.#maxHosts) {
      this.#refused++;
      // Every message of a refused host counts; log the first and then every 1,000th.
      if (this.#refused === 1 || this.#refused % 1000 === 0) {
        log("fleet").warn(
          "Fleet view full ({maxHosts} hosts): ignoring {host} ({refused} messages refused so far)",
          { maxHosts: this.#maxHosts, host, refused: this.#refused },
        );
      }
      return undefined;
    }
    rec = new _HostRecord(now);
    this.#hosts.set(host, rec);
    return rec;
  }

  #setBootId(
    host: string,
    rec: _HostRecord,
    bootId: string,
    now: number,
    uptimeSec?: number,
  ): void {
    if (rec.bootId === bootId) return; // keep the old string; the new copy is garbage
    const previousBootId = rec.bootId;
    rec.bootId = bootId;
    if (this.#listeners.size === 0) return;
    const change: BootChange = { host, bootId, previousBootId, at: now, uptimeSec };
    for (const listener of [...this.#listeners]) {
      try {
        listener(change);
      } catch (err) {
        log("fleet").error("Boot change listener failed for {host}: {error}", {
          host,
          error: errorMessage(err),
        });
      }
    }
  }
}
