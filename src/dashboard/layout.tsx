/** @jsxRuntime automatic @jsxImportSource hono/jsx */
// The dashboard's page frame (head, styles, navigation) and the small formatting pieces every page shares.
import type { Child } from "hono/jsx";

export const STATE_CLASS: Record<string, string> = {
  sealed: "ok",
  uploaded: "warn",
  "drill-skipped": "warn",
  "drill-failed": "bad",
  failed: "bad",
  cancelled: "muted",
};

export { formatBytes } from "../shared/format-bytes.ts";

export function formatAge(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "never";
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h ago`;
  return `${(seconds / 86_400).toFixed(1)} days ago`;
}

export const when = (iso: string | null | undefined) =>
  iso
    ? iso
        .replace("T", " ")
        .replace(/\.\d+Z$/, " UTC")
        .replace(/Z$/, " UTC")
    : "–";

/** `live`: the job page's script keeps it current (every live badge of a job shows the same state). */
export function StateBadge(props: { state: string; live?: boolean; id?: string }) {
  const active = !(props.state in STATE_CLASS);
  return (
    <span class={`badge ${active ? "run" : STATE_CLASS[props.state]}`} {...(props.live ? { "data-job-state": "" } : {})} {...(props.id ? { id: props.id } : {})}>
      {props.state}
    </span>
  );
}

const CSS = `
:root { --fg:#1b1f24; --muted:#57606a; --bg:#fff; --line:#d0d7de; --ok:#1a7f37; --warn:#9a6700; --bad:#cf222e; --run:#0550ae; --accent:#0550ae; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: .75rem 1.5rem; align-items: center; padding: .75rem 1.25rem; border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; color: var(--fg); text-decoration: none; }
nav a { margin-right: 1rem; color: var(--accent); }
main { padding: 1rem 1.25rem 3rem; max-width: 72rem; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: .85rem; color: var(--muted); font-weight: 600; }
.table-wrap { overflow-x: auto; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 1rem; font-size: .85rem; font-weight: 600; border: 1px solid currentColor; }
.ok { color: var(--ok); } .warn { color: var(--warn); } .bad { color: var(--bad); } .run { color: var(--run); } .muted { color: var(--muted); }
.overdue { color: var(--bad); font-weight: 600; }
button, .button { font: inherit; padding: .4rem .9rem; border-radius: .4rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; text-decoration: none; display: inline-block; }
button.secondary { background: #fff; color: var(--accent); }
button:focus-visible, a:focus-visible, input:focus-visible, summary:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
form.inline { display: inline; }
label { display: block; font-weight: 600; margin: .75rem 0 .25rem; }
input[type=password] { font: inherit; padding: .45rem; width: 100%; max-width: 28rem; border: 1px solid var(--muted); border-radius: .3rem; }
.error { color: var(--bad); font-weight: 600; }
progress { width: 100%; max-width: 36rem; height: 1.25rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.facts dt { color: var(--muted); }
details summary { cursor: pointer; color: var(--accent); }
svg.spark { vertical-align: middle; display: block; margin: .1rem 0; }
svg.spark text { font-size: 9px; fill: var(--muted); font-family: system-ui, sans-serif; }
@media (max-width: 40rem) { th.optional, td.optional { display: none; } main { padding: .75rem; } }
`;

export function Layout(props: { title: string; signedIn: boolean; csrf?: string; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · pgseal`}</title>
        <style>{CSS}</style>
      </head>
      <body>
        <header>
          <a class="brand" href="/">
            pgseal
          </a>
          {props.signedIn && (
            <nav aria-label="Main">
              <a href="/">Databases</a>
              <a href="/report">Restore Drill Report</a>
            </nav>
          )}
          {props.signedIn && props.csrf && (
            <form class="inline" method="post" action="/logout">
              <input type="hidden" name="csrf" value={props.csrf} />
              <button type="submit" class="secondary">
                Sign out
              </button>
            </form>
          )}
        </header>
        <main id="main">{props.children}</main>
      </body>
    </html>
  );
}

/**
 * A small inline chart of a series (stored size or restore time), oldest left, newest right, with
 * its axes labelled: the y axis by its lowest and highest value in their unit, the x axis by what
 * the points are. Nothing for fewer than two points (the caller says "–").
 */
export function Sparkline(props: { values: number[]; label: string; format: (n: number) => string }) {
  const v = props.values;
  if (v.length < 2) return null;
  const w = 168;
  const h = 46;
  const left = 52; // room for the y labels
  const top = 5;
  const bottom = 32; // the x axis; its label sits below
  const max = Math.max(...v);
  // Values the unit cannot tell apart (36.5 KiB and 36.5 KiB) are drawn flat: a slope between two equal labels would mislead.
  const min = props.format(Math.min(...v)) === props.format(max) ? max : Math.min(...v);
  const span = max - min || 1;
  const x = (i: number) => left + 2 + (i / (v.length - 1)) * (w - left - 4);
  const y = (n: number) => (max === min ? (top + bottom) / 2 : bottom - 2 - ((n - min) / span) * (bottom - top - 4));
  const pts = v.map((n, i) => `${x(i).toFixed(1)},${y(n).toFixed(1)}`).join(" ");
  return (
    <svg class="spark" width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={props.label}>
      <title>{props.label}</title>
      <line x1={left} x2={left} y1={top - 2} y2={bottom} stroke="#8c959f" stroke-width="1" />
      <line x1={left} x2={w - 1} y1={bottom} y2={bottom} stroke="#8c959f" stroke-width="1" />
      <text class="axis-y" x={left - 3} y={top + 5} text-anchor="end">
        {props.format(max)}
      </text>
      {max !== min && (
        <text class="axis-y" x={left - 3} y={bottom} text-anchor="end">
          {props.format(min)}
        </text>
      )}
      <text class="axis-x" x={(left + w) / 2} y={h - 3} text-anchor="middle">
        {`last ${v.length}, oldest → newest`}
      </text>
      <polyline points={pts} fill="none" stroke="currentColor" stroke-width="1.5" />
    </svg>
  );
}
