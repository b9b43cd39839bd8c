import assert from "node:assert/strict";
import {
  type Config,
  ConfigError,
  configSchema,
  parseAgentConfig,
  parseConfig,
} from "../../src/config/mod.ts";
import { IssueCollector, toConfigIssue } from "../../src/config/issues.ts";
import { assertIssues, configErrorOf } from "./_assert.ts";

const fixture = (name: string): unknown =>
  JSON.parse(Deno.readTextFileSync(new URL(`./fixtures/${name}`, import.meta.url)));

Deno.test("parseConfig({}) fills in every default", () => {
  const expected: Config = {
    mqtt: {
      url: "mqtt://127.0.0.1:1883",
      topicPrefix: "mandrill",
      clientId: "mandrill-1",
      protocolVersion: 5,
      sessionExpirySec: 3600,
      keepaliveSec: 30,
      connectTimeoutSec: 10,
      reconnectMinMs: 500,
      reconnectMaxMs: 30000,
    },
    store: { path: "mandrill.db", synchronous: "full", leaseSec: 15, retentionDays: 30 },
    http: { listen: "127.0.0.1:9464" },
    executors: {},
    hosts: {},
    fleet: { allowAgentHosts: false, maxHosts: 200000 },
    policy: {
      dryRun: false,
      maxUnavailable: 4,
      maxUnavailablePerGroup: 1,
      maxWaitSec: 3600,
      minIntervalSec: 3600,
      maxPerHour: 30,
      minUptimeSec: 0,
      retry: { attempts: 1, minDelayMs: 1000, maxDelayMs: 30000 },
      breaker: { failures: 3, withinSec: 3600 },
    },
    recovery: {
      timeoutSec: 600,
      probeIntervalSec: 5,
      probeMaxIntervalSec: 60,
      probeTimeoutSec: 10,
      maxProbes: 16,
    },
    chaos: { enabled: false, leashed: true, tickSec: 10, groups: {} },
    notify: { webhooks: [] },
    security: { allowUnsigned: false },
    shutdown: { graceSec: 30 },
    log: { level: "info", format: "json" },
    debug: { enabled: false, slowMs: 100 },
  };
  assert.deepEqual(parseConfig({}), expected);
});

Deno.test("parseConfig() fills in the defaults of each executor type", () => {
  const config = parseConfig({
    executors: {
      ssh: { type: "ssh" },
      agent: { type: "agent" },
      local: { type: "command", argv: ["/bin/restart"] },
    },
    security: { allowUnsigned: true },
  });
  assert.deepEqual(config.executors, {
    ssh: {
      type: "ssh",
      user: "root",
      port: 22,
      command: ["sudo", "systemctl", "reboot"],
      strictHostKeyChecking: true,
      options: [],
      connectTimeoutSec: 10,
      serverAliveIntervalSec: 5,
      timeoutSec: 60,
      expectDisconnect: false,
      recovery: "boot",
    },
    agent: { type: "agent", timeoutSec: 30, staleSec: 90, recovery: "boot" },
    local: { type: "command", argv: ["/bin/restart"], timeoutSec: 30, recovery: "none" },
  });
});

Deno.test("parseConfig() gives each config its own default arrays", () => {
  const a = parseConfig({ executors: { ssh: { type: "ssh" } } });
  const b = parseConfig({ executors: { ssh: { type: "ssh" } } });
  const sshA = a.executors.ssh!;
  const sshB = b.executors.ssh!;
  assert.ok(sshA.type === "ssh" && sshB.type === "ssh");
  sshA.command.push("--now");
  assert.deepEqual(sshB.command, ["sudo", "systemctl", "reboot"]);
});

Deno.test("hosts with the same settings share one frozen entry, kept as written", () => {
  const config = parseConfig({
    executors: { agent: { type: "agent" }, ssh: { type: "ssh" } },
    security: { allowUnsigned: true },
    hosts: {
      "web-1": { executor: "agent", group: "web" },
      "web-2": { group: "web", executor: "agent" },
      "web-3": { executor: "agent", group: "db" },
      "db-1": { executor: "ssh", group: "web", address: "10.0.0.1" },
      "db-2": { executor: "ssh", group: "web", address: "10.0.0.1", port: 2222 },
      "db-3": { executor: "ssh", group: "web", address: "10.0.0.1" },
    },
  });
  const h = config.hosts;
  assert.equal(h["web-1"], h["web-2"], "the key order of the file does not matter");
  assert.equal(h["db-1"], h["db-3"]);
  assert.notEqual(h["web-1"], h["web-3"]);
  assert.notEqual(h["db-1"], h["db-2"]);
  assert.ok(Object.isFrozen(h["web-1"]), "a shared entry cannot be changed through one host");
  assert.deepEqual(h["web-3"], { executor: "agent", group: "db" });
  assert.deepEqual(h["db-2"], { executor: "ssh", group: "web", address: "10.0.0.1", port: 2222 });
  assert.deepEqual(Object.keys(h), ["web-1", "web-2", "web-3", "db-1", "db-2", "db-3"]);
});

Deno.test("hosts are validated entry by entry with the issues zod's record of entries gives, in its order", async (t) => {
  // The reference: the same input through the schema alone, hosts and all.
  const zodIssues = (input: unknown) => {
    const collector = new IssueCollector();
    const result = configSchema.safeParse(input, {
      error: collector.errorMap,
      reportInput: true,
    });
    assert.ok(!result.success);
    return collector.translate(result.error.issues).map(toConfigIssue);
  };
  const cases: Record<string, unknown> = {
    "entries written alike, each host named": {
      executors: { ssh: { type: "ssh" } },
      hosts: { "web-1": {}, "web-2": {}, "web-3": { executor: "ssh" }, "web-4": {} },
    },
    "every kind of bad entry and key, with issues before and after hosts": {
      mqtt: { url: 5 },
      executors: { ssh: { type: "ssh" } },
      hosts: {
        "web_1": { executor: "ssh" },
        "web-2": { executor: "ssh", prot: 22 },
        "web-3": "ssh",
        "web-4": { executor: "ssh", port: 0 },
        "web-5": { executor: "ssh", prot: 22 },
        "-web": {},
        "web-6": null,
        "web-7": { executor: "", group: "a b" },
      },
      policy: { maxUnavailable: 0 },
      extra: true,
    },
    "only hosts wrong": { executors: { ssh: { type: "ssh" } }, hosts: { "web-1": { port: "22" } } },
  };
  for (const [name, input] of Object.entries(cases)) {
    await t.step(name, () => {
      const expected = zodIssues(input);
      assert.ok(expected.some((issue) => issue.path.startsWith("hosts")));
      assert.deepEqual(configErrorOf(() => parseConfig(input)).issues, expected);
    });
  }
  await t.step("hosts that are not an object are left to the schema", () => {
    for (const hosts of [[], "web-1", null, 3]) {
      assert.deepEqual(configErrorOf(() => parseConfig({ hosts })).issues, zodIssues({ hosts }));
    }
  });
  await t.step("the input is not changed", () => {
    const input = { executors: { ssh: { type: "ssh" } }, hosts: { "web-1": { executor: "ssh" } } };
    const copy = structuredClone(input);
    const config = parseConfig(input);
    assert.deepEqual(input, copy);
    assert.notEqual(config.hosts["web-1"], input.hosts["web-1"]);
  });
});

Deno.test("the example config of DESIGN.md is valid", () => {
  const config = parseConfig(fixture("design_example.json"));
  assert.equal(config.hosts["web-1"]?.executor, "ssh");
  assert.equal(config.hosts["web-1"]?.group, "web");
  assert.deepEqual(config.executors.local, {
    type: "command",
    argv: ["/usr/local/bin/restart-host"],
    timeoutSec: 30,
    recovery: "none",
  });
  assert.equal(config.policy.maxPerHour, 30);
  assert.equal(config.policy.maxUnavailablePerGroup, 1);
  assert.deepEqual(config.policy.breaker, { failures: 3, withinSec: 3600 });
});

Deno.test("a config using every section is valid and keeps its values", () => {
  const config = parseConfig(fixture("full.json"), { env: { MQTT_PASSWORD: "s3cret" } });
  assert.equal(config.mqtt.password, "s3cret");
  assert.equal(config.mqtt.protocolVersion, 4);
  assert.equal(config.http.listen, null);
  assert.equal(config.fleet.agentExecutor, "agent");
  const web = config.chaos.groups.web!;
  assert.equal(web.meanTimeBetweenRestarts, "4h");
  assert.deepEqual(web.windows[1], {
    days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    start: "22:00",
    end: "02:00",
    timeZone: "UTC",
  });
  assert.deepEqual(config.policy.retry, { attempts: 3, minDelayMs: 500, maxDelayMs: 5000 });
});

Deno.test("parseConfig() reports friendly messages for wrong values", async (t) => {
  const cases: [string, unknown, string, string][] = [
    [
      "negative count",
      { policy: { maxUnavailable: -1 } },
      "policy.maxUnavailable",
      "expected a positive integer, got -1",
    ],
    [
      "fraction",
      { policy: { maxPerHour: 1.5 } },
      "policy.maxPerHour",
      "expected a positive integer, got 1.5",
    ],
    [
      "string for number",
      { policy: { minIntervalSec: "1h" } },
      "policy.minIntervalSec",
      'expected a non-negative integer, got "1h"',
    ],
    [
      "enum",
      { log: { format: "xml" } },
      "log.format",
      'expected one of "json", "pretty", got "xml"',
    ],
    [
      "log level",
      { log: { level: "warn" } },
      "log.level",
      'expected one of "trace", "debug", "info", "warning", "error", "fatal", got "warn"',
    ],
    [
      "protocol version",
      { mqtt: { protocolVersion: 3 } },
      "mqtt.protocolVersion",
      "expected one of 5, 4, got 3",
    ],
    [
      "boolean",
      { policy: { dryRun: "yes" } },
      "policy.dryRun",
      'expected true or false, got "yes"',
    ],
    ["section not an object", { policy: [] }, "policy", "expected an object, got []"],
    [
      "broker url",
      { mqtt: { url: "http://x" } },
      "mqtt.url",
      'expected a broker URL such as mqtt://host:1883 (mqtt, mqtts, tcp, tls, ws or wss), got "http://x"',
    ],
    [
      "topic wildcard",
      { mqtt: { topicPrefix: "a/#" } },
      "mqtt.topicPrefix",
      'expected a topic prefix: not empty, no "+" or "#", no leading "/" or "$", no trailing "/", got "a/#"',
    ],
    [
      "topic leading slash",
      { mqtt: { topicPrefix: "/a" } },
      "mqtt.topicPrefix",
      'expected a topic prefix: not empty, no "+" or "#", no leading "/" or "$", no trailing "/", got "/a"',
    ],
    [
      "shared group",
      { mqtt: { sharedGroup: "a/b" } },
      "mqtt.sharedGroup",
      'expected a group name of letters, digits, "_" or "-", got "a/b"',
    ],
    [
      "listen",
      { http: { listen: "9464" } },
      "http.listen",
      'expected "host:port" such as "127.0.0.1:9464", or null, got "9464"',
    ],
    [
      "port range",
      { executors: { s: { type: "ssh", port: 70000 } } },
      "executors.s.port",
      "expected an integer from 1 to 65535, got 70000",
    ],
    [
      "empty argv",
      { executors: { c: { type: "command", argv: [] } } },
      "executors.c.argv",
      "expected a command: a list of at least one string, got []",
    ],
    ["missing argv", { executors: { c: { type: "command" } } }, "executors.c.argv", "is required"],
    [
      "ssh user flag",
      { executors: { s: { type: "ssh", user: "-oProxyCommand=x" } } },
      "executors.s.user",
      'expected a user name (no spaces, not starting with "-"), got "-oProxyCommand=x"',
    ],
    [
      "ssh option",
      { executors: { s: { type: "ssh", options: ["ProxyJump bastion"] } } },
      "executors.s.options[0]",
      'expected an ssh option as "Key=Value", e.g. "ProxyJump=bastion", got "ProxyJump bastion"',
    ],
    [
      "executor type",
      { executors: { s: { type: "sshh" } } },
      "executors.s.type",
      'expected one of "ssh", "agent", "command", got "sshh"',
    ],
    [
      "executor without type",
      { executors: { s: {} } },
      "executors.s.type",
      'is required; expected one of "ssh", "agent", "command"',
    ],
    ["missing host executor", { hosts: { "web-1": {} } }, "hosts.web-1.executor", "is required"],
    [
      "grace",
      { shutdown: { graceSec: -1 } },
      "shutdown.graceSec",
      "expected a number of seconds >= 0, got -1",
    ],
    [
      "timeout",
      { recovery: { timeoutSec: 0 } },
      "recovery.timeoutSec",
      "expected a positive number of seconds, got 0",
    ],
  ];
  for (const [name, input, path, message] of cases) {
    await t.step(name, () => assertIssues(() => parseConfig(input), [{ path, message }]));
  }
});

Deno.test("an unknown key is an error suggesting the closest valid key", async (t) => {
  await t.step(
    "nested key",
    () =>
      assertIssues(() => parseConfig({ policy: { maxUnavailabel: 3 } }), [
        { path: "policy.maxUnavailabel", message: 'unknown key; did you mean "maxUnavailable"?' },
      ]),
  );
  await t.step("top-level key", () =>
    assertIssues(() => parseConfig({ polcy: {} }), [
      { path: "polcy", message: 'unknown key; did you mean "policy"?' },
    ]));
  await t.step(
    "key of one executor type",
    () =>
      assertIssues(() => parseConfig({ executors: { s: { type: "ssh", identity: "k" } } }), [
        { path: "executors.s.identity", message: 'unknown key; did you mean "identityFile"?' },
      ]),
  );
  await t.step(
    "every unknown key of one object is its own issue",
    () =>
      assertIssues(() => parseConfig({ log: { lvl: "info", fromat: "json" } }), [
        { path: "log.lvl", message: 'unknown key; did you mean "level"?' },
        { path: "log.fromat", message: 'unknown key; did you mean "format"?' },
      ]),
  );
  await t.step(
    "nothing close: the valid keys are listed",
    () =>
      assertIssues(() => parseConfig({ store: { database: "x" } }), [
        {
          path: "store.database",
          message:
            'unknown key; expected one of "path", "synchronous", "url", "leaseSec", "tls", "retentionDays"',
        },
      ]),
  );
});

Deno.test("a host's executor must be defined in executors", async (t) => {
  await t.step("typo", () =>
    assertIssues(
      () =>
        parseConfig({
          executors: { ssh: { type: "ssh" } },
          hosts: { "web-1": { executor: "sshh" } },
        }),
      [{ path: "hosts.web-1.executor", message: 'unknown executor "sshh"; did you mean "ssh"?' }],
    ));
  await t.step(
    "no executors at all",
    () =>
      assertIssues(() => parseConfig({ hosts: { "web-1": { executor: "ssh" } } }), [
        {
          path: "hosts.web-1.executor",
          message: 'unknown executor "ssh"; no executors are defined',
        },
      ]),
  );
  await t.step("dotted host names are quoted in the path", () =>
    assertIssues(
      () =>
        parseConfig({
          executors: { ssh: { type: "ssh" } },
          hosts: { "web-1.example.com": { executor: "agent" } },
        }),
      [{
        path: 'hosts["web-1.example.com"].executor',
        message: 'unknown executor "agent"; expected one of "ssh"',
      }],
    ));
  await t.step("fleet.agentExecutor too", () =>
    assertIssues(
      () =>
        parseConfig({
          executors: { agent: { type: "agent" } },
          fleet: { allowAgentHosts: true, agentExecutor: "agnt" },
          security: { allowUnsigned: true },
        }),
      [{ path: "fleet.agentExecutor", message: 'unknown executor "agnt"; did you mean "agent"?' }],
    ));
  await t.step(
    "allowAgentHosts needs agentExecutor",
    () =>
      assertIssues(() => parseConfig({ fleet: { allowAgentHosts: true } }), [
        { path: "fleet.agentExecutor", message: "is required when fleet.allowAgentHosts is true" },
      ]),
  );
});

Deno.test("host keys must be RFC 1123 host names", async (t) => {
  const executors = { ssh: { type: "ssh" } };
  for (const host of ["web_1", "-web", "web-.example.com", "a..b", "x".repeat(64)]) {
    await t.step(host, () => {
      const error = configErrorOf(() =>
        parseConfig({ executors, hosts: { [host]: { executor: "ssh" } } })
      );
      assert.equal(error.issues.length, 1);
      assert.match(error.issues[0]!.path, /^hosts/);
      assert.equal(
        error.issues[0]!.message,
        "invalid key: must be an RFC 1123 host name of at most 253 characters",
      );
    });
  }
  await t.step("valid names pass", () => {
    const config = parseConfig({
      executors,
      hosts: { "web-1": { executor: "ssh" }, "db-01.eu-west.example.com": { executor: "ssh" } },
    });
    assert.deepEqual(Object.keys(config.hosts), ["web-1", "db-01.eu-west.example.com"]);
  });
});

Deno.test("ranges that depend on another field are checked", async (t) => {
  await t.step(
    "reconnect delays",
    () =>
      assertIssues(() => parseConfig({ mqtt: { reconnectMinMs: 5000, reconnectMaxMs: 1000 } }), [
        {
          path: "mqtt.reconnectMaxMs",
          message: "expected at least reconnectMinMs (5000), got 1000",
        },
      ]),
  );
  await t.step(
    "retry delays",
    () =>
      assertIssues(() => parseConfig({ policy: { retry: { minDelayMs: 10, maxDelayMs: 5 } } }), [
        { path: "policy.retry.maxDelayMs", message: "expected at least minDelayMs (10), got 5" },
      ]),
  );
  await t.step(
    "client certificate without key",
    () =>
      assertIssues(() => parseConfig({ mqtt: { tls: { certFile: "c.pem" } } }), [
        { path: "mqtt.tls.keyFile", message: "is required when certFile is set" },
      ]),
  );
});

Deno.test("all problems are reported at once, not just the first", () => {
  const error = configErrorOf(() =>
    parseConfig(
      {
        mqtt: { password: "${MQTT_PASSWORD}", protocolVersion: 3 },
        policy: { maxUnavailable: 0, maxUnavailabel: 1 },
        executors: { ssh: { type: "ssh" } },
        hosts: { "web-1": { executor: "sshh" } },
      },
      { file: "mandrill.json" },
    )
  );
  assert.equal(error.file, "mandrill.json");
  assert.deepEqual(error.message.split("\n").sort(), [
    'mandrill.json: hosts.web-1.executor: unknown executor "sshh"; did you mean "ssh"?',
    "mandrill.json: mqtt.password: environment variable MQTT_PASSWORD is not set",
    "mandrill.json: mqtt.protocolVersion: expected one of 5, 4, got 3",
    'mandrill.json: policy.maxUnavailabel: unknown key; did you mean "maxUnavailable"?',
    "mandrill.json: policy.maxUnavailable: expected a positive integer, got 0",
  ]);
});

Deno.test("a config that is not an object is one issue at the root", () => {
  assertIssues(() => parseConfig([]), [{ path: "", message: "expected an object, got []" }]);
  assertIssues(() => parseConfig(null), [{ path: "", message: "expected an object, got null" }]);
});

Deno.test("a $schema key is allowed, for editors", () => {
  assert.equal(
    parseConfig({ $schema: "./mandrill.schema.json" }).$schema,
    "./mandrill.schema.json",
  );
});

Deno.test("parseAgentConfig() needs a host and fills in the rest", async (t) => {
  await t.step("defaults", () => {
    assert.deepEqual(parseAgentConfig({ host: "web-1", security: { allowUnsigned: true } }), {
      mqtt: {
        url: "mqtt://127.0.0.1:1883",
        topicPrefix: "mandrill",
        clientId: "mandrill-agent-web-1",
        protocolVersion: 5,
        sessionExpirySec: 3600,
        keepaliveSec: 30,
        connectTimeoutSec: 10,
        reconnectMinMs: 500,
        reconnectMaxMs: 30000,
      },
      host: "web-1",
      heartbeatSec: 10,
      restart: { argv: ["sudo", "systemctl", "reboot"], timeoutSec: 60 },
      stateFile: "mandrill-agent.json",
      procRoot: "/proc",
      security: { allowUnsigned: true, maxClockSkewSec: 60 },
      log: { level: "info", format: "json" },
    });
  });
  await t.step(
    "an agent needs the controller's public key, or allowUnsigned said out loud",
    () =>
      assertIssues(() => parseAgentConfig({ host: "web-1" }), [{
        path: "security.controllerKeyFile",
        message:
          "is required: the agent runs only commands the controller signed (the controller's command.pub from `mandrill keygen`); set security.allowUnsigned: true to run unsigned ones, on a trusted broker only",
      }]),
  );
  await t.step("an explicit clientId is kept", () => {
    const config = parseAgentConfig({
      host: "web-1",
      mqtt: { clientId: "agent-x" },
      security: { allowUnsigned: true },
    });
    assert.equal(config.mqtt.clientId, "agent-x");
  });
  await t.step(
    "errors",
    () =>
      assertIssues(
        () =>
          parseAgentConfig({
            host: "web_1",
            heartbeat: 5,
            mqtt: { topicPrefix: "" },
            security: { allowUnsigned: true },
          }),
        [
          {
            path: "host",
            message: 'must be an RFC 1123 host name of at most 253 characters, got "web_1"',
          },
          { path: "heartbeat", message: 'unknown key; did you mean "heartbeatSec"?' },
          {
            path: "mqtt.topicPrefix",
            message:
              'expected a topic prefix: not empty, no "+" or "#", no leading "/" or "$", no trailing "/", got ""',
          },
        ],
      ),
  );
  await t.step(
    "missing host",
    () =>
      assertIssues(() => parseAgentConfig({ security: { allowUnsigned: true } }), [{
        path: "host",
        message: "is required",
      }]),
  );
});

Deno.test("ConfigError keeps its issues and lists them one per line", () => {
  const error = new ConfigError([{ path: "a.b", message: "bad" }, { path: "", message: "worse" }], {
    file: "f.json",
    cause: new SyntaxError("x"),
  });
  assert.equal(error.name, "ConfigError");
  assert.equal(error.message, "f.json: a.b: bad\nf.json: worse");
  assert.ok(error.cause instanceof SyntaxError);
  assert.equal(new ConfigError([{ path: "a", message: "bad" }]).message, "a: bad");
});

Deno.test("config errors never echo a secret: values from the environment and URL passwords are masked", () => {
  for (
    const [json, env] of [
      [{ mqtt: { url: "mqqt://mandrill:${MQTT_PASSWORD}@broker" } }, {
        MQTT_PASSWORD: "hunter2-secret",
      }],
      [{ mqtt: { url: "mqqt://mandrill:hunter2-secret@broker" } }, {}],
      [{ mqtt: { url: "${URL}" } }, { URL: "mqqt://u:hunter2-secret@broker" }],
    ] as const
  ) {
    let message = "";
    try {
      parseConfig(json, { env, file: "m.json" });
    } catch (err) {
      message = (err as Error).message;
    }
    assert.match(message, /mqtt\.url: /, "the bad key is still named");
    assert.doesNotMatch(message, /hunter2/);
  }
});

Deno.test("store.url: a PostgreSQL URL with its password from the environment; not with store.path; tls only with it", async (t) => {
  await t.step("valid, the password expanded and never echoed", () => {
    const config = parseConfig(
      { store: { url: "postgres://mandrill:${PGPW}@db.example:5432/mandrill", leaseSec: 5 } },
      { env: { PGPW: "s3cret" } },
    );
    assert.equal(config.store.url, "postgres://mandrill:s3cret@db.example:5432/mandrill");
    assert.equal(config.store.leaseSec, 5);
    assert.equal(
      parseConfig({ store: { url: "postgresql://db/m", tls: {} } }).store.tls?.rejectUnauthorized,
      true,
    );
  });
  await t.step(
    "not a PostgreSQL URL",
    () =>
      assertIssues(() => parseConfig({ store: { url: "mysql://db/m" } }), [{
        path: "store.url",
        message:
          'expected a PostgreSQL URL such as postgres://mandrill@db.example:5432/mandrill, got "mysql://db/m"',
      }]),
  );
  await t.step(
    "both store.path and store.url",
    () =>
      assertIssues(() => parseConfig({ store: { path: "m.db", url: "postgres://db/m" } }), [{
        path: "store.url",
        message:
          "set store.path (SQLite, one instance) or store.url (PostgreSQL, shared), not both",
      }]),
  );
  await t.step(
    "tls without store.url",
    () =>
      assertIssues(() => parseConfig({ store: { tls: {} } }), [
        { path: "store.tls", message: "is only used with store.url" },
      ]),
  );
  await t.step("a bad URL's password from the environment is not echoed", () => {
    const err = configErrorOf(() =>
      parseConfig({ store: { url: "${U}" } }, { env: { U: "mysql://u:hunter2@db/m" } })
    );
    assert.match(err.message, /store\.url/);
    assert.doesNotMatch(err.message, /hunter2/);
  });
});

Deno.test("an old key says exactly what it was renamed to", () =>
  assertIssues(() => parseConfig({ policy: { maxConcurrent: 3, maxConcurrentPerGroup: 1 } }), [
    {
      path: "policy.maxConcurrent",
      message:
        'renamed to "maxUnavailable": the limit counts hosts that are down (restarting, coming back, not back, agent offline), not commands that run',
    },
    {
      path: "policy.maxConcurrentPerGroup",
      message:
        'renamed to "maxUnavailablePerGroup": the limit counts hosts of the group that are down, not commands that run; an integer or a share such as "25%"',
    },
  ]));
