import assert from "node:assert/strict";
import parse from "parse-prometheus-text-format";
import { Metrics } from "../../src/http/metrics.ts";
import { parseListen, type Readiness, startHttpServer } from "../../src/http/server.ts";

/** Fetches `path` and always consumes the body, so the resource sanitizer stays happy. */
async function get(port: number, path: string, init: RequestInit = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  const body = await res.text();
  return { status: res.status, headers: res.headers, body };
}

Deno.test("startHttpServer() serves every route on an ephemeral port", async (t) => {
  const metrics = new Metrics({ inboxPending: () => 4 });
  metrics.onIntake({ kind: "accepted", id: "r-1", host: "web-1" });
  let readiness: Readiness = { ok: false, reasons: ["mqtt: not connected", "store: closed"] };
  const tasks = [{ id: "r-1", host: "web-1", phase: "executing", since: 1 }];
  await using server = startHttpServer("127.0.0.1:0", {
    metrics,
    ready: () => readiness,
    tasks: () => tasks,
  });
  const { port } = server.addr;
  assert.equal(server.addr.hostname, "127.0.0.1");
  assert.ok(port > 0, "a real port replaces 0");

  await t.step("GET /metrics is Prometheus text with its content type", async () => {
    const r = await get(port, "/metrics");
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), metrics.contentType);
    const fams = parse(r.body) as { name: string; metrics: { value?: string }[] }[];
    const pending = fams.find((f) => f.name === "mandrill_inbox_pending");
    assert.equal(pending?.metrics[0]?.value, "4");
    assert.match(r.body, /^mandrill_requests_total\{result="received"\} 1$/m);
  });

  await t.step("GET /healthz is 200 ok", async () => {
    const r = await get(port, "/healthz");
    assert.equal(r.status, 200);
    assert.equal(r.body.trim(), "ok");
  });

  await t.step("GET /readyz follows the ready callback, 503 ↔ 200", async () => {
    let r = await get(port, "/readyz");
    assert.equal(r.status, 503);
    assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(JSON.parse(r.body), {
      ready: false,
      reasons: ["mqtt: not connected", "store: closed"],
    });
    readiness = { ok: true, reasons: [] };
    r = await get(port, "/readyz");
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { ready: true, reasons: [] });
    readiness = { ok: false, reasons: ["draining"] };
    r = await get(port, "/readyz");
    assert.equal(r.status, 503);
    assert.deepEqual(JSON.parse(r.body).reasons, ["draining"]);
  });

  await t.step("GET /debug/tasks is the in-flight work as JSON", async () => {
    const r = await get(port, "/debug/tasks");
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), tasks);
  });

  await t.step("an unknown path is 404", async () => {
    assert.equal((await get(port, "/nope")).status, 404);
    assert.equal((await get(port, "/")).status, 404);
    assert.equal((await get(port, "/metrics/extra")).status, 404);
  });

  await t.step("a query string does not change the route", async () => {
    assert.equal((await get(port, "/healthz?verbose=1")).status, 200);
  });

  await t.step("any method but GET is 405 with Allow: GET", async () => {
    for (const method of ["POST", "PUT", "DELETE"]) {
      const r = await get(port, "/metrics", { method, body: method === "DELETE" ? null : "x" });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.get("allow"), "GET");
    }
  });
});

Deno.test("startHttpServer() answers 500, not a crash, when a callback throws", async () => {
  await using server = startHttpServer("127.0.0.1:0", {
    metrics: {
      contentType: "text/plain",
      render: () => Promise.reject(new Error("boom")),
    },
    ready: () => {
      throw new Error("store gone");
    },
    tasks: () => {
      throw new Error("nope");
    },
  });
  const { port } = server.addr;
  assert.equal((await get(port, "/metrics")).status, 500);
  assert.equal((await get(port, "/debug/tasks")).status, 500);
  const r = await get(port, "/readyz");
  assert.equal(r.status, 503);
  assert.match(JSON.parse(r.body).reasons[0], /store gone/);
  assert.equal((await get(port, "/healthz")).status, 200);
});

Deno.test("startHttpServer() stops on shutdown() and on its signal", async (t) => {
  await t.step("shutdown() closes the port and is idempotent", async () => {
    const server = startHttpServer("127.0.0.1:0", { metrics: new Metrics() });
    assert.equal((await get(server.addr.port, "/healthz")).status, 200);
    await server.shutdown();
    await server.shutdown();
    await server[Symbol.asyncDispose]();
    await assert.rejects(get(server.addr.port, "/healthz"));
  });
  await t.step("aborting the signal stops it", async () => {
    const ac = new AbortController();
    await using server = startHttpServer("127.0.0.1:0", {
      metrics: new Metrics(),
      signal: ac.signal,
    });
    assert.equal((await get(server.addr.port, "/healthz")).status, 200);
    ac.abort();
    await server.finished;
    await assert.rejects(get(server.addr.port, "/healthz"));
  });
  await t.step("an already aborted signal throws its reason", () => {
    const reason = new Error("stopped");
    assert.throws(
      () =>
        startHttpServer("127.0.0.1:0", {
          metrics: new Metrics(),
          signal: AbortSignal.abort(reason),
        }),
      (err) => err === reason,
    );
  });
});

Deno.test("startHttpServer() throws AddrInUse for a busy port", async () => {
  await using first = startHttpServer("127.0.0.1:0", { metrics: new Metrics() });
  assert.throws(
    () => startHttpServer(`127.0.0.1:${first.addr.port}`, { metrics: new Metrics() }),
    Deno.errors.AddrInUse,
  );
});

Deno.test("parseListen() reads host:port and rejects anything else", () => {
  assert.deepEqual(parseListen("127.0.0.1:9464"), { hostname: "127.0.0.1", port: 9464 });
  assert.deepEqual(parseListen("localhost:0"), { hostname: "localhost", port: 0 });
  assert.deepEqual(parseListen(":9464"), { hostname: "0.0.0.0", port: 9464 });
  assert.deepEqual(parseListen("[::1]:9464"), { hostname: "::1", port: 9464 });
  for (const bad of ["9464", "127.0.0.1", "127.0.0.1:", "host:http", "host:70000", "::1:9464"]) {
    assert.throws(() => parseListen(bad), TypeError, bad);
  }
});
