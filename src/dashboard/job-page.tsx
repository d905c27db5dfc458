/** @jsxRuntime automatic @jsxImportSource hono/jsx */
// One job: live progress (a small script polls /live; without it the page still reads), phase timeline, drill counts.
import { raw } from "hono/html";
import type { JobView } from "../do/rpc-types.ts";
import { describeProof } from "../shared/catalog/drill-record.ts";
import { formatBytes, Layout, StateBadge, when } from "./layout.tsx";
import { isActiveJobState } from "../shared/contract/job-states.ts";

export const LIVE_POLL_MS = 1500;

/** What the progress bar shows: a fraction when the source size is known, and an ETA from the rate so far. */
export function progressFacts(job: Pick<JobView, "state" | "progress">): { label: string; value: number | null; eta: string | null } {
  const p = job.progress;
  if (!p) return { label: job.state, value: null, eta: null };
  if (!isActiveJobState(job.state)) {
    return { label: `${job.state}: dumped ${formatBytes(p.bytesDumped)}, stored ${formatBytes(p.bytesUploaded)} in ${(p.elapsedMs / 1000).toFixed(1)} s`, value: 1, eta: null };
  }
  if (job.state === "drilling" && p.drill) {
    const f = p.drill.bytesTotal > 0 ? p.drill.bytesRead / p.drill.bytesTotal : null;
    return { label: `drilling: ${p.drill.step} ${formatBytes(p.drill.bytesRead)} of ${formatBytes(p.drill.bytesTotal)}`, value: f, eta: null };
  }
  const base = `dumped ${formatBytes(p.bytesDumped)} · compressed ${formatBytes(p.bytesCompressed ?? 0)} · uploaded ${formatBytes(p.bytesUploaded)} · ${(p.elapsedMs / 1000).toFixed(0)} s${p.table ? ` · ${p.table}` : ""}`;
  if (!p.sourceBytes || p.bytesDumped <= 0) return { label: base, value: null, eta: null };
  // A dump is usually smaller than the database on disk (no indexes, no bloat): cap below 1 until the job says it is done.
  const f = Math.min(0.99, p.bytesDumped / p.sourceBytes);
  const etaS = f > 0.02 ? Math.max(0, Math.round((p.elapsedMs / 1000) * (1 / f - 1))) : null;
  return { label: base, value: f, eta: etaS === null ? null : `about ${etaS} s left` };
}

// Progressive enhancement: without JavaScript the page is complete as rendered.
const LIVE_SCRIPT = (liveUrl: string) => `
(() => {
  const bar = document.getElementById("bar"), label = document.getElementById("progress-label");
  const tick = async () => {
    const r = await fetch(${JSON.stringify(liveUrl)}, { credentials: "same-origin" });
    if (!r.ok) return;
    const j = await r.json();
    if (j.value === null) bar.removeAttribute("value"); else bar.value = j.value;
    label.textContent = j.label + (j.eta ? " · " + j.eta : "");
    // Every badge of this job (the heading's and the body's) shows the same state: one source, one update.
    for (const b of document.querySelectorAll("[data-job-state]")) { b.textContent = j.state; b.className = "badge " + j.stateClass; }
    if (j.active) setTimeout(tick, ${LIVE_POLL_MS}); else location.reload();
  };
  setTimeout(tick, ${LIVE_POLL_MS});
})();`;

export function JobPage(props: { db: string; job: JobView; csrf: string }) {
  const j = props.job;
  const base = `/db/${encodeURIComponent(props.db)}/jobs/${j.id}`;
  const active = isActiveJobState(j.state);
  const facts = progressFacts(j);
  const table = j.drillRecord?.comparison?.tables ?? [];
  const mismatched = j.drillRecord?.comparison?.content?.mismatched ?? [];
  return (
    <Layout title={`${props.db} · ${j.id}`} signedIn csrf={props.csrf}>
      <p>
        <a href={`/db/${encodeURIComponent(props.db)}`}>← {props.db}</a>
      </p>
      <h1>
        Backup {j.id} <StateBadge state={j.state} live />
      </h1>
      <section aria-labelledby="progress-h">
        <h2 id="progress-h">Progress</h2>
        <progress id="bar" max="1" {...(facts.value === null ? {} : { value: String(facts.value) })} aria-labelledby="progress-label" />
        <p id="progress-label" aria-live="polite">
          {facts.label}
          {facts.eta ? ` · ${facts.eta}` : ""}
        </p>
        <p class="muted">
          State: <StateBadge state={j.state} live id="state" />
        </p>
        {active && (
          <form class="inline" method="post" action={`${base}/cancel`}>
            <input type="hidden" name="csrf" value={props.csrf} />
            <button type="submit" class="secondary">
              Cancel
            </button>
          </form>
        )}
        {active && <noscript>Reload the page to see newer progress.</noscript>}
        {active && <script>{raw(LIVE_SCRIPT(`${base}/live`))}</script>}
      </section>
      {j.error && (
        <section aria-labelledby="error-h">
          <h2 id="error-h">Error</h2>
          <p class="bad">
            <strong>{j.error.code}</strong>: {j.error.message}
          </p>
        </section>
      )}
      <section aria-labelledby="timeline-h">
        <h2 id="timeline-h">Timeline</h2>
        <ol>
          {j.events.map((e) => (
            <li>
              {when(e.at)}: <strong>{e.to}</strong>
              {e.detail ? ` — ${e.detail}` : ""}
            </li>
          ))}
        </ol>
      </section>
      {j.manifest && (
        <section aria-labelledby="artifact-h">
          <h2 id="artifact-h">Artifact</h2>
          <dl class="facts">
            <dt>Key</dt>
            <dd>
              <code>{j.manifest.artifact.key}</code>
            </dd>
            <dt>Sizes</dt>
            <dd>{`dump ${formatBytes(j.manifest.dump.bytes)} → ${j.manifest.compression.algorithm} ${formatBytes(j.manifest.compression.bytes)} → stored ${formatBytes(j.manifest.artifact.bytes)} (${(j.manifest.dump.bytes / Math.max(1, j.manifest.artifact.bytes)).toFixed(1)}×)`}</dd>
            <dt>Timings</dt>
            <dd>{`dump ${j.manifest.timings.dumpSeconds} s, total ${j.manifest.timings.totalSeconds} s`}</dd>
          </dl>
        </section>
      )}
      {j.drill && (
        <section aria-labelledby="drill-h">
          <h2 id="drill-h">Restore drill</h2>
          <p>
            <strong class={j.drill.verdict === "pass" ? "ok" : "bad"}>{j.drill.verdict}</strong>
            {` — restored in ${j.drill.restoreSeconds} s, counted in ${j.drill.countSeconds} s; ${j.drill.tables} tables, ${j.drill.rows} rows (${j.drill.target}, pg_restore ${j.drill.restoreFlags.join(" ")})`}
            {j.drill.reason ? ` — ${j.drill.code}: ${j.drill.reason}` : ""}
          </p>
          {j.drill.verdict === "pass" && <p id="drill-proof">Proven: {describeProof(j.drill.content)}</p>}
          {mismatched.length > 0 && <p class="bad">Content differs from the dump in: {mismatched.map((m) => m.table).join(", ")}</p>}
          {table.length > 0 && (
            <details>
              <summary>Per-table counts ({table.length})</summary>
              <div class="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Table</th>
                      <th scope="col">Rows in the dump</th>
                      <th scope="col">Rows restored</th>
                    </tr>
                  </thead>
                  <tbody>
                    {table.map((t) => (
                      <tr class={t.actual === t.expected ? "" : "bad"}>
                        <td>{t.table}</td>
                        <td>{t.expected}</td>
                        <td>{t.actual ?? "missing"}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </details>
          )}
        </section>
      )}
    </Layout>
  );
}
