/**
 * The status page in a real browser: headless Chromium (Debian's package,
 * driven by puppeteer-core) on the page of a running `mandrill run` with a
 * real Mosquitto and simulated hosts running the real agent code. Everything
 * is asserted on the page's text, waiting with deadlines, never for sleeps.
 */
import assert from "node:assert/strict";
import type { EvaluateFunc, Page } from "puppeteer-core";
import { PAGE_CSP } from "../../src/http/mod.ts";
import { Chromium, findChromium, type InPage } from "../_helpers/browser.ts";
import { runMandrill } from "../_helpers/process.ts";
import { StatusWorld } from "../_helpers/status_world.ts";

/** Waits until `fn(...args)` is truthy in the page; on timeout says what and shows the page's text. */
async function until<A extends unknown[]>(
  page: Page,
  what: string,
  fn: EvaluateFunc<A>,
  args: A,
  timeoutMs = 15_000,
): Promise<void> {
  try {
    await page.waitForFunction(fn, { timeout: timeoutMs, polling: 100 }, ...args);
  } catch (err) {
    const text = await page.evaluate(() =>
      (globalThis as unknown as InPage).document.body.textContent ?? ""
    ).catch(() => "(page gone)");
    throw new Error(
      `Timed out after ${timeoutMs} ms waiting for ${what}: ${err}\n` +
        `page text: ${text.replace(/\s+/g, " ").slice(0, 2000)}`,
    );
  }
}

/** The text of the state cell of `host`'s row in the fleet is `label`. */
function hostState(page: Page, host: string, label: string, timeoutMs?: number) {
  return until(
    page,
    `${host} "${label}" on the page`,
    (h: string, l: string) => {
      const doc = (globalThis as unknown as InPage).document;
      return doc.querySelector(`#groups tr[data-host="${h}"] td.state-cell`)?.textContent === l;
    },
    [host, label],
    timeoutMs,
  );
}

/** The text of one element, or undefined. */
function textOf(page: Page, selector: string): Promise<string | undefined> {
  return page.evaluate(
    (s: string) =>
      (globalThis as unknown as InPage).document.querySelector(s)?.textContent ?? undefined,
    selector,
  );
}

/** Runs `mandrill pause --config FILE --reason REASON` as a process; asserts it worked. */
async function pause(file: string, reason: string): Promise<void> {
  const r = await runMandrill(["pause", "--config", file, "--reason", reason]);
  assert.equal(r.code, 0, r.stderr);
}

/** Saves a screenshot of the whole page in a temp dir (and to `MANDRILL_SCREENSHOT`, if set). */
async function screenshot(page: Page, name: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "mandrill-status-page-" });
  const path = `${dir}/${name}.png`;
  await page.screenshot({ path, fullPage: true });
  // deno-lint-ignore no-console
  console.log(`status page screenshot: ${path}`);
  const copy = Deno.env.get("MANDRILL_SCREENSHOT");
  if (copy) await Deno.copyFile(path, copy);
  return path;
}

Deno.test("status page tests: without Chromium they fail, naming the package to install", () => {
  assert.throws(
    () => findChromium(["/nonexistent/chromium"]),
    /Chromium is not installed \(looked for \/nonexistent\/chromium\).*apt-get install -y chromium$/,
  );
});

const GROUPS: Record<string, string | undefined> = {
  "web-1": "web",
  "web-2": "web",
  "web-3": "web",
  "db-1": "db",
  "db-2": "db",
  "cache-1": "cache",
  "cache-2": "cache",
  "cache-3": "cache",
  "batch-1": undefined,
};

Deno.test("status page: every host by group, live: offline without a reload, restarting → coming back → its recovery time, waiting, a pause's reason", async () => {
  await using browser = await Chromium.launch();
  await using w = await StatusWorld.start({
    hosts: GROUPS,
    // Long enough that each state is on the page for seconds (updates come every ≤ 500 ms).
    commandSec: 2,
    rebootSec: [2, 5],
    policy: { minIntervalSec: 0, maxUnavailable: 5, maxUnavailablePerGroup: 1 },
  });
  const { page, problems } = await browser.page();
  await page.goto(`${w.url}/`);
  await page.evaluate(() => {
    (globalThis as unknown as { loadedOnce: boolean }).loadedOnce = true;
  });

  // Every host, in its group's section, up.
  await until(page, "every host in its group, up", (groups: Record<string, string>) => {
    const doc = (globalThis as unknown as InPage).document;
    return Object.entries(groups).every(([host, group]) => {
      const row = doc.querySelector(
        `#groups section[data-group="${group}"] tr[data-host="${host}"]`,
      );
      return row?.querySelector("td.state-cell")?.textContent === "up";
    });
  }, [Object.fromEntries(Object.entries(GROUPS).map(([h, g]) => [h, g ?? "(no group)"]))]);
  assert.equal(
    await page.evaluate(() =>
      (globalThis as unknown as InPage).document.querySelectorAll("#groups tr[data-host]").length
    ),
    Object.keys(GROUPS).length,
    "one row per host",
  );
  assert.match((await textOf(page, "#killswitch .ks-label")) ?? "", /^Restarts running$/);
  assert.match((await textOf(page, "#conn")) ?? "", /^live/);

  // An agent killed: its last will fires, the page says offline within seconds.
  await w.fleet.get("cache-3").crash();
  await hostState(page, "cache-3", "offline", 10_000);

  // Three restarts in three groups; web-1 is watched through each state.
  for (const host of ["web-1", "db-1", "batch-1"]) {
    await w.request({ id: `r-${host}`, host, requestedBy: "sre@bastion", reason: "game day" });
  }
  await hostState(page, "web-1", "restarting", 10_000);
  await hostState(page, "web-1", "coming back", 10_000);
  await hostState(page, "web-1", "up", 15_000);
  const back = (await textOf(page, '#groups tr[data-host="web-1"] td.back')) ?? "";
  const seconds = Number(/^(\d+\.\d) s$/.exec(back)?.[1]);
  assert.ok(seconds >= 4, `web-1 back in "${back}": its command took 2 s, its reboot 2 s or more`);
  await until(
    page,
    "three recoveries in the chart and the list",
    () => {
      const doc = (globalThis as unknown as InPage).document;
      return doc.querySelectorAll("#chart rect.bar").length === 3 &&
        Array.from(doc.querySelectorAll("#recent tbody tr")).filter((tr) =>
            /succeeded/.test(tr.textContent ?? "") &&
            / s$/.test(tr.querySelectorAll("td")[4]?.textContent ?? "")
          ).length === 3;
    },
    [],
    15_000,
  );
  const recentWeb1 = await page.evaluate(() => {
    const doc = (globalThis as unknown as InPage).document;
    const row = Array.from(doc.querySelectorAll("#recent tbody tr")).find((tr) =>
      tr.querySelector("td.host")?.textContent === "web-1"
    );
    return Array.from(row?.querySelectorAll("td") ?? []).map((td) => td.textContent);
  });
  assert.equal(recentWeb1[2], "succeeded");
  assert.equal(recentWeb1[4], back, "the list's recovery time is the fleet's");
  assert.equal(recentWeb1[5], "sre@bastion");
  assert.equal(recentWeb1[6], "game day");

  // A request waiting for its group (cache-3 is offline), and one coming back.
  await w.request({ id: "r-cache-2", host: "cache-2", reason: "disk pressure" });
  await w.request({ id: "r-web-2", host: "web-2", reason: "kernel update" });
  await until(page, "cache-2 waiting for cache-3", () => {
    const doc = (globalThis as unknown as InPage).document;
    const row = doc.querySelector("#waiting tbody tr");
    return row?.querySelector("td.host")?.textContent === "cache-2" &&
      /cache-3 offline/.test(row.textContent ?? "");
  }, []);
  await hostState(page, "cache-2", "waiting");
  await hostState(page, "web-2", "coming back", 10_000);
  await screenshot(page, "status-page");

  // The kill switch, engaged by an operator from another process.
  await pause(w.file, "game day: db failover drill");
  await until(page, "the pause's reason", () => {
    const doc = (globalThis as unknown as InPage).document;
    return doc.querySelector("#killswitch .ks-reason")?.textContent ===
        "game day: db failover drill" &&
      doc.querySelector("#killswitch .ks-label")?.textContent === "Paused by an operator";
  }, []);
  assert.match((await textOf(page, "#killswitch .ks-meta")) ?? "", /source: operator/);

  assert.equal(
    await page.evaluate(() => (globalThis as unknown as { loadedOnce?: boolean }).loadedOnce),
    true,
    "the page was reloaded",
  );
  assert.deepEqual(problems, [], "script errors or CSP violations on the page");
});

const XSS_REASON =
  `<script>window.xss = "reason"</script></div><b class="xss">"double" 'single'</b>`;
const XSS_BY = `</td></tr></table><img src=x class="xss" onerror="window.xss='by'">"'`;
const XSS_PAUSE = `</div><script>window.xss = "pause"</script><i class="xss">'quoted' "pause"</i>`;

Deno.test("status page: markup in a reason, a requestedBy and a pause reason is shown as text, under a strict CSP; a lost feed shows disconnected and reconnects", async (t) => {
  await using browser = await Chromium.launch();
  await using w = await StatusWorld.start({ hosts: { "web-1": "web" }, rebootSec: [0.3, 0.3] });

  await t.step("/ and its files carry the strict Content-Security-Policy", async () => {
    for (const path of ["/", "/status.js", "/status.css"]) {
      const res = await fetch(`${w.url}${path}`);
      await res.body?.cancel();
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get("content-security-policy"), PAGE_CSP, path);
    }
    assert.match(PAGE_CSP, /script-src 'self'/);
    assert.doesNotMatch(PAGE_CSP, /unsafe-inline|unsafe-eval/);
  });

  const { page, problems } = await browser.page();
  await page.goto(`${w.url}/`);
  await hostState(page, "web-1", "up");

  await t.step("text from the wire stays text", async () => {
    await w.request({ id: "x-1", host: "web-1", reason: XSS_REASON, requestedBy: XSS_BY });
    await until(page, "the request in the last restarts", (reason: string, by: string) => {
      const doc = (globalThis as unknown as InPage).document;
      const cells = Array.from(doc.querySelectorAll("#recent tbody tr td")).map((td) =>
        td.textContent
      );
      return cells.includes(reason) && cells.includes(by);
    }, [XSS_REASON, XSS_BY]);
    await pause(w.file, XSS_PAUSE);
    await until(
      page,
      "the pause's reason",
      (reason: string) =>
        (globalThis as unknown as InPage).document.querySelector("#killswitch .ks-reason")
          ?.textContent === reason,
      [XSS_PAUSE],
    );
    const injected = await page.evaluate(() => {
      const doc = (globalThis as unknown as InPage).document;
      return {
        elements: doc.querySelectorAll(".xss, b, i, img, [onerror]").length,
        scripts: Array.from(doc.scripts).map((s) => s.getAttribute("src")),
        xss: (globalThis as unknown as { xss?: string }).xss ?? null,
      };
    });
    assert.deepEqual(injected, { elements: 0, scripts: ["/status.js"], xss: null });
    assert.deepEqual(problems, [], "script errors or CSP violations on the page");
  });

  await t.step(
    "mandrill stopped: the page says disconnected; started again: live, no reload",
    async () => {
      await w.stopRun();
      await until(page, "disconnected", () => {
        const doc = (globalThis as unknown as InPage).document;
        return /^disconnected/.test(doc.querySelector("#conn")?.textContent ?? "") &&
          doc.querySelector("#offline-banner")?.hidden === false;
      }, []);
      const before = Number(
        await page.evaluate(() =>
          (globalThis as unknown as InPage).document.body.getAttribute("data-updates")
        ),
      );
      w.restartRun();
      await until(
        page,
        "live again with a new update",
        (n: number) => {
          const doc = (globalThis as unknown as InPage).document;
          return /^live/.test(doc.querySelector("#conn")?.textContent ?? "") &&
            Number(doc.body.getAttribute("data-updates")) > n &&
            doc.querySelector("#offline-banner")?.hidden === true;
        },
        [before],
        20_000,
      );
      // The retained pause is still there, still as text.
      assert.equal(await textOf(page, "#killswitch .ks-reason"), XSS_PAUSE);
    },
  );
});
