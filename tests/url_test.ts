import assert from "node:assert/strict";
import { originOnly, redactUrl } from "../src/url.ts";

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
