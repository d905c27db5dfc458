// Byte counts for people, in IEC units (KiB, MiB, GiB, TiB: powers of 1024), for the dashboard, the report and the CLI.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;
const STEP = 1024;

/**
 * "512 B", "1.5 KiB", "20.0 GiB": whole bytes, one decimal above. A value that would print as 1024.0
 * of a unit moves to the next one ("1.0 MiB", not "1024.0 KiB"). null or undefined (not known yet)
 * prints `missing`: the dashboard's en dash unless the caller has its own placeholder.
 */
export function formatBytes(n: number | null | undefined, missing = "–"): string {
  if (n === null || n === undefined) return missing;
  let v = n;
  let i = 0;
  const shown = () => (i === 0 ? Math.round(v) : Number(v.toFixed(1)));
  while (i < UNITS.length - 1 && Math.abs(shown()) >= STEP) {
    v /= STEP;
    i++;
  }
  return i === 0 ? `${shown()} B` : `${v.toFixed(1)} ${UNITS[i]}`;
}
