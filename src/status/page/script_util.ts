/**
 * The status page's script, part 1: DOM helpers that only ever set text and
 * attributes (never markup), and the formatting of states, durations and
 * times. Plain browser JavaScript in a string, concatenated by `mod.ts`.
 * @module
 */

import { STATE_TEXT } from "../labels.ts";

/** DOM helpers, labels and formatters of the page's script. */
export const SCRIPT_UTIL = String.raw`
var SVG_NS = "http://www.w3.org/2000/svg";

/** A new element; text (from the wire or not) goes in as textContent only. */
function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

/** A new SVG element with its attributes (sizes live in attributes, not style). */
function svg(tag, attrs, text) {
  var e = document.createElementNS(SVG_NS, tag);
  for (var k in attrs) e.setAttribute(k, String(attrs[k]));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function setText(e, text) {
  var t = text === undefined || text === null ? "" : String(text);
  if (e.textContent !== t) e.textContent = t;
}

function setClass(e, cls) {
  if (e.getAttribute("class") !== cls) e.setAttribute("class", cls);
}

function setAttr(e, name, value) {
  var v = String(value);
  if (e.getAttribute(name) !== v) e.setAttribute(name, v);
}

function byId(id) {
  return document.getElementById(id);
}

/** A table with these column headers; rows go in its tbody. */
function table(headers, cls) {
  var t = el("table", cls || "");
  var tr = el("tr");
  for (var i = 0; i < headers.length; i++) tr.appendChild(el("th", "", headers[i]));
  t.appendChild(el("thead")).appendChild(tr);
  t.tBody = t.appendChild(el("tbody"));
  return t;
}

function td(cls, text) {
  return el("td", cls, text);
}

var STATE_LABEL = ${JSON.stringify(STATE_TEXT)};
/** Worst first: the order of counts and of the hosts that need a look. */
var STATE_ORDER = ["not_back", "offline", "stale", "coming_back", "restarting", "waiting", "up"];

function stateLabel(state) {
  return Object.prototype.hasOwnProperty.call(STATE_LABEL, state) ? STATE_LABEL[state] : String(state);
}

/** A state badge: colour, glyph and the words. */
function stateBadge(state) {
  return el("span", "state s-" + safeClass(state), stateLabel(state));
}

/** Class names from the wire are limited to [a-z_]. */
function safeClass(s) {
  return String(s).replace(/[^a-z_]/g, "");
}

function pad(n) {
  return n < 10 ? "0" + n : String(n);
}

/** 850 ms · 3.2 s · 4m 05s · 2h 03m · 3d 4h */
function duration(ms) {
  if (typeof ms !== "number" || !isFinite(ms)) return "–";
  if (ms < 0) ms = 0;
  if (ms < 1000) return Math.round(ms) + " ms";
  var s = ms / 1000;
  if (s < 60) return s.toFixed(1) + " s";
  return coarse(s);
}

/** Whole units, so the text changes rarely: 42s · 12m · 5h 12m · 3d 4h */
function coarse(sec) {
  if (typeof sec !== "number" || !isFinite(sec)) return "–";
  sec = Math.max(0, Math.floor(sec));
  if (sec < 60) return sec + "s";
  var m = Math.floor(sec / 60);
  if (m < 60) return m + "m " + pad(sec % 60) + "s";
  var h = Math.floor(m / 60);
  if (h < 24) return h + "h " + pad(m % 60) + "m";
  return Math.floor(h / 24) + "d " + (h % 24) + "h";
}

/** Coarser still, for uptimes of a whole fleet: 42s · 12m · 5h 12m · 3d 4h */
function uptime(sec) {
  if (typeof sec !== "number" || !isFinite(sec)) return "–";
  if (sec < 3600) return sec < 60 ? Math.floor(sec) + "s" : Math.floor(sec / 60) + "m";
  return coarse(sec);
}

function ago(ms, now) {
  return typeof ms === "number" ? coarse((now - ms) / 1000) + " ago" : "–";
}

function clock(ms) {
  if (typeof ms !== "number") return "–";
  var d = new Date(ms);
  return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
}

function dateTime(ms) {
  return typeof ms === "number" ? new Date(ms).toLocaleString() : "";
}

function plural(n, one, many) {
  return n + " " + (n === 1 ? one : many);
}

/** Counts by state, worst first: [[state, n], ...]. */
function countStates(hosts) {
  var counts = {};
  for (var i = 0; i < hosts.length; i++) counts[hosts[i].state] = (counts[hosts[i].state] || 0) + 1;
  var out = [];
  for (var j = 0; j < STATE_ORDER.length; j++) {
    if (counts[STATE_ORDER[j]]) out.push([STATE_ORDER[j], counts[STATE_ORDER[j]]]);
  }
  return out;
}

/** Chips "3 up", "1 offline" in a container, rebuilt only when the counts change. */
function renderCounts(box, counts) {
  var key = JSON.stringify(counts);
  if (box.countsKey === key) return;
  box.countsKey = key;
  var frag = document.createDocumentFragment();
  for (var i = 0; i < counts.length; i++) {
    frag.appendChild(el("span", "chip s-" + counts[i][0], counts[i][1] + " " + stateLabel(counts[i][0])));
  }
  box.replaceChildren(frag);
}
`;
