import assert from "node:assert/strict";
import { LagMonitor } from "../../src/debug/lag_monitor.ts";
import { setupLogging } from "../../src/log.ts";
import { waitFor } from "../_helpers/wait.ts";

/** Keeps the event loop busy for `ms` of real time, like blocking code would. */
function busyLoop(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

Deno.test("LagMonitor reports a 300 ms blocking loop, with a warning log line", async () => {
  const lines: string[] = [];
  await using _logging = await setupLogging({ write: (l) => lines.push(l) });
  const stalls: number[] = [];
  // A block of B ms shows as at least B − intervalMs of lag; 20 ms keeps that ≥ 280.
  using monitor = new LagMonitor({ intervalMs: 20, slowMs: 100, onStall: (ms) => stalls.push(ms) })
    .start();
  await waitFor(() => monitor.ticks >= 2, { what: "the monitor to tick", timeoutMs: 5_000 });
  assert.deepEqual(stalls, [], "no stall before the block");

  busyLoop(300);
  await waitFor(() => stalls.length > 0, { what: "the stall report", timeoutMs: 5_000 });

  assert.equal(stalls.length, 1);
  assert.ok(stalls[0]! >= 250, `reported ${stalls[0]} ms`);
  assert.ok(stalls[0]! < 1_000, `reported ${stalls[0]} ms`);
  assert.equal(monitor.stalls, 1);
  assert.ok(monitor.lagSeconds >= 0.25, `lagSeconds ${monitor.lagSeconds}`);
  const warnings = lines.map((l) => JSON.parse(l)).filter((r) =>
    r.logger === "mandrill.debug" && /^Event loop blocked for \d+ ms$/.test(r.message)
  );
  assert.equal(warnings.length, 1, lines.join(""));
  assert.equal(warnings[0].level, "WARN");
  assert.equal(warnings[0].message, `Event loop blocked for ${stalls[0]} ms`);
});

Deno.test("LagMonitor stays quiet over ~1 s of a healthy loop", async () => {
  const lines: string[] = [];
  await using _logging = await setupLogging({ write: (l) => lines.push(l) });
  const stalls: number[] = [];
  using monitor = new LagMonitor({ onStall: (ms) => stalls.push(ms) }).start();
  const t0 = performance.now();
  // 20 ticks of the default 50 ms interval: about one second of real time.
  await waitFor(() => monitor.ticks >= 20, { what: "20 ticks", timeoutMs: 10_000 });
  assert.ok(performance.now() - t0 >= 950, "the ticks took about a second");
  assert.deepEqual(stalls, []);
  assert.equal(monitor.stalls, 0);
  assert.ok(monitor.lagSeconds < 0.1, `lagSeconds ${monitor.lagSeconds}`);
  assert.deepEqual(lines.filter((l) => l.includes("Event loop blocked")), []);
});

Deno.test("LagMonitor stops on dispose and on its signal, and never keeps the process alive", async (t) => {
  await t.step("dispose clears the timer: no more ticks", async () => {
    const monitor = new LagMonitor({ intervalMs: 10 }).start();
    await waitFor(() => monitor.ticks >= 1, { timeoutMs: 5_000 });
    monitor[Symbol.dispose]();
    assert.equal(monitor.running, false);
    const ticks = monitor.ticks;
    // Another monitor ticking proves time has passed without the stopped one ticking.
    using witness = new LagMonitor({ intervalMs: 10 }).start();
    await waitFor(() => witness.ticks >= 3, { timeoutMs: 5_000 });
    assert.equal(monitor.ticks, ticks);
  });
  await t.step("aborting the signal stops it; start() after abort does nothing", () => {
    const ac = new AbortController();
    using monitor = new LagMonitor({ signal: ac.signal }).start();
    assert.equal(monitor.running, true);
    ac.abort();
    assert.equal(monitor.running, false);
    monitor.start();
    assert.equal(monitor.running, false);
  });
  await t.step("an unref'd timer lets a process exit on its own", async () => {
    const code = `
      import { LagMonitor } from ${
      JSON.stringify(import.meta.resolve("../../src/debug/lag_monitor.ts"))
    };
      new LagMonitor().start();
    `;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      stdout: "null",
      stderr: "piped",
    });
    const out = await child.output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  });
  await t.step("bad options are RangeErrors", () => {
    assert.throws(() => new LagMonitor({ intervalMs: 0 }), RangeError);
    assert.throws(() => new LagMonitor({ slowMs: -1 }), RangeError);
  });
});

Deno.test("LagMonitor.lagSeconds is the worst lag of the last one or two windows", async () => {
  // Real timers tick; the injected monotonic clock decides how late each tick was.
  let now = 0;
  const stalls: number[] = [];
  using monitor = new LagMonitor({
    intervalMs: 10,
    slowMs: 100,
    windowMs: 1_000,
    now: () => now,
    onStall: (ms) => stalls.push(ms),
  }).start();
  await waitFor(() => monitor.ticks >= 2, { timeoutMs: 5_000 });
  assert.equal(monitor.lagSeconds, 0);

  now = 400; // the next tick is 390 ms late
  await waitFor(() => stalls.length === 1, { timeoutMs: 5_000 });
  assert.deepEqual(stalls, [390]);
  const ticks = monitor.ticks;
  await waitFor(() => monitor.ticks > ticks, { timeoutMs: 5_000 });
  assert.equal(monitor.lastLagMs, 0, "later ticks are on time again");
  assert.equal(monitor.lagSeconds, 0.39, "the worst lag is kept, not the last");

  monitor.stop(); // move time by hand from here, with no tick in between
  now = 1_500; // next window: the previous one still counts
  assert.equal(monitor.lagSeconds, 0.39);
  now = 2_600; // a window later: the stall has aged out
  assert.equal(monitor.lagSeconds, 0);
});
