// deno-lint-ignore-file no-console
/** `mandrill status`'s errors: nothing to ask, nothing answering, no answer in time, not mandrill. */
import assert from "node:assert/strict";
import { listenUrl, statusCommand } from "../../src/cli/status.ts";
import { runMandrill } from "../_helpers/process.ts";
import { freePort } from "../_helpers/wait.ts";

async function configWith(listen: string | null): Promise<{ dir: string; file: string }> {
  const dir = await Deno.makeTempDir({ prefix: "mandrill-status-cli-" });
  const file = `${dir}/m.json`;
  await Deno.writeTextFile(file, JSON.stringify({ http: { listen } }));
  return { dir, file };
}

/** Runs statusCommand in-process with console.error captured. */
async function inProcess(args: string[], timeoutMs: number) {
  const err: string[] = [];
  const { error } = console;
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    return { code: await statusCommand(args, { timeoutMs }), stderr: err.join("\n") };
  } finally {
    console.error = error;
  }
}

Deno.test("mandrill status: http.listen null says so (exit 1)", async () => {
  const { dir, file } = await configWith(null);
  const r = await runMandrill(["status", "--config", file]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr.trim(),
    `mandrill status: http.listen is null in ${file}, so mandrill serves no status to read`,
  );
  assert.equal(r.stdout, "");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("mandrill status: nothing listening names the address and the config (exit 1)", async () => {
  const port = freePort();
  const { dir, file } = await configWith(`127.0.0.1:${port}`);
  for (const json of [[], ["--json"]]) {
    const r = await runMandrill(["status", "--config", file, ...json]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr.trim(),
      `mandrill status: no mandrill answers on http://127.0.0.1:${port} ` +
        `(is it running? http.listen in ${file})`,
    );
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("mandrill status: a server that never answers times out (exit 1)", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { dir, file } = await configWith(`127.0.0.1:${listener.addr.port}`);
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn); // accepted, never answered
  })().catch(() => {});
  const r = await inProcess(["--config", file], 300);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `mandrill status: http://127.0.0.1:${listener.addr.port}/api/status did not answer within 0.3 s`,
  );
  assert.equal(held.length, 1, "it connected");
  for (const c of held) c.close();
  listener.close();
  await accepting;
  await Deno.remove(dir, { recursive: true });
});

Deno.test("mandrill status: something else on the port (404) is not taken for mandrill (exit 1)", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("not found\n", { status: 404 }),
  );
  const { dir, file } = await configWith(`127.0.0.1:${server.addr.port}`);
  const r = await inProcess(["--config", file], 5_000);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\/api\/status answered 404/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("mandrill status: --config is required (exit 2)", async () => {
  const r = await runMandrill(["status"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--config FILE is required/);
  assert.match(r.stderr, /Usage: mandrill status --config FILE \[--json\]/);
});

Deno.test("listenUrl() reaches any-address listens on loopback, IPv6 in brackets", () => {
  assert.equal(listenUrl("127.0.0.1:9464"), "http://127.0.0.1:9464");
  assert.equal(listenUrl(":9464"), "http://127.0.0.1:9464");
  assert.equal(listenUrl("0.0.0.0:80"), "http://127.0.0.1:80");
  assert.equal(listenUrl("[::]:9464"), "http://[::1]:9464");
  assert.equal(listenUrl("[::1]:9464"), "http://[::1]:9464");
});
