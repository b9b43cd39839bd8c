/**
 * The status page served at `GET /`: HTML, CSS and plain JavaScript held as
 * strings and served by mandrill itself — no build step, no CDN. The page is
 * read-only; it sets everything from the wire with `textContent` and
 * attributes (never markup) and has nothing inline, so it runs under the
 * server's strict Content-Security-Policy.
 * @module
 */
import type { PageAsset } from "../../http/mod.ts";
import { STATUS_CSS } from "./css.ts";
import { STATUS_HTML } from "./html.ts";
import { SCRIPT_CHART } from "./script_chart.ts";
import { SCRIPT_FLEET } from "./script_fleet.ts";
import { SCRIPT_MAIN } from "./script_main.ts";
import { SCRIPT_PANELS } from "./script_panels.ts";
import { SCRIPT_UTIL } from "./script_util.ts";

/** `GET /status.js`: the page's script, its parts in one strict-mode function. */
export const STATUS_JS = [
  "// mandrill status page: live from /api/events, read-only.",
  "(function () {",
  '"use strict";',
  SCRIPT_UTIL,
  SCRIPT_FLEET,
  SCRIPT_PANELS,
  SCRIPT_CHART,
  SCRIPT_MAIN,
  "})();",
  "",
].join("\n");

/** The page's files by path, for `startHttpServer`'s `page` option. */
export const STATUS_PAGE: Record<string, PageAsset> = {
  "/": { contentType: "text/html; charset=utf-8", body: STATUS_HTML },
  "/status.js": { contentType: "text/javascript; charset=utf-8", body: STATUS_JS },
  "/status.css": { contentType: "text/css; charset=utf-8", body: STATUS_CSS },
};
