/**
 * The status as a terminal summary, for `mandrill status`: the kill switch,
 * the fleet's and each group's hosts down against their budget, the hosts
 * not up, requests waiting and in flight, restarts in progress and the last
 * few that ended. Pure: a function of a {@linkcode Status}.
 * @module
 */
import { STATE_TEXT } from "./labels.ts";
import type { HostState, Status } from "./model.ts";

/** Options of {@linkcode formatStatusText}. */
export interface StatusTextOptions {
  /** ANSI colours. Default: false. */
  color?: boolean;
  /** Most hosts not up listed per group. Default: 20. */
  maxHostsPerGroup?: number;
  /** Most waiting, executing and live requests listed. Default: 10. */
  maxRequests?: number;
  /** Most recent restarts listed. Default: 5. */
  maxRecent?: number;
  /** Formats a time of day. Default: local `HH:MM:SS`. */
  clock?: (ms: number) => string;
}

type _Tone = "good" | "warn" | "bad" | "bold" | "dim";
const _ANSI: Record<_Tone, string> = {
  good: "\x1b[32m",
  warn: "\x1b[33m",
  bad: "\x1b[31m",
  bold: "\x1b[1m",
  dim: "\x1b[2m",
};
const _TONE: Record<string, _Tone> = {
  up: "good",
  succeeded: "good",
  restarting: "warn",
  coming_back: "warn",
  waiting: "warn",
  interrupted: "warn",
  stale: "warn",
  not_back: "bad",
  offline: "bad",
  failed: "bad",
};
const _WORST_FIRST: HostState[] = [
  "not_back",
  "offline",
  "stale",
  "coming_back",
  "restarting",
  "waiting",
];

/** Text from the wire, with control characters (terminal escapes) shown as `?`. */
export function printable(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
}

/** 850 ms · 3.2 s · 4m05s · 2h03m · 3d4h */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "-";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}

function _clock(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0"))
    .join(":");
}

/** The summary of `mandrill status`, lines joined by `\n` (no trailing newline). */
export function formatStatusText(s: Status, options: StatusTextOptions = {}): string {
  const paint = (tone: _Tone | undefined, text: string) =>
    options.color && tone ? `${_ANSI[tone]}${text}\x1b[0m` : text;
  const state = (st: string) => paint(_TONE[st], STATE_TEXT[st as HostState] ?? printable(st));
  const clock = options.clock ?? _clock;
  const maxHosts = options.maxHostsPerGroup ?? 20;
  const maxRequests = options.maxRequests ?? 10;
  const maxRecent = options.maxRecent ?? 5;
  const ago = (ms: number) => formatDuration(s.now - ms);
  const cut = <T>(items: readonly T[], n: number, line: (t: T) => string) => [
    ...items.slice(0, n).map((t) => `  ${line(t)}`),
    ...(items.length > n ? [`  … and ${items.length - n} more`] : []),
  ];
  const out: string[] = [paint("bold", `mandrill ${printable(s.version)}`) + ` · ${clock(s.now)}`];

  const ks = s.killSwitch;
  if (!ks.paused) out.push(`Kill switch: ${paint("good", "running")} (restarts allowed)`);
  else {
    const by = ks.by !== undefined && ks.by !== ks.source ? [printable(ks.by)] : [];
    const who = [ks.source, ...by].join(", ");
    const since = ks.since !== undefined ? ` since ${clock(ks.since)} (${ago(ks.since)} ago)` : "";
    out.push(
      `Kill switch: ${
        paint(ks.source === "breaker" ? "bad" : "warn", "PAUSED")
      } by ${who}${since}` +
        `: ${ks.reason !== undefined ? printable(ks.reason) : "(no reason given)"}`,
    );
  }
  const f = s.fleet;
  const fleetTone = f.down > f.maxUnavailable ? "bad" : f.down > 0 ? "warn" : "good";
  out.push(
    `Fleet: ${
      paint(fleetTone, `${f.down} of ${f.maxUnavailable} allowed down`)
    } · ${f.hosts} hosts`,
  );

  const width = Math.max(0, ...s.groups.map((g) => printable(g.name).length));
  for (const g of s.groups) {
    const ungrouped = g.name === "(no group)";
    const budget = ungrouped ? `${g.down} down (1 allowed per host)` : `${g.down}/${g.limit} down`;
    const up = g.hosts.filter((h) => h.state === "up").length;
    const notUp = g.hosts.filter((h) => h.state !== "up")
      .sort((a, b) => _WORST_FIRST.indexOf(a.state) - _WORST_FIRST.indexOf(b.state));
    const listed = notUp.slice(0, maxHosts).map((h) => `${printable(h.host)} ${state(h.state)}`);
    if (notUp.length > maxHosts) listed.push(`… and ${notUp.length - maxHosts} more`);
    const tone = !ungrouped && g.down >= g.limit && g.down > 0 ? "warn" : undefined;
    out.push(
      `  ${printable(g.name).padEnd(width)}  ${paint(tone, budget)}  ${paint("good", `${up} up`)}` +
        (listed.length ? ` · ${listed.join(", ")}` : ""),
    );
  }

  const { waiting, executing } = s.requests;
  out.push(`Requests: ${waiting.length} waiting · ${executing.length} executing`);
  out.push(
    ...cut(
      waiting,
      maxRequests,
      (w) =>
        `waiting    ${printable(w.host)} for ${ago(w.since)}: ${
          w.waitingFor !== undefined ? printable(w.waitingFor) : "its turn"
        } (${printable(w.id)})`,
    ),
  );
  out.push(
    ...cut(
      executing,
      maxRequests,
      (x) => `executing  ${printable(x.host)} for ${ago(x.since)} (${printable(x.id)})`,
    ),
  );
  out.push(`Restarts in progress: ${s.restarts.length}`);
  out.push(
    ...cut(
      s.restarts,
      maxRequests,
      (r) =>
        `${printable(r.host)} ${state(r.phase)} for ${ago(r.since)}` +
        (r.reason !== undefined ? `: ${printable(r.reason)}` : "") + ` (${printable(r.id)})`,
    ),
  );

  out.push(
    s.recent.length
      ? `Last restarts (${Math.min(maxRecent, s.recent.length)} of ${s.recent.length}):`
      : "Last restarts: none yet",
  );
  for (const r of s.recent.slice(0, maxRecent)) {
    const back = r.recoveryMs !== undefined
      ? `back in ${formatDuration(r.recoveryMs)}`
      : r.notBack
      ? paint("bad", "did not come back")
      : "not back yet";
    out.push(
      `  ${clock(r.startedAt)}  ${printable(r.host)}  ${paint(_TONE[r.outcome], r.outcome)}` +
        `  took ${formatDuration(r.durationMs)}  ${back}` +
        (r.reason !== undefined ? `  ${printable(r.reason)}` : ""),
    );
  }
  return out.join("\n");
}
