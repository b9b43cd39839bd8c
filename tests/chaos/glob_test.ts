import assert from "node:assert/strict";
import { globToRegExp, hostMatcher } from "../../src/chaos/glob.ts";

Deno.test("globToRegExp(): * is any run, ? is one character, the whole name must match", () => {
  const cases: [string, string, boolean][] = [
    ["db-*", "db-1", true],
    ["db-*", "db-", true],
    ["db-*", "mydb-1", false],
    ["*-canary", "web-canary", true],
    ["web-?", "web-1", true],
    ["web-?", "web-10", false],
    ["web-?", "web-", false],
    ["web-1", "web-1", true],
    ["web-1", "web-12", false],
    ["*", "anything.example.com", true],
    ["web-*.eu", "web-1.eu", true],
  ];
  for (const [pattern, host, expected] of cases) {
    assert.equal(globToRegExp(pattern).test(host), expected, `${pattern} vs ${host}`);
  }
});

Deno.test("globToRegExp(): everything but * and ? is literal", () => {
  assert.equal(globToRegExp("web.1").test("webx1"), false);
  assert.equal(globToRegExp("web.1").test("web.1"), true);
  for (const pattern of ["a+b", "(a)", "[ab]", "a{2}", "a|b", "^a$", "a\\d", "a/b"]) {
    const re = globToRegExp(pattern);
    assert.equal(re.test(pattern), true, pattern);
    assert.equal(re.test("aa"), false, pattern);
    assert.equal(re.test("ab"), false, pattern);
  }
});

Deno.test("hostMatcher() matches any of its patterns, and nothing when empty", () => {
  const excluded = hostMatcher(["db-*", "web-0"]);
  assert.equal(excluded("db-7"), true);
  assert.equal(excluded("web-0"), true);
  assert.equal(excluded("web-1"), false);
  assert.equal(hostMatcher([])("web-1"), false);
});
