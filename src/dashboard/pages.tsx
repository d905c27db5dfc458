/** @jsxRuntime automatic @jsxImportSource hono/jsx */
// Dashboard pages: sign-in, the overview of every database, and one database's jobs.
import type { DatabaseStatus, JobSummary } from "../do/rpc-types.ts";
import { nextRun } from "../schedule/cron.ts";
import { formatAge, formatBytes, Layout, Sparkline, StateBadge, when } from "./layout.tsx";

export function LoginPage(props: { error?: string }) {
  return (
    <Layout title="Sign in" signedIn={false}>
      <h1>Sign in</h1>
      <p>
        Use the deployment's admin token (the <code>ADMIN_TOKEN</code> secret).
      </p>
      {props.error && (
        <p class="error" role="alert">
          {props.error}
        </p>
      )}
      <form method="post" action="/login">
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required autofocus />
        <p>
          <button type="submit">Sign in</button>
        </p>
      </form>
    </Layout>
  );
}

export interface OverviewRow {
  status: DatabaseStatus;
  /** Recent finished jobs, oldest first: the trend lines. */
  recent: JobSummary[];
}

/** Overdue: the last sealed backup is older than one and a half schedule intervals (or there is none after one interval). */
export function isOverdue(s: DatabaseStatus, nowMs: number): boolean {
  if (!s.schedule || !s.enabled) return false;
  const first = nextRun(s.schedule, new Date(nowMs));
  const intervalMs = nextRun(s.schedule, first).getTime() - first.getTime();
  if (!s.lastSealed) return s.lastJob !== null;
  return s.lastSealed.ageSeconds * 1000 > intervalMs * 1.5;
}

export function OverviewPage(props: { rows: OverviewRow[]; csrf: string; nowMs: number }) {
  return (
    <Layout title="Databases" signedIn csrf={props.csrf}>
      <h1>Databases</h1>
      <div class="table-wrap">
        <table>
          <caption class="muted" style="text-align:left">
            {props.rows.length} database(s). A backup counts only once it is sealed: restored from the bucket and every table counted.
          </caption>
          <thead>
            <tr>
              <th scope="col">Database</th>
              <th scope="col">Status</th>
              <th scope="col">Last sealed</th>
              <th scope="col" class="optional">
                Next run
              </th>
              <th scope="col" class="optional">
                Last size
              </th>
              <th scope="col" class="optional">
                Last restore
              </th>
              <th scope="col" class="optional">
                Trends: stored size, restore time
              </th>
            </tr>
          </thead>
          <tbody>
            {props.rows.map(({ status: s, recent }) => {
              const state = s.activeJob?.state ?? s.lastJob?.state ?? "no backups";
              const overdue = isOverdue(s, props.nowMs);
              const sizes = recent.filter((j) => j.state === "sealed" && j.progress).map((j) => j.progress!.bytesUploaded);
              const restores = recent.filter((j) => j.drill?.verdict === "pass").map((j) => j.drill!.restoreSeconds);
              return (
                <tr>
                  <th scope="row">
                    <a href={`/db/${encodeURIComponent(s.db)}`}>{s.db}</a>
                  </th>
                  <td>
                    <StateBadge state={state} />
                  </td>
                  <td class={overdue ? "overdue" : ""}>
                    {formatAge(s.lastSealed?.ageSeconds)}
                    {overdue && " · overdue"}
                  </td>
                  <td class="optional">{when(s.nextRunAt)}</td>
                  <td class="optional">{formatBytes(s.lastBackup ? (recent.findLast((j) => j.id === s.lastBackup!.jobId)?.progress?.bytesUploaded ?? null) : null)}</td>
                  <td class="optional">{s.lastSealed?.drill ? `${s.lastSealed.drill.restoreSeconds} s` : "–"}</td>
                  <td class="optional">
                    {sizes.length < 2 && restores.length < 2 && <span class="muted">–</span>}
                    <Sparkline values={sizes} label={`stored size of the last ${sizes.length} sealed backups, oldest to newest`} format={formatBytes} />
                    <Sparkline values={restores} label={`restore seconds of the last ${restores.length} drills, oldest to newest`} format={(n) => `${n < 10 ? n.toFixed(1) : Math.round(n)} s`} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </Layout>
  );
}

export function DatabasePage(props: { status: DatabaseStatus; jobs: JobSummary[]; csrf: string; error?: string }) {
  const s = props.status;
  const active = s.activeJob;
  return (
    <Layout title={s.db} signedIn csrf={props.csrf}>
      <h1>{s.db}</h1>
      {props.error && (
        <p class="error" role="alert">
          {props.error}
        </p>
      )}
      <dl class="facts">
        <dt>Schedule (UTC)</dt>
        <dd>{s.schedule ? `${s.schedule}${s.enabled ? "" : " (disabled)"}` : "–"}</dd>
        <dt>Next run</dt>
        <dd>{when(s.nextRunAt)}</dd>
        <dt>Destination</dt>
        <dd>{s.destination ?? "–"}</dd>
        <dt>Last sealed</dt>
        <dd>{s.lastSealed ? `${formatAge(s.lastSealed.ageSeconds)} (${s.lastSealed.jobId})` : "never"}</dd>
      </dl>
      <p>
        {active ? (
          <>
            <a class="button" href={`/db/${encodeURIComponent(s.db)}/jobs/${active.id}`}>
              Watch the running backup
            </a>{" "}
            <form class="inline" method="post" action={`/db/${encodeURIComponent(s.db)}/jobs/${active.id}/cancel`}>
              <input type="hidden" name="csrf" value={props.csrf} />
              <button type="submit" class="secondary">
                Cancel
              </button>
            </form>
          </>
        ) : (
          <form class="inline" method="post" action={`/db/${encodeURIComponent(s.db)}/backup`}>
            <input type="hidden" name="csrf" value={props.csrf} />
            <button type="submit">Back up now</button>
          </form>
        )}
      </p>
      {s.openUploads.length > 0 ? (
        <p class="error" role="status">
          Open multipart upload(s) the last job could not abort (the next run of this database or <code>pgseal prune</code> aborts them):{" "}
          {s.openUploads.map((u) => `${u.destination}: ${u.key}`).join(", ")}
        </p>
      ) : null}
      <h2>Jobs</h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">State</th>
              <th scope="col" class="optional">
                Dump → stored
              </th>
              <th scope="col" class="optional">
                Ratio
              </th>
              <th scope="col" class="optional">
                Duration
              </th>
              <th scope="col">Drill</th>
              <th scope="col" class="optional">
                Copies
              </th>
            </tr>
          </thead>
          <tbody>
            {props.jobs.map((j) => {
              const p = j.progress;
              return (
                <tr>
                  <td>
                    <a href={`/db/${encodeURIComponent(s.db)}/jobs/${j.id}`}>{when(j.createdAt)}</a>
                  </td>
                  <td>
                    <StateBadge state={j.state} />
                    {j.error && <div class="bad">{j.error.code}</div>}
                  </td>
                  <td class="optional">{p ? `${formatBytes(p.bytesDumped)} → ${formatBytes(p.bytesUploaded)}` : "–"}</td>
                  <td class="optional">{p && p.bytesUploaded > 0 ? `${(p.bytesDumped / p.bytesUploaded).toFixed(1)}×` : "–"}</td>
                  <td class="optional">{p ? `${(p.elapsedMs / 1000).toFixed(1)} s` : "–"}</td>
                  <td>
                    {j.drill
                      ? `${j.drill.verdict}: ${j.drill.tables} tables, ${j.drill.rows} rows${j.drill.content?.proof === "content-exact" ? " (content-exact)" : ""}, restore ${j.drill.restoreSeconds} s`
                      : "–"}
                  </td>
                  <td class="optional">
                    {(j.copies ?? []).map((c) => (
                      <div class={c.ok ? "ok" : "bad"}>{`${c.name}: ${c.ok ? "stored" : (c.error?.code ?? "failed")}`}</div>
                    ))}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </Layout>
  );
}
