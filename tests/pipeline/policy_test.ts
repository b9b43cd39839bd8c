import assert from "node:assert/strict";
import { decide, type GateState, type PolicySettings } from "../../src/pipeline/policy.ts";

const settings: PolicySettings = {
  dryRun: false,
  minIntervalSec: 3600,
  maxPerHour: 30,
  minUptimeSec: 0,
};
const now = Date.UTC(2026, 5, 1, 12);
const base: GateState = { now, known: true, busy: false, restartsLastHour: 0 };

Deno.test("policy.decide() applies every safety rule", async (t) => {
  const cases: {
    name: string;
    req?: { dryRun?: boolean };
    settings?: Partial<PolicySettings>;
    state?: Partial<GateState>;
    expect: RegExp | "allow";
  }[] = [
    { name: "a known idle host is allowed", expect: "allow" },
    { name: "unknown host", state: { known: false }, expect: /^unknown host/ },
    {
      name: "paused with reason",
      state: { paused: { reason: "incident 42" } },
      expect: /^paused: incident 42$/,
    },
    { name: "paused without reason", state: { paused: {} }, expect: /^paused$/ },
    {
      name: "outside window",
      state: { outsideWindow: "outside the allowed time window: web mon-fri 09:00-17:00 UTC" },
      expect: /^outside the allowed time window/,
    },
    { name: "dry run by policy", settings: { dryRun: true }, expect: /^dry run$/ },
    { name: "dry run by request", req: { dryRun: true }, expect: /^dry run$/ },
    { name: "busy host", state: { busy: true }, expect: /^host already being restarted$/ },
    {
      name: "restarted 10 minutes ago",
      state: { lastRestartAt: now - 600_000 },
      expect: /restarted 600s ago, less than minIntervalSec \(3600s\)/,
    },
    { name: "restarted 2 hours ago", state: { lastRestartAt: now - 7_200_000 }, expect: "allow" },
    {
      name: "minIntervalSec 0 never skips",
      settings: { minIntervalSec: 0 },
      state: { lastRestartAt: now },
      expect: "allow",
    },
    {
      name: "uptime below minimum",
      settings: { minUptimeSec: 300 },
      state: { uptimeSec: 20 },
      expect: /uptime 20s below minUptimeSec \(300s\)/,
    },
    {
      name: "uptime unknown with a minimum",
      settings: { minUptimeSec: 300 },
      expect: /uptime unknown/,
    },
    {
      name: "uptime above minimum",
      settings: { minUptimeSec: 300 },
      state: { uptimeSec: 301 },
      expect: "allow",
    },
    {
      name: "maxPerHour reached",
      state: { restartsLastHour: 30 },
      expect: /^maxPerHour reached \(30/,
    },
    { name: "one below maxPerHour", state: { restartsLastHour: 29 }, expect: "allow" },
    {
      name: "unknown wins over paused",
      state: { known: false, paused: {} },
      expect: /^unknown host/,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const d = decide({ host: "web-1", ...c.req }, { ...settings, ...c.settings }, {
        ...base,
        ...c.state,
      });
      if (c.expect === "allow") assert.deepEqual(d, { kind: "allow" });
      else {
        assert.equal(d.kind, "skip");
        assert.match((d as { reason: string }).reason, c.expect);
      }
    });
  }
});
