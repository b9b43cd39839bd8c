/**
 * The status page's style sheet. States carry a text label and a glyph as
 * well as a colour, so nothing is told by colour alone.
 * @module
 */

/** `GET /status.css`. */
export const STATUS_CSS = `
:root {
  --bg: #f4f6f8; --panel: #ffffff; --ink: #1f2328; --muted: #59636e; --line: #d8dee4;
  --up: #1a7f37; --up-bg: #dafbe1;
  --restarting: #0550ae; --restarting-bg: #ddf4ff;
  --coming: #7d4e00; --coming-bg: #fff1c2;
  --notback: #ffffff; --notback-bg: #cf222e;
  --offline: #a40e26; --offline-bg: #ffebe9;
  --stale: #6639ba; --stale-bg: #f3e8ff;
  --waiting: #424a53; --waiting-bg: #e6eaef;
}
* { box-sizing: border-box; }
html { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; }
body { margin: 0; background: var(--bg); color: var(--ink); }
code { font: 12px ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", monospace; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 10px; }
h2 + div + h2 { margin-top: 16px; }
.muted { color: var(--muted); font-weight: normal; text-transform: none; letter-spacing: 0; }
.count { color: var(--ink); }
.empty { color: var(--muted); margin: 0; }

.top { display: flex; align-items: center; gap: 20px; padding: 10px 20px; background: #1f2328; color: #f6f8fa; position: sticky; top: 0; z-index: 2; }
.brand { display: flex; align-items: baseline; gap: 8px; }
.logo { font-weight: 700; font-size: 18px; letter-spacing: .02em; }
.top .muted { color: #9198a1; }
.summary { flex: 1; display: flex; flex-wrap: wrap; gap: 8px 18px; align-items: center; }
.summary .big { font-size: 16px; font-weight: 600; }
.summary .over { color: #ff8182; }
.conn { padding: 3px 10px; border-radius: 12px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.conn::before { content: "●"; margin-right: 6px; }
.conn-live { background: #1a7f37; color: #fff; }
.conn-connecting { background: #59636e; color: #fff; }
.conn-down { background: #cf222e; color: #fff; }
.offline-banner { background: #cf222e; color: #fff; padding: 8px 20px; font-weight: 600; }
body.disconnected main { opacity: .55; }

main { padding: 16px 20px 24px; max-width: 1600px; margin: 0 auto; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin-bottom: 16px; }
.columns { display: grid; grid-template-columns: minmax(0, 1fr) minmax(300px, 400px); gap: 16px; align-items: start; }
.columns .panel.fleet { margin-bottom: 0; }
@media (max-width: 1000px) { .columns { grid-template-columns: minmax(0, 1fr); } }

.killswitch { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 14px; padding: 12px 16px; border-radius: 8px; margin-bottom: 16px; border: 1px solid var(--line); background: var(--panel); }
.killswitch .ks-label { font-weight: 700; font-size: 16px; }
.ks-running { border-color: #4ac26b; background: #f0fff4; }
.ks-running .ks-label { color: var(--up); }
.ks-running .ks-label::before { content: "▶ "; }
.ks-paused { border: 2px solid #bf8700; background: #fff8c5; }
.ks-paused .ks-label { color: #7d4e00; }
.ks-paused .ks-label::before { content: "⏸ "; }
.ks-breaker { border-color: #cf222e; background: #ffebe9; }
.ks-breaker .ks-label { color: #a40e26; }
.ks-reason { font-size: 15px; font-weight: 600; overflow-wrap: anywhere; }
.ks-meta { color: var(--muted); }

.groups { display: grid; grid-template-columns: repeat(auto-fill, minmax(390px, 1fr)); gap: 12px; }
.group { border: 1px solid var(--line); border-radius: 6px; overflow-x: auto; }
.group.at-limit { border-color: #d4a72c; }
.group.over-limit { border-color: #cf222e; }
.group-head { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 12px; padding: 8px 10px; background: #f6f8fa; border-bottom: 1px solid var(--line); }
.group-name { font-size: 15px; font-weight: 700; margin: 0; }
.budget { display: inline-flex; align-items: center; gap: 6px; font-size: 12px; color: var(--muted); }
.budget svg { display: block; }
.budget .track { fill: #d8dee4; }
.budget .fill { fill: #1a7f37; }
.at-limit .budget .fill { fill: #bf8700; }
.over-limit .budget .fill { fill: #cf222e; }
.group-counts { display: flex; flex-wrap: wrap; gap: 4px; margin-left: auto; }
.group details > summary { cursor: pointer; padding: 6px 10px; color: var(--muted); }
.group .note { padding: 6px 10px; margin: 0; color: var(--muted); }

table { border-collapse: collapse; width: 100%; }
th { white-space: nowrap; text-align: left; font-size: 11px; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); font-weight: 600; padding: 4px 8px; border-bottom: 1px solid var(--line); }
td { padding: 4px 8px; border-bottom: 1px solid #eef1f4; vertical-align: top; }
tr:last-child td { border-bottom: 0; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
td.host { font-weight: 600; white-space: nowrap; }
td.text { overflow-wrap: break-word; word-break: break-word; }
td.pending { color: var(--coming); }
td.id { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; overflow-wrap: anywhere; }
tr.s-row-not_back td, tr.s-row-offline td { background: #fff5f5; }
tr.s-row-coming_back td, tr.s-row-restarting td { background: #fbfdff; }

.state, .outcome, .chip { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.state::before, .chip::before { margin-right: 4px; }
.s-up { color: var(--up); background: var(--up-bg); }
.s-up::before { content: "●"; }
.s-restarting { color: var(--restarting); background: var(--restarting-bg); }
.s-restarting::before { content: "↻"; }
.s-coming_back { color: var(--coming); background: var(--coming-bg); }
.s-coming_back::before { content: "◐"; }
.s-not_back { color: var(--notback); background: var(--notback-bg); }
.s-not_back::before { content: "✖"; }
.s-offline { color: var(--offline); background: var(--offline-bg); }
.s-offline::before { content: "○"; }
.s-stale { color: var(--stale); background: var(--stale-bg); }
.s-stale::before { content: "?"; }
.s-waiting { color: var(--waiting); background: var(--waiting-bg); }
.s-waiting::before { content: "…"; }
.o-succeeded { color: var(--up); background: var(--up-bg); }
.o-failed { color: #fff; background: #cf222e; }
.o-interrupted { color: var(--coming); background: var(--coming-bg); }

.chart svg { display: block; width: 100%; height: auto; }
.chart .axis { stroke: #afb8c1; stroke-width: 1; }
.chart .grid { stroke: #eef1f4; stroke-width: 1; }
.chart .label { fill: #59636e; font-size: 11px; }
.chart .bar { fill: #218bff; }
.chart .bar:hover { fill: #0550ae; }
.chart .bar-notback { fill: #cf222e; }
.chart .median { stroke: #bf8700; stroke-width: 1.5; stroke-dasharray: 4 3; }
.chart-stats { margin: 6px 0 0; font-size: 12px; }
.more { color: var(--muted); font-size: 12px; margin: 6px 0 0; }
.footnote { font-size: 12px; }
.noscript { padding: 20px; }
`;
