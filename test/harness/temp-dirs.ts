// The test run's own TMPDIR: every temp dir a test, a server or the streamer makes lands in it, and one left behind fails the run.
import { chmodSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

interface RunTmp {
  dir: string;
  previous: string | undefined;
  users: number;
}

/** Both projects' global setups run in one vitest process; they share one dir, checked when the last one ends. */
const KEY = Symbol.for("pgseal.test-run-tmpdir");
type WithRunTmp = typeof globalThis & { [KEY]?: RunTmp };

/**
 * Points TMPDIR (read by os.tmpdir() on every call, inherited by test workers and every child
 * process) at a fresh dir, so the check sees exactly this run's dirs and not those of other runs
 * on the machine. Returns the check: it throws, failing the run, when a pgseal-* dir is left.
 */
export function isolateTempDirs(): () => void {
  const g = globalThis as WithRunTmp;
  if (!g[KEY]) {
    const dir = mkdtempSync(join(tmpdir(), "pgseal-testrun-"));
    // The clusters run as an unprivileged user when the tests run as root: they must reach their dirs in here.
    chmodSync(dir, 0o755);
    g[KEY] = { dir, previous: process.env.TMPDIR, users: 0 };
    process.env.TMPDIR = dir;
  }
  const run = g[KEY];
  run.users++;
  return () => {
    if (--run.users > 0) return;
    delete g[KEY];
    if (run.previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = run.previous;
    const left = readdirSync(run.dir).filter((e) => e.startsWith("pgseal-"));
    rmSync(run.dir, { recursive: true, force: true, maxRetries: 3 });
    if (left.length > 0) {
      throw new Error(`the tests left ${left.length} temp dir(s) behind (removed now): ${left.join(", ")}. Every test must remove the dirs it creates (keys included)`);
    }
  };
}
