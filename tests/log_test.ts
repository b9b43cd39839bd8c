import assert from "node:assert/strict";
import { log, setupLogging, withLogContext } from "../src/log.ts";

Deno.test("log lines written inside withLogContext carry the id and host across awaits", async () => {
  const lines: string[] = [];
  {
    await using _ = await setupLogging({ level: "debug", write: (l) => lines.push(l) });
    await withLogContext({ id: "r-1", host: "web-1" }, async () => {
      await Promise.resolve();
      log("test").info("restart {phase}", { phase: "started" });
    });
    log("test").info("outside");
    log("test").debug("debug visible");
  }
  assert.equal(lines.length, 3);
  const first = JSON.parse(lines[0]!);
  assert.equal(first.id, "r-1");
  assert.equal(first.host, "web-1");
  assert.match(first.message, /^restart "?started"?$/);
  assert.equal(first.logger, "mandrill.test");
  assert.equal(JSON.parse(lines[1]!).id, undefined);
});

Deno.test("log level from options filters lower levels; pretty format is one text line", async () => {
  const lines: string[] = [];
  {
    await using _ = await setupLogging({
      level: "warning",
      format: "pretty",
      write: (l) => lines.push(l),
    });
    log("test").info("hidden");
    withLogContext({ host: "db-2" }, () => log("test").warn("shown"));
  }
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /shown host=db-2\n$/);
  assert.doesNotMatch(lines[0]!, /^\{/);
});

Deno.test("JSON lines: values read as part of the sentence (strings unquoted), and keep their type in their own fields", async () => {
  const lines: string[] = [];
  {
    await using _ = await setupLogging({ write: (l) => lines.push(l) });
    log("test").info("Listening on http://{addr}:{port}/metrics", {
      addr: "127.0.0.1",
      port: 9464,
    });
    log("test").info("Kill switch: paused ({reason}) {n} {ok} {list}", {
      reason: "incident-42",
      n: 3,
      ok: true,
      list: ["a", "b"],
    });
  }
  const [listen, paused] = lines.map((l) => JSON.parse(l));
  assert.equal(listen.message, "Listening on http://127.0.0.1:9464/metrics");
  assert.equal(listen.port, 9464);
  assert.equal(paused.message, 'Kill switch: paused (incident-42) 3 true ["a","b"]');
  assert.equal(paused.reason, "incident-42");
});
