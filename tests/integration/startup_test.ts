/**
 * Startup failures of `mandrill run`, as systemd sees them: one clear line
 * naming the file or port, a documented exit code, no stack trace, and
 * nothing connected first.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/errors.ts";
import { writeTestConfig } from "../_helpers/config.ts";
import { MandrillProcess } from "../_helpers/process.ts";

/** Runs `mandrill run` on a config in `dir` until it exits; its status and log lines. */
async function run(dir: string, overrides: Record<string, unknown>) {
  // A broker nobody listens on: a startup failure must come before any connection attempt.
  const file = await writeTestConfig(dir, "mqtt://127.0.0.1:1", overrides);
  const proc = MandrillProcess.start(["run", "--config", file]);
  const status = await proc.exited();
  return { code: status.code, lines: proc.lines };
}

function assertOneClearLine(lines: string[], re: RegExp): void {
  const fatal = lines.filter((l) => /"level":"FATAL"/.test(l));
  assert.equal(fatal.length, 1, `expected one FATAL line:\n${lines.join("\n")}`);
  assert.match(fatal[0]!, re);
  assert.ok(!lines.some((l) => /^\s+at /.test(l)), `a stack trace:\n${lines.join("\n")}`);
  assert.ok(
    !lines.some((l) => /Connected to|reconnecting/.test(l)),
    `connected before failing:\n${lines.join("\n")}`,
  );
}

Deno.test("startup: a second mandrill on one store file is refused, naming the file and the other process", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = await writeTestConfig(dir, "mqtt://127.0.0.1:1", {});
    await using first = MandrillProcess.start(["run", "--config", file]);
    await first.waitForLine(/mandrill started/);
    const second = await run(dir, {});
    assert.equal(second.code, EXIT.tempFail);
    assertOneClearLine(
      second.lines,
      new RegExp(`store ${dir}/m\\.db is in use by another mandrill \\(pid ${first.pid}\\)`),
    );
    first.kill("SIGTERM");
    assert.equal((await first.exited()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startup: the HTTP port in use ends with one line naming it", async () => {
  const dir = await Deno.makeTempDir();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    const r = await run(dir, { http: { listen: `127.0.0.1:${port}` } });
    assert.equal(r.code, EXIT.configFile);
    assertOneClearLine(r.lines, new RegExp(`http.listen 127.0.0.1:${port}: the port is in use`));
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startup: a store in a read-only directory, or a file that is not a database, ends with one line naming it", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await t.step("read-only directory", async () => {
      const ro = `${dir}/ro`;
      await Deno.mkdir(ro);
      await Deno.chmod(ro, 0o555);
      // As root, permission bits do not stop writes: make the directory a read-only bind of itself.
      const asRoot = Deno.uid() === 0;
      if (asRoot) {
        const mount = await new Deno.Command("mount", { args: ["--bind", "-o", "ro", ro, ro] })
          .output();
        assert.ok(mount.success, new TextDecoder().decode(mount.stderr));
      }
      try {
        const r = await run(dir, { store: { path: `${ro}/m.db` } });
        assert.equal(r.code, EXIT.cantCreate);
        assertOneClearLine(
          r.lines,
          new RegExp(`store.path ${ro}/m\\.db: cannot open it for writing`),
        );
      } finally {
        if (asRoot) await new Deno.Command("umount", { args: [ro] }).output();
      }
    });
    await t.step("not a database", async () => {
      await Deno.writeTextFile(`${dir}/junk.db`, "this is not SQLite ".repeat(500));
      const r = await run(dir, { store: { path: `${dir}/junk.db` } });
      assert.equal(r.code, EXIT.ioError);
      assertOneClearLine(
        r.lines,
        new RegExp(`store.path ${dir}/junk\\.db is not a mandrill database`),
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
