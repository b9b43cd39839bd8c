import assert from "node:assert/strict";
import * as FakeTimers from "@sinonjs/fake-timers";
import { type ChaosDecision, ChaosScheduler } from "../../src/chaos/scheduler.ts";
import { isWithinWindows } from "../../src/chaos/window.ts";
import { chaosSchema } from "../../src/config/chaos_schema.ts";
import { isValidId } from "../../src/contract/ids.ts";
import { setupLogging } from "../../src/log.ts";
import { fleetHarness, mulberry32, win } from "./_helpers.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const hosts = (n: number, prefix = "web") =>
  Array.from({ length: n }, (_, i) => `${prefix}-${i + 1}`);

/** Asserts consecutive times are at least `ms` apart. */
function assertGaps(times: number[], ms: number, what: string): void {
  for (let i = 1; i < times.length; i++) {
    assert.ok(
      times[i]! - times[i - 1]! >= ms,
      `${what}: ${new Date(times[i - 1]!).toISOString()} and ${
        new Date(times[i]!).toISOString()
      } are closer than ${ms} ms`,
    );
  }
}

Deno.test("over a simulated month, chaos restarts a group at its mean rate", async (t) => {
  // mean 4h over 30 days: 180 expected. Bound: Poisson ±4σ (the renewal process
  // with a 1h dead time varies less than Poisson, so this is generous).
  const expected = (30 * DAY) / (4 * HOUR);
  const bound = 4 * Math.sqrt(expected);
  for (const seed of [1, 2, 3]) {
    await t.step(`seed ${seed}`, () => {
      const h = fleetHarness({
        chaos: {
          enabled: true,
          leashed: false,
          tickSec: 10,
          groups: { web: { meanTimeBetweenRestarts: "4h", minTimeBetweenRestarts: "1h" } },
        },
        groups: { web: hosts(10) },
        seed,
      });
      const ticks = h.runFor(30 * DAY);
      assert.equal(ticks, 30 * 24 * 360);
      const n = h.submitted.length;
      assert.ok(
        Math.abs(n - expected) <= bound,
        `${n} restarts, expected ${expected} ± ${bound.toFixed(1)}`,
      );
      // And never two in the group within minTimeBetweenRestarts.
      assertGaps(h.submitted.map((r) => r.at), HOUR, "group web");
    });
  }
});

Deno.test("the tick probability is 1 - exp(-tick / (mean - min))", async (t) => {
  // mean 4h, min 1h, tick 10s: armed mean 3h.
  const p = 1 - Math.exp(-10_000 / (3 * HOUR));
  const chaos = {
    enabled: true,
    leashed: false,
    groups: { web: { meanTimeBetweenRestarts: "4h", minTimeBetweenRestarts: "1h" } },
  };
  await t.step("a draw just below p restarts", () => {
    const h = fleetHarness({ chaos, groups: { web: ["web-1"] }, random: () => p * 0.999 });
    assert.equal(h.scheduler.tick(h.clock.now())[0]!.kind, "submitted");
  });
  await t.step("a draw just above p does not", () => {
    const h = fleetHarness({ chaos, groups: { web: ["web-1"] }, random: () => p * 1.001 });
    assert.deepEqual(h.scheduler.tick(h.clock.now()), [{ kind: "idle", group: "web" }]);
  });
  await t.step("a repeated tick at the same time adds no chance", () => {
    const draws = [0.999];
    const h = fleetHarness({ chaos, groups: { web: ["web-1"] }, random: () => draws.shift() ?? 0 });
    assert.equal(h.scheduler.tick(h.clock.now())[0]!.kind, "idle"); // draw 0.999
    assert.equal(h.scheduler.tick(h.clock.now())[0]!.kind, "idle"); // draw 0, but p = 0
    h.clock.advance(10_000);
    assert.equal(h.scheduler.tick(h.clock.now())[0]!.kind, "submitted"); // draw 0 < p
  });
  await t.step("a late tick counts as at most two ticks", () => {
    const p2 = 1 - Math.exp(-20_000 / (3 * HOUR));
    const p3 = 1 - Math.exp(-30_000 / (3 * HOUR));
    const h = fleetHarness({ chaos, groups: { web: ["web-1"] }, random: () => (p2 + p3) / 2 });
    h.scheduler.tick(h.clock.now());
    h.clock.advance(2 * HOUR); // the loop was stuck, or the machine asleep
    assert.equal(h.scheduler.tick(h.clock.now())[0]!.kind, "idle");
  });
  await t.step("min >= mean: every min, as soon as the group has rested", () => {
    const h = fleetHarness({
      chaos: { ...chaos, groups: { web: { meanTimeBetweenRestarts: "30m" } } }, // min 1h
      groups: { web: hosts(3) },
    });
    h.runFor(DAY);
    assert.equal(h.submitted.length, 24);
    assertGaps(h.submitted.map((r) => r.at), HOUR, "group web");
  });
});

Deno.test("minTimeBetweenRestarts holds per group and per host over a month", () => {
  const h = fleetHarness({
    chaos: {
      enabled: true,
      leashed: false,
      groups: {
        web: { meanTimeBetweenRestarts: "2h", minTimeBetweenRestarts: "90m" },
        db: { meanTimeBetweenRestarts: "1h", minTimeBetweenRestarts: "3h" },
      },
    },
    groups: { web: hosts(4, "web"), db: hosts(2, "db") },
  });
  h.runFor(30 * DAY);
  const web = h.submitted.filter((r) => r.host.startsWith("web-"));
  const db = h.submitted.filter((r) => r.host.startsWith("db-"));
  assert.ok(web.length > 200, `web: ${web.length}`);
  assert.equal(db.length, 30 * 8); // min 3h > mean: every 3h exactly
  assertGaps(web.map((r) => r.at), 90 * 60_000, "group web");
  assertGaps(db.map((r) => r.at), 3 * HOUR, "group db");
  for (const host of [...hosts(4, "web"), ...hosts(2, "db")]) {
    const times = h.submitted.filter((r) => r.host === host).map((r) => r.at);
    assert.ok(times.length > 0, `${host} was never picked`);
    assertGaps(times, host.startsWith("db") ? 3 * HOUR : 90 * 60_000, host);
  }
});

Deno.test("a host restarted by anyone within minTimeBetweenRestarts is not picked", () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const h = fleetHarness({
      chaos: {
        enabled: true,
        leashed: false,
        groups: { web: { meanTimeBetweenRestarts: "1m", minTimeBetweenRestarts: "1h" } },
      },
      groups: { web: ["web-1", "web-2"] },
      seed,
    });
    h.lastRestart.set("web-1", h.clock.now() - 10 * 60_000); // a remediation restart
    const [d] = h.scheduler.tick(h.clock.now());
    assert.equal(d!.kind, "submitted");
    assert.equal(h.submitted[0]!.host, "web-2");
  }
});

Deno.test("offline and excluded hosts are never picked; the others uniformly", () => {
  const h = fleetHarness({
    chaos: {
      enabled: true,
      leashed: false,
      groups: {
        web: {
          meanTimeBetweenRestarts: "10m",
          minTimeBetweenRestarts: "1m",
          exclude: ["web-3", "*-canary", "web-?0"],
        },
      },
    },
    groups: { web: ["web-1", "web-2", "web-3", "web-canary", "web-4", "web-10", "web-5"] },
    offline: ["web-2"],
  });
  h.runFor(30 * DAY);
  const counts = new Map<string, number>();
  for (const r of h.submitted) counts.set(r.host, (counts.get(r.host) ?? 0) + 1);
  assert.deepEqual([...counts.keys()].sort(), ["web-1", "web-4", "web-5"]);
  const n = h.submitted.length;
  const sd = Math.sqrt(n * (1 / 3) * (2 / 3));
  for (const [host, c] of counts) {
    assert.ok(Math.abs(c - n / 3) <= 4 * sd, `${host}: ${c} of ${n}`);
  }
});

Deno.test("with no eligible host, chaos says why and submits nothing", () => {
  const h = fleetHarness({
    chaos: {
      enabled: true,
      leashed: false,
      groups: { web: { meanTimeBetweenRestarts: "1m", exclude: ["web-1"] } },
    },
    groups: { web: ["web-1", "web-2", "web-3"] },
    offline: ["web-2"],
  });
  h.lastRestart.set("web-3", h.clock.now() - 60_000);
  assert.deepEqual(h.scheduler.tick(h.clock.now()), [{
    kind: "skipped",
    group: "web",
    reason:
      "no eligible host in web (3 in the group: 1 excluded, 1 not up, 1 restarted less than 1h ago, 0 over the unavailability budget)",
  }]);
  assert.equal(h.submitted.length, 0);
});

Deno.test("leashed chaos submits nothing but reports and logs what it would do", async () => {
  const lines: string[] = [];
  await using _log = await setupLogging({ level: "info", write: (l) => lines.push(l) });
  const h = fleetHarness({
    chaos: { enabled: true, groups: { web: { meanTimeBetweenRestarts: "2h" } } }, // leashed by default
    groups: { web: hosts(5) },
  });
  const decisions: ChaosDecision[] = [];
  for (let i = 0; i < 3 * 24 * 360; i++, h.clock.advance(10_000)) {
    decisions.push(...h.scheduler.tick(h.clock.now()));
  }
  assert.equal(h.submitted.length, 0);
  const leashed = decisions.filter((d) => d.kind === "leashed");
  assert.ok(leashed.length > 10, `${leashed.length} leashed picks`);
  assert.deepEqual(h.leashed.map((p) => p.request.id), leashed.map((d) => d.request.id));
  // Leashed picks keep the group's rhythm, as unleashed chaos would.
  assertGaps(h.leashed.map((p) => p.at), HOUR, "group web");
  const logged = lines.map((l) => JSON.parse(l)).filter((r) => r.message.includes("would restart"));
  assert.equal(logged.length, leashed.length);
  assert.equal(logged[0].level, "INFO");
  assert.equal(
    logged[0].message,
    `Chaos (leashed) would restart ${h.leashed[0]!.host} in group web`,
  );
});

Deno.test("paused chaos submits nothing, with the pause reason", () => {
  const h = fleetHarness({
    chaos: {
      enabled: true,
      leashed: false,
      groups: { web: { meanTimeBetweenRestarts: "1m" }, db: { meanTimeBetweenRestarts: "1m" } },
    },
    groups: { web: hosts(3), db: hosts(2, "db") },
  });
  h.pause.state = { reason: "incident 42" };
  assert.deepEqual(h.scheduler.tick(h.clock.now()), [
    { kind: "skipped", group: "web", reason: "paused: incident 42" },
    { kind: "skipped", group: "db", reason: "paused: incident 42" },
  ]);
  h.runFor(DAY);
  assert.equal(h.submitted.length, 0);
  assert.equal(h.leashed.length, 0);
  h.pause.state = undefined;
  h.runFor(DAY);
  assert.ok(h.submitted.length >= 2 * 24 - 2, `${h.submitted.length} after resuming`);
});

Deno.test("chaos acts only inside the group's windows", () => {
  const h = fleetHarness({
    chaos: {
      enabled: true,
      leashed: false,
      groups: {
        web: {
          meanTimeBetweenRestarts: "30m",
          minTimeBetweenRestarts: "5m",
          windows: [win("mon-fri", "09:00", "17:00", "Europe/Paris")],
          excludedDates: ["2026-01-06"],
        },
      },
    },
    groups: { web: hosts(3) },
  });
  const reasons = new Set<string>();
  for (let i = 0; i < 14 * 24 * 360; i++, h.clock.advance(10_000)) {
    for (const d of h.scheduler.tick(h.clock.now())) {
      if (d.kind === "skipped") reasons.add(d.reason);
    }
  }
  const schedule = h.config.groups.web!;
  assert.ok(h.submitted.length > 100, `${h.submitted.length} restarts in two weeks`);
  for (const r of h.submitted) {
    assert.ok(isWithinWindows(schedule, r.at).ok, new Date(r.at).toISOString());
  }
  const onExcluded = h.submitted.filter((r) =>
    new Date(r.at).toISOString().startsWith("2026-01-06")
  );
  assert.equal(onExcluded.length, 0);
  assert.ok(reasons.has("outside the allowed time window: web mon-fri 09:00-17:00 Europe/Paris"));
  assert.ok(reasons.has("excluded date of web: 2026-01-06 (Europe/Paris)"));
});

Deno.test("the config is read on every tick: enabling, leashing and groups apply live", () => {
  const h = fleetHarness({
    chaos: { enabled: false, leashed: false, groups: { web: { meanTimeBetweenRestarts: "1m" } } },
    groups: { web: hosts(2), db: hosts(2, "db") },
  });
  assert.deepEqual(h.scheduler.tick(h.clock.now()), []);
  h.config = { ...h.config, enabled: true };
  h.clock.advance(10_000);
  assert.equal(h.scheduler.tick(h.clock.now())[0]!.kind, "submitted");
  h.config = chaosSchema.parse({
    enabled: true,
    leashed: true,
    groups: { db: { meanTimeBetweenRestarts: "1m" } },
  });
  h.clock.advance(10_000);
  const decisions = h.scheduler.tick(h.clock.now());
  assert.equal(decisions.length, 1);
  assert.equal(decisions[0]!.kind, "leashed");
  assert.equal(decisions[0]!.group, "db");
});

Deno.test("chaos request ids are valid message ids, unique, requestedBy chaos", () => {
  const h = fleetHarness({
    chaos: {
      enabled: true,
      leashed: false,
      groups: {
        web: { meanTimeBetweenRestarts: "1m", minTimeBetweenRestarts: "1m" },
        "web team/eu+ünïcode": { meanTimeBetweenRestarts: "1m", minTimeBetweenRestarts: "1m" },
      },
    },
    groups: { web: hosts(3), "web team/eu+ünïcode": hosts(3, "eu") },
  });
  h.runFor(DAY);
  assert.ok(h.submitted.length > 1000);
  for (const r of h.submitted) {
    assert.ok(isValidId(r.id), r.id);
    assert.match(r.id, /^chaos-(web|web_team_eu__n_code)-\d+-[0-9a-z]{6}$/);
    assert.equal(r.requestedBy, "chaos");
    assert.match(r.reason, /^chaos: random restart in group /);
  }
  assert.equal(new Set(h.submitted.map((r) => r.id)).size, h.submitted.length);
});

Deno.test("when submit throws, the pick is reported failed and not counted", () => {
  let fail = true;
  const submitted: string[] = [];
  const config = chaosSchema.parse({
    enabled: true,
    leashed: false,
    groups: { web: { meanTimeBetweenRestarts: "1m" } },
  });
  let now = Date.UTC(2026, 0, 1);
  const scheduler = new ChaosScheduler({
    config: () => config,
    hostsOfGroup: () => ["web-1"],
    isOnline: () => true,
    lastRestartAt: () => undefined,
    submit: (r) => {
      if (fail) throw new Error("inbox closed");
      submitted.push(r.host);
    },
    paused: () => false,
    clock: { now: () => now },
    random: mulberry32(9),
  });
  const d = scheduler.tick(now)[0]!;
  assert.equal(d.kind, "failed");
  assert.equal(d.kind === "failed" && d.error, "inbox closed");
  fail = false;
  now += 10_000;
  assert.equal(scheduler.tick(now)[0]!.kind, "submitted");
  assert.deepEqual(submitted, ["web-1"]);
});

Deno.test("run() ticks every tickSec (read live) until aborted", async () => {
  const fake = FakeTimers.install({
    toFake: ["setTimeout", "clearTimeout", "Date"],
    now: Date.UTC(2026, 0, 1),
  });
  try {
    let config = chaosSchema.parse({
      enabled: true,
      tickSec: 10,
      groups: { web: { meanTimeBetweenRestarts: "4h" } },
    });
    const tickTimes: number[] = [];
    const scheduler = new ChaosScheduler({
      config: () => config,
      hostsOfGroup: () => ["web-1"],
      isOnline: () => true,
      lastRestartAt: () => undefined,
      submit: () => {},
      paused: () => {
        tickTimes.push(Date.now());
        return false;
      },
      clock: { now: () => Date.now() },
      random: mulberry32(1),
    });
    const stop = new AbortController();
    const running = scheduler.run(stop.signal);
    await fake.tickAsync(60_000);
    assert.deepEqual(tickTimes.map((t) => (t - Date.UTC(2026, 0, 1)) / 1000), [
      0,
      10,
      20,
      30,
      40,
      50,
      60,
    ]);
    config = { ...config, tickSec: 30 };
    tickTimes.length = 0;
    await fake.tickAsync(100_000);
    // The delay already running ends at 70 s; then every 30 s.
    assert.deepEqual(tickTimes.map((t) => (t - Date.UTC(2026, 0, 1)) / 1000), [70, 100, 130, 160]);
    stop.abort(new Error("shutting down"));
    await running;
    assert.equal(fake.countTimers(), 0);
  } finally {
    fake.uninstall();
  }
});
