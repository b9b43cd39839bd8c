import assert from "node:assert/strict";
import { formatPath } from "../../src/config/mod.ts";

Deno.test("formatPath() writes dotted paths with [index] for arrays", () => {
  assert.equal(formatPath([]), "");
  assert.equal(formatPath(["policy", "maxConcurrent"]), "policy.maxConcurrent");
  assert.equal(
    formatPath(["chaos", "groups", "web", "windows", 0, "start"]),
    "chaos.groups.web.windows[0].start",
  );
  assert.equal(formatPath(["hosts", "web-1", "executor"]), "hosts.web-1.executor");
});

Deno.test("formatPath() quotes keys that are not plain words", () => {
  assert.equal(
    formatPath(["hosts", "web-1.example.com", "executor"]),
    'hosts["web-1.example.com"].executor',
  );
  assert.equal(formatPath(["a b", "$schema", ""]), '["a b"]["$schema"][""]');
});
