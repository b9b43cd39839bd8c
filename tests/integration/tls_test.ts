/**
 * TLS to the broker, with a real Mosquitto TLS listener and certificates the
 * test makes with openssl: mutual TLS for `mandrill run` and `mandrill agent`;
 * a wrong CA, a missing client certificate, a wrong host name and an expired
 * certificate each fail with the reason named (log line and `/readyz` 503),
 * retried with backoff.
 */
import assert from "node:assert/strict";
import { TestCa } from "../_helpers/certs.ts";
import { writeTestConfig } from "../_helpers/config.ts";
import { FakeHost } from "../_helpers/fake_host.ts";
import { testKeys } from "../_helpers/keys.ts";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { connectClient, EventCollector } from "../_helpers/mqtt.ts";
import { MandrillProcess } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";

/** `/readyz` of the instance on `port`, once it answers. */
async function readyz(port: number): Promise<{ status: number; body: string }> {
  return await waitFor(async () => {
    const r = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
    return r ? { status: r.status, body: await r.text() } : undefined;
  }, { what: `/readyz on ${port}` });
}

Deno.test("tls: mutual TLS works for mandrill run and mandrill agent; a request over it restarts the host", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mandrill-tls-" });
  try {
    const ca = await TestCa.create(dir);
    const server = await ca.issue("server", "localhost", { dns: ["localhost"] });
    const runCert = await ca.issue("run", "mandrill", { client: true });
    const agentCert = await ca.issue("agent", "h1", { client: true });
    await using broker = await Mosquitto.start({
      tls: { caFile: ca.caFile, ...server, requireCertificate: true },
    });
    const keys = await testKeys(dir);
    const host = await FakeHost.create(dir, "h1", broker.tlsUrl, {
      controllerKeyFile: keys.pubFile,
      mqtt: { tls: { caFile: ca.caFile, ...agentCert } },
    });
    await host.boot("boot-1", 100);
    await using agent = host.startAgent();
    const file = await writeTestConfig(dir, broker.tlsUrl, {
      mqtt: { tls: { caFile: ca.caFile, ...runCert } },
      http: { listen: "127.0.0.1:0" },
      security: { commandKeyFile: keys.keyFile },
      executors: { agent: { type: "agent", timeoutSec: 10 } },
      hosts: { h1: { executor: "agent" } },
      policy: { minIntervalSec: 0 },
    });
    await using run = MandrillProcess.start(["run", "--config", file]);
    const port = await run.httpPort();
    await run.waitForLine(/Connected to mqtts:\/\/localhost:\d+/);
    await agent.waitForLine(/Connected to mqtts:\/\/localhost:\d+/);
    await waitFor(async () => (await readyz(port)).status === 200, { what: "ready over TLS" });
    await waitFor(async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return /^mandrill_fleet_hosts 1$/m.test(text);
    }, { what: "h1's agent heard over TLS" });
    // Requests may come from anywhere on the broker: here, its plain listener.
    await using events = await EventCollector.start(broker.url);
    await using pub = await connectClient(broker.url);
    await pub.publishAsync("mandrill/restart", JSON.stringify({ id: "tls-1", host: "h1" }), {
      qos: 1,
    });
    await waitFor(() => events.events.some((e) => e.id === "tls-1" && e.phase === "succeeded"), {
      what: () => `tls-1 succeeded; seen ${JSON.stringify(events.events)}`,
      timeoutMs: 20_000,
    });
    assert.deepEqual(await host.restarts(), ["tls-1"]);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("tls: a wrong CA, a missing client certificate, a wrong host name and an expired certificate are named in the log and /readyz", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mandrill-tls-" });
  try {
    const ca = await TestCa.create(dir);
    const other = await TestCa.create(dir, "other");
    const server = await ca.issue("server", "localhost", { dns: ["localhost"] });
    const expired = await ca.issue("expired", "localhost", { dns: ["localhost"], days: -1 });
    const client = await ca.issue("client", "mandrill", { client: true });
    await using broker = await Mosquitto.start({
      tls: { caFile: ca.caFile, ...server, requireCertificate: true },
    });
    await using old = await Mosquitto.start({
      tls: { caFile: ca.caFile, ...expired, requireCertificate: false },
    });
    const cases: { name: string; url: string; tls: Record<string, string>; reason: RegExp }[] = [
      {
        name: "wrong-ca",
        url: broker.tlsUrl,
        tls: { caFile: other.caFile, ...client },
        reason: /not signed by the CA in mqtt\.tls\.caFile/,
      },
      {
        name: "no-client-cert",
        url: broker.tlsUrl,
        tls: { caFile: ca.caFile },
        reason: /wants a client certificate/,
      },
      {
        name: "wrong-name",
        url: `mqtts://127.0.0.1:${broker.tlsPort}`,
        tls: { caFile: ca.caFile, ...client },
        reason: /not valid for the host name in mqtt\.url/,
      },
      {
        name: "expired",
        url: old.tlsUrl,
        tls: { caFile: ca.caFile },
        reason: /has expired/,
      },
    ];
    const runs = await Promise.all(cases.map(async (c) => {
      const file = await writeTestConfig(dir, c.url, {
        mqtt: { tls: c.tls, reconnectMinMs: 100, reconnectMaxMs: 500 },
        http: { listen: "127.0.0.1:0" },
      }, c.name);
      const run = MandrillProcess.start(["run", "--config", file]);
      return { ...c, port: await run.httpPort(), run };
    }));
    try {
      for (const c of runs) {
        const url = c.url.replace(/[.]/g, "\\.");
        const line = await c.run.waitForLine(new RegExp(`Cannot connect to ${url}: `));
        assert.match(JSON.parse(line).message, c.reason, c.name);
        const r = await waitFor(async () => {
          const r = await readyz(c.port);
          return c.reason.test(r.body) ? r : undefined;
        }, { what: `/readyz of ${c.name} naming why` });
        assert.equal(r.status, 503, c.name);
        assert.match(r.body, new RegExp(`MQTT broker ${url} not connected`), c.name);
        // Retried: a second attempt is logged, and mandrill stays up.
        await waitFor(
          () => c.run.lines.filter((l) => l.includes("Cannot connect to")).length >= 2,
          { what: `a second attempt of ${c.name}` },
        );
        assert.equal(c.run.status, undefined, `${c.name} exited`);
      }
    } finally {
      for (const c of runs) await c.run[Symbol.asyncDispose]();
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
