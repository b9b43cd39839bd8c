/**
 * The status page's script, part 5: the live feed. One EventSource on
 * `/api/events` (the server pushes the whole status on each change, at most
 * every 500 ms, at least every 5 s; nothing polls). On an error the page says
 * "disconnected" at once and dims what it shows; the browser reconnects by
 * itself, and where it gives up (an HTTP error such as 503) the page opens a
 * new one with backoff (2 s doubling to 30 s).
 * @module
 */

/** The feed and the render of one update, for the page's script. */
export const SCRIPT_MAIN = String.raw`
var last = null;
var lastAt = 0;
var updates = 0;
var source = null;
var retryMs = 2000;
var reconnectTimer = 0;

function render(status) {
  last = status;
  lastAt = Date.now();
  setText(byId("version"), "v" + status.version);
  renderKillSwitch(status.killSwitch, status.now);
  renderSummary(status);
  renderFleet(status);
  renderChart(status.recent);
  renderLive(status.restarts, status.now);
  renderRequests(status.requests, status.now);
  renderRecent(status.recent, status.restarts);
  document.body.setAttribute("data-updates", String(++updates));
  setConn("live", "live · " + clock(status.now));
}

function setConn(kind, text) {
  var conn = byId("conn");
  setClass(conn, "conn conn-" + kind);
  setText(conn, text);
  var down = kind === "down";
  byId("offline-banner").hidden = !down;
  document.body.classList.toggle("disconnected", down);
}

function connect() {
  reconnectTimer = 0;
  var es = new EventSource("/api/events");
  source = es;
  es.addEventListener("open", function () {
    retryMs = 2000;
    setConn("live", last ? "live · " + clock(last.now) : "live");
  });
  es.addEventListener("status", function (e) {
    try {
      render(JSON.parse(e.data));
    } catch (err) {
      console.error("mandrill status: cannot show an update", err);
    }
  });
  es.addEventListener("error", function () {
    setConn("down", "disconnected · reconnecting");
    if (es.readyState === EventSource.CLOSED && !reconnectTimer) {
      reconnectTimer = setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    }
  });
}

// Updates come at least every 5 s while connected: say so when they stop.
setInterval(function () {
  if (source && source.readyState === EventSource.OPEN && last && Date.now() - lastAt > 15000) {
    setConn("down", "no update for " + coarse((Date.now() - lastAt) / 1000));
  }
}, 5000);

connect();
`;
