import assert from "node:assert/strict";
import { isPresent, missingPackages, NEEDS } from "../../scripts/preflight.ts";

const SCRIPT = new URL("../../scripts/preflight.ts", import.meta.url).pathname;
const SYSTEM_PATH = `${Deno.env.get("PATH") ?? ""}:/usr/local/sbin:/usr/sbin:/sbin`;

/** A directory with links to every program the tests need except `without`. */
async function fakePath(without: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "mandrill-preflight-" });
  for (const need of NEEDS) {
    if (without.includes(need.program) || need.globDirs) continue;
    const home = SYSTEM_PATH.split(":").find((d) => d !== "" && isPresent(need, d));
    if (home) await Deno.symlink(`${home}/${need.program}`, `${dir}/${need.program}`);
  }
  return dir;
}

Deno.test("preflight: a PATH without mosquitto names the package and the command, and installs nothing with --check", async () => {
  const dir = await fakePath(["mosquitto", "mosquitto_passwd"]);
  try {
    assert.deepEqual(missingPackages(dir), ["mosquitto"], "only mosquitto is missing");
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", SCRIPT, "--check"],
      env: { MANDRILL_PREFLIGHT_PATH: dir },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.equal(stderr.trim().split("\n").length, 1, `one line: ${stderr}`);
    assert.match(
      stderr,
      /the tests need mosquitto \(missing\); install with: (sudo )?apt-get install -y mosquitto$/m,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("preflight: nothing missing on this machine's PATH passes at once; missing packages are listed once each", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", SCRIPT, "--check"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const empty = await Deno.makeTempDir();
  try {
    const pkgs = missingPackages(empty, NEEDS.filter((n) => !n.globDirs));
    assert.deepEqual(pkgs, [
      "mosquitto",
      "openssh-server",
      "openssh-client",
      "util-linux",
      "openssl",
      "chromium",
    ]);
  } finally {
    await Deno.remove(empty);
  }
});
