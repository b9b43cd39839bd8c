/**
 * The status page with 10,000 hosts, in headless Chromium, fed by the real
 * HTTP server and status feed from a made-up status: large groups fold to the
 * hosts that are not up, the full list is built only when opened, and an
 * update changes the rows it concerns, in place.
 */
import assert from "node:assert/strict";
import { Metrics, startHttpServer } from "../../src/http/mod.ts";
import { type HostStatus, type Status, STATUS_PAGE, StatusFeed } from "../../src/status/mod.ts";
import { Chromium, type InPage } from "../_helpers/browser.ts";

const GROUPS = 4;
const PER_GROUP = 2_500;
const NOT_UP_PER_GROUP = 10;

function bigStatus(): Status {
  const now = Date.now();
  const states = ["offline", "coming_back", "restarting", "stale", "not_back"] as const;
  return {
    version: "test",
    now,
    killSwitch: { paused: false },
    fleet: { hosts: GROUPS * PER_GROUP, down: GROUPS * NOT_UP_PER_GROUP, maxUnavailable: 100 },
    groups: Array.from({ length: GROUPS }, (_, g) => ({
      name: `g${g}`,
      limit: 25,
      down: NOT_UP_PER_GROUP,
      hosts: Array.from({ length: PER_GROUP }, (_, i): HostStatus => ({
        host: `g${g}-h${i}`,
        state: i % 250 === 0 ? states[(i / 250) % states.length]! : "up",
        executor: "agent",
        uptimeSec: 86_400 + i,
        ...(i % 7 === 0 ? { lastRestartAt: now - 3_600_000, lastRecoveryMs: 30_000 + i } : {}),
      })),
    })),
    requests: { waiting: [], executing: [] },
    restarts: [],
    recent: [],
  };
}

Deno.test("status page: 10,000 hosts render folded, a group opens on demand, an update touches its rows in place", async () => {
  let current = bigStatus();
  const snapshot = () => JSON.stringify(current);
  const feed = new StatusFeed({ snapshot, minIntervalMs: 50 });
  await using server = startHttpServer("127.0.0.1:0", {
    metrics: new Metrics(),
    status: snapshot,
    feed,
    page: STATUS_PAGE,
  });
  using _feed = feed;
  await using browser = await Chromium.launch();
  const { page, problems } = await browser.page();
  const started = performance.now();
  await page.goto(`http://127.0.0.1:${server.addr.port}/`);
  await page.waitForFunction(
    () => Number((globalThis as unknown as InPage).document.body.getAttribute("data-updates")) >= 1,
    { timeout: 20_000, polling: 50 },
  );
  const firstRenderMs = performance.now() - started;

  const count = (selector: string) =>
    page.evaluate(
      (s: string) => (globalThis as unknown as InPage).document.querySelectorAll(s).length,
      selector,
    );
  assert.equal(await count("#groups section[data-group]"), GROUPS);
  assert.equal(
    await count("#groups tr[data-host]"),
    GROUPS * NOT_UP_PER_GROUP,
    "only the hosts not up have rows until a group is opened",
  );
  assert.equal(
    await page.evaluate(() =>
      (globalThis as unknown as InPage).document.querySelector('[data-group="g0"] summary')
        ?.textContent
    ),
    "All 2500 hosts of g0",
  );

  // Opening g0 builds its 2,500 rows.
  const opened = performance.now();
  await page.click('section[data-group="g0"] details > summary');
  await page.waitForFunction(
    () =>
      (globalThis as unknown as InPage).document.querySelectorAll(
        '[data-group="g0"] details tr[data-host]',
      ).length === 2_500,
    { timeout: 10_000, polling: 50 },
  );
  const openMs = performance.now() - opened;

  // Mark two rows, change one host, and see the same rows again.
  await page.evaluate(() => {
    const doc = (globalThis as unknown as InPage).document;
    for (const h of ["g0-h5", "g0-h6"]) {
      const row = doc.querySelector(`details tr[data-host="${h}"]`) as unknown as { mark?: string };
      row.mark = h;
    }
  });
  current = bigStatus();
  current.groups[0]!.hosts[5]!.state = "offline";
  const updated = performance.now();
  feed.changed();
  await page.waitForFunction(
    () =>
      (globalThis as unknown as InPage).document.querySelector(
        'details tr[data-host="g0-h5"] td.state-cell',
      )?.textContent === "offline",
    { timeout: 10_000, polling: 20 },
  );
  const updateMs = performance.now() - updated;
  const kept = await page.evaluate(() => {
    const doc = (globalThis as unknown as InPage).document;
    return ["g0-h5", "g0-h6"].map((h) =>
      (doc.querySelector(`details tr[data-host="${h}"]`) as unknown as { mark?: string }).mark
    );
  });
  assert.deepEqual(kept, ["g0-h5", "g0-h6"], "a row was rebuilt rather than updated");
  assert.equal(await count('[data-group="g0"] > table tr[data-host]'), NOT_UP_PER_GROUP + 1);
  assert.deepEqual(problems, []);
  // deno-lint-ignore no-console
  console.log(
    `10,000 hosts: first render ${firstRenderMs.toFixed(0)} ms (load included), ` +
      `open a group of 2,500 ${openMs.toFixed(0)} ms, one host changed ${updateMs.toFixed(0)} ms`,
  );
});
