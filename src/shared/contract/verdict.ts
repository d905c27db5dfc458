// A drill's verdict and the one word it becomes everywhere: the manifest's status and the job's end state use the same word.
export type DrillVerdict = "pass" | "fail" | "skipped";
export type VerdictStatus = "sealed" | "drill-failed" | "drill-skipped";

export const STATUS_OF_VERDICT: Readonly<Record<DrillVerdict, VerdictStatus>> = { pass: "sealed", fail: "drill-failed", skipped: "drill-skipped" };

/** `uploaded` when there was no drill (drills off): stored and manifested, never restored. */
export function statusOfVerdict(verdict: DrillVerdict | undefined): VerdictStatus | "uploaded" {
  return verdict ? STATUS_OF_VERDICT[verdict] : "uploaded";
}
