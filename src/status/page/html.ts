/**
 * The status page's HTML: a static shell that `status.js` fills from the
 * live feed. Nothing inline (no script, no style, no `style=`), so it runs
 * under the server's strict `PAGE_CSP`.
 * @module
 */

/** `GET /`: the page itself. */
export const STATUS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mandrill status</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/status.css">
<script src="/status.js" defer></script>
</head>
<body>
<header class="top">
  <div class="brand"><span class="logo">mandrill</span><span id="version" class="muted"></span></div>
  <div id="summary" class="summary"></div>
  <div id="conn" class="conn conn-connecting" role="status" aria-live="polite">connecting…</div>
</header>
<div id="offline-banner" class="offline-banner" hidden>Disconnected from mandrill: reconnecting. What you see below may be out of date.</div>
<main id="app">
  <section id="killswitch" class="killswitch" aria-live="polite"><span class="ks-label">Kill switch: waiting for the first update…</span></section>
  <div class="columns">
    <section class="panel fleet" aria-labelledby="fleet-title">
      <h2 id="fleet-title">Fleet by group</h2>
      <div id="groups" class="groups"></div>
    </section>
    <div class="side">
      <section class="panel" aria-labelledby="chart-title">
        <h2 id="chart-title">Recovery times <span class="muted">(last restarts, oldest first)</span></h2>
        <div id="chart" class="chart"></div>
        <p id="chart-stats" class="chart-stats muted"></p>
      </section>
      <section class="panel" aria-labelledby="live-title">
        <h2 id="live-title">Restarts in progress <span id="live-count" class="count"></span></h2>
        <div id="live"></div>
      </section>
      <section class="panel" aria-labelledby="waiting-title">
        <h2 id="waiting-title">Requests waiting <span id="waiting-count" class="count"></span></h2>
        <div id="waiting"></div>
        <h2 id="executing-title">Requests executing <span id="executing-count" class="count"></span></h2>
        <div id="executing"></div>
      </section>
    </div>
  </div>
  <section class="panel" aria-labelledby="recent-title">
    <h2 id="recent-title">Last restarts <span id="recent-count" class="count"></span></h2>
    <div id="recent"></div>
  </section>
  <p class="footnote muted">Read-only. Live from <code>/api/events</code>; the same data as JSON at <code>/api/status</code> and in the terminal with <code>mandrill status</code>.</p>
</main>
<noscript><p class="noscript">This page needs JavaScript. The same data: <code>/api/status</code>, or <code>mandrill status --config FILE</code>.</p></noscript>
</body>
</html>
`;
