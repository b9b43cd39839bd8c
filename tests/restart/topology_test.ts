/**
 * The topology: which hosts' agent messages count and how stale an agent may
 * get — the config's word (or, where allowed, an agent's announcement), for
 * every host whatever the size of the fleet.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/mod.ts";
import { FleetView } from "../../src/fleet/fleet_view.ts";
import { buildTopology } from "../../src/restart/mod.ts";

function topologyOf(allowAgentHosts: boolean) {
  const config = parseConfig({
    executors: {
      agent: { type: "agent" },
      slow: { type: "agent", staleSec: 300 },
      ssh: { type: "ssh" },
    },
    hosts: {
      "a-1": { executor: "agent", group: "web" },
      "a-2": { executor: "slow", group: "web" },
      "s-1": { executor: "ssh", group: "web", address: "10.0.0.1" },
    },
    fleet: allowAgentHosts ? { allowAgentHosts: true, agentExecutor: "agent" } : {},
    security: { allowUnsigned: true },
  });
  const fleet = new FleetView();
  const now = Date.now();
  for (const host of ["a-1", "s-1", "new-1"]) {
    fleet.onHeartbeat({ host, bootId: "b", uptimeSec: 1, version: "1", ts: now }, now);
  }
  return buildTopology(config, fleet);
}

Deno.test("topology: only hosts with an agent executor have agents, each with its executor's staleSec", () => {
  const t = topologyOf(false);
  assert.equal(t.acceptsAgent("a-1"), true);
  assert.equal(t.acceptsAgent("a-2"), true);
  assert.equal(t.acceptsAgent("s-1"), false, "an ssh host's heartbeats do not count");
  assert.equal(t.acceptsAgent("new-1"), false, "nor an unknown host's");
  assert.equal(t.agentStaleSec("a-1"), 90);
  assert.equal(t.agentStaleSec("a-2"), 300);
  assert.equal(t.agentStaleSec("s-1"), undefined);
  assert.equal(t.agentStaleSec("new-1"), undefined);
  assert.deepEqual([...t.agentHosts()], ["a-1", "a-2"]);
  assert.equal(t.target("new-1"), undefined);
  assert.deepEqual(t.hostsOfGroup("web"), ["a-1", "a-2", "s-1"]);
  assert.equal(t.sizeOf("web"), 3);
});

Deno.test("topology: with allowAgentHosts, announced hosts have agents; a configured ssh host still has none", () => {
  const t = topologyOf(true);
  assert.equal(t.acceptsAgent("s-1"), false);
  assert.equal(t.acceptsAgent("new-1"), true);
  assert.equal(t.agentStaleSec("new-1"), 90);
  assert.equal(t.agentStaleSec("s-1"), undefined);
  assert.deepEqual([...t.agentHosts()], ["a-1", "a-2", "new-1"]);
  assert.deepEqual(t.target("new-1"), { executor: "agent" });
  assert.equal(t.groupOf("new-1"), "host:new-1");
});
