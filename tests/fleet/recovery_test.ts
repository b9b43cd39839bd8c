import assert from "node:assert/strict";
import type { Heartbeat } from "../../src/contract/messages.ts";
import {
  type BootProbe,
  FleetView,
  type ProbeOutcome,
  type RecoveredEvent,
  type RecoveryTimeoutEvent,
  RecoveryTracker,
  type RecoveryTrackerOptions,
} from "../../src/fleet/mod.ts";
import { flush, withFakeTime } from "../async/_helpers.ts";

function hb(host: string, bootId: string): Heartbeat {
  return { host, bootId, uptimeSec: 1, version: "0.1.0", ts: 0 };
}

/** A tracker whose callbacks are recorded. Times come from the (faked) Date. */
function tracker(options: RecoveryTrackerOptions = {}) {
  const recovered: RecoveredEvent[] = [];
  const timedOut: RecoveryTimeoutEvent[] = [];
  const t = new RecoveryTracker({
    onRecovered: (e) => recovered.push(e),
    onTimeout: (e) => timedOut.push(e),
    ...options,
  });
  return { t, recovered, timedOut, [Symbol.asyncDispose]: () => t[Symbol.asyncDispose]() };
}

/** A probe answering from a script, recording the (fake) time of each call since `t0`. */
function scriptedProbe(t0: number, answers: (ProbeOutcome | Error)[]) {
  const calls: number[] = [];
  const signals: AbortSignal[] = [];
  const fn: BootProbe = (signal) => {
    calls.push(Date.now() - t0);
    signals.push(signal);
    const next = answers.shift() ?? { kind: "failed", detail: "script exhausted" };
    return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
  };
  return { fn, calls, signals };
}

Deno.test("RecoveryTracker: an agent host recovers when a heartbeat brings a new boot id", async () => {
  await withFakeTime(async (clock) => {
    const fleet = new FleetView();
    fleet.onHeartbeat(hb("web-1", "b1"), Date.now());
    await using r = tracker({ fleet });
    const t0 = Date.now();
    r.t.track({ id: "r-1", host: "web-1", startedAt: t0, bootIdBefore: "b1" });
    assert.equal(r.t.isAwaiting("web-1"), true);
    assert.equal(r.t.isAwaiting("web-2"), false);
    await clock.tickAsync(10_000);
    fleet.onHeartbeat(hb("web-1", "b1"), Date.now()); // still the old boot
    fleet.onHeartbeat(hb("web-2", "x9"), Date.now()); // another host's boot
    await clock.tickAsync(35_000);
    assert.deepEqual(r.recovered, []);
    fleet.onHeartbeat(hb("web-1", "b2"), Date.now());
    assert.deepEqual(r.recovered, [{ id: "r-1", host: "web-1", recoveryMs: 45_000, bootId: "b2" }]);
    assert.equal(r.t.isAwaiting("web-1"), false);
    assert.equal(r.t.size, 0);
    await clock.tickAsync(600_000);
    assert.deepEqual(r.timedOut, [], "no timeout after recovery");
  });
});

Deno.test("RecoveryTracker: a host that never comes back times out once, at startedAt + recoveryTimeoutSec", async () => {
  await withFakeTime(async (clock) => {
    const fleet = new FleetView();
    await using r = tracker({ fleet, recoveryTimeoutSec: 120 });
    // The restart started 20 s before tracking began.
    r.t.track({ id: "r-1", host: "web-1", startedAt: Date.now() - 20_000, bootIdBefore: "b1" });
    await clock.tickAsync(99_999);
    assert.deepEqual(r.timedOut, []);
    await clock.tickAsync(1);
    assert.deepEqual(r.timedOut, [
      { id: "r-1", host: "web-1", detail: "web-1 did not come back within 120 s" },
    ]);
    assert.equal(r.t.isAwaiting("web-1"), false);
    fleet.onHeartbeat(hb("web-1", "b2"), Date.now());
    assert.deepEqual(r.recovered, [], "no recovery after a timeout");
  });
});

Deno.test("RecoveryTracker probes with capped exponential backoff until the boot id differs", async () => {
  await withFakeTime(async (clock) => {
    await using r = tracker({ probeIntervalSec: 5, probeMaxIntervalSec: 40, probeJitter: 0 });
    const t0 = Date.now();
    const p = scriptedProbe(t0, [
      { kind: "failed", detail: "ssh: connection refused" },
      new Error("probe crashed"),
      { kind: "ok", bootId: "old" },
      { kind: "ok", bootId: "new" },
    ]);
    r.t.track({ id: "r-1", host: "db-1", startedAt: t0, bootIdBefore: "old", probe: p.fn });
    await clock.tickAsync(4_999);
    assert.deepEqual(p.calls, [], "the first probe waits probeIntervalSec");
    await clock.tickAsync(200_000);
    // 5, +10, +20, +40 (capped), ...
    assert.deepEqual(p.calls, [5_000, 15_000, 35_000, 75_000]);
    assert.deepEqual(r.recovered, [{ id: "r-1", host: "db-1", recoveryMs: 75_000, bootId: "new" }]);
    assert.ok(p.signals.every((s) => s.aborted), "probe signals are aborted once recovered");
  });
});

Deno.test("RecoveryTracker: with the boot id before unknown, a probe counts once its uptime shows a boot since the restart", async () => {
  await withFakeTime(async (clock) => {
    await using r = tracker({ probeIntervalSec: 5, probeJitter: 0, recoveryTimeoutSec: 600 });
    const t0 = Date.now();
    const p = scriptedProbe(t0, [
      { kind: "ok", bootId: "old", uptimeSec: 86_400 }, // still up since yesterday
      { kind: "failed", detail: "ssh: connection refused" },
      { kind: "ok", bootId: "new", uptimeSec: 20 }, // at 35 s: booted 15 s after the start
    ]);
    r.t.track({ id: "r-1", host: "db-1", startedAt: t0, probe: p.fn });
    await clock.tickAsync(5_000);
    assert.deepEqual(r.recovered, [], "a host up for a day did not restart");
    await clock.tickAsync(30_000);
    assert.deepEqual(p.calls, [5_000, 15_000, 35_000]);
    assert.deepEqual(r.recovered, [{ id: "r-1", host: "db-1", recoveryMs: 35_000, bootId: "new" }]);
  });
});

Deno.test("RecoveryTracker: with the boot id before unknown, a host whose uptime never drops times out, saying why", async () => {
  await withFakeTime(async (clock) => {
    await using r = tracker({ probeIntervalSec: 5, probeJitter: 0, recoveryTimeoutSec: 60 });
    const t0 = Date.now();
    let calls = 0;
    const probe: BootProbe = () => {
      calls++;
      // Never went down: its uptime keeps growing from an hour before the restart.
      return Promise.resolve({
        kind: "ok",
        bootId: "same",
        uptimeSec: 3_600 + (Date.now() - t0) / 1000,
      });
    };
    r.t.track({ id: "r-1", host: "db-1", startedAt: t0, probe });
    await clock.tickAsync(60_000);
    assert.ok(calls >= 3, `probed ${calls} times`);
    assert.deepEqual(r.recovered, []);
    assert.equal(r.timedOut.length, 1);
    assert.match(
      r.timedOut[0]!.detail,
      /did not come back within 60 s \(its boot id before the restart is unknown/,
    );
  });
});

Deno.test("RecoveryTracker: bootIdBefore defaults to the fleet view's boot id", async () => {
  await withFakeTime(async () => {
    const fleet = new FleetView();
    fleet.onHeartbeat(hb("web-1", "b1"), Date.now());
    await using r = tracker({ fleet });
    r.t.track({ id: "r-1", host: "web-1", startedAt: Date.now() });
    fleet.onStatus("web-1", { state: "online", bootId: "b2", ts: 0 }, Date.now());
    assert.equal(r.recovered.length, 1, "an online status with a new boot id counts too");
    assert.equal(r.recovered[0]!.bootId, "b2");
  });
});

Deno.test("RecoveryTracker: an agent host with no boot id known recovers on a heartbeat whose uptime shows a boot since the restart", async () => {
  await withFakeTime(async (clock) => {
    const fleet = new FleetView();
    await using r = tracker({ fleet, probeIntervalSec: 10 });
    r.t.track({ id: "r-1", host: "web-1", startedAt: Date.now() });
    await clock.tickAsync(30_000);
    // The old boot's last heartbeat, late: up for an hour.
    fleet.onHeartbeat({ ...hb("web-1", "b-old"), uptimeSec: 3_600 }, Date.now());
    assert.equal(r.recovered.length, 0, "an hour of uptime is the old boot");
    await clock.tickAsync(10_000);
    fleet.onHeartbeat({ ...hb("web-1", "b-new"), uptimeSec: 12 }, Date.now());
    assert.deepEqual(r.recovered.map((e) => [e.bootId, e.recoveryMs]), [["b-new", 40_000]]);
  });
});

Deno.test("RecoveryTracker: an agent's online status (no uptime) with a boot id counts only after probeIntervalSec", async () => {
  await withFakeTime(async (clock) => {
    const fleet = new FleetView();
    await using r = tracker({ fleet, probeIntervalSec: 10 });
    r.t.track({ id: "r-1", host: "web-1", startedAt: Date.now() });
    fleet.onStatus("web-1", { state: "online", bootId: "b-old", ts: 0 }, Date.now() + 1);
    assert.equal(r.recovered.length, 0, "too early: may be the old boot's status");
    await clock.tickAsync(10_000);
    fleet.onStatus("web-1", { state: "online", bootId: "b-new", ts: 0 }, Date.now());
    assert.deepEqual(r.recovered.map((e) => [e.bootId, e.recoveryMs]), [["b-new", 10_000]]);
  });
});

Deno.test("RecoveryTracker: a new boot heard between the restart and track() counts at once", async () => {
  await withFakeTime(async (clock) => {
    const fleet = new FleetView();
    const startedAt = Date.now();
    await clock.tickAsync(3_000);
    fleet.onHeartbeat(hb("web-1", "b2"), Date.now());
    await using r = tracker({ fleet });
    r.t.track({ id: "r-1", host: "web-1", startedAt, bootIdBefore: "b1" });
    await flush(clock);
    assert.deepEqual(r.recovered, [{ id: "r-1", host: "web-1", recoveryMs: 3_000, bootId: "b2" }]);
  });
});

Deno.test("RecoveryTracker: disposing stops probes and timers without calling back", async () => {
  await withFakeTime(async (clock) => {
    const r = tracker({ probeIntervalSec: 1 });
    let probeSignal: AbortSignal | undefined;
    const hanging: BootProbe = (signal) => {
      probeSignal = signal;
      return new Promise((resolve) =>
        signal.addEventListener("abort", () => resolve({ kind: "failed", detail: "aborted" }))
      );
    };
    r.t.track({ id: "r-1", host: "db-1", startedAt: Date.now(), probe: hanging });
    r.t.track({ id: "r-2", host: "db-2", startedAt: Date.now(), bootIdBefore: "x" });
    await clock.tickAsync(1_000);
    assert.ok(probeSignal && !probeSignal.aborted, "the probe is running");
    await r.t[Symbol.asyncDispose]();
    assert.equal(probeSignal.aborted, true);
    assert.equal(r.t.size, 0);
    assert.equal(r.t.isAwaiting("db-1"), false);
    assert.throws(() => r.t.track({ id: "r-3", host: "db-3", startedAt: Date.now() }), /closed/);
    await clock.tickAsync(3_600_000);
    assert.deepEqual(r.recovered, []);
    assert.deepEqual(r.timedOut, []);
  });
});

Deno.test("RecoveryTracker: aborting its signal cancels everything", async () => {
  await withFakeTime(async (clock) => {
    const fleet = new FleetView();
    const ac = new AbortController();
    const r = tracker({ fleet, signal: ac.signal, probeIntervalSec: 1 });
    const p = scriptedProbe(Date.now(), []);
    r.t.track({ id: "r-1", host: "db-1", startedAt: Date.now(), probe: p.fn });
    r.t.track({ id: "r-2", host: "web-1", startedAt: Date.now(), bootIdBefore: "b1" });
    ac.abort(new Error("shutting down"));
    assert.equal(r.t.size, 0);
    fleet.onHeartbeat(hb("web-1", "b2"), Date.now());
    await clock.tickAsync(3_600_000);
    assert.deepEqual(p.calls, []);
    assert.deepEqual(r.recovered, []);
    assert.deepEqual(r.timedOut, []);
    await r.t[Symbol.asyncDispose]();
  });
});

Deno.test("RecoveryTracker: untrack() ends one tracking silently; ids are unique", async () => {
  await withFakeTime(async (clock) => {
    await using r = tracker({});
    r.t.track({ id: "r-1", host: "web-1", startedAt: Date.now(), bootIdBefore: "b" });
    r.t.track({ id: "r-2", host: "web-1", startedAt: Date.now(), bootIdBefore: "b" });
    assert.throws(
      () => r.t.track({ id: "r-1", host: "web-1", startedAt: Date.now() }),
      TypeError,
    );
    assert.equal(r.t.untrack("r-1"), true);
    assert.equal(r.t.untrack("r-1"), false);
    assert.equal(r.t.isAwaiting("web-1"), true, "r-2 still awaits web-1");
    assert.equal(r.t.untrack("r-2"), true);
    assert.equal(r.t.isAwaiting("web-1"), false);
    await clock.tickAsync(3_600_000);
    assert.deepEqual(r.timedOut, []);
  });
});

Deno.test("RecoveryTracker: a throwing callback is logged, not thrown into the fleet view", async () => {
  await withFakeTime(async () => {
    const fleet = new FleetView();
    await using t = new RecoveryTracker({
      fleet,
      onRecovered: () => {
        throw new Error("sink down");
      },
    });
    t.track({ id: "r-1", host: "web-1", startedAt: Date.now(), bootIdBefore: "b1" });
    fleet.onHeartbeat(hb("web-1", "b2"), Date.now());
    assert.equal(t.size, 0);
  });
});

Deno.test("RecoveryTracker rejects bad options", () => {
  assert.throws(() => new RecoveryTracker({ recoveryTimeoutSec: 0 }), RangeError);
  assert.throws(() => new RecoveryTracker({ probeIntervalSec: -1 }), RangeError);
  assert.throws(
    () => new RecoveryTracker({ probeIntervalSec: 10, probeMaxIntervalSec: 5 }),
    RangeError,
  );
});
