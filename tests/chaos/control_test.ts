import assert from "node:assert/strict";
import {
  KillSwitch,
  type PauseState,
  publishControl,
  syncMarkerPayload,
} from "../../src/chaos/control.ts";
import { FakeClock } from "../../src/clock.ts";
import { topics } from "../../src/contract/topics.ts";
import { setupLogging } from "../../src/log.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("KillSwitch tells onChange which message changed it; engage() has none", () => {
  const seen: [PauseState | undefined, string | undefined][] = [];
  const ks = new KillSwitch({ onChange: (s, m) => seen.push([s, m?.by]) });
  ks.handle(bytes('{"paused": true, "reason": "incident 42", "by": "ana@bastion"}'));
  ks.handle(bytes('{"paused": false, "reason": "all clear", "by": "bo@bastion"}'));
  ks.engage({ reason: "breaker: 3 failures", by: "breaker" });
  assert.deepEqual(seen, [
    [{ reason: "incident 42", by: "ana@bastion" }, "ana@bastion"],
    [undefined, "bo@bastion"],
    [{ reason: "breaker: 3 failures", by: "breaker" }, undefined],
  ]);
});

Deno.test("KillSwitch follows the latest valid control message", async (t) => {
  const changes: (PauseState | undefined)[] = [];
  const ks = new KillSwitch({ onChange: (s) => changes.push(s) });
  await t.step("starts running", () => assert.equal(ks.paused(), undefined));
  await t.step("pause with a reason", () => {
    ks.handle(bytes('{"paused": true, "reason": "incident 42", "by": "ana@bastion", "ts": 5}'));
    assert.deepEqual(ks.paused(), { reason: "incident 42", by: "ana@bastion", since: 5 });
    assert.deepEqual(changes, [{ reason: "incident 42", by: "ana@bastion", since: 5 }]);
  });
  await t.step("the same message again (a redelivery) changes nothing", () => {
    ks.handle(bytes('{"paused": true, "reason": "incident 42", "by": "ana@bastion", "ts": 5}'));
    assert.equal(changes.length, 1);
  });
  await t.step("a new reason is a change", () => {
    ks.handle(bytes('{"paused": true, "reason": "incident 43"}'));
    assert.deepEqual(ks.paused(), { reason: "incident 43" });
    assert.equal(changes.length, 2);
  });
  await t.step("resume", () => {
    ks.handle(bytes('{"paused": false, "reason": "all clear"}'));
    assert.equal(ks.paused(), undefined);
    assert.deepEqual(changes.at(-1), undefined);
    assert.equal(changes.length, 3);
  });
  await t.step("unknown fields are ignored", () => {
    ks.handle(bytes('{"paused": true, "scope": "everything"}'));
    assert.deepEqual(ks.paused(), {});
  });
  await t.step("an empty payload (retained message deleted) means running", () => {
    ks.handle(new Uint8Array());
    assert.equal(ks.paused(), undefined);
  });
  await t.step("paused() returns a copy", () => {
    ks.handle(bytes('{"paused": true, "reason": "x"}'));
    ks.paused()!.reason = "changed";
    assert.deepEqual(ks.paused(), { reason: "x" });
  });
});

Deno.test("KillSwitch logs and ignores invalid payloads, keeping its state", async (t) => {
  const lines: string[] = [];
  await using _log = await setupLogging({ write: (line) => lines.push(line) });
  const bad: [string, Uint8Array][] = [
    ["not JSON", bytes("pause!")],
    ["not UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])],
    ["paused as a string", bytes('{"paused": "yes"}')],
    ["paused missing", bytes('{"reason": "x"}')],
    ["an array", bytes("[true]")],
    ["null", bytes("null")],
    ["reason too long", bytes(JSON.stringify({ paused: false, reason: "x".repeat(1025) }))],
  ];
  for (const initial of ['{"paused": true, "reason": "incident"}', '{"paused": false}']) {
    await t.step(`while ${initial}`, () => {
      let changes = 0;
      const ks = new KillSwitch({ onChange: () => changes++ });
      ks.handle(bytes(initial));
      const before = ks.paused();
      const changesBefore = changes;
      for (const [what, payload] of bad) {
        lines.length = 0;
        ks.handle(payload);
        assert.deepEqual(ks.paused(), before, what);
        const warnings = lines.map((l) => JSON.parse(l)).filter((r) => r.level === "WARN");
        assert.equal(warnings.length, 1, what);
        assert.match(warnings[0].message, /^Ignoring an invalid control message/, what);
      }
      assert.equal(changes, changesBefore);
    });
  }
});

interface Published {
  topic: string;
  payload: string;
  options: { qos: 0 | 1; retain: boolean };
}

Deno.test("publishControl() publishes the state retained at QoS 1", async () => {
  const published: Published[] = [];
  const conn = {
    publish: (topic: string, payload: string, options: Published["options"]) => {
      published.push({ topic, payload, options });
      return Promise.resolve();
    },
  };
  const clock = new FakeClock(1_000);
  await publishControl(conn, topics("fleet-a"), {
    paused: true,
    reason: "incident 42",
    by: "ana@bastion",
    clock,
  });
  await publishControl(conn, topics("fleet-a"), { paused: false, clock });
  assert.deepEqual(published.map((p) => ({ ...p, payload: JSON.parse(p.payload) })), [
    {
      topic: "fleet-a/control",
      payload: { paused: true, reason: "incident 42", by: "ana@bastion", ts: 1_000 },
      options: { qos: 1, retain: true },
    },
    {
      topic: "fleet-a/control",
      payload: { paused: false, ts: 1_000 },
      options: { qos: 1, retain: true },
    },
  ]);
});

Deno.test("publishControl() honours its signal", async (t) => {
  await t.step("already aborted: rejects with the reason, publishes nothing", async () => {
    let calls = 0;
    const conn = {
      publish: () => {
        calls++;
        return Promise.resolve();
      },
    };
    const reason = new Error("stop");
    await assert.rejects(
      publishControl(conn, topics(), { paused: true, signal: AbortSignal.abort(reason) }),
      (err) => err === reason,
    );
    assert.equal(calls, 0);
  });
  await t.step("aborted while waiting for the broker: rejects with the reason", async () => {
    let ack!: () => void;
    const conn = { publish: () => new Promise<void>((resolve) => ack = resolve) };
    const ctrl = new AbortController();
    const pending = publishControl(conn, topics(), { paused: true, signal: ctrl.signal });
    const reason = new Error("timed out");
    ctrl.abort(reason);
    await assert.rejects(pending, (err) => err === reason);
    ack(); // a late ack is harmless
  });
  await t.step("a failed publish rejects with its error", async () => {
    const conn = { publish: () => Promise.reject(new Error("connection closed")) };
    await assert.rejects(
      publishControl(conn, topics(), { paused: true, signal: new AbortController().signal }),
      /connection closed/,
    );
  });
});

Deno.test("KillSwitch: a sync marker resolves its waiter and leaves the state alone", async () => {
  const ks = new KillSwitch();
  const enc = new TextEncoder();
  ks.handle(enc.encode(JSON.stringify({ paused: true, reason: "freeze" })));
  const waiting = ks.waitForSync("m-1", new AbortController().signal);
  ks.handle(enc.encode(syncMarkerPayload("other")));
  ks.handle(enc.encode(syncMarkerPayload("m-1")));
  await waiting;
  assert.equal(ks.paused()?.reason, "freeze");
  const aborted = new AbortController();
  const never = ks.waitForSync("m-2", aborted.signal);
  aborted.abort(new Error("gave up"));
  await assert.rejects(never, /gave up/);
});
