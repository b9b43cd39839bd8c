/**
 * The controller's side of the agent topics: validates heartbeats, statuses
 * and results with zod and hands them, synchronously and before the PUBACK,
 * to the fleet view and to whoever waits for results (the agent executor).
 * @module
 */
import type { z } from "zod";
import type { Clock } from "../clock.ts";
import {
  type AgentResult,
  agentResultSchema,
  agentStatusSchema,
  heartbeatSchema,
} from "../contract/messages.ts";
import { isValidHost } from "../contract/ids.ts";
import { hostOfAgentTopic, type Topics } from "../contract/topics.ts";
import { log } from "../log.ts";
import type { MessageHandler } from "../mqtt/mod.ts";
import type { FleetView } from "./fleet_view.ts";

/** The part of an `MqttConnection` that routes subscriptions. */
export interface MessageRouter {
  route(
    filter: string,
    qos: 0 | 1,
    handler: MessageHandler,
    options?: { retainedEachTime?: boolean },
  ): void;
}

/** Options of {@linkcode routeFleet}. */
export interface RouteFleetOptions {
  /** Topic names (from `mqtt.topicPrefix`). Required. */
  topics: Topics;
  /** Receives heartbeats and statuses. Required. */
  fleet: FleetView;
  /** Stamps each message with its time of arrival. Required. */
  clock: Clock;
  /** Receives every valid result, e.g. `agentExecutor.handleResult`. Default: results are not subscribed. */
  onResult?: (host: string, result: AgentResult) => void;
  /**
   * Whether messages on `host`'s agent topics count: the config's word on
   * which hosts have agents (an SSH host is judged by its probe, never by a
   * heartbeat on its topic). Others are dropped (counted, logged now and
   * then). Default: every host.
   */
  accepts?: (host: string) => boolean;
}

/**
 * Subscribes the controller to every agent's heartbeat (QoS 0), status (QoS 1,
 * retained) and, with `onResult`, results (QoS 1), and feeds them in.
 * Invalid messages are logged and dropped (acknowledged: redelivery would not
 * fix them). Do not put these behind a shared subscription: every controller
 * instance needs the whole fleet and the results of the commands it sent.
 *
 * @example
 * ```ts
 * routeFleet(conn, { topics: t, fleet, clock, onResult: (h, r) => agentExecutor.handleResult(h, r) });
 * ```
 */
export function routeFleet(conn: MessageRouter, options: RouteFleetOptions): void {
  const { topics, fleet, clock, onResult } = options;
  let refused = 0;
  const accepts = (host: string, topic: string): boolean => {
    if (options.accepts === undefined || options.accepts(host)) return true;
    // Every message of an unknown agent counts; log the first and every 1,000th.
    if (++refused === 1 || refused % 1000 === 0) {
      log("fleet").warn(
        "Dropping a message on {topic}: {host} has no agent in the config ({refused} dropped so far)",
        { topic, host, refused },
      );
    }
    return false;
  };
  conn.route(topics.allHeartbeats, 0, (topic, payload) => {
    const hb = _parse(topic, payload, heartbeatSchema);
    if (hb === undefined) return;
    if (hb.host !== hostOfAgentTopic(topic)) {
      log("fleet").warn("Dropping heartbeat on {topic}: it names host {host}", {
        topic,
        host: hb.host,
      });
      return;
    }
    if (!accepts(hb.host, topic)) return;
    fleet.onHeartbeat(hb, clock.now());
  });
  conn.route(topics.allStatus, 1, (topic, payload) => {
    // A retained status is cleared with an empty payload: nothing to apply.
    if (payload.byteLength === 0) return;
    const host = _host(topic);
    if (host === undefined || !accepts(host, topic)) return;
    const status = _parse(topic, payload, agentStatusSchema);
    if (status === undefined) return;
    fleet.onStatus(host, status, clock.now());
  }, { retainedEachTime: false });
  if (onResult !== undefined) {
    conn.route(topics.allResults, 1, (topic, payload) => {
      const host = _host(topic);
      if (host !== undefined && !accepts(host, topic)) return;
      const result = host === undefined ? undefined : _parse(topic, payload, agentResultSchema);
      if (host === undefined || result === undefined) return;
      onResult(host, result);
    });
  }
}

/** The valid host name of an agent topic, or undefined (logged). */
function _host(topic: string): string | undefined {
  const host = hostOfAgentTopic(topic);
  if (!isValidHost(host)) {
    log("fleet").warn("Dropping message on {topic}: no valid host name in the topic", { topic });
    return undefined;
  }
  return host;
}

// One decoder for every message: a heartbeat a second from each of 100,000 agents.
const _utf8 = new TextDecoder("utf-8", { fatal: true });

/** Parses JSON and validates it; logs and returns undefined when it is not valid. */
function _parse<T>(topic: string, payload: Uint8Array, schema: z.ZodType<T>): T | undefined {
  let json: unknown;
  try {
    json = JSON.parse(_utf8.decode(payload));
  } catch {
    log("fleet").warn("Dropping message on {topic}: not JSON", { topic });
    return undefined;
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    log("fleet").warn("Dropping invalid message on {topic}: {issues}", {
      topic,
      issues: issues.join("; "),
    });
    return undefined;
  }
  return result.data;
}
