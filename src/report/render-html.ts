// The Restore Drill Report as one standalone HTML document (inline CSS and SVG, nothing fetched) that prints on A4.
import { formatBytes } from "../shared/format-bytes.ts";
import { TREND_MIN_DRILLS, TREND_MIN_SPAN_DAYS, type DatabaseReport, type DrillReport, type RpoGap } from "./report.ts";

/** Markup already escaped; anything else interpolated into `html` is escaped, so forgetting is not possible. */
class SafeHtml {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

type Interpolation = SafeHtml | string | number | null | undefined | readonly Interpolation[];

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function interpolate(v: Interpolation): string {
  if (v === null || v === undefined) return "";
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(interpolate).join("");
  return escapeHtml(String(v));
}

function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0];
  values.forEach((v, i) => {
    out += interpolate(v) + strings[i + 1];
  });
  return new SafeHtml(out);
}

const SECONDS_PER_MINUTE = 60;
const SECONDS_PER_HOUR = 3_600;
const SECONDS_PER_DAY = 86_400;
const MS_PER_DAY = 86_400_000;

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

/** Durations a reader can take in at a glance: "42 s", "3 min 05 s", "2 h 07 min", "11 d 4 h". */
export function formatSeconds(seconds: number | null): string {
  if (seconds === null) return "—";
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < SECONDS_PER_MINUTE) return `${Math.round(seconds)} s`;
  const s = Math.round(seconds);
  if (s < SECONDS_PER_HOUR) return `${Math.floor(s / SECONDS_PER_MINUTE)} min ${pad2(s % SECONDS_PER_MINUTE)} s`;
  if (s < 2 * SECONDS_PER_DAY) return `${Math.floor(s / SECONDS_PER_HOUR)} h ${pad2(Math.floor((s % SECONDS_PER_HOUR) / SECONDS_PER_MINUTE))} min`;
  return `${Math.floor(s / SECONDS_PER_DAY)} d ${Math.floor((s % SECONDS_PER_DAY) / SECONDS_PER_HOUR)} h`;
}

/** Thousands separated by a thin space: locale-free, so the same report renders the same everywhere. */
function formatCount(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, "\u2009");
}

function formatUtc(iso: string): string {
  const d = new Date(iso);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())} UTC`;
}

function formatPercent(p: number | null): string {
  return p === null ? "—" : `${p.toFixed(1)} %`;
}

function formatSlope(slope: number | null): string {
  if (slope === null) return "—";
  return `${slope > 0 ? "+" : slope < 0 ? "−" : "±"}${Math.abs(slope).toFixed(2)} s/day`;
}

function gapEnds(g: RpoGap | null): string {
  if (g === null) return "—";
  const from = g.fromKind === "previous-sealed" ? "last sealed backup of the previous month" : "sealed backup";
  const to = g.toKind === "sealed" ? "next sealed backup" : g.toKind === "month-end" ? "month end" : "now (report time)";
  return `${formatUtc(g.from)} (${from}) → ${formatUtc(g.to)} (${to})`;
}

/** The worst gap in words, the first-backup cases said plainly rather than as an alarming number. */
function gapText(d: DatabaseReport): string {
  if (d.worstGap === null) return "No sealed backup yet: nothing to measure.";
  const first = d.firstSealedAt === null ? "" : ` (measured from the first sealed backup, ${formatUtc(d.firstSealedAt)}; nothing before it is counted)`;
  return `${formatSeconds(d.worstGap.seconds)}${first}`;
}

function trendText(d: DatabaseReport): string {
  const t = d.trend;
  if (t.enoughData) return formatSlope(t.slopeSecondsPerDay);
  return `not enough data yet (a trend needs ${t.minDrills} sealed drills over at least ${t.minSpanDays} days; ${t.points.length} so far)`;
}

const CSS = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #111; background: #fff; margin: 0 auto; max-width: 760px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 0 0 6px; overflow-wrap: anywhere; }
h3 { font-size: 14px; margin: 14px 0 6px; }
.meta, .note, figcaption { color: #444; }
.meta { margin: 0 0 16px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #ccc; vertical-align: top; }
th { font-weight: 600; background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.msg { overflow-wrap: anywhere; }
.summary td.num { font-size: 16px; font-weight: 600; }
.ok { color: #1a5e1a; font-weight: 600; }
.bad { color: #a00000; font-weight: 600; }
section.db { border-top: 2px solid #111; padding-top: 12px; margin-top: 24px; }
figure { margin: 10px 0; }
svg { width: 100%; height: auto; max-width: 680px; display: block; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
svg .axis { stroke: #333; stroke-width: 1; }
svg .grid { stroke: #ddd; stroke-width: 1; }
svg .line { fill: none; stroke: #1f4e9a; stroke-width: 1.5; }
svg .pt { fill: #1f4e9a; }
footer { margin-top: 28px; font-size: 12px; color: #444; border-top: 1px solid #ccc; padding-top: 8px; }
@page { size: A4; margin: 16mm 14mm 18mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; color: #000; background: #fff; }
  th { background: #fff; border-bottom: 1.5px solid #000; }
  section.db, figure, tr, .summary { break-inside: avoid; page-break-inside: avoid; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  thead { display: table-header-group; }
}
`;

const CHART_WIDTH_PX = 640;
const CHART_HEIGHT_PX = 220;
const CHART_MARGIN_PX = { left: 56, right: 16, top: 12, bottom: 42 };
const CHART_Y_TICKS = 4;
/** Keeps a month of sub-second restores from drawing noise as a steep curve. */
const CHART_MIN_Y_MAX_SECONDS = 10;

/** The smallest 1, 2 or 5 × 10^k at or above `v`, so axis ticks land on round numbers. */
function niceCeil(v: number): number {
  if (v <= 0) return 1;
  const base = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * base >= v) return m * base;
  return 10 * base;
}

function round1(n: number): string {
  return String(Math.round(n * 10) / 10);
}

function chartSummary(d: DatabaseReport, month: string): string {
  const s = d.restoreSeconds;
  if (s.count === 0) return `Restore time of ${d.db}, ${month}: no sealed drills, nothing to plot.`;
  return `Restore time of ${d.db}, ${month}: ${s.count} sealed drill${s.count === 1 ? "" : "s"}; min ${formatSeconds(s.min)}, median ${formatSeconds(s.median)}, p95 ${formatSeconds(s.p95)}, max ${formatSeconds(s.max)}; trend ${trendText(d)}.`;
}

function renderChart(d: DatabaseReport, report: DrillReport, index: number): SafeHtml {
  const startMs = Date.parse(report.period.start);
  const days = Math.round((Date.parse(report.period.end) - startMs) / MS_PER_DAY);
  const m = CHART_MARGIN_PX;
  const plotW = CHART_WIDTH_PX - m.left - m.right;
  const plotH = CHART_HEIGHT_PX - m.top - m.bottom;
  const maxY = niceCeil(Math.max(CHART_MIN_Y_MAX_SECONDS, ...d.trend.points.map((p) => p.restoreSeconds)));
  // x is the fractional day of month: day 1 starts at the left edge, the month's end at the right.
  const x = (day: number) => m.left + ((day - 1) / days) * plotW;
  const y = (sec: number) => m.top + plotH - (sec / maxY) * plotH;
  const dayOf = (iso: string) => 1 + (Date.parse(iso) - startMs) / MS_PER_DAY;

  const xTicks = [1, ...Array.from({ length: Math.floor(days / 5) }, (_, i) => (i + 1) * 5).filter((t) => t < days - 1), days];
  const yTicks = Array.from({ length: CHART_Y_TICKS + 1 }, (_, i) => (maxY / CHART_Y_TICKS) * i);
  const coords = d.trend.points.map((p) => ({ p, cx: round1(x(dayOf(p.at))), cy: round1(y(p.restoreSeconds)) }));
  const summary = chartSummary(d, report.monthLabel);
  const bottom = m.top + plotH;

  return html`<svg role="img" aria-label="${summary}" data-chart="${index}" viewBox="0 0 ${CHART_WIDTH_PX} ${CHART_HEIGHT_PX}" preserveAspectRatio="xMidYMid meet">
<title>${summary}</title>
${yTicks.map(
  (
    t,
  ) => html`<line class="grid" x1="${m.left}" x2="${m.left + plotW}" y1="${round1(y(t))}" y2="${round1(y(t))}"/><text x="${m.left - 6}" y="${round1(y(t) + 4)}" text-anchor="end">${Number.isInteger(t) ? formatCount(t) : t.toFixed(1)}</text>
`,
)}${xTicks.map(
  (t) => html`<text x="${round1(x(t + 0.5))}" y="${bottom + 16}" text-anchor="middle">${t}</text>
`,
)}<line class="axis" x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${bottom}"/>
<line class="axis" x1="${m.left}" x2="${m.left + plotW}" y1="${bottom}" y2="${bottom}"/>
<text x="${m.left + plotW / 2}" y="${CHART_HEIGHT_PX - 4}" text-anchor="middle">Day of month (UTC)</text>
<text x="14" y="${m.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 14 ${m.top + plotH / 2})">Restore seconds</text>
${
  coords.length >= 2
    ? html`<polyline class="line" points="${coords.map((c) => `${c.cx},${c.cy}`).join(" ")}"/>
`
    : ""
}${coords.map(
  (c) => html`<circle class="pt" cx="${c.cx}" cy="${c.cy}" r="3.5"/>
`,
)}${
  coords.length === 0
    ? html`<text x="${m.left + plotW / 2}" y="${m.top + plotH / 2}" text-anchor="middle">No sealed drills this month</text>
`
    : ""
}</svg>`;
}

function renderFailures(d: DatabaseReport): SafeHtml {
  const { failures, counts } = d;
  if (failures.length === 0) {
    // "Every backup sealed" only when it is true: an empty month or undrilled uploads have no failures either.
    const allSealed = counts.taken > 0 && counts.sealed === counts.taken;
    return html`<h3>Failures</h3><p class="note">${allSealed ? "None: every backup that ran this month was sealed." : "None."}</p>`;
  }
  return html`<h3>Failures and unproven backups (${failures.length})</h3>
<table class="failures"><thead><tr><th>Started</th><th>Job</th><th>Outcome</th><th>Code</th><th>Message</th></tr></thead><tbody>
${failures.map(
  (f) => html`<tr><td>${formatUtc(f.at)}</td><td><code>${f.jobId}</code></td><td class="bad">${f.state}</td><td><code>${f.code}</code></td><td class="msg">${f.message}</td></tr>
`,
)}</tbody></table>`;
}

function renderDatabase(d: DatabaseReport, report: DrillReport, index: number): SafeHtml {
  const c = d.counts;
  const s = d.restoreSeconds;
  const latest = d.latestSealed;
  const row = (label: string, value: Interpolation, cls = "num") => html`<tr><th scope="row">${label}</th><td class="${cls}">${value}</td></tr>
`;
  const status =
    c.taken === 0
      ? html`<span class="bad">No backups ran this month.</span>`
      : c.sealed === c.taken
        ? html`<span class="ok">Every backup was restored and verified.</span>`
        : html`<span class="bad">${c.taken - c.sealed} of ${c.taken} backups not sealed.</span>`;
  return html`<section class="db" id="db-${index}">
<h2>${d.db}</h2>
<p class="meta">Schedule: ${d.schedule === null ? "manual only" : html`<code>${d.schedule}</code>`} · ${status}</p>
<table class="figures"><tbody>
${row("Backups taken", formatCount(c.taken))}${row("Sealed (restored and verified)", formatCount(c.sealed))}${row("Failed", formatCount(c.failed))}${row("Drill failed", formatCount(c.drillFailed))}${row("Drill skipped", formatCount(c.drillSkipped))}${c.uploaded > 0 ? row("Stored, not drilled", formatCount(c.uploaded)) : ""}${c.cancelled > 0 ? row("Cancelled (not counted)", formatCount(c.cancelled)) : ""}${row("Success", formatPercent(d.successPercent))}${row("Restore time min / median / p95 / max", `${formatSeconds(s.min)} / ${formatSeconds(s.median)} / ${formatSeconds(s.p95)} / ${formatSeconds(s.max)}`)}${row("Restore time trend", trendText(d), "msg")}${row("Worst gap between sealed backups (achieved RPO)", gapText(d), d.worstGap === null || d.firstSealedAt !== null ? "msg" : "num")}${d.worstGap ? row("Worst gap from → to", gapEnds(d.worstGap), "msg") : ""}${d.copies.map((c) => row(`Copies to ${c.destination}: stored / failed`, `${formatCount(c.stored)} / ${formatCount(c.failed)}`))}${latest ? html`${row("Latest sealed backup", `${formatUtc(latest.at)} · job ${latest.jobId}`, "msg")}${row("Tables / rows verified", `${formatCount(latest.tables)} / ${formatCount(latest.rowsVerified)}`)}${latest.proof ? row("What the drill proved", latest.proof, "msg") : ""}${row("Dump / stored size", `${formatBytes(latest.dumpBytes, "—")} / ${formatBytes(latest.storedBytes, "—")}`)}` : ""}</tbody></table>
<figure>${renderChart(d, report, index)}<figcaption>Restore seconds of each sealed drill, by day of month.</figcaption></figure>
${
  latest && latest.largestTables.length > 0
    ? html`<h3>Largest tables in the latest sealed drill</h3>
<table class="tables"><thead><tr><th>Table</th><th>Rows verified</th></tr></thead><tbody>
${latest.largestTables.map(
  (t) => html`<tr><td><code>${t.name}</code></td><td class="num">${formatCount(t.rows)}</td></tr>
`,
)}</tbody></table>
`
    : ""
}${renderFailures(d)}
</section>
`;
}

export function renderReportHtml(report: DrillReport): string {
  const title = `Restore Drill Report — ${report.monthLabel}`;
  const sum = report.summary;
  const period = report.period.complete
    ? `${formatUtc(report.period.start)} to ${formatUtc(report.period.end)}`
    : `${formatUtc(report.period.start)} to ${formatUtc(report.period.measuredUntil)} (month in progress)`;
  const doc = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${new SafeHtml(CSS)}</style>
</head>
<body>
<header>
<h1>${title}</h1>
<p class="meta">Generated ${formatUtc(report.generatedAt)} · Period ${period}</p>
</header>
<table class="summary"><tbody>
<tr><th scope="row">Databases</th><td class="num">${formatCount(sum.databases)}</td></tr>
<tr><th scope="row">Backups taken</th><td class="num">${formatCount(sum.taken)}</td></tr>
<tr><th scope="row">Sealed (restored into a throwaway cluster, every table's row count matched)</th><td class="num">${formatCount(sum.sealed)}</td></tr>
<tr><th scope="row">Success</th><td class="num">${formatPercent(sum.successPercent)}</td></tr>
<tr><th scope="row">Failed / drill failed / drill skipped</th><td class="num">${formatCount(sum.failed)} / ${formatCount(sum.drillFailed)} / ${formatCount(sum.drillSkipped)}</td></tr>
${
  sum.worstGap
    ? html`<tr><th scope="row">Worst gap between sealed backups</th><td class="num">${formatSeconds(sum.worstGap.seconds)} (${sum.worstGap.db})</td></tr>
`
    : ""
}${
  sum.databasesWithoutSealed.length > 0
    ? html`<tr><th scope="row">Databases with no sealed backup</th><td class="msg bad">${sum.databasesWithoutSealed.join(", ")}</td></tr>
`
    : ""
}</tbody></table>
${report.databases.map((d, i) => renderDatabase(d, report, i))}
<footer>
<p>A backup is <strong>sealed</strong> when it was uploaded, restored into a throwaway PostgreSQL cluster, and every table's row count matched the source. <strong>Backups taken</strong> counts every job of the month except cancelled ones. Restore times are over sealed drills; p95 is nearest-rank (the value at rank ⌈0.95 × n⌉ of the sorted times). The <strong>worst gap</strong> is the longest time the newest sealed backup was older than that: measured from when a backup started (the data it restores) to when the next one was sealed, and to the month's end (or the report time in a running month). Gaps are measured only from backups that exist: without a sealed backup from the previous month, measurement starts at the month's first sealed backup, and a database without any has no gap yet. A restore-time trend (seconds per day, least squares) is shown only from ${TREND_MIN_DRILLS} sealed drills spread over at least ${TREND_MIN_SPAN_DAYS} days. All times UTC.</p>
</footer>
</body>
</html>
`;
  return doc.value;
}
