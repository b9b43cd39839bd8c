/**
 * The status page's script, part 4: the chart of recovery times — one bar
 * per recent restart, oldest on the left, height = how long its host took
 * to come back (a full red bar: it did not come back), a dashed median line
 * and a line of statistics. Drawn as SVG by the page itself.
 * @module
 */

/** The recovery-time chart, for the page's script. */
export const SCRIPT_CHART = String.raw`
var CHART_W = 400;
var CHART_H = 150;
var CHART_LEFT = 46;
var CHART_BOTTOM = 18;
var CHART_TOP = 8;

/** A round axis top at or above ms: 1, 1.5, 2, 3, 4, 5, 6 or 8 times a power of ten. */
function niceCeil(ms) {
  if (!(ms > 0)) return 1000;
  var p = Math.pow(10, Math.floor(Math.log10(ms)));
  var steps = [1, 1.5, 2, 3, 4, 5, 6, 8, 10];
  for (var i = 0; i < steps.length; i++) if (steps[i] * p >= ms) return steps[i] * p;
  return 10 * p;
}

function quantile(sorted, q) {
  if (sorted.length === 0) return undefined;
  var i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

function renderChart(recent) {
  var points = [];
  for (var i = recent.length - 1; i >= 0; i--) {
    var r = recent[i];
    if (typeof r.recoveryMs === "number" || r.notBack) points.push(r);
  }
  var box = byId("chart");
  var key = JSON.stringify(points.map(function (p) {
    return [p.id, p.recoveryMs, p.notBack];
  }));
  if (box.renderKey === key) return;
  box.renderKey = key;
  var stats = byId("chart-stats");
  if (points.length === 0) {
    box.replaceChildren(el("p", "empty", "No host has come back from a restart yet."));
    setText(stats, "");
    return;
  }
  var times = points.filter(function (p) {
    return typeof p.recoveryMs === "number";
  }).map(function (p) {
    return p.recoveryMs;
  }).sort(function (a, b) {
    return a - b;
  });
  var notBack = points.length - times.length;
  var top = niceCeil(times.length ? times[times.length - 1] : 1000);
  var plotW = CHART_W - CHART_LEFT - 4;
  var plotH = CHART_H - CHART_TOP - CHART_BOTTOM;
  var y = function (ms) {
    return CHART_TOP + plotH - Math.min(1, ms / top) * plotH;
  };
  var root = svg("svg", {
    viewBox: "0 0 " + CHART_W + " " + CHART_H,
    width: CHART_W,
    height: CHART_H,
    role: "img",
    "aria-label": "Recovery times of the last " + points.length + " restarts",
  });
  var ticks = [0, top / 2, top];
  for (var t = 0; t < ticks.length; t++) {
    var ty = y(ticks[t]);
    root.appendChild(svg("line", { class: t === 0 ? "axis" : "grid", x1: CHART_LEFT, x2: CHART_W - 4, y1: ty, y2: ty }));
    root.appendChild(svg("text", { class: "label", x: CHART_LEFT - 6, y: ty + 4, "text-anchor": "end" }, duration(ticks[t])));
  }
  var slot = plotW / Math.max(points.length, 10);
  var barW = Math.max(2, Math.min(26, slot * 0.75));
  for (var k = 0; k < points.length; k++) {
    var p = points[k];
    var h = p.notBack && typeof p.recoveryMs !== "number" ? plotH : Math.max(1, (Math.min(p.recoveryMs, top) / top) * plotH);
    var bar = svg("rect", {
      class: typeof p.recoveryMs === "number" ? "bar" : "bar bar-notback",
      x: (CHART_LEFT + k * slot + (slot - barW) / 2).toFixed(1),
      y: (CHART_TOP + plotH - h).toFixed(1),
      width: barW.toFixed(1),
      height: h.toFixed(1),
      rx: 2,
    });
    var what = typeof p.recoveryMs === "number" ? "back in " + duration(p.recoveryMs) : "did not come back";
    bar.appendChild(svg("title", {}, p.host + ": " + what + " (restarted " + clock(p.startedAt) + ", " + p.id + ")"));
    root.appendChild(bar);
  }
  var median = quantile(times, 0.5);
  if (median !== undefined) {
    var my = y(median);
    root.appendChild(svg("line", { class: "median", x1: CHART_LEFT, x2: CHART_W - 4, y1: my, y2: my }));
  }
  root.appendChild(svg("text", { class: "label", x: CHART_LEFT, y: CHART_H - 4 }, "oldest"));
  root.appendChild(svg("text", { class: "label", x: CHART_W - 4, y: CHART_H - 4, "text-anchor": "end" }, "newest"));
  box.replaceChildren(root);
  var parts = [plural(times.length, "recovery", "recoveries")];
  if (times.length) {
    parts.push("median " + duration(median) + " (dashed)");
    parts.push("p90 " + duration(quantile(times, 0.9)));
    parts.push("max " + duration(times[times.length - 1]));
  }
  if (notBack) parts.push(notBack + " did not come back (red)");
  setText(stats, parts.join(" · "));
}
`;
