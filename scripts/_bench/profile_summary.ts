// deno-lint-ignore-file no-console
/**
 * Summarizes a V8 `.cpuprofile` (as written by `deno run --cpu-prof`): where
 * the busy time went by area (project file, npm package, Deno runtime, GC),
 * the top functions by self time, and the project's own functions by total
 * (inclusive) time. Prints Markdown.
 *
 * Usage: `deno run -A scripts/_bench/profile_summary.ts FILE.cpuprofile [--top 25]`
 * @module
 */
import { parseArgs } from "node:util";

/** The parts of a V8 CPU profile this reads. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
  /** µs since the previous sample. */
  timeDeltas: number[];
}

/** One row of a summary: a name and microseconds. */
export interface Row {
  name: string;
  us: number;
  /** For native functions: the (at most two) callers that spent most of this time. */
  via?: string;
}

/** The summary of a profile. */
export interface ProfileSummary {
  /** Wall time the profile covers, µs. */
  totalUs: number;
  /** Time not idle, µs. */
  busyUs: number;
  /** Self time by area, busiest first. */
  areas: Row[];
  /** Self time by function, busiest first (idle left out). */
  selfTop: Row[];
  /** Inclusive time of the project's own functions (under src/ or main.ts). */
  projectTotal: Row[];
}

const SPECIAL = new Set(["(idle)", "(program)", "(garbage collector)", "(root)"]);

/** The area a script URL belongs to: a project folder, an npm package, the runtime. */
export function areaOf(url: string, fn: string): string {
  if (SPECIAL.has(fn)) return fn;
  if (url === "") return "(native / V8 builtins)";
  const npm = url.match(/registry\.npmjs\.org\/((?:@[^/]+\/)?[^/]+)\//);
  if (npm) return `npm:${npm[1]}`;
  const ext = url.match(/^(ext:[^/]+|node:[^/]+)/);
  if (ext) return ext[1]!;
  const src = url.match(/\/(src\/[^/]+)\//);
  if (src) return src[1]!;
  if (url.endsWith("/main.ts")) return "main.ts";
  return url.replace(/^file:\/\//, "");
}

function _shortUrl(url: string): string {
  const npm = url.match(/registry\.npmjs\.org\/((?:@[^/]+\/)?[^/]+)\/[^/]+\/(.*)$/);
  if (npm) return `npm:${npm[1]}/${npm[2]}`;
  const src = url.match(/\/((?:src|tests|scripts)\/.*|main\.ts)$/);
  if (src) return src[1]!;
  return url.replace(/^file:\/\//, "");
}

function _key(cf: CpuProfile["nodes"][number]["callFrame"]): string {
  if (SPECIAL.has(cf.functionName)) return cf.functionName;
  const name = cf.functionName || "(anonymous)";
  if (cf.url === "") return `${name} (native)`;
  return `${name}  ${_shortUrl(cf.url)}:${cf.lineNumber + 1}`;
}

function _isProject(url: string): boolean {
  return /\/(src\/[^?]*|main\.ts)$/.test(url) && url.startsWith("file://");
}

function _sorted(map: Map<string, number>): Row[] {
  return [...map].map(([name, us]) => ({ name, us })).sort((a, b) => b.us - a.us);
}

/** Computes self and inclusive times from the samples. */
export function summarize(profile: CpuProfile): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  /** Native function key -> caller key -> µs. */
  const callers = new Map<string, Map<string, number>>();
  const areas = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    // A sample stands for the time until the next one.
    const us = timeDeltas[i + 1] ?? 0;
    totalUs += us;
    const node = byId.get(samples[i]!);
    if (!node) continue;
    const cf = node.callFrame;
    if (cf.functionName === "(idle)") {
      idleUs += us;
      continue;
    }
    const key = _key(cf);
    self.set(key, (self.get(key) ?? 0) + us);
    const up = parent.get(node.id);
    if (cf.url === "" && !SPECIAL.has(cf.functionName) && up !== undefined) {
      const by = callers.get(key) ?? new Map<string, number>();
      const ck = _key(byId.get(up)!.callFrame);
      by.set(ck, (by.get(ck) ?? 0) + us);
      callers.set(key, by);
    }
    const area = areaOf(cf.url, cf.functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
    // Inclusive time: each project function once per sample, however deep the recursion.
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      if (!_isProject(f.url)) continue;
      const k = _key(f);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  const selfTop = _sorted(self).map((r) => {
    const by = callers.get(r.name);
    if (!by) return r;
    const via = _sorted(by).slice(0, 2).map((c) => `${c.name} ${Math.round((c.us / r.us) * 100)}%`);
    return { ...r, via: via.join(", ") };
  });
  return {
    totalUs,
    busyUs: totalUs - idleUs,
    areas: _sorted(areas),
    selfTop,
    projectTotal: _sorted(inclusive),
  };
}

/** The summary as Markdown tables, `top` rows each. */
export function toMarkdown(s: ProfileSummary, top = 25): string {
  const ms = (us: number) => (us / 1000).toFixed(0);
  const pct = (us: number) => `${((us / s.busyUs) * 100).toFixed(1)}%`;
  const table = (title: string, rows: Row[], n: number) => {
    const cells = rows.slice(0, n).map((r) => [
      (r.via ? `${r.name} ← ${r.via}` : r.name).replaceAll("|", "\\|"),
      ms(r.us),
      pct(r.us),
    ]);
    const head = [title, "ms", "% of busy"];
    const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
    const line = (c: string[]) =>
      `| ${c.map((x, i) => (i === 0 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join(" | ")} |`;
    const rule = `| ${
      w.map((x, i) => (i === 0 ? "-".repeat(x) : "-".repeat(x - 1) + ":")).join(" | ")
    } |`;
    return [line(head), rule, ...cells.map(line)].join("\n");
  };
  return [
    `Profile: ${ms(s.totalUs)} ms sampled, ${ms(s.busyUs)} ms busy ` +
    `(${((s.busyUs / s.totalUs) * 100).toFixed(0)}% of the time; the rest idle).`,
    "",
    "Self time by area:",
    "",
    table("area", s.areas, 20),
    "",
    `Top ${top} functions by self time:`,
    "",
    table("function", s.selfTop, top),
    "",
    `Project functions (src/, main.ts) by total time, callees included:`,
    "",
    table("function", s.projectTotal, Math.min(top, 20)),
    "",
  ].join("\n");
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { top: { type: "string", default: "25" } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) {
    console.error("Usage: profile_summary.ts FILE.cpuprofile [--top N]");
    Deno.exit(2);
  }
  const profile = JSON.parse(await Deno.readTextFile(positionals[0]!)) as CpuProfile;
  console.log(toMarkdown(summarize(profile), Number(values.top)));
}
