// deno-lint-ignore-file no-control-regex no-regex-spaces -- ANSI codes and column spacing are what these tests read
/**
 * `/api/status` of a running `mandrill run` (a process, a real Mosquitto,
 * simulated hosts running the real agent code) and `mandrill status` against
 * it, as text and as JSON.
 */
import assert from "node:assert/strict";
import type { Status } from "../../src/status/mod.ts";
import { runMandrill } from "../_helpers/process.ts";
import { StatusWorld } from "../_helpers/status_world.ts";
import { waitFor } from "../_helpers/wait.ts";

const KEYS = ["fleet", "groups", "killSwitch", "now", "recent", "requests", "restarts", "version"];

Deno.test("/api/status: groups with their budget and host states, the kill switch, waiting requests with what they wait for, recoveries; mandrill status shows the same", async (t) => {
  await using w = await StatusWorld.start({
    hosts: { "web-1": "web", "web-2": "web", "solo": undefined },
    rebootSec: [0.5, 0.5],
    policy: { minIntervalSec: 0, maxUnavailable: 4, maxUnavailablePerGroup: 1 },
  });
  // solo restarts and comes back; web-2's agent dies; web-1 then waits for web-2.
  await w.request({ id: "r-solo", host: "solo", requestedBy: "sre", reason: "patch" });
  await waitFor(async () => (await w.status()).recent.find((r) => r.id === "r-solo")?.recoveryMs, {
    what: "solo back",
    timeoutMs: 20_000,
  });
  await w.fleet.get("web-2").crash();
  await waitFor(async () => (await w.status()).fleet.down === 1, { what: "web-2 offline" });
  await w.request({ id: "r-web-1", host: "web-1" });
  await waitFor(async () => (await w.status()).requests.waiting.length === 1, {
    what: "r-web-1 waiting",
  });

  await t.step("its JSON", async () => {
    const res = await fetch(`${w.url}/api/status`);
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    const s: Status = await res.json();
    assert.deepEqual(Object.keys(s).sort(), KEYS);
    assert.equal(typeof s.version, "string");
    assert.ok(Math.abs(s.now - Date.now()) < 5_000, "now is the controller's clock");
    assert.deepEqual(s.killSwitch, { paused: false });
    assert.deepEqual(s.fleet, { hosts: 3, down: 1, maxUnavailable: 4 });
    assert.deepEqual(s.groups.map((g) => [g.name, g.limit, g.down]), [
      ["web", 1, 1],
      ["(no group)", 1, 0],
    ]);
    const hosts = Object.fromEntries(s.groups.flatMap((g) => g.hosts).map((h) => [h.host, h]));
    assert.deepEqual(
      Object.values(hosts).map((h) => [h.host, h.state, h.executor]),
      [["web-1", "waiting", "agent"], ["web-2", "offline", "agent"], ["solo", "up", "agent"]],
    );
    assert.equal(typeof hosts["web-1"]!.uptimeSec, "number");
    assert.equal(typeof hosts.solo!.lastRestartAt, "number");
    assert.ok(hosts.solo!.lastRecoveryMs! >= 500, "solo was down 0.5 s");
    assert.deepEqual(s.requests.executing, []);
    const [waiting] = s.requests.waiting;
    assert.deepEqual(Object.keys(waiting!).sort(), ["host", "id", "since", "waitingFor"]);
    assert.equal(waiting!.id, "r-web-1");
    assert.match(waiting!.waitingFor!, /^group web: web-2 offline/);
    assert.deepEqual(s.restarts, []);
    const [solo] = s.recent;
    assert.equal(s.recent.length, 1);
    assert.deepEqual(
      [solo!.id, solo!.host, solo!.outcome, solo!.requestedBy, solo!.reason],
      ["r-solo", "solo", "succeeded", "sre", "patch"],
    );
    assert.equal(solo!.recoveryMs, hosts.solo!.lastRecoveryMs);
    assert.ok(solo!.durationMs >= 0 && solo!.startedAt <= s.now);
  });

  await t.step("mandrill status: the summary", async () => {
    const r = await runMandrill(["status", "--config", w.file]);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    assert.doesNotMatch(out, /\x1b\[/, "colour without a terminal");
    assert.match(out, /^mandrill \S+ · \d\d:\d\d:\d\d$/m);
    assert.match(out, /^Kill switch: running \(restarts allowed\)$/m);
    assert.match(out, /^Fleet: 1 of 4 allowed down · 3 hosts$/m);
    assert.match(out, /^  web {9}1\/1 down  0 up · web-2 offline, web-1 waiting$/m);
    assert.match(out, /^  \(no group\)  0 down \(1 allowed per host\)  1 up$/m);
    assert.match(out, /^Requests: 1 waiting · 0 executing$/m);
    assert.match(
      out,
      /^  waiting {4}web-1 for [\d.]+ \w+: group web: web-2 offline.* \(r-web-1\)$/m,
    );
    assert.match(out, /^Last restarts \(1 of 1\):$/m);
    assert.match(
      out,
      /^  \d\d:\d\d:\d\d {2}solo {2}succeeded {2}took [\d.]+ m?s {2}back in [\d.]+ m?s {2}patch$/m,
    );
  });

  await t.step("mandrill status --json: the JSON as is", async () => {
    const r = await runMandrill(["status", "--config", w.file, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const s: Status = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(s).sort(), KEYS);
    assert.deepEqual(s.requests.waiting.map((x) => x.id), ["r-web-1"]);
  });

  await t.step("a pause: its reason, who and since when", async () => {
    const p = await runMandrill(["pause", "--config", w.file, "--reason", "incident 42"]);
    assert.equal(p.code, 0, p.stderr);
    const s = await waitFor(async () => {
      const s = await w.status();
      return s.killSwitch.paused ? s : undefined;
    }, { what: "the pause in /api/status" });
    assert.ok(s.killSwitch.paused);
    assert.equal(s.killSwitch.reason, "incident 42");
    assert.equal(s.killSwitch.source, "operator");
    assert.equal(typeof s.killSwitch.since, "number");
    const r = await runMandrill(["status", "--config", w.file]);
    assert.match(
      r.stdout,
      /^Kill switch: PAUSED by operator(, \S+)? since \d\d:\d\d:\d\d \([\d.]+ m?s ago\): incident 42$/m,
    );
  });
});
