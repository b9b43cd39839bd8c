import assert from "node:assert/strict";
import { FakeClock } from "../../src/clock.ts";
import type { AgentResult } from "../../src/contract/messages.ts";
import { topics } from "../../src/contract/topics.ts";
import { FleetView, routeFleet } from "../../src/fleet/mod.ts";
import { FakeMqtt } from "../_helpers/fake_mqtt.ts";

function setup(withResults = true) {
  const conn = new FakeMqtt();
  const fleet = new FleetView();
  const clock = new FakeClock();
  const results: [string, AgentResult][] = [];
  routeFleet(conn, {
    topics: topics("mandrill"),
    fleet,
    clock,
    ...(withResults ? { onResult: (host, r) => results.push([host, r]) } : {}),
  });
  return { conn, fleet, clock, results };
}

Deno.test("routeFleet() subscribes heartbeats at QoS 0, statuses and results at QoS 1", () => {
  const { conn } = setup();
  assert.deepEqual(conn.routes.map((r) => [r.filter, r.qos]), [
    ["mandrill/agents/+/heartbeat", 0],
    ["mandrill/agents/+/status", 1],
    ["mandrill/agents/+/results", 1],
  ]);
  assert.equal(setup(false).conn.routes.length, 2, "no results route without onResult");
});

Deno.test("routeFleet() feeds valid heartbeats and statuses into the fleet, stamped by the clock", () => {
  const { conn, fleet, clock } = setup();
  conn.deliver("mandrill/agents/web-1/heartbeat", {
    host: "web-1",
    bootId: "b1",
    uptimeSec: 42,
    version: "0.1.0",
    ts: 1,
  });
  assert.equal(fleet.get("web-1")?.lastHeartbeatAt, clock.now());
  assert.equal(fleet.get("web-1")?.uptimeSec, 42);
  clock.advance(5_000);
  conn.deliver("mandrill/agents/web-1/status", { state: "offline", ts: 1 });
  assert.equal(fleet.get("web-1")?.online, false);
  assert.equal(fleet.get("web-1")?.offlineSince, clock.now());
});

Deno.test("routeFleet() drops invalid messages without throwing (they are acknowledged)", () => {
  const { conn, fleet, results } = setup();
  const bad: [string, string | object | Uint8Array][] = [
    ["mandrill/agents/web-1/heartbeat", "not json"],
    ["mandrill/agents/web-1/heartbeat", { host: "web-1" }],
    // A heartbeat naming another host than its topic.
    ["mandrill/agents/web-1/heartbeat", {
      host: "web-2",
      bootId: "b",
      uptimeSec: 1,
      version: "v",
      ts: 1,
    }],
    ["mandrill/agents/web-1/status", { state: "sleeping", ts: 1 }],
    ["mandrill/agents/bad_host!/status", { state: "online", ts: 1 }],
    ["mandrill/agents/web-1/status", new Uint8Array([0xff, 0xfe])],
    ["mandrill/agents/web-1/status", new Uint8Array()],
    ["mandrill/agents/web-1/results", { id: "bad id", ok: true }],
    ["mandrill/agents/web-1/results", { id: "r-1", ok: "yes" }],
  ];
  for (const [topic, payload] of bad) conn.deliver(topic, payload);
  assert.equal(fleet.size, 0);
  assert.deepEqual(results, []);
});

Deno.test("routeFleet() hands valid results to onResult with the topic's host", () => {
  const { conn, results } = setup();
  conn.deliver("mandrill/agents/web-2/results", { id: "r-1", ok: false, detail: "nope" });
  assert.deepEqual(results, [["web-2", { id: "r-1", ok: false, detail: "nope" }]]);
});

Deno.test("routeFleet() works for hosts named like topic words (agents, heartbeat, status)", () => {
  const { conn, fleet } = setup();
  for (const host of ["agents", "heartbeat", "status", "mandrill"]) {
    conn.deliver(`mandrill/agents/${host}/heartbeat`, {
      host,
      bootId: `b-${host}`,
      uptimeSec: 1,
      version: "v",
      ts: 1,
    });
    assert.equal(fleet.get(host)?.bootId, `b-${host}`, host);
    conn.deliver(`mandrill/agents/${host}/status`, { state: "offline", ts: 1 });
    assert.equal(fleet.get(host)?.online, false, host);
  }
});
