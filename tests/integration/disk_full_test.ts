/**
 * The store's disk fills up during a burst (a small tmpfs): mandrill stays up
 * and not ready, acknowledges nothing it has not stored, starts nothing; once
 * space is freed it catches up by itself — every request executed exactly
 * once, without a restart of mandrill. Needs root (to mount the tmpfs), as CI
 * and the test preflight run.
 */
import assert from "node:assert/strict";
import { recordingArgv, writeTestConfig } from "../_helpers/config.ts";
import { readLines } from "../_helpers/files.ts";
import { SqliteStore } from "../../src/store/mod.ts";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { connectClient, EventCollector, publishAll } from "../_helpers/mqtt.ts";
import { MandrillProcess } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";

async function sh(program: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command(program, { args }).output();
  if (!out.success) {
    throw new Error(`${program} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

async function readyz(port: number): Promise<{ status: number; reasons: string[] }> {
  const r = await fetch(`http://127.0.0.1:${port}/readyz`);
  const body = await r.json();
  return { status: r.status, reasons: body.reasons };
}

Deno.test({
  name:
    "disk full during a burst of 500: not ready, nothing lost, all 500 executed once after space is freed",
  ignore: Deno.uid() !== 0, // mounting a tmpfs needs root; CI runs as root
  async fn() {
    await using broker = await Mosquitto.start();
    const dir = await Deno.makeTempDir({ prefix: "mandrill-diskfull-" });
    const disk = `${dir}/disk`;
    await Deno.mkdir(disk);
    await sh("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", disk);
    try {
      const out = `${dir}/executed.txt`;
      const file = await writeTestConfig(dir, broker.url, {
        mqtt: { clientId: "mandrill-diskfull", reconnectMinMs: 100, reconnectMaxMs: 500 },
        store: { path: `${disk}/m.db` },
        http: { listen: "127.0.0.1:0" },
        executors: { local: { type: "command", argv: recordingArgv(out) } },
        hosts: Object.fromEntries(
          Array.from({ length: 50 }, (_, i) => [`web-${i}`, { executor: "local" }]),
        ),
        policy: { minIntervalSec: 0, maxPerHour: 100_000, maxUnavailable: 50 },
      });
      await using events = await EventCollector.start(broker.url);
      await using run = MandrillProcess.start(["run", "--config", file]);
      const port = await run.httpPort();
      await waitFor(async () => (await readyz(port)).status === 200, { what: "ready" });
      // Fill the disk: leave almost nothing for the write-ahead log.
      const filler = `${disk}/filler`;
      await sh("dd", "if=/dev/zero", `of=${filler}`, "bs=64k", "count=1000", "status=none")
        .catch(() => {}); // dd stops with "No space left on device": that is the point
      await using pub = await connectClient(broker.url);
      const payloads = Array.from(
        { length: 500 },
        (_, i) => JSON.stringify({ id: `d-${i}`, host: `web-${i % 50}`, reason: "x".repeat(200) }),
      );
      await publishAll(pub, "mandrill/restart", payloads);
      const notReady = await waitFor(async () => {
        const r = await readyz(port);
        return r.status === 503 && r.reasons.some((x) => /store/.test(x)) ? r : undefined;
      }, { what: "/readyz 503 naming the store" });
      assert.match(notReady.reasons.join("; "), /cannot write to the store .*full/i);
      assert.equal(run.status, undefined, "mandrill exited on a full disk");
      const executedWhileFull = (await readLines(out)).length;
      assert.ok(executedWhileFull < 500, "all ran although the disk was full");

      await Deno.remove(filler);
      await waitFor(async () => (await readLines(out)).length >= 500, {
        what: "all 500 executed after space was freed",
        timeoutMs: 60_000,
      }).catch(async (err) => {
        const n = (await readLines(out)).length;
        throw new Error(
          `${err.message} (${n} executed); mandrill's log:\n${run.lines.slice(-30).join("\n")}`,
        );
      });
      await waitFor(async () => (await readyz(port)).status === 200, { what: "ready again" });
      const ids = (await readLines(out)).map((l) => l.split(" ")[1]!);
      assert.equal(ids.length, 500);
      assert.equal(new Set(ids).size, 500, "an id ran twice");
      await events.waitTerminal(500).catch((err) => {
        // Which ids, and what is known of them: their events and their row.
        const ended = events.terminalIds();
        const missing = payloads.map((p) => JSON.parse(p).id as string).filter((id) =>
          !ended.has(id)
        );
        using store = SqliteStore.openReader(`${disk}/m.db`);
        const seen = missing.map((id) =>
          `${id}: events ${JSON.stringify(events.events.filter((e) => e.id === id))}, row ${
            JSON.stringify(store.get(id))
          }`
        );
        throw new Error(
          `${err.message}\n${seen.join("\n")}\nmandrill's log:\n${run.lines.slice(-40).join("\n")}`,
        );
      });
      const terminal = ["succeeded", "failed", "skipped", "rejected", "interrupted"];
      for (let i = 0; i < 500; i++) {
        const ends = events.events.filter((e) => e.id === `d-${i}` && terminal.includes(e.phase));
        assert.equal(ends.length, 1, `d-${i} ended ${ends.length} times`);
        assert.equal(ends[0]!.phase, "succeeded");
      }
      assert.equal(run.status, undefined, "mandrill was restarted");
      run.kill("SIGTERM");
      assert.equal((await run.exited()).code, 0);
      // A full disk is one problem, said a few times, not a flood of lines.
      const errors = run.lines.filter((l) => /"level":"(ERROR|WARN)/.test(l));
      assert.ok(
        errors.length < 40,
        `${errors.length} error lines:\n${errors.slice(0, 40).join("\n")}`,
      );
    } finally {
      await sh("umount", "-l", disk).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
