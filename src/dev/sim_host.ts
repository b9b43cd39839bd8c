/**
 * A simulated fleet host running the real agent code (`src/agent/`): a fake
 * proc root whose boot id changes on every "reboot", and a restart command
 * that "reboots" — the agent reports ok, drops off the broker without a
 * goodbye (its last will fires), and comes back after a delay with a new boot
 * id. Used by `mandrill dev`, the tests and the bench; it keeps a timeline of
 * when it was down, as seen from the host's side.
 * @module
 */
import { Agent } from "../agent/agent.ts";
import { delay } from "../async/mod.ts";
import type { AgentConfig, ConfigInput } from "../config/mod.ts";
import { parseAgentConfig } from "../config/mod.ts";
import { errorMessage, log } from "../log.ts";
import { MqttConnection } from "../mqtt/mod.ts";

/** Options of {@linkcode SimulatedHost.start}. */
export interface SimulatedHostOptions {
  /** Host name. Required. */
  host: string;
  /** Directory for its proc root and state file (created). Required. */
  dir: string;
  /** The agent's `mqtt` section (url, topicPrefix, ...). Required. */
  mqtt: Record<string, unknown>;
  /** Other agent config (e.g. `security`), merged in. Default: none. */
  agent?: Record<string, unknown>;
  /** Seconds between heartbeats. Default: 1. */
  heartbeatSec?: number;
  /** A reboot takes between these many seconds. Default: [2, 6]. */
  rebootSec?: readonly [number, number];
  /** Seconds the restart command runs before it answers (then the host goes down). Default: 0. */
  commandSec?: number;
  /** Uniform random numbers in [0, 1). Default: `Math.random`. */
  random?: () => number;
}

/** One span during which the host was down (`to` unset while it still is). */
export interface DownSpan {
  from: number;
  to?: number;
}

/** One simulated host; dispose to stop it (cleanly, offline status and all). */
export class SimulatedHost implements AsyncDisposable {
  readonly host: string;
  /** When the host was down, from its own side: from the "reboot" until its agent was connected again. */
  readonly downs: DownSpan[] = [];
  /** Restart commands it received, by id. */
  readonly restarts: string[] = [];
  readonly #o: SimulatedHostOptions;
  readonly #procRoot: string;
  #agent: Agent | undefined;
  #link: MqttConnection | undefined;
  #bootedAt = Date.now();
  #uptimeTimer: ReturnType<typeof setInterval> | undefined;
  readonly #stop = new AbortController();
  #busy: Promise<void> = Promise.resolve();

  private constructor(options: SimulatedHostOptions) {
    this.#o = options;
    this.host = options.host;
    this.#procRoot = `${options.dir}/proc`;
  }

  /** Creates its files and boots it (the agent connects in the background). */
  static async start(options: SimulatedHostOptions): Promise<SimulatedHost> {
    const sim = new SimulatedHost(options);
    await Deno.mkdir(`${sim.#procRoot}/sys/kernel/random`, { recursive: true });
    await sim.#boot();
    return sim;
  }

  /** True while the host is down (rebooting or crashed). */
  get down(): boolean {
    return this.#agent === undefined;
  }

  /** Its agent, while up. */
  get agent(): Agent | undefined {
    return this.#agent;
  }

  /**
   * Dies without a goodbye (the broker publishes its last will) and stays
   * down until {@linkcode boot}. Resolves once it is down.
   */
  crash(): Promise<void> {
    return this.#serial(() => this.#vanish());
  }

  /** Boots again (a new boot id) after a crash. */
  boot(): Promise<void> {
    return this.#serial(() => this.#boot());
  }

  #serial(fn: () => Promise<void>): Promise<void> {
    const next = this.#busy.then(fn);
    this.#busy = next.catch(() => {});
    return next;
  }

  async #boot(): Promise<void> {
    if (this.#stop.signal.aborted || this.#agent) return;
    this.#bootedAt = Date.now();
    await Deno.writeTextFile(
      `${this.#procRoot}/sys/kernel/random/boot_id`,
      `${crypto.randomUUID()}\n`,
    );
    await this.#writeUptime();
    clearInterval(this.#uptimeTimer);
    this.#uptimeTimer = setInterval(() => this.#writeUptime().catch(() => {}), 5_000);
    const config: AgentConfig = parseAgentConfig({
      mqtt: { keepaliveSec: 5, reconnectMinMs: 100, reconnectMaxMs: 1000, ...this.#o.mqtt },
      host: this.host,
      heartbeatSec: this.#o.heartbeatSec ?? 1,
      stateFile: `${this.#o.dir}/state.json`,
      procRoot: this.#procRoot,
      log: { level: "warning" },
      ...this.#o.agent,
    } as ConfigInput);
    this.#agent = await Agent.start(config, {
      runner: async (command) => {
        this.restarts.push(command.id);
        const commandMs = (this.#o.commandSec ?? 0) * 1000;
        if (commandMs > 0) await delay(commandMs, { signal: this.#stop.signal });
        // A real reboot also answers first: the command returns, then the host goes.
        delay(50, { signal: this.#stop.signal }).then(
          () => this.#serial(() => this.#reboot()),
          () => {}, // stopped
        );
        return { ok: true, detail: "rebooting" };
      },
      connect: async (settings, options) => {
        const link = await MqttConnection.open(settings, {
          ...options,
          onConnect: (present) => {
            const open = this.downs.at(-1);
            if (open && open.to === undefined) open.to = Date.now();
            options.onConnect?.(present);
          },
        });
        this.#link = link;
        return link;
      },
      shutdownGraceMs: 1_000,
      flushTimeoutMs: 500,
    });
  }

  async #vanish(): Promise<void> {
    const agent = this.#agent;
    if (!agent) return;
    this.downs.push({ from: Date.now() });
    this.#agent = undefined;
    clearInterval(this.#uptimeTimer);
    this.#link?.drop();
    await agent.shutdown().catch((err) => {
      log("dev").debug("sim agent {host}: {error}", { host: this.host, error: errorMessage(err) });
    });
  }

  async #reboot(): Promise<void> {
    if (this.#stop.signal.aborted || !this.#agent) return;
    await this.#vanish();
    const [lo, hi] = this.#o.rebootSec ?? [2, 6];
    const downMs = (lo + (this.#o.random ?? Math.random)() * (hi - lo)) * 1000;
    log("dev").info("sim agent {host} rebooting, back in {seconds} s", {
      host: this.host,
      seconds: (downMs / 1000).toFixed(1),
    });
    try {
      await delay(downMs, { signal: this.#stop.signal });
    } catch {
      return; // stopped while down
    }
    await this.#boot();
  }

  /**
   * Written aside and renamed into place, as atomic as the kernel's: a write
   * in place truncates first, and an agent reading then skipped its heartbeat
   * (about 1 in 100 with 2,500 hosts in a process, so some went stale).
   */
  async #writeUptime(): Promise<void> {
    const sec = (Date.now() - this.#bootedAt) / 1000;
    const path = `${this.#procRoot}/uptime`;
    await Deno.writeTextFile(`${path}.new`, `${sec.toFixed(2)} 0.00\n`);
    await Deno.rename(`${path}.new`, path);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#stop.abort(new Error("simulated host stopped"));
    clearInterval(this.#uptimeTimer);
    await this.#busy;
    const agent = this.#agent;
    this.#agent = undefined;
    await agent?.shutdown();
  }
}
