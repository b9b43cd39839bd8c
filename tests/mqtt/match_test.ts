import assert from "node:assert/strict";
import { compileFilter, plainTopic, topicMatches, unshared } from "../../src/mqtt/match.ts";

Deno.test("topic filters match per MQTT: exact, + and #, with $share stripped", () => {
  const cases: [filter: string, topic: string, expected: boolean][] = [
    ["m/restart", "m/restart", true],
    ["m/restart", "m/restart/x", false],
    ["m/restart", "m/restar", false],
    ["m/agents/+/heartbeat", "m/agents/web-1/heartbeat", true],
    ["m/agents/+/heartbeat", "m/agents/web-1/status", false],
    ["m/agents/+/heartbeat", "m/agents/heartbeat", false],
    ["m/#", "m/agents/web-1/heartbeat", true],
    ["m/#", "n/x", false],
    ["$share/g/m/restart", "m/restart", true],
    ["$share/g/m/+", "m/control", true],
    ["$share/g/m/+", "m/control/x", false],
  ];
  for (const [filter, topic, expected] of cases) {
    assert.equal(topicMatches(filter, topic), expected, `${filter} vs ${topic}`);
    assert.equal(compileFilter(filter)(topic), expected, `${filter} vs ${topic} (compiled)`);
  }
  assert.equal(unshared("$share/group/a/b"), "a/b");
  assert.equal(unshared("a/b"), "a/b");
});

Deno.test("plainTopic() gives the one topic of a filter without wildcards", () => {
  assert.equal(plainTopic("m/restart"), "m/restart");
  assert.equal(plainTopic("$share/g/m/restart"), "m/restart");
  assert.equal(plainTopic("m/agents/+/heartbeat"), undefined);
  assert.equal(plainTopic("$share/g/m/#"), undefined);
  assert.equal(plainTopic("m/+"), undefined);
});
