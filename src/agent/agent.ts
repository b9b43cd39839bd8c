/**
 * `mandrill agent`: runs on each fleet host. Announces itself (retained
 * online status, offline as its last will), heartbeats its boot id and
 * uptime, and carries out restart commands from mandrill at most once each.
 * @module
 */
import { deadline, DeadlineError } from "../async/mod.ts";
import { type Clock, systemClock } from "../clock.ts";
import type { AgentConfig } from "../config/mod.ts";
import type { AgentCommand, AgentResult, AgentStatus } from "../contract/messages.ts";
import type { CommandCheck, RefusalReason } from "../security/mod.ts";
import { type Topics, topics } from "../contract/topics.ts";
import { errorMessage, log } from "../log.ts";
import {
  type MessageHandler,
  MqttConnection,
  type MqttConnectionOptions,
  type MqttSettings,
} from "../mqtt/mod.ts";
import { VERSION } from "../version.ts";
import { commandCheck } from "./command_check.ts";
import { CommandDesk } from "./commands.ts";
import { Heartbeats } from "./heartbeat.ts";
import { CommandLedger } from "./ledger.ts";
import { readBootId } from "./proc.ts";
import { commandRunner, type RestartRunner } from "./runner.ts";

/** What the agent needs from its MQTT connection; `MqttConnection` is one. */
export interface AgentLink {
  readonly connected: boolean;
  route(filter: string, qos: 0 | 1, handler: MessageHandler): void;
  publish(
    topic: string,
    payload: string,
    options?: { qos?: 0 | 1; retain?: boolean },
  ): Promise<void>;
  publishLater(topic: string, payload: string, options?: { qos?: 0 | 1; retain?: boolean }): void;
  close(timeoutMs?: number): Promise<void>;
}

/** Opens the agent's connection (tests inject a fake). */
export type AgentConnector = (
  settings: MqttSettings,
  options: MqttConnectionOptions,
) => Promise<AgentLink>;

/** Options of {@linkcode Agent.start}. */
export interface AgentOptions {
  /** Time source for `ts` fields and the ledger. Default: the system clock. */
  clock?: Clock;
  /** Carries out restart commands. Default: `config.restart.argv` with `config.restart.timeoutSec`. */
  runner?: RestartRunner;
  /** Opens the connection. Default: `MqttConnection.open`. */
  connect?: AgentConnector;
  /** Version in heartbeats. Default: mandrill's version. */
  version?: string;
  /** How long shutdown lets a running restart command finish before aborting it, ms. Default: 10,000. */
  shutdownGraceMs?: number;
  /** Bound on each flush at shutdown (results, offline status, disconnect), ms. Default: 5,000. */
  flushTimeoutMs?: number;
}

/**
 * A running agent. Create with {@linkcode Agent.start}; stop with
 * {@linkcode Agent.shutdown} or `await using`.
 *
 * Commands go to a {@linkcode CommandDesk}: validated with zod, each id
 * written to the state file before the PUBACK and before anything runs, run
 * one at a time; a redelivered id gets its stored result instead of running
 * again, and a command a crash or the reboot itself interrupted is reported
 * at the next start (`ok` when the boot id changed).
 *
 * @example
 * ```ts
 * await using agent = await Agent.start(await loadAgentConfig("agent.json"));
 * ```
 */
export class Agent implements AsyncDisposable {
  /** The boot id read at start. */
  readonly bootId: string;
  readonly #config: AgentConfig;
  readonly #topics: Topics;
  readonly #conn: AgentLink;
  readonly #desk: CommandDesk;
  readonly #clock: Clock;
  readonly #graceMs: number;
  readonly #flushMs: number;
  readonly #publishing = new Set<Promise<void>>();
  readonly #heartbeats: Heartbeats;
  #unreported: AgentResult[];
  #closing = false;
  #shutdown: Promise<void> | undefined;

  private constructor(
    config: AgentConfig,
    init: {
      bootId: string;
      conn: AgentLink;
      ledger: CommandLedger;
      check: (command: AgentCommand) => Promise<CommandCheck>;
    },
    options: AgentOptions,
  ) {
    this.#config = config;
    this.bootId = init.bootId;
    this.#conn = init.conn;
    this.#topics = topics(config.mqtt.topicPrefix);
    this.#clock = options.clock ?? systemClock;
    this.#graceMs = options.shutdownGraceMs ?? 10_000;
    this.#flushMs = options.flushTimeoutMs ?? 5_000;
    this.#desk = new CommandDesk({
      ledger: init.ledger,
      runner: options.runner ?? commandRunner(config.restart),
      bootId: init.bootId,
      host: config.host,
      clock: this.#clock,
      send: (result) => this.#sendResult(result),
      check: init.check,
    });
    // Sent on the first connect.
    this.#unreported = this.#desk.settleUnfinished();
    this.#conn.route(this.#topics.commands(config.host), 1, (_t, p) => this.#desk.handle(p));
    this.#heartbeats = new Heartbeats({
      link: init.conn,
      topic: this.#topics.heartbeat(config.host),
      host: config.host,
      bootId: init.bootId,
      version: options.version ?? VERSION,
      clock: this.#clock,
      procRoot: config.procRoot,
      intervalSec: config.heartbeatSec,
    });
  }

  /**
   * Reads the boot id, opens the state file, and connects (in the background,
   * reconnecting) with a persistent session and a retained offline last will.
   * @throws {Error} when the boot id or the state file cannot be read.
   */
  static async start(config: AgentConfig, options: AgentOptions = {}): Promise<Agent> {
    const clock = options.clock ?? systemClock;
    const check = await commandCheck(config, clock);
    const bootId = await readBootId(config.procRoot);
    const ledger = CommandLedger.open(config.stateFile);
    const status = topics(config.mqtt.topicPrefix).status(config.host);
    let onConnect = () => {};
    const connect = options.connect ?? MqttConnection.open;
    const conn = await connect({ ...config.mqtt }, {
      persistent: true,
      will: {
        topic: status,
        payload: JSON.stringify({ state: "offline", ts: clock.now() } satisfies AgentStatus),
        qos: 1,
        retain: true,
      },
      onConnect: () => onConnect(),
    });
    let agent: Agent;
    try {
      agent = new Agent(config, { bootId, conn, ledger, check }, options);
    } catch (err) {
      await conn.close();
      throw err;
    }
    onConnect = () => agent.#onConnect();
    if (conn.connected) agent.#onConnect();
    log("agent").info("mandrill agent for {host} started (boot id {bootId}, state file {file})", {
      host: config.host,
      bootId,
      file: config.stateFile,
    });
    return agent;
  }

  /** True while connected to the broker. */
  get connected(): boolean {
    return this.#conn.connected;
  }

  /** Ids of the commands running or queued. */
  get running(): ReadonlySet<string> {
    return this.#desk.running;
  }

  /** Commands refused so far (unsigned, badly signed, another host's, expired...), by why. */
  get refused(): ReadonlyMap<RefusalReason, number> {
    return this.#desk.refused;
  }

  /**
   * Stops taking commands, lets a running one finish (up to
   * `shutdownGraceMs`, then aborts it), publishes the offline status
   * (retained) and disconnects. Idempotent.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#doShutdown();
    return this.#shutdown;
  }

  /** Same as {@linkcode Agent.shutdown}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  #onConnect(): void {
    if (this.#closing) return;
    const status: AgentStatus = { state: "online", bootId: this.bootId, ts: this.#clock.now() };
    this.#conn.publishLater(this.#topics.status(this.#config.host), JSON.stringify(status), {
      qos: 1,
      retain: true,
    });
    this.#heartbeats.beat();
    const pending = this.#unreported;
    this.#unreported = [];
    for (const result of pending) this.#sendResult(result);
  }

  #sendResult(result: AgentResult): void {
    const p = this.#conn.publish(this.#topics.results(this.#config.host), JSON.stringify(result), {
      qos: 1,
    }).catch((err) => {
      log("agent").warn("Cannot send the result of {id}: {error}", {
        id: result.id,
        error: errorMessage(err),
      });
    }).finally(() => this.#publishing.delete(p));
    this.#publishing.add(p);
  }

  async #doShutdown(): Promise<void> {
    const logger = log("agent");
    this.#closing = true;
    this.#desk.close();
    await this.#heartbeats.stop();
    await this.#desk.drain(this.#graceMs);
    await this.#bounded(Promise.all([...this.#publishing]), () => {
      logger.warn("Shutting down with results not yet acknowledged by the broker");
    });
    if (this.#conn.connected) {
      // A clean disconnect suppresses the last will: say offline ourselves.
      const status: AgentStatus = { state: "offline", ts: this.#clock.now() };
      const published = this.#conn.publish(
        this.#topics.status(this.#config.host),
        JSON.stringify(status),
        { qos: 1, retain: true },
      );
      await this.#bounded(published, () => {
        logger.warn("The offline status was not acknowledged in time");
      }).catch((err) => {
        logger.warn("Cannot publish the offline status: {error}", { error: errorMessage(err) });
      });
    }
    await this.#conn.close(this.#flushMs);
    logger.info("mandrill agent for {host} stopped", { host: this.#config.host });
  }

  /** Waits for `p` at most `flushTimeoutMs`; on expiry calls `onExpired` and resolves. */
  async #bounded(p: Promise<unknown>, onExpired: () => void): Promise<void> {
    try {
      await deadline(p, this.#flushMs);
    } catch (err) {
      if (err instanceof DeadlineError) onExpired();
      else throw err;
    }
  }
}
