import assert from "node:assert/strict";
import parse from "parse-prometheus-text-format";
import { decide, type GateState, type PolicySettings } from "../../src/pipeline/policy.ts";
import { Metrics, REQUEST_RESULTS, SKIP_REASON_LABELS } from "../../src/http/metrics.ts";

interface Sample {
  value?: string;
  labels?: Record<string, string>;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}
interface Family {
  name: string;
  type: string;
  metrics: Sample[];
}

async function scrape(m: Metrics): Promise<Map<string, Family>> {
  const families = parse(await m.render()) as Family[];
  return new Map(families.map((f) => [f.name, f]));
}

/** The sample of `name` whose labels include `labels`; fails when there is none. */
function sample(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}) {
  const fam = fams.get(name);
  assert.ok(fam, `metric ${name} is missing`);
  const s = fam.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  assert.ok(s, `no sample of ${name} with ${JSON.stringify(labels)}`);
  return s;
}

/**
 * One series of a labelled histogram. parse-prometheus-text-format merges every
 * series of a histogram into one and drops their labels, so keep only the lines
 * with `labels`, strip those labels, and parse what is left.
 */
function histogram(text: string, name: string, labels: Record<string, string>): Sample {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const lines = text.split("\n").filter((l) => {
    if (l.startsWith("#")) return l.split(" ")[2] === name;
    return l.startsWith(`${name}_`) && pairs.every((p) => l.includes(p));
  }).map((l) => {
    for (const p of pairs) l = l.replace(new RegExp(`,?${p},?`), (m) => m === `,${p},` ? "," : "");
    return l.replace("{}", "");
  });
  const [fam] = parse(lines.join("\n") + "\n") as Family[];
  assert.ok(fam?.metrics[0], `no series of ${name} with ${JSON.stringify(labels)}`);
  return fam.metrics[0];
}

function value(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}) {
  return Number(sample(fams, name, labels).value);
}

Deno.test("Metrics counts a sequence of intake results and phases", async () => {
  const m = new Metrics();
  m.onIntake({ kind: "accepted", id: "r-1", host: "web-1" });
  m.onIntake({ kind: "accepted", id: "r-2", host: "web-2" });
  m.onIntake({ kind: "accepted", id: "r-3", host: "web-3" });
  m.onIntake({ kind: "duplicate", id: "r-1" });
  m.onIntake({ kind: "rejected", error: "empty payload" });

  m.onPhase("started", { host: "web-1", executor: "ssh" });
  m.onPhase("started", { host: "web-2", executor: "local" });
  let fams = await scrape(m);
  assert.equal(value(fams, "mandrill_inflight"), 2);

  m.onPhase("succeeded", {
    host: "web-1",
    executor: "ssh",
    detail: "ok",
    outcome: { kind: "ok" },
    durationMs: 1500,
  });
  m.onPhase("failed", {
    host: "web-2",
    executor: "local",
    detail: "exit: 1",
    outcome: { kind: "exit", code: 1, detail: "exit 1" },
    durationMs: 200,
  });
  m.onPhase("skipped", { host: "web-3", detail: "dry run", skipCode: "dry_run" });
  m.onPhase("skipped", {
    host: "web-4",
    detail: "unknown host: web-4 is not in the fleet",
    skipCode: "unknown_host",
  });
  // A row left `started` by a previous run: no outcome, no executor.
  m.onPhase("interrupted", { host: "web-5" });
  m.onPhase("recovered", { host: "web-1" });
  m.onRecovered(42_000);
  m.onUnhandled();
  m.onReload(true);
  m.onReload(false);
  m.onReload(false);

  fams = await scrape(m);
  const requests = (result: string) => value(fams, "mandrill_requests_total", { result });
  assert.equal(requests("received"), 3);
  assert.equal(requests("duplicate"), 1);
  assert.equal(requests("rejected"), 1);
  assert.equal(requests("succeeded"), 1);
  assert.equal(requests("failed"), 1);
  assert.equal(requests("skipped"), 2);
  assert.equal(requests("interrupted"), 1);
  assert.equal(fams.get("mandrill_requests_total")!.metrics.length, REQUEST_RESULTS.length);

  assert.equal(value(fams, "mandrill_skips_total", { reason: "dry_run" }), 1);
  assert.equal(value(fams, "mandrill_skips_total", { reason: "unknown_host" }), 1);
  assert.equal(value(fams, "mandrill_skips_total", { reason: "busy" }), 0);

  assert.equal(value(fams, "mandrill_restarts_total", { executor: "ssh", outcome: "ok" }), 1);
  assert.equal(value(fams, "mandrill_restarts_total", { executor: "local", outcome: "exit" }), 1);
  assert.equal(fams.get("mandrill_restarts_total")!.metrics.length, 2);

  const text = await m.render();
  const ssh = histogram(text, "mandrill_restart_duration_seconds", { executor: "ssh" });
  assert.equal(ssh.count, "1");
  assert.equal(Number(ssh.sum), 1.5);
  assert.equal(ssh.buckets?.["1"], "0");
  assert.equal(ssh.buckets?.["2.5"], "1");
  const local = histogram(text, "mandrill_restart_duration_seconds", { executor: "local" });
  assert.equal(local.count, "1");
  assert.equal(local.buckets?.["0.25"], "1");
  assert.equal(Number(local.sum), 0.2);

  const recovery = sample(fams, "mandrill_recovery_seconds");
  assert.equal(recovery.count, "1");
  assert.equal(Number(recovery.sum), 42);
  assert.equal(fams.get("mandrill_recovery_seconds")!.type, "HISTOGRAM");

  assert.equal(value(fams, "mandrill_inflight"), 0);
  assert.equal(value(fams, "mandrill_deadletters_total"), 1);
  assert.equal(value(fams, "mandrill_unhandled_errors_total"), 1);
  assert.equal(value(fams, "mandrill_config_reloads_total", { result: "ok" }), 1);
  assert.equal(value(fams, "mandrill_config_reloads_total", { result: "error" }), 2);
});

Deno.test("Metrics reads live gauges through callbacks at scrape time", async (t) => {
  let pending = 3;
  let connected = true;
  const m = new Metrics({ inboxPending: () => pending, mqttConnected: () => connected });
  await t.step("values as the callbacks give them", async () => {
    const fams = await scrape(m);
    assert.equal(value(fams, "mandrill_inbox_pending"), 3);
    assert.equal(value(fams, "mandrill_mqtt_connected"), 1);
    assert.equal(value(fams, "mandrill_event_loop_lag_seconds"), 0);
  });
  await t.step("each scrape reads them again", async () => {
    pending = 0;
    connected = false;
    const fams = await scrape(m);
    assert.equal(value(fams, "mandrill_inbox_pending"), 0);
    assert.equal(value(fams, "mandrill_mqtt_connected"), 0);
  });
  await t.step(
    "the process's resident memory and JavaScript heap, as Deno reports them",
    async () => {
      const before = Deno.memoryUsage();
      const fams = await scrape(m);
      const after = Deno.memoryUsage();
      const rss = value(fams, "mandrill_process_resident_memory_bytes");
      const heap = value(fams, "mandrill_heap_used_bytes");
      assert.ok(rss >= Math.min(before.rss, after.rss) * 0.9, `rss ${rss}`);
      assert.ok(rss <= Math.max(before.rss, after.rss) * 1.1, `rss ${rss}`);
      assert.ok(heap > 0 && heap < rss, `heap ${heap} of rss ${rss}`);
    },
  );
  await t.step("bindSources() adds sources later, inflight included", async () => {
    let writable = true;
    m.bindSources({
      eventLoopLagSeconds: () => 0.25,
      inflight: () => 7,
      storeWritable: () => writable,
    });
    let fams = await scrape(m);
    assert.equal(value(fams, "mandrill_store_writable"), 1);
    writable = false;
    fams = await scrape(m);
    assert.equal(value(fams, "mandrill_store_writable"), 0);
    assert.equal(value(fams, "mandrill_event_loop_lag_seconds"), 0.25);
    assert.equal(value(fams, "mandrill_inflight"), 7);
    assert.equal(value(fams, "mandrill_inbox_pending"), 0);
  });
  await t.step("a source that throws does not break the scrape", async () => {
    m.bindSources({
      inboxPending: () => {
        throw new Error("store closed");
      },
    });
    const fams = await scrape(m);
    assert.equal(value(fams, "mandrill_inflight"), 7);
    assert.equal(value(fams, "mandrill_inbox_pending"), 0, "keeps the last good value");
  });
});

Deno.test("Metrics instances do not share a registry", async () => {
  const a = new Metrics();
  const b = new Metrics();
  a.onUnhandled();
  assert.equal(value(await scrape(a), "mandrill_unhandled_errors_total"), 1);
  assert.equal(value(await scrape(b), "mandrill_unhandled_errors_total"), 0);
  assert.match(a.contentType, /^text\/plain; version=0\.0\.4/);
});

Deno.test("each policy gate skip carries its code, and every code is a skips_total label", () => {
  const settings: PolicySettings = {
    dryRun: false,
    minIntervalSec: 3600,
    maxPerHour: 2,
    minUptimeSec: 600,
  };
  const now = Date.UTC(2026, 0, 1);
  const ok: GateState = { now, known: true, busy: false, restartsLastHour: 0, uptimeSec: 9999 };
  const cases: [Partial<PolicySettings>, Partial<GateState>, string][] = [
    [{}, { known: false }, "unknown_host"],
    [{}, { paused: { reason: "incident" } }, "paused"],
    [{}, { outsideWindow: "outside the allowed time window: weekdays only" }, "window"],
    [{}, { outsideWindow: "excluded date of web: 2026-12-25 (UTC)" }, "window"],
    [{ dryRun: true }, {}, "dry_run"],
    [{}, { busy: true }, "busy"],
    [{}, { lastRestartAt: now - 10_000 }, "min_interval"],
    [{}, { uptimeSec: 10 }, "min_uptime"],
    [{}, { uptimeSec: undefined }, "min_uptime"],
    [{}, { restartsLastHour: 2 }, "max_per_hour"],
  ];
  for (const [s, st, label] of cases) {
    const d = decide({ host: "web-1" }, { ...settings, ...s }, { ...ok, ...st });
    assert.equal(d.kind, "skip");
    if (d.kind === "skip") assert.equal(d.code, label, d.reason);
    assert.ok((SKIP_REASON_LABELS as readonly string[]).includes(label));
  }
});
