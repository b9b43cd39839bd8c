/**
 * The status page's script, part 3: the header summary, the kill switch,
 * restarts in progress, requests waiting and executing, the last restarts
 * and the chart of recovery times (SVG built with createElementNS). These
 * lists are short (bounded, or cut at `MAX_ROWS`), so each is rebuilt in one
 * DocumentFragment, and only when what it shows changed.
 * @module
 */

/** Summary, kill switch, request lists, recent restarts and the chart, for the page's script. */
export const SCRIPT_PANELS = String.raw`
var MAX_ROWS = 100;

/** Replaces box's content with build()'s, unless key is what it showed last. */
function rebuildIf(box, key, build) {
  if (box.renderKey === key) return;
  box.renderKey = key;
  var frag = document.createDocumentFragment();
  build(frag);
  box.replaceChildren(frag);
}

function renderSummary(status) {
  var f = status.fleet;
  var all = [];
  for (var i = 0; i < status.groups.length; i++) all = all.concat(status.groups[i].hosts);
  var counts = countStates(all);
  var key = JSON.stringify([f, counts, status.requests.waiting.length, status.requests.executing.length]);
  rebuildIf(byId("summary"), key, function (frag) {
    frag.appendChild(el("span", "big" + (f.down > f.maxUnavailable ? " over" : ""), f.down + " of " + f.maxUnavailable + " allowed down"));
    frag.appendChild(el("span", "", plural(f.hosts, "host", "hosts")));
    var chips = frag.appendChild(el("span", "group-counts"));
    renderCounts(chips, counts);
    frag.appendChild(el("span", "", status.requests.waiting.length + " waiting · " + status.requests.executing.length + " executing"));
  });
  var ks = status.killSwitch;
  document.title = (ks.paused ? "PAUSED · " : "") + f.down + " down · mandrill";
}

function renderKillSwitch(ks, now) {
  var box = byId("killswitch");
  var key = JSON.stringify(ks) + (ks.paused ? ago(ks.since, now) : "");
  if (!ks.paused) {
    setClass(box, "killswitch ks-running");
  } else {
    setClass(box, "killswitch ks-paused" + (ks.source === "breaker" ? " ks-breaker" : ""));
  }
  rebuildIf(box, key, function (frag) {
    if (!ks.paused) {
      frag.appendChild(el("span", "ks-label", "Restarts running"));
      frag.appendChild(el("span", "ks-meta", "kill switch off · mandrill pause --config FILE --reason TEXT stops new restarts"));
      return;
    }
    frag.appendChild(el("span", "ks-label", ks.source === "breaker" ? "Paused by the breaker" : "Paused by an operator"));
    frag.appendChild(el("span", "ks-reason", ks.reason ? ks.reason : "(no reason given)"));
    var meta = [];
    if (ks.by) meta.push("by " + ks.by);
    meta.push(ks.source === "breaker" ? "source: breaker" : "source: operator");
    if (typeof ks.since === "number") meta.push("since " + clock(ks.since) + " (" + ago(ks.since, now) + ")");
    meta.push("no new restarts until mandrill resume");
    frag.appendChild(el("span", "ks-meta", meta.join(" · ")));
  });
}

/** A table of at most MAX_ROWS rows, "…and N more" under it, or a line saying none. */
function listTable(frag, items, headers, emptyText, row) {
  if (items.length === 0) {
    frag.appendChild(el("p", "empty", emptyText));
    return;
  }
  var t = frag.appendChild(table(headers));
  for (var i = 0; i < items.length && i < MAX_ROWS; i++) t.tBody.appendChild(row(items[i]));
  if (items.length > MAX_ROWS) frag.appendChild(el("p", "more", "…and " + (items.length - MAX_ROWS) + " more"));
}

function tr(cells) {
  var r = el("tr");
  for (var i = 0; i < cells.length; i++) r.appendChild(cells[i]);
  return r;
}

function badgeCell(cls, text, title) {
  var c = td("state-cell");
  var b = c.appendChild(el("span", cls, text));
  if (title) b.setAttribute("title", title);
  return c;
}

function hostCell(host, id) {
  var c = td("host", host);
  c.setAttribute("title", "request " + id);
  return c;
}

/** "who: why", for a restart's requestedBy and reason. */
function why(r) {
  if (r.requestedBy && r.reason) return r.requestedBy + ": " + r.reason;
  return r.requestedBy || r.reason || "–";
}

function renderLive(restarts, now) {
  setText(byId("live-count"), restarts.length ? "(" + restarts.length + ")" : "");
  rebuildIf(byId("live"), JSON.stringify([restarts, now]), function (frag) {
    listTable(frag, restarts, ["host", "phase", "for", "why"], "None.", function (r) {
      return tr([
        hostCell(r.host, r.id),
        badgeCell("state s-" + safeClass(r.phase), stateLabel(r.phase), "since " + clock(r.since)),
        td("num", coarse((now - r.since) / 1000)),
        td("text why", why(r)),
      ]);
    });
  });
}

function renderRequests(requests, now) {
  var waiting = requests.waiting;
  var executing = requests.executing;
  setText(byId("waiting-count"), waiting.length ? "(" + waiting.length + ")" : "");
  setText(byId("executing-count"), executing.length ? "(" + executing.length + ")" : "");
  rebuildIf(byId("waiting"), JSON.stringify([waiting, now]), function (frag) {
    listTable(frag, waiting, ["host", "waiting for", "for"], "None.", function (w) {
      return tr([
        hostCell(w.host, w.id),
        td("text", w.waitingFor || "its turn"),
        td("num", coarse((now - w.since) / 1000)),
      ]);
    });
  });
  rebuildIf(byId("executing"), JSON.stringify([executing, now]), function (frag) {
    listTable(frag, executing, ["host", "for"], "None.", function (x) {
      return tr([hostCell(x.host, x.id), td("num", coarse((now - x.since) / 1000))]);
    });
  });
}

function backIn(r, live) {
  if (typeof r.recoveryMs === "number") return td("num", duration(r.recoveryMs));
  if (r.notBack) return badgeCell("state s-not_back", stateLabel("not_back"));
  if (live.has(r.id)) return td("num pending", "coming back…");
  return td("num", "–");
}

function renderRecent(recent, restarts) {
  var live = new Set(restarts.map(function (r) {
    return r.id;
  }));
  setText(byId("recent-count"), recent.length ? "(" + recent.length + ", newest first)" : "");
  rebuildIf(byId("recent"), JSON.stringify([recent, Array.from(live)]), function (frag) {
    var headers = ["started", "host", "outcome", "took", "back in", "requested by", "reason", "detail", "id"];
    listTable(frag, recent, headers, "No restart has finished yet.", function (r) {
      return tr([
        td("num", clock(r.startedAt)),
        td("host", r.host),
        badgeCell("outcome o-" + safeClass(r.outcome), r.outcome),
        td("num", duration(r.durationMs)),
        backIn(r, live),
        td("text", r.requestedBy || "–"),
        td("text", r.reason || "–"),
        td("text", r.detail || ""),
        td("id", r.id),
      ]);
    });
  });
}
`;
