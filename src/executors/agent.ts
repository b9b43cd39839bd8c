/**
 * The agent executor: restarts a host by sending a command to its own
 * `mandrill agent` over MQTT and waiting for the result with the same id.
 * @module
 */
import { delay } from "../async/mod.ts";
import { type Clock, systemClock } from "../clock.ts";
import { isValidHost, isValidId } from "../contract/ids.ts";
import type { AgentCommand, AgentResult } from "../contract/messages.ts";
import type { Topics } from "../contract/topics.ts";
import type { FleetView } from "../fleet/fleet_view.ts";
import { errorMessage, log } from "../log.ts";
import { reasonText } from "./_run.ts";
import type { CommandSigner } from "../security/mod.ts";
import {
  effectiveTimeoutMs,
  type ExecuteOutcome,
  type ExecuteRequest,
  type Executor,
} from "./types.ts";

/** The part of an `MqttConnection` the executor publishes commands with. */
export interface CommandPublisher {
  publish(
    topic: string,
    payload: string,
    options?: { qos?: 0 | 1; retain?: boolean; expirySec?: number },
  ): Promise<void>;
}

/** Options of {@linkcode AgentExecutor}. */
export interface AgentExecutorOptions {
  /** Connection commands are published on (an `MqttConnection`). Required. */
  conn: CommandPublisher;
  /** Topic names (from `mqtt.topicPrefix`). Required. */
  topics: Topics;
  /** Where the agents' liveness comes from. Required. */
  fleet: FleetView;
  /** Fail with `timeout` when no result came within this many seconds. Default: 30. */
  timeoutSec?: number;
  /** Refuse (`connect`) when the host's last heartbeat is older than this many seconds. Default: 90. */
  staleSec?: number;
  /** Time source for staleness and the commands' validity. Default: the system clock. */
  clock?: Clock;
  /** Signs every command (`security.commandKeyFile`). Default: none, commands go unsigned. */
  signer?: CommandSigner;
}

interface _Waiter {
  host: string;
  resolve(result: AgentResult): void;
}

/** How many ids of given-up commands are remembered, to tell late results from unknown ones. */
const _RECENT_LIMIT = 256;

/**
 * Sends `{"id","action":"restart","reason","host","issuedAt","expiresAt","sig"}`
 * (QoS 1, signed with `signer`, valid for the executor's timeout) to
 * `{p}/agents/{host}/commands` and waits for `{p}/agents/{host}/results`.
 *
 * Fails fast with `connect` when the fleet view says the agent is offline or
 * its heartbeat is stale, without publishing anything. Results are fed in by
 * the controller through {@linkcode AgentExecutor.handleResult}. A timeout or
 * an abort does not recall a command already sent: the agent may still run it.
 *
 * @example
 * ```ts
 * const agent = new AgentExecutor({ conn, topics: topics("mandrill"), fleet, timeoutSec: 30 });
 * routeFleet(conn, { topics: t, fleet, clock, onResult: (h, r) => agent.handleResult(h, r) });
 * const outcome = await agent.execute({ id: "r-1", host: "web-1" }, signal);
 * ```
 */
export class AgentExecutor implements Executor {
  readonly #conn: CommandPublisher;
  readonly #topics: Topics;
  readonly #fleet: FleetView;
  readonly #timeoutSec: number;
  readonly #staleSec: number;
  readonly #clock: Clock;
  readonly #signer: CommandSigner | undefined;
  /** When this executor (mandrill) started: agents' first heartbeats may still be on their way. */
  readonly #startedAt: number;
  readonly #waiters = new Map<string, _Waiter>();
  readonly #recent = new Set<string>();

  /** Checks the options; throws `RangeError` on a bad time limit. */
  constructor(options: AgentExecutorOptions) {
    const { timeoutSec = 30, staleSec = 90 } = options;
    for (const [name, v] of [["timeoutSec", timeoutSec], ["staleSec", staleSec]] as const) {
      if (!(Number.isFinite(v) && v > 0)) {
        throw new RangeError(`AgentExecutor ${name} must be a number > 0, got ${v}`);
      }
    }
    this.#conn = options.conn;
    this.#topics = options.topics;
    this.#fleet = options.fleet;
    this.#timeoutSec = timeoutSec;
    this.#staleSec = staleSec;
    this.#clock = options.clock ?? systemClock;
    this.#signer = options.signer;
    this.#startedAt = this.#clock.now();
  }

  /** Number of commands waiting for their result. */
  get pending(): number {
    return this.#waiters.size;
  }

  /** Sends the restart command and waits for its result; never throws for expected failures. */
  async execute(req: ExecuteRequest, signal?: AbortSignal): Promise<ExecuteOutcome> {
    if (signal?.aborted) return _aborted(req.host, signal.reason, false);
    if (!isValidHost(req.host)) {
      return { kind: "rejected", detail: `invalid host name ${JSON.stringify(req.host)}` };
    }
    if (!isValidId(req.id)) {
      return { kind: "rejected", detail: `invalid request id ${JSON.stringify(req.id)}` };
    }
    if (this.#waiters.has(req.id)) {
      return { kind: "rejected", detail: `a command with id ${req.id} is already in flight` };
    }
    let unfit = this.#unfit(req.host);
    // Just started (a restart of mandrill with requests pending): an agent
    // whose retained status says online may not have sent a heartbeat since.
    // Its next one is due within staleSec; wait that long, not longer.
    while (unfit !== undefined && this.#firstHeartbeatDue(req.host)) {
      try {
        await delay(50, { signal });
      } catch {
        return _aborted(req.host, signal?.reason, false);
      }
      unfit = this.#unfit(req.host);
    }
    if (unfit !== undefined) return { kind: "connect", detail: unfit };

    // Valid for as long as we wait for it: a command we gave up on must not run later.
    const timeoutMs = effectiveTimeoutMs(req, this.#timeoutSec);
    const issuedAt = this.#clock.now();
    const unsigned: AgentCommand = {
      id: req.id,
      action: "restart",
      host: req.host,
      issuedAt,
      expiresAt: issuedAt + timeoutMs,
    };
    if (req.reason !== undefined) unsigned.reason = req.reason.slice(0, 1024);
    const command = this.#signer ? await this.#signer.signCommand(unsigned) : unsigned;
    if (signal?.aborted) return _aborted(req.host, signal.reason, false);
    const { promise: result, resolve } = Promise.withResolvers<AgentResult>();
    // Registered before publishing: the result may beat the PUBACK.
    this.#waiters.set(req.id, { host: req.host, resolve });
    this.#recent.delete(req.id);
    // The broker drops it too when nobody took it in time (MQTT 5 message expiry).
    const published = this.#conn.publish(this.#topics.commands(req.host), JSON.stringify(command), {
      qos: 1,
      expirySec: timeoutMs / 1000,
    }).then(() => undefined, (err: unknown) => err ?? new Error("publish failed"));

    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    let sent = false;
    try {
      const end = await new Promise<_End>((done) => {
        timer = setTimeout(() => done({ kind: "timeout", sent }), timeoutMs);
        onAbort = () => done({ kind: "aborted", reason: signal?.reason, sent });
        signal?.addEventListener("abort", onAbort, { once: true });
        result.then((r) => done({ kind: "result", result: r }));
        published.then((error) => {
          if (error === undefined) sent = true;
          else done({ kind: "publish-error", error });
        });
      });
      return _outcome(end, req.host, this.#timeoutSec);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
      if (this.#waiters.get(req.id)?.resolve === resolve) this.#waiters.delete(req.id);
      this.#remember(req.id);
    }
  }

  /**
   * Hands in a validated result received on `{p}/agents/{host}/results`.
   * Synchronous (call it from the MQTT handler); results nobody waits for
   * (late, unknown, or from the wrong host) are logged and dropped.
   */
  handleResult(host: string, result: AgentResult): void {
    const waiter = this.#waiters.get(result.id);
    if (waiter === undefined) {
      if (this.#recent.has(result.id)) {
        log("executor").warn("Late result for {id} from {host} (ok: {ok}) dropped: gave up on it", {
          id: result.id,
          host,
          ok: result.ok,
        });
      } else {
        // Normal with several controllers: each sees every agent's results.
        log("executor").debug("Result for unknown command {id} from {host} dropped", {
          id: result.id,
          host,
        });
      }
      return;
    }
    if (waiter.host !== host) {
      log("executor").warn("Result for {id} came from {host}, but it was sent to {expected}", {
        id: result.id,
        host,
        expected: waiter.host,
      });
      return;
    }
    this.#waiters.delete(result.id);
    waiter.resolve(result);
  }

  /** True while `host` is online by its status, not heard since mandrill started, and may still be. */
  #firstHeartbeatDue(host: string): boolean {
    const state = this.#fleet.get(host);
    return state !== undefined && state.online && state.lastHeartbeatAt === undefined &&
      this.#clock.now() - this.#startedAt < this.#staleSec * 1000;
  }

  /** Why the agent cannot take a command now, or undefined if it can. */
  #unfit(host: string): string | undefined {
    const state = this.#fleet.get(host);
    const now = this.#clock.now();
    if (state === undefined) return `no agent known for ${host}: never heard from it`;
    if (!state.online) {
      const since = state.offlineSince ?? state.lastStatusAt;
      return `agent on ${host} is offline (last will or shutdown at ${
        since === undefined ? "an unknown time" : new Date(since).toISOString()
      })`;
    }
    if (state.lastHeartbeatAt === undefined) {
      return `no heartbeat from ${host} yet (staleSec ${this.#staleSec})`;
    }
    if (this.#fleet.isStale(host, this.#staleSec, now)) {
      const ago = Math.round((now - state.lastHeartbeatAt) / 1000);
      return `no heartbeat from ${host} for ${ago}s (staleSec ${this.#staleSec})`;
    }
    return undefined;
  }

  #remember(id: string): void {
    this.#recent.add(id);
    if (this.#recent.size > _RECENT_LIMIT) {
      this.#recent.delete(this.#recent.values().next().value!);
    }
  }
}

/** How waiting for a result ended. */
type _End =
  | { kind: "result"; result: AgentResult }
  | { kind: "publish-error"; error: unknown }
  | { kind: "timeout"; sent: boolean }
  | { kind: "aborted"; reason: unknown; sent: boolean };

function _outcome(end: _End, host: string, timeoutSec: number): ExecuteOutcome {
  switch (end.kind) {
    case "result":
      if (end.result.ok) {
        return end.result.detail ? { kind: "ok", detail: end.result.detail } : { kind: "ok" };
      }
      return {
        kind: "exit",
        code: 1,
        detail: `agent on ${host} failed: ${end.result.detail ?? "no detail"}`,
      };
    case "publish-error":
      return {
        kind: "connect",
        detail: `cannot send the command to the agent on ${host}: ${errorMessage(end.error)}`,
      };
    case "timeout":
      return {
        kind: "timeout",
        detail: `no result from the agent on ${host} within ${timeoutSec} s` +
          (end.sent ? "" : " (the broker never acknowledged the command)"),
      };
    case "aborted":
      return _aborted(host, end.reason, end.sent);
  }
}

function _aborted(host: string, reason: unknown, sent: boolean): ExecuteOutcome {
  return {
    kind: "aborted",
    detail: `restart of ${host} through its agent aborted: ${reasonText(reason)}` +
      (sent ? " (the command was already sent; the agent may still run it)" : ""),
  };
}
