import assert from "node:assert/strict";
import { closest, levenshtein, suggestion } from "../../src/config/suggest.ts";

Deno.test("levenshtein() counts insertions, deletions and substitutions", () => {
  assert.equal(levenshtein("", ""), 0);
  assert.equal(levenshtein("abc", ""), 3);
  assert.equal(levenshtein("", "abc"), 3);
  assert.equal(levenshtein("kitten", "sitting"), 3);
  assert.equal(levenshtein("maxConcurent", "maxConcurrent"), 1);
  assert.equal(levenshtein("ssh", "sshh"), 1);
});

Deno.test("closest() picks the nearest plausible candidate", () => {
  const keys = ["maxConcurrent", "maxConcurrentPerGroup", "maxPerHour", "dryRun"];
  assert.equal(closest("maxConcurent", keys), "maxConcurrent");
  assert.equal(closest("MaxPerHour", keys), "maxPerHour");
  assert.equal(closest("dryrun", keys), "dryRun");
  assert.equal(closest("timeout", ["timeoutSec", "staleSec"]), "timeoutSec");
  assert.equal(closest("banana", keys), undefined);
  assert.equal(closest("x", []), undefined);
});

Deno.test("suggestion() proposes one name, or lists them all when none is close", () => {
  assert.equal(suggestion("sshh", ["ssh", "agent"]), '; did you mean "ssh"?');
  assert.equal(suggestion("zzz", ["ssh", "agent"]), '; expected one of "ssh", "agent"');
  assert.equal(suggestion("zzz", []), "");
});
