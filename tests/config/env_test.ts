import assert from "node:assert/strict";
import { expandEnv, parseConfig } from "../../src/config/mod.ts";
import { assertIssues, configErrorOf } from "./_assert.ts";

Deno.test("expandEnv() replaces ${NAME} with the variable's value", () => {
  assert.deepEqual(expandEnv("mqtt://${HOST}:${PORT}", { HOST: "broker", PORT: "1883" }), {
    kind: "ok",
    value: "mqtt://broker:1883",
  });
  assert.deepEqual(expandEnv("${EMPTY}x", { EMPTY: "" }), { kind: "ok", value: "x" });
});

Deno.test("expandEnv() leaves text without references alone", () => {
  assert.deepEqual(expandEnv("a $HOME b $ c {x}", {}), { kind: "ok", value: "a $HOME b $ c {x}" });
});

Deno.test("expandEnv() reads $${ as a literal ${", () => {
  assert.deepEqual(expandEnv("$${HOST} is ${HOST}", { HOST: "b" }), {
    kind: "ok",
    value: "${HOST} is b",
  });
});

Deno.test("expandEnv() does not expand the values it substitutes", () => {
  assert.deepEqual(expandEnv("${A}", { A: "${B}", B: "no" }), { kind: "ok", value: "${B}" });
});

Deno.test("expandEnv() names every missing variable once", () => {
  assert.deepEqual(expandEnv("${A}${B}${A}${C}", { B: "b" }), {
    kind: "missing",
    names: ["A", "C"],
  });
});

Deno.test("expandEnv() rejects malformed references", async (t) => {
  for (const text of ["${}", "${1X}", "${A-B}", "x ${A"]) {
    await t.step(text, () => assert.equal(expandEnv(text, { A: "a" }).kind, "invalid"));
  }
});

Deno.test("expandEnv() ignores inherited properties of env", () => {
  assert.deepEqual(expandEnv("${toString}", {}), { kind: "missing", names: ["toString"] });
});

Deno.test("parseConfig() expands variables in every string value, before validation", () => {
  const config = parseConfig(
    {
      mqtt: { url: "mqtt://${BROKER}:1883", password: "${MQTT_PASSWORD}" },
      executors: { local: { type: "command", argv: ["${TOOLS}/restart", "--"] } },
      hosts: { "web-1": { executor: "local" } },
    },
    { env: { BROKER: "broker.example.com", MQTT_PASSWORD: "s3cret", TOOLS: "/opt/tools" } },
  );
  assert.equal(config.mqtt.url, "mqtt://broker.example.com:1883");
  assert.equal(config.mqtt.password, "s3cret");
  assert.deepEqual(config.executors.local, {
    type: "command",
    argv: ["/opt/tools/restart", "--"],
    timeoutSec: 30,
    recovery: "none",
  });
});

Deno.test("parseConfig() leaves its input as it was: expansion copies what it changes", () => {
  const input = {
    executors: { local: { type: "command", argv: ["${TOOLS}/restart", "--"] } },
    hosts: { "web-1": { executor: "local" } },
  };
  const before = structuredClone(input);
  const config = parseConfig(input, { env: { TOOLS: "/opt/tools" } });
  assert.deepEqual(input, before);
  assert.deepEqual(config.executors.local?.type === "command" && config.executors.local.argv, [
    "/opt/tools/restart",
    "--",
  ]);
});

Deno.test("parseConfig() validates the expanded value, without echoing what came from the environment", () => {
  assertIssues(() => parseConfig({ log: { format: "${FORMAT}" } }, { env: { FORMAT: "xml" } }), [
    { path: "log.format", message: 'expected one of "json", "pretty", got "***"' },
  ]);
});

Deno.test("a missing variable is an error naming it and the path, and only that", async (t) => {
  await t.step(
    "one variable",
    () =>
      assertIssues(() => parseConfig({ mqtt: { password: "${MQTT_PASSWORD}" } }), [
        { path: "mqtt.password", message: "environment variable MQTT_PASSWORD is not set" },
      ]),
  );
  await t.step(
    "the unexpanded value is not also reported as invalid",
    () =>
      assertIssues(() => parseConfig({ mqtt: { url: "${BROKER_URL}" } }, { env: {} }), [
        { path: "mqtt.url", message: "environment variable BROKER_URL is not set" },
      ]),
  );
  await t.step("several variables in one array element", () =>
    assertIssues(
      () =>
        parseConfig({
          executors: { c: { type: "command", argv: ["${DIR}/${TOOL}"] } },
        }),
      [{ path: "executors.c.argv[0]", message: "environment variables DIR, TOOL are not set" }],
    ));
  await t.step(
    "a malformed reference",
    () =>
      assertIssues(() => parseConfig({ store: { path: "${DATA DIR}/m.db" } }), [
        {
          path: "store.path",
          message:
            'invalid reference "${DATA DIR}": expected ${NAME} with NAME of letters, digits and "_" ' +
            "(write $${ for a literal ${)",
        },
      ]),
  );
});

Deno.test("object keys are not expanded", () => {
  const error = configErrorOf(() => parseConfig({ "${X}": 1 }, { env: { X: "log" } }));
  assert.equal(error.issues.length, 1);
  assert.equal(error.issues[0]!.path, '["${X}"]');
  assert.match(error.issues[0]!.message, /^unknown key; expected one of "\$schema", "mqtt", /);
});
