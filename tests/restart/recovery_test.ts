import assert from "node:assert/strict";
import type { Heartbeat } from "../../src/contract/messages.ts";
import { FleetView } from "../../src/fleet/mod.ts";
import {
  type BootProbe,
  type NotBackEvent,
  type ProbeOutcome,
  type RecoveredEvent,
  RecoveryTracker,
  type RecoveryTrackerOptions,
  type SeenAgainEvent,
} from "../../src/restart/mod.ts";
import { Semaphore } from "../../src/async/mod.ts";
import { flush, withFakeTime } from "../async/_helpers.ts";

function hb(host: string, bootId: string): Heartbeat {
  return { host, bootId, uptimeSec: 1, version: "0.1.0", ts: 0 };
}

/** A tracker whose callbacks are recorded. Times come from the (faked) Date. */
function tracker(options: RecoveryTrackerOptions = {}) {
  const recovered: RecoveredEvent[] = [];
  const timedOut: NotBackEvent[] = [];
  const seen: SeenAgainEvent[] = [];
  const t = new RecoveryTracker({
    onRecovered: (e) => recovered.push(e),
    onNotBack: (e) => timedOut.push(e),
    onSeenAgain: (e) => seen.push(e),
    ...options,
  });
  return { t, recovered, timedOut, seen, [Symbol.asyncDispose]: () => t[Symbol.asyncDispose]() };
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
    r.t.track({ id: "r-1", host: "web-1", startedAt: t0, source: "agent", bootIdBefore: "b1" });
    assert.equal(r.t.get("web-1")?.phase, "coming_back");
    assert.equal(r.t.get("web-2"), undefined);
    await clock.tickAsync(10_000);
    fleet.onHeartbeat(hb("web-1", "b1"), Date.now()); // still the old boot
    fleet.onHeartbeat(hb("web-2", "x9"), Date.now()); // another host's boot
    await clock.tickAsync(35_000);
    assert.deepEqual(r.recovered, []);
    fleet.onHeartbeat(hb("web-1", "b2"), Date.now());
    assert.deepEqual(r.recovered, [
      { id: "r-1", host: "web-1", recoveryMs: 45_000, bootId: "b2", interrupted: false },
    ]);
    assert.equal(r.t.get("web-1"), undefined);
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
    r.t.track({
      id: "r-1",
      host: "web-1",
      startedAt: Date.now() - 20_000,
      source: "agent",
      bootIdBefore: "b1",
    });
    await clock.tickAsync(99_999);
    assert.deepEqual(r.timedOut, []);
    await clock.tickAsync(1);
    assert.deepEqual(r.timedOut, [
      {
        id: "r-1",
        host: "web-1",
        detail: "web-1 did not come back within 120 s",
        interrupted: false,
      },
    ]);
    assert.equal(r.t.get("web-1")?.phase, "not_back", "still watched, as not back");
    fleet.onHeartbeat(hb("web-1", "b2"), Date.now());
    assert.deepEqual(r.recovered, [], "no recovery after a timeout");
    assert.deepEqual(r.seen, [{ id: "r-1", host: "web-1" }], "seen again on its new boot");
    assert.equal(r.t.get("web-1"), undefined);
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
    r.t.track({
      id: "r-1",
      host: "db-1",
      startedAt: t0,
      source: "probe",
      bootIdBefore: "old",
      probe: p.fn,
    });
    await clock.tickAsync(4_999);
    assert.deepEqual(p.calls, [], "the first probe waits probeIntervalSec");
    await clock.tickAsync(200_000);
    // 5, +10, +20, +40 (capped), ...
    assert.deepEqual(p.calls, [5_000, 15_000, 35_000, 75_000]);
    assert.deepEqual(r.recovered, [
      { id: "r-1", host: "db-1", recoveryMs: 75_000, bootId: "new", interrupted: false },
    ]);
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
    r.t.track({ id: "r-1", host: "db-1", startedAt: t0, source: "probe", probe: p.fn });
    await clock.tickAsync(5_000);
    assert.deepEqual(r.recovered, [], "a host up for a day did not restart");
    await clock.tickAsync(30_000);
    assert.deepEqual(p.calls, [5_000, 15_000, 35_000]);
    assert.deepEqual(r.recovered, [
      { id: "r-1", host: "db-1", recoveryMs: 35_000, bootId: "new", interrupted: false },
    ]);
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
    r.t.track({ id: "r-1", host: "db-1", startedAt: t0, source: "probe", probe });
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
    r.t.track({ id: "r-1", host: "web-1", startedAt: Date.now(), source: "agent" });
    fleet.onStatus("web-1", { state: "online", bootId: "b2", ts: 0 }, Date.now());
    assert.equal(r.recovered.length, 1, "an online status with a new boot id counts too");
    assert.equal(r.recovered[0]!.bootId, "b2");
  });
});

Deno.test("RecoveryTracker: an agent host with no boot id known recovers on a heartbeat whose uptime shows a boot since the restart", async () => {
  await withFakeTime(async (clock) => {
    const fleet = new FleetView();
    await using r = tracker({ fleet, probeIntervalSec: 10 });
    r.t.track({ id: "r-1", host: "web-1", startedAt: Date.now(), source: "agent" });
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
    r.t.track({ id: "r-1", host: "web-1", startedAt: Date.now(), source: "agent" });
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
    r.t.track({ id: "r-1", host: "web-1", startedAt, source: "agent", bootIdBefore: "b1" });
    await flush(clock);
    assert.deepEqual(r.recovered, [
      { id: "r-1", host: "web-1", recoveryMs: 3_000, bootId: "b2", interrupted: false },
    ]);
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
    r.t.track({ id: "r-1", host: "db-1", startedAt: Date.now(), source: "probe", probe: hanging });
    r.t.track({
      id: "r-2",
      host: "db-2",
      startedAt: Date.now(),
      source: "agent",
      bootIdBefore: "x",
    });
    await clock.tickAsync(1_000);
    assert.ok(probeSignal && !probeSignal.aborted, "the probe is running");
    await r.t[Symbol.asyncDispose]();
    assert.equal(probeSignal.aborted, true);
    assert.equal(r.t.size, 0);
    assert.equal(r.t.get("db-1"), undefined);
    assert.throws(
      () => r.t.track({ id: "r-3", host: "db-3", startedAt: Date.now(), source: "agent" }),
      /closed/,
    );
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
    r.t.track({ id: "r-1", host: "db-1", startedAt: Date.now(), source: "probe", probe: p.fn });
    r.t.track({
      id: "r-2",
      host: "web-1",
      startedAt: Date.now(),
      source: "agent",
      bootIdBefore: "b1",
    });
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

Deno.test("RecoveryTracker: untrack() ends one tracking silently; ids are unique; a newer restart of a host replaces the older's watch", async () => {
  await withFakeTime(async (clock) => {
    await using r = tracker({});
    const at = Date.now();
    r.t.track({ id: "r-1", host: "web-1", startedAt: at, source: "agent", bootIdBefore: "b" });
    assert.throws(
      () => r.t.track({ id: "r-1", host: "web-2", startedAt: at, source: "agent" }),
      TypeError,
    );
    r.t.track({ id: "r-2", host: "web-1", startedAt: at, source: "agent", bootIdBefore: "b" });
    assert.equal(r.t.size, 1, "r-2 replaced r-1's watch of web-1");
    assert.equal(r.t.untrack("r-1"), false);
    assert.equal(r.t.get("web-1")?.id, "r-2");
    assert.equal(r.t.untrack("r-2"), true);
    assert.equal(r.t.get("web-1"), undefined);
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
    t.track({
      id: "r-1",
      host: "web-1",
      startedAt: Date.now(),
      source: "agent",
      bootIdBefore: "b1",
    });
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

Deno.test("RecoveryTracker: a health check that fails twice then passes: recovered only after it passes", async () => {
  await withFakeTime(async (clock) => {
    await using r = tracker({ probeIntervalSec: 2, probeJitter: 0 });
    const t0 = Date.now();
    const checks: number[] = [];
    const answers = [false, false, true];
    r.t.track({
      id: "r-1",
      host: "svc-1",
      startedAt: t0,
      source: "none",
      healthCheck: () => {
        checks.push(Date.now() - t0);
        return Promise.resolve(
          answers.shift() ? { ok: true } : { ok: false, detail: "exit: 503 Service Unavailable" },
        );
      },
    });
    await clock.tickAsync(2_000);
    assert.deepEqual(checks, [2_000]);
    await clock.tickAsync(4_000);
    assert.deepEqual(checks, [2_000, 6_000]);
    assert.deepEqual(r.recovered, [], "not recovered while the health check fails");
    assert.equal(r.t.get("svc-1")?.phase, "coming_back");
    await clock.tickAsync(8_000);
    assert.deepEqual(checks, [2_000, 6_000, 14_000]);
    assert.deepEqual(r.recovered, [
      { id: "r-1", host: "svc-1", recoveryMs: 14_000, interrupted: false },
    ]);
  });
});

Deno.test("RecoveryTracker: after the new boot, the health check must pass too", async () => {
  await withFakeTime(async (clock) => {
    const fleet = new FleetView();
    fleet.onHeartbeat(hb("web-1", "b1"), Date.now());
    await using r = tracker({ fleet, probeIntervalSec: 1, probeJitter: 0 });
    let healthy = false;
    r.t.track({
      id: "r-1",
      host: "web-1",
      startedAt: Date.now(),
      source: "agent",
      healthCheck: () => Promise.resolve(healthy ? { ok: true } : { ok: false, detail: "down" }),
    });
    await clock.tickAsync(5_000);
    fleet.onHeartbeat(hb("web-1", "b2"), Date.now());
    await clock.tickAsync(10_000);
    assert.equal(r.recovered.length, 0, "booted, but not healthy");
    healthy = true;
    await clock.tickAsync(20_000);
    assert.equal(r.recovered.length, 1);
    assert.equal(r.recovered[0]!.bootId, "b2");
  });
});

Deno.test("RecoveryTracker: an SSH host is judged by its probe alone, never by a heartbeat on its topic", async () => {
  await withFakeTime(async (clock) => {
    const fleet = new FleetView();
    await using r = tracker({ fleet, probeIntervalSec: 5, probeJitter: 0 });
    const t0 = Date.now();
    const p = scriptedProbe(t0, [
      { kind: "ok", bootId: "old" },
      { kind: "ok", bootId: "old" },
      { kind: "ok", bootId: "new" },
    ]);
    r.t.track({
      id: "r-1",
      host: "db-1",
      startedAt: t0,
      source: "probe",
      bootIdBefore: "old",
      probe: p.fn,
    });
    await clock.tickAsync(2_000);
    // A forged heartbeat with a made-up boot id and a tiny uptime.
    fleet.onHeartbeat({ ...hb("db-1", "forged"), uptimeSec: 1 }, Date.now());
    await clock.tickAsync(10_000);
    assert.equal(r.recovered.length, 0, "a heartbeat made an SSH host recovered");
    await clock.tickAsync(30_000);
    assert.deepEqual(r.recovered.map((e) => e.bootId), ["new"]);
  });
});

Deno.test("RecoveryTracker: never more probe and health-check processes at once than the pool allows", async () => {
  await withFakeTime(async (clock) => {
    const pool = new Semaphore(4);
    await using r = tracker({ pool, probeIntervalSec: 1, probeJitter: 0, recoveryTimeoutSec: 60 });
    let running = 0;
    let peak = 0;
    const probe: BootProbe = async (signal) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 3_000);
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        });
      });
      running--;
      return { kind: "failed", detail: "connection refused" };
    };
    for (let i = 0; i < 50; i++) {
      r.t.track({ id: `r-${i}`, host: `h-${i}`, startedAt: Date.now(), source: "probe", probe });
    }
    await clock.tickAsync(30_000);
    assert.equal(peak, 4, `peak ${peak} probes at once`);
    assert.equal(pool.held, 4);
  });
});

Deno.test("RecoveryTracker: an interrupted restart counts back on any sign of life after it", async () => {
  await withFakeTime(async (clock) => {
    const fleet = new FleetView();
    fleet.onHeartbeat(hb("web-1", "b1"), Date.now());
    await using r = tracker({ fleet, probeIntervalSec: 1, probeJitter: 0 });
    const t0 = Date.now();
    r.t.track({
      id: "r-1",
      host: "web-1",
      startedAt: t0 - 60_000,
      source: "agent",
      bootIdBefore: "b1",
      interrupted: true,
    });
    await clock.tickAsync(3_000);
    assert.equal(r.recovered.length, 0, "no heartbeat since tracking began");
    fleet.onHeartbeat(hb("web-1", "b1"), Date.now()); // same boot: it never went down
    await clock.tickAsync(3_000);
    assert.equal(r.recovered.length, 1);
    assert.equal(r.recovered[0]!.interrupted, true);
  });
});

Deno.test("RecoveryTracker: a host that did not come back is probed on, slowly, until it answers", async () => {
  await withFakeTime(async (clock) => {
    await using r = tracker({
      probeIntervalSec: 5,
      probeMaxIntervalSec: 30,
      probeJitter: 0,
      recoveryTimeoutSec: 20,
    });
    const t0 = Date.now();
    let up = false;
    const calls: number[] = [];
    const probe: BootProbe = () => {
      calls.push(Date.now() - t0);
      return Promise.resolve(
        up ? { kind: "ok", bootId: "b1" } : { kind: "failed", detail: "no route to host" },
      );
    };
    r.t.track({
      id: "r-1",
      host: "db-1",
      startedAt: t0,
      source: "probe",
      bootIdBefore: "b1",
      probe,
    });
    await clock.tickAsync(20_000);
    assert.equal(r.timedOut.length, 1);
    const before = calls.length;
    await clock.tickAsync(89_000);
    assert.equal(calls.length - before, 2, "one probe per probeMaxIntervalSec once not back");
    up = true;
    await clock.tickAsync(30_000);
    assert.deepEqual(r.seen, [{ id: "r-1", host: "db-1" }]);
    assert.deepEqual(r.recovered, []);
  });
});
