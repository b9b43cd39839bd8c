import assert from "node:assert/strict";
import { originOnly, redactUrl } from "../src/url.ts";

Deno.test("redactUrl() never shows a password in part, whatever it holds (@, /, #, ?)", () => {
  const cases: [string, string][] = [
    ["mqtt://svc:s3cret@broker:1883", "mqtt://svc:***@broker:1883"],
    ["mqtt://svc:p@ss@broker:1883", "mqtt://svc:***@broker:1883"],
    ["mqtt://svc:pa/ss@broker:1883", "mqtt://svc:***@broker:1883"],
    ["mqtt://svc:pa#ss@broker:1883", "mqtt://svc:***@broker:1883"],
    ["mqtts://svc:p@s/s#x?y@broker:8883", "mqtts://svc:***@broker:8883"],
    ["postgres://app:s3@cret@db:5432/mandrill", "postgres://app:***@db:5432/mandrill"],
    ["mqtt://broker:1883", "mqtt://broker:1883"],
    ["mqtt://user@broker:1883", "mqtt://user@broker:1883"],
  ];
  for (const [url, shown] of cases) {
    assert.equal(redactUrl(url), shown, url);
    for (const secret of ["s3cret", "ss", "s#x", "cret"]) {
      if (url.includes(`:${secret}`) || url.includes(secret + "@")) {
        assert.ok(!redactUrl(url).includes(secret), `${url} shows ${secret}`);
      }
    }
  }
  assert.equal(redactUrl("not a url"), "(invalid url)");
});

Deno.test("originOnly() keeps the scheme and host, and hides a path, a query or a user", () => {
  assert.equal(
    originOnly("https://hooks.slack.com/services/T0/B0/XXXX"),
    "https://hooks.slack.com/…",
  );
  assert.equal(originOnly("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
  assert.equal(originOnly("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
  assert.equal(originOnly("https://example.com/?token=s3cret"), "https://example.com/…");
  assert.equal(originOnly("https://user:pw@example.com"), "https://example.com/…");
  assert.equal(originOnly("not a url"), "(invalid url)");
});

Deno.test("redactUrl() masks only a password; a path stays (not for webhook URLs)", () => {
  assert.equal(redactUrl("postgres://u:pw@db:5432/x"), "postgres://u:***@db:5432/x");
  assert.equal(
    redactUrl("https://hooks.slack.com/services/T0"),
    "https://hooks.slack.com/services/T0",
  );
});
