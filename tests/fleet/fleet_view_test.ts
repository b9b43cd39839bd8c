import assert from "node:assert/strict";
import type { Heartbeat } from "../../src/contract/messages.ts";
import { type BootChange, FleetView } from "../../src/fleet/mod.ts";

const T0 = Date.UTC(2026, 0, 1);

function hb(host: string, bootId: string, uptimeSec = 100): Heartbeat {
  return { host, bootId, uptimeSec, version: "0.1.0", ts: T0 };
}

Deno.test("FleetView.onHeartbeat() marks a host online with its boot id, uptime and times", () => {
  const fleet = new FleetView();
  assert.equal(fleet.get("web-1"), undefined);
  assert.equal(fleet.onHeartbeat(hb("web-1", "b1", 100), T0), true);
  const h = fleet.get("web-1")!;
  assert.equal(h.online, true);
  assert.equal(h.bootId, "b1");
  assert.equal(h.uptimeSec, 100);
  assert.equal(h.lastSeen, T0);
  assert.equal(h.lastHeartbeatAt, T0);
  assert.equal(h.lastStatusAt, undefined);
  assert.equal(h.offlineSince, undefined);
  assert.equal(fleet.size, 1);
  assert.deepEqual([...fleet.hosts()], ["web-1"]);
});

Deno.test("FleetView.uptimeOf() adds the time since the heartbeat, and is unknown while offline", () => {
  const fleet = new FleetView();
  assert.equal(fleet.uptimeOf("web-1", T0), undefined);
  fleet.onHeartbeat(hb("web-1", "b1", 100), T0);
  assert.equal(fleet.uptimeOf("web-1", T0), 100);
  assert.equal(fleet.uptimeOf("web-1", T0 + 30_500), 130.5);
  fleet.onStatus("web-1", { state: "offline", ts: T0 }, T0 + 40_000);
  assert.equal(fleet.uptimeOf("web-1", T0 + 41_000), undefined);
  // Back: the new heartbeat's uptime counts, not the old one's.
  fleet.onHeartbeat(hb("web-1", "b2", 3), T0 + 60_000);
  assert.equal(fleet.uptimeOf("web-1", T0 + 61_000), 4);
});

Deno.test("FleetView.isStale() measures from the last heartbeat, not from statuses", () => {
  const fleet = new FleetView();
  assert.equal(fleet.isStale("web-1", 90, T0), true, "never heard of: stale");
  fleet.onStatus("web-1", { state: "online", bootId: "b1", ts: T0 }, T0);
  assert.equal(fleet.isStale("web-1", 90, T0), true, "a status alone is not a heartbeat");
  fleet.onHeartbeat(hb("web-1", "b1"), T0);
  assert.equal(fleet.isStale("web-1", 90, T0 + 90_000), false);
  assert.equal(fleet.isStale("web-1", 90, T0 + 90_001), true);
  fleet.onStatus("web-1", { state: "online", bootId: "b1", ts: T0 }, T0 + 100_000);
  assert.equal(fleet.isStale("web-1", 90, T0 + 100_000), true);
});

Deno.test("FleetView.onStatus() tracks offline (last will) and online again", () => {
  const fleet = new FleetView();
  fleet.onHeartbeat(hb("web-1", "b1"), T0);
  fleet.onStatus("web-1", { state: "offline", ts: T0 - 5_000 }, T0 + 1_000);
  let h = fleet.get("web-1")!;
  assert.equal(h.online, false);
  assert.equal(h.offlineSince, T0 + 1_000, "offlineSince is the time of arrival");
  assert.equal(h.lastStatusAt, T0 + 1_000);
  // A repeated offline status keeps the first time.
  fleet.onStatus("web-1", { state: "offline", ts: T0 }, T0 + 2_000);
  assert.equal(fleet.get("web-1")!.offlineSince, T0 + 1_000);
  fleet.onStatus("web-1", { state: "online", bootId: "b2", ts: T0 }, T0 + 3_000);
  h = fleet.get("web-1")!;
  assert.equal(h.online, true);
  assert.equal(h.offlineSince, undefined);
  assert.equal(h.bootId, "b2");
  assert.equal(h.lastSeen, T0 + 3_000);
});

Deno.test("FleetView: a host first seen offline (retained will) is offline since then", () => {
  const fleet = new FleetView();
  fleet.onStatus("web-9", { state: "offline", ts: T0 }, T0 + 10);
  const h = fleet.get("web-9")!;
  assert.equal(h.online, false);
  assert.equal(h.offlineSince, T0 + 10);
  assert.equal(h.bootId, undefined);
});

Deno.test("FleetView: a heartbeat after an offline status brings the host back online", () => {
  const fleet = new FleetView();
  fleet.onStatus("web-1", { state: "offline", ts: T0 }, T0);
  fleet.onHeartbeat(hb("web-1", "b1"), T0 + 1);
  assert.equal(fleet.get("web-1")!.online, true);
  assert.equal(fleet.get("web-1")!.offlineSince, undefined);
});

Deno.test("FleetView.onBootChange() fires on a new boot id only, from heartbeats and online statuses", () => {
  const fleet = new FleetView();
  const changes: BootChange[] = [];
  const sub = fleet.onBootChange((c) => changes.push(c));
  fleet.onHeartbeat(hb("web-1", "b1"), T0);
  fleet.onHeartbeat(hb("web-1", "b1"), T0 + 10);
  fleet.onStatus("web-1", { state: "online", bootId: "b1", ts: T0 }, T0 + 20);
  fleet.onStatus("web-1", { state: "offline", ts: T0 }, T0 + 30);
  fleet.onStatus("web-1", { state: "online", bootId: "b2", ts: T0 }, T0 + 40);
  fleet.onHeartbeat(hb("web-1", "b2"), T0 + 50);
  fleet.onHeartbeat(hb("web-1", "b3"), T0 + 60);
  assert.deepEqual(changes, [
    { host: "web-1", bootId: "b1", previousBootId: undefined, at: T0, uptimeSec: 100 },
    // An online status carries no uptime.
    { host: "web-1", bootId: "b2", previousBootId: "b1", at: T0 + 40, uptimeSec: undefined },
    { host: "web-1", bootId: "b3", previousBootId: "b2", at: T0 + 60, uptimeSec: 100 },
  ]);
  sub[Symbol.dispose]();
  fleet.onHeartbeat(hb("web-1", "b4"), T0 + 70);
  assert.equal(changes.length, 3, "a disposed listener is not called");
});

Deno.test("FleetView: a throwing boot listener does not break the update or other listeners", () => {
  const fleet = new FleetView();
  const seen: string[] = [];
  using _a = fleet.onBootChange(() => {
    throw new Error("boom");
  });
  using _b = fleet.onBootChange((c) => seen.push(c.bootId));
  fleet.onHeartbeat(hb("web-1", "b1"), T0);
  assert.deepEqual(seen, ["b1"]);
  assert.equal(fleet.get("web-1")!.bootId, "b1");
});

Deno.test("FleetView refuses new hosts beyond maxHosts, counting them, without evicting", () => {
  const fleet = new FleetView({ maxHosts: 2 });
  assert.equal(fleet.onHeartbeat(hb("web-1", "b"), T0), true);
  assert.equal(fleet.onStatus("web-2", { state: "online", ts: T0 }, T0), true);
  assert.equal(fleet.onHeartbeat(hb("web-3", "b"), T0), false);
  assert.equal(fleet.onStatus("web-3", { state: "online", ts: T0 }, T0), false);
  assert.equal(fleet.refused, 2);
  assert.equal(fleet.size, 2);
  assert.equal(fleet.get("web-3"), undefined);
  // Known hosts still update.
  assert.equal(fleet.onHeartbeat(hb("web-1", "b2"), T0 + 1), true);
  assert.equal(fleet.get("web-1")!.bootId, "b2");
  assert.equal(fleet.forget("web-2"), true);
  assert.equal(fleet.onHeartbeat(hb("web-3", "b"), T0), true, "room again after forget()");
});

Deno.test("FleetView rejects a bad maxHosts", () => {
  for (const maxHosts of [0, -1, 1.5, NaN]) {
    assert.throws(() => new FleetView({ maxHosts }), RangeError);
  }
});

Deno.test("FleetView holds 100,000 hosts", () => {
  const fleet = new FleetView({ maxHosts: 100_000 });
  for (let i = 0; i < 100_000; i++) fleet.onHeartbeat(hb(`web-${i}`, `boot-${i}`, i), T0 + i);
  assert.equal(fleet.size, 100_000);
  assert.equal(fleet.refused, 0);
  assert.equal(fleet.uptimeOf("web-99999", T0 + 99_999), 99_999);
  assert.equal(fleet.onHeartbeat(hb("web-100000", "b"), T0), false);
});
