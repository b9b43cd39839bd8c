/** The status page's files: served with their types and the strict CSP; nothing inline, no markup from data. */
import assert from "node:assert/strict";
import { Metrics } from "../../src/http/metrics.ts";
import { createHttpHandler, PAGE_CSP } from "../../src/http/server.ts";
import { STATUS_PAGE } from "../../src/status/mod.ts";
import { STATUS_JS } from "../../src/status/page/mod.ts";

Deno.test("STATUS_PAGE serves /, /status.js and /status.css with their types, the CSP and nosniff", async () => {
  const handler = createHttpHandler({ metrics: new Metrics(), page: STATUS_PAGE });
  const types: Record<string, RegExp> = {
    "/": /^text\/html/,
    "/status.js": /^text\/javascript/,
    "/status.css": /^text\/css/,
  };
  assert.deepEqual(Object.keys(STATUS_PAGE).sort(), Object.keys(types).sort());
  for (const [path, type] of Object.entries(types)) {
    const res = await handler(new Request(`http://mandrill${path}`));
    const body = await res.text();
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get("content-type") ?? "", type, path);
    assert.equal(res.headers.get("content-security-policy"), PAGE_CSP, path);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
    assert.equal(body, STATUS_PAGE[path]!.body);
  }
});

Deno.test("the page's HTML has nothing inline that the CSP would block", () => {
  const html = STATUS_PAGE["/"]!.body;
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
  assert.deepEqual(scripts.map((m) => [m[1]!.trim(), m[2]]), [['src="/status.js" defer', ""]]);
  assert.doesNotMatch(html, /<style\b/i, "an inline style sheet");
  assert.doesNotMatch(html, /\sstyle\s*=/i, "a style attribute");
  assert.doesNotMatch(html, /\son[a-z]+\s*=/i, "an inline event handler");
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//i, "something from another origin");
});

Deno.test("the page's script parses, and never turns data into markup or code", () => {
  // Compiles it without running it: a syntax error in the string throws here.
  new Function(STATUS_JS);
  for (const sink of ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("]) {
    assert.ok(!STATUS_JS.includes(sink), `the script uses ${sink}`);
  }
  assert.doesNotMatch(STATUS_JS, /\.style\b|setAttribute\("style"/, "an inline style from script");
  assert.doesNotMatch(STATUS_JS, /setInterval\([^)]*fetch|XMLHttpRequest/, "polling");
  assert.match(STATUS_JS, /new EventSource\("\/api\/events"\)/);
});
