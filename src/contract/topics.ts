/**
 * Topic names of the external contract, built from `mqtt.topicPrefix`.
 * @module
 */

/** All topics mandrill uses under one prefix. */
export interface Topics {
  restart: string;
  events: string;
  deadletter: string;
  control: string;
  heartbeat(host: string): string;
  status(host: string): string;
  commands(host: string): string;
  results(host: string): string;
  /** Wildcard subscriptions for every agent's heartbeat, status and results. */
  allHeartbeats: string;
  allStatus: string;
  allResults: string;
}

/** Builds the topic set for `prefix` (default `mandrill`). */
export function topics(prefix = "mandrill"): Topics {
  const agent = (host: string, leaf: string) => `${prefix}/agents/${host}/${leaf}`;
  return {
    restart: `${prefix}/restart`,
    events: `${prefix}/events`,
    deadletter: `${prefix}/deadletter`,
    control: `${prefix}/control`,
    heartbeat: (h) => agent(h, "heartbeat"),
    status: (h) => agent(h, "status"),
    commands: (h) => agent(h, "commands"),
    results: (h) => agent(h, "results"),
    allHeartbeats: `${prefix}/agents/+/heartbeat`,
    allStatus: `${prefix}/agents/+/status`,
    allResults: `${prefix}/agents/+/results`,
  };
}

/** The host segment of an agent topic (`{p}/agents/{host}/...`), or undefined. */
export function hostOfAgentTopic(topic: string): string | undefined {
  // The host is the word before the leaf (a host name has no "/"), whatever
  // it is called: a host named "agents" is `{p}/agents/agents/heartbeat`.
  const parts = topic.split("/");
  return parts.length >= 4 && parts[parts.length - 3] === "agents"
    ? parts[parts.length - 2]
    : undefined;
}
