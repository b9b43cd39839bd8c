/**
 * MQTT.js and mqtt-packet log through `debug`, whose switched-off loggers
 * still allocate on every call: importing the connection silences them,
 * unless `DEBUG` asks for them. Each case runs in a process of its own, since
 * what counts is what is loaded first.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

async function silencedIn(env: Record<string, string>): Promise<string> {
  // Only the connection module, as mandrill loads it; then whether mqtt-packet got the quiet one.
  const program = `
    import "${new URL("src/mqtt/connection.ts", ROOT).href}";
    import { debugSilenced } from "${new URL("src/mqtt/_quiet_debug.ts", ROOT).href}";
    import { createRequire } from "node:module";
    const require = createRequire(import.meta.url);
    const packet = createRequire(require.resolve("mqtt")).resolve("mqtt-packet");
    const debug = require(createRequire(packet).resolve("debug"));
    const logger = debug("mqtt-packet:parser");
    console.log(JSON.stringify({ silenced: debugSilenced(), enabled: logger.enabled }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--config", new URL("deno.json", ROOT).pathname, program],
    env: { DEBUG: "", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("debug: the connection silences debug in MQTT.js and mqtt-packet", async () => {
  assert.equal(await silencedIn({}), JSON.stringify({ silenced: true, enabled: false }));
});

Deno.test("debug: with DEBUG set, the real debug is left to log", async () => {
  assert.equal(
    await silencedIn({ DEBUG: "mqtt-packet:*" }),
    JSON.stringify({ silenced: false, enabled: true }),
  );
});
