// deno-lint-ignore-file no-control-regex no-regex-spaces -- ANSI codes and column spacing are what these tests read
/** formatStatusText(): the terminal summary of `mandrill status`, from a fixed status. */
import assert from "node:assert/strict";
import { formatDuration, formatStatusText, printable, type Status } from "../../src/status/mod.ts";

const NOW = 1_800_000_000_000;
const clock = (ms: number) => `T${(ms - NOW) / 1000}`;

function status(overrides: Partial<Status> = {}): Status {
  return {
    version: "1.2.3",
    now: NOW,
    killSwitch: { paused: false },
    fleet: { hosts: 25, down: 2, maxUnavailable: 4 },
    groups: [
      {
        name: "web",
        limit: 1,
        down: 1,
        hosts: [
          { host: "web-1", state: "up", executor: "ssh", uptimeSec: 100 },
          { host: "web-2", state: "coming_back", executor: "ssh", lastRestartAt: NOW - 4_000 },
          { host: "web-3", state: "waiting", executor: "ssh" },
          { host: "web-4", state: "not_back", executor: "ssh" },
        ],
      },
      {
        name: "db",
        limit: 2,
        down: 0,
        hosts: Array.from({ length: 21 }, (_, i) => ({
          host: `db-${i}`,
          state: "up" as const,
          executor: "agent",
        })),
      },
    ],
    requests: {
      waiting: [{ id: "r-3", host: "web-3", since: NOW - 12_000, waitingFor: "group web: full" }],
      executing: [],
    },
    restarts: [{
      id: "r-2",
      host: "web-2",
      executor: "ssh",
      phase: "coming_back",
      startedAt: NOW - 4_000,
      since: NOW - 3_000,
      reason: "kernel",
    }],
    recent: [
      {
        id: "r-2",
        host: "web-2",
        outcome: "succeeded",
        detail: "ok",
        startedAt: NOW - 4_000,
        durationMs: 1_000,
      },
      {
        id: "r-1",
        host: "web-4",
        outcome: "failed",
        detail: "did not come back",
        startedAt: NOW - 600_000,
        durationMs: 250,
        notBack: true,
      },
      {
        id: "r-0",
        host: "db-1",
        outcome: "succeeded",
        detail: "ok",
        startedAt: NOW - 900_000,
        durationMs: 2_500,
        recoveryMs: 61_000,
        reason: "patch",
      },
    ],
    ...overrides,
  };
}

Deno.test("formatStatusText() lists the kill switch, the budget, the hosts not up, waiting requests and the last restarts", () => {
  assert.equal(
    formatStatusText(status(), { clock }),
    [
      "mandrill 1.2.3 · T0",
      "Kill switch: running (restarts allowed)",
      "Fleet: 2 of 4 allowed down · 25 hosts",
      "  web  1/1 down  1 up · web-4 did not come back, web-2 coming back, web-3 waiting",
      "  db   0/2 down  21 up",
      "Requests: 1 waiting · 0 executing",
      "  waiting    web-3 for 12.0 s: group web: full (r-3)",
      "Restarts in progress: 1",
      "  web-2 coming back for 3.0 s: kernel (r-2)",
      "Last restarts (3 of 3):",
      "  T-4  web-2  succeeded  took 1.0 s  not back yet",
      "  T-600  web-4  failed  took 250 ms  did not come back",
      "  T-900  db-1  succeeded  took 2.5 s  back in 1m01s  patch",
    ].join("\n"),
  );
});

Deno.test("formatStatusText() shows a pause with who, since when and why; the breaker's in red", () => {
  const paused = status({
    killSwitch: {
      paused: true,
      reason: "incident 7",
      by: "ana@bastion",
      since: NOW - 65_000,
      source: "operator",
    },
  });
  assert.match(
    formatStatusText(paused, { clock }),
    /^Kill switch: PAUSED by operator, ana@bastion since T-65 \(1m05s ago\): incident 7$/m,
  );
  const breaker = status({
    killSwitch: { paused: true, by: "breaker", source: "breaker", reason: "3 failed" },
  });
  const text = formatStatusText(breaker, { clock, color: true });
  assert.match(text, /Kill switch: \x1b\[31mPAUSED\x1b\[0m by breaker: 3 failed/);
});

Deno.test("formatStatusText() colours only when asked, and never lets wire text drive the terminal", () => {
  const plain = formatStatusText(status(), { clock });
  assert.doesNotMatch(plain, /\x1b/);
  const coloured = formatStatusText(status(), { clock, color: true });
  assert.match(coloured, /web-4 \x1b\[31mdid not come back\x1b\[0m/);
  assert.match(coloured, /\x1b\[32m21 up\x1b\[0m/);
  const hostile = status({
    killSwitch: { paused: true, reason: "\x1b[2J\x1b]0;owned\x07gone", source: "operator" },
  });
  const text = formatStatusText(hostile, { clock });
  assert.doesNotMatch(text, /\x1b|\x07/);
  assert.match(text, /: \?\[2J\?\]0;owned\?gone$/m);
  assert.equal(printable("a\u009bb\nc"), "a?b?c");
});

Deno.test("formatStatusText() cuts long lists with a count of the rest", () => {
  const many = status();
  many.groups[1]!.hosts = many.groups[1]!.hosts.map((h) => ({ ...h, state: "offline" }));
  const text = formatStatusText(many, { clock, maxHostsPerGroup: 2 });
  assert.match(text, /^  db {3}0\/2 down  0 up · db-0 offline, db-1 offline, … and 19 more$/m);
});

Deno.test("formatDuration() picks the unit", () => {
  assert.deepEqual(
    [undefined, 0, 999, 1_000, 59_940, 61_000, 3_600_000 + 120_000, 90_000_000].map(formatDuration),
    ["-", "0 ms", "999 ms", "1.0 s", "59.9 s", "1m01s", "1h02m", "1d1h"],
  );
});
