/**
 * The status page's script, part 2: the fleet by group. Rows are keyed by
 * host and kept between updates: an update sets only the cells whose text
 * changed, and a table is re-ordered (one DocumentFragment) only when its
 * list of hosts changed. A group of more than `LARGE_GROUP` hosts lists the
 * hosts that are not up (worst first, at most `MAX_ATTENTION`) and keeps its
 * full list folded in a `<details>`, built only once opened.
 * @module
 */

/** Groups and their host tables, for the page's script. */
export const SCRIPT_FLEET = String.raw`
var LARGE_GROUP = 100;
var MAX_ATTENTION = 200;
var NO_GROUP = "(no group)";

/** A table of hosts, one keyed row per host. */
function HostTable() {
  this.table = table(["host", "state", "uptime", "last restart", "back in"], "hosts");
  this.rows = new Map();
  this.order = [];
}

HostTable.prototype.sync = function (hosts, now) {
  var same = hosts.length === this.order.length;
  for (var i = 0; same && i < hosts.length; i++) same = hosts[i].host === this.order[i];
  if (same) {
    for (var j = 0; j < hosts.length; j++) updateHostRow(this.rows.get(hosts[j].host), hosts[j], now);
    return;
  }
  var frag = document.createDocumentFragment();
  var next = new Map();
  var order = new Array(hosts.length);
  for (var k = 0; k < hosts.length; k++) {
    var h = hosts[k];
    var row = this.rows.get(h.host) || hostRow(h.host);
    updateHostRow(row, h, now);
    next.set(h.host, row);
    order[k] = h.host;
    frag.appendChild(row.tr);
  }
  this.rows = next;
  this.order = order;
  this.table.tBody.replaceChildren(frag);
};

function hostRow(name) {
  var tr = el("tr");
  tr.setAttribute("data-host", name);
  var row = {
    tr: tr,
    name: td("host", name),
    badge: el("span"),
    up: td("num uptime"),
    last: td("num last"),
    back: td("num back"),
    cache: {},
  };
  tr.appendChild(row.name);
  tr.appendChild(td("state-cell")).appendChild(row.badge);
  tr.appendChild(row.up);
  tr.appendChild(row.last);
  tr.appendChild(row.back);
  return row;
}

/** Sets a cell's text when it differs from what the row last set (no DOM reads). */
function put(row, key, cell, text) {
  if (row.cache[key] === text) return;
  row.cache[key] = text;
  cell.textContent = text;
}

function updateHostRow(row, h, now) {
  if (row.cache.state !== h.state) {
    row.cache.state = h.state;
    var cls = safeClass(h.state);
    row.badge.setAttribute("class", "state s-" + cls);
    row.badge.textContent = stateLabel(h.state);
    row.tr.setAttribute("class", "s-row-" + cls);
    row.tr.setAttribute("data-state", h.state);
  }
  if (row.cache.executor !== h.executor) {
    row.cache.executor = h.executor;
    row.name.setAttribute("title", "executor: " + h.executor);
  }
  put(row, "up", row.up, uptime(h.uptimeSec));
  if (row.cache.lastAt !== h.lastRestartAt) {
    row.cache.lastAt = h.lastRestartAt;
    row.last.setAttribute("title", dateTime(h.lastRestartAt));
  }
  put(row, "last", row.last, ago(h.lastRestartAt, now));
  put(row, "back", row.back, typeof h.lastRecoveryMs === "number" ? duration(h.lastRecoveryMs) : "–");
}

var groupViews = new Map();
var groupOrder = null;

function renderFleet(status) {
  var box = byId("groups");
  var groups = status.groups;
  if (groups.length === 0) {
    groupViews.clear();
    groupOrder = null;
    box.replaceChildren(el("p", "empty", "No hosts: none in the config, no agent heard from."));
    return;
  }
  var rebuild = groupOrder === null || groupOrder.length !== groups.length;
  for (var i = 0; i < groups.length; i++) {
    var g = groups[i];
    if (!rebuild && groupOrder[i] !== g.name) rebuild = true;
    var v = groupViews.get(g.name);
    if (v && v.large !== g.hosts.length > LARGE_GROUP) {
      groupViews.delete(g.name);
      rebuild = true;
    }
  }
  var frag = rebuild ? document.createDocumentFragment() : null;
  var names = [];
  for (var j = 0; j < groups.length; j++) {
    var group = groups[j];
    var view = groupViews.get(group.name);
    if (!view) groupViews.set(group.name, view = createGroup(group));
    updateGroup(view, group, status.now);
    names.push(group.name);
    if (frag) frag.appendChild(view.root);
  }
  if (!frag) return;
  for (var name of Array.from(groupViews.keys())) if (names.indexOf(name) < 0) groupViews.delete(name);
  groupOrder = names;
  box.replaceChildren(frag);
}

function createGroup(g) {
  var root = el("section", "group");
  root.setAttribute("data-group", g.name);
  var head = root.appendChild(el("div", "group-head"));
  head.appendChild(el("h3", "group-name", g.name));
  var budget = head.appendChild(el("span", "budget"));
  var v = { root: root, large: g.hosts.length > LARGE_GROUP, last: g, now: 0, cls: "" };
  v.budgetText = budget.appendChild(el("span", "budget-text"));
  var meter = budget.appendChild(svg("svg", { width: 60, height: 8, viewBox: "0 0 60 8", "aria-hidden": "true" }));
  meter.appendChild(svg("rect", { class: "track", x: 0, y: 0, width: 60, height: 8, rx: 4 }));
  v.fill = meter.appendChild(svg("rect", { class: "fill", x: 0, y: 0, width: 0, height: 8, rx: 4 }));
  v.counts = head.appendChild(el("div", "group-counts"));
  v.all = new HostTable();
  if (!v.large) {
    root.appendChild(v.all.table);
    return v;
  }
  v.attention = new HostTable();
  root.appendChild(v.attention.table);
  v.note = root.appendChild(el("p", "note"));
  v.details = root.appendChild(el("details"));
  v.summary = v.details.appendChild(el("summary"));
  v.details.appendChild(v.all.table);
  v.details.addEventListener("toggle", function () {
    if (v.details.open) v.all.sync(v.last.hosts, v.now);
  });
  return v;
}

function updateGroup(v, g, now) {
  v.last = g;
  v.now = now;
  var ungrouped = g.name === NO_GROUP;
  setText(
    v.budgetText,
    ungrouped ? g.down + " down · 1 allowed per host" : g.down + " of " + g.limit + " allowed down",
  );
  var share = ungrouped ? g.down / Math.max(1, g.hosts.length) : g.down / Math.max(1, g.limit);
  setAttr(v.fill, "width", (Math.min(1, share) * 60).toFixed(1));
  var cls = "group";
  if (!ungrouped && g.down > g.limit) cls += " over-limit";
  else if (!ungrouped && g.down > 0 && g.down >= g.limit) cls += " at-limit";
  setClass(v.root, cls);
  renderCounts(v.counts, countStates(g.hosts));
  if (!v.large) {
    v.all.sync(g.hosts, now);
    return;
  }
  var notUp = [];
  for (var i = 0; i < g.hosts.length; i++) if (g.hosts[i].state !== "up") notUp.push(g.hosts[i]);
  notUp.sort(function (a, b) {
    return STATE_ORDER.indexOf(a.state) - STATE_ORDER.indexOf(b.state);
  });
  v.attention.sync(notUp.slice(0, MAX_ATTENTION), now);
  v.attention.table.hidden = notUp.length === 0;
  var note = notUp.length === 0
    ? "All " + g.hosts.length + " hosts are up."
    : notUp.length > MAX_ATTENTION
    ? "…and " + (notUp.length - MAX_ATTENTION) + " more not up: all in the full list below."
    : "";
  setText(v.note, note);
  v.note.hidden = note === "";
  setText(v.summary, "All " + g.hosts.length + " hosts of " + g.name);
  if (v.details.open) v.all.sync(g.hosts, now);
}
`;
