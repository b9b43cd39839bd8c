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
