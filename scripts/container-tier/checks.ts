// The container tier's bookkeeping: timed steps, waiting, the app containers workerd runs, the config check, and the closing summary.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseJsonc } from "../../cli/jsonc.ts";
import { docker } from "./docker.ts";

export interface Check {
  name: string;
  pass: boolean;
  detail: string;
}

const steps: { name: string; seconds: number; ok: boolean }[] = [];

/** Runs one step, printing its name, what it found, and how long it took. */
export async function step(name: string, fn: () => Promise<string>): Promise<void>;
export async function step<T>(name: string, fn: () => Promise<{ value: T; note: string }>): Promise<T>;
export async function step<T>(name: string, fn: () => Promise<string | { value: T; note: string }>): Promise<T | void> {
  console.log(`\n▸ ${name}`);
  const t0 = performance.now();
  const seconds = () => (performance.now() - t0) / 1000;
  try {
    const r = await fn();
    steps.push({ name, seconds: seconds(), ok: true });
    console.log(`  ${typeof r === "string" ? r : r.note} [${seconds().toFixed(1)} s]`);
    return typeof r === "string" ? undefined : r.value;
  } catch (e) {
    steps.push({ name, seconds: seconds(), ok: false });
    throw e;
  }
}

export async function waitFor<T>(get: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}; last seen: ${JSON.stringify(v).slice(0, 1500)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Ids of the running containers of the Worker's image (wrangler tags it cloudflare-dev/<class>); not the sidecars. */
export async function appContainers(): Promise<string[]> {
  const out = await docker(["ps", "--no-trunc", "--format", "{{.ID}} {{.Image}}"], "listing containers");
  return out
    .split("\n")
    .filter((l) => l.split(" ")[1]?.startsWith("cloudflare-dev/pgdumpcontainer"))
    .map((l) => l.split(" ")[0]);
}

/** The containers config may differ from wrangler.jsonc only in `dev`: anything else would test another Worker. */
export async function checkConfigs(root: string, containersConfig: string): Promise<string> {
  const main = parseJsonc(readFileSync(join(root, "wrangler.jsonc"), "utf8")) as Record<string, unknown>;
  const tier = parseJsonc(readFileSync(join(root, containersConfig), "utf8")) as Record<string, unknown>;
  if ((tier.dev as { enable_containers?: boolean } | undefined)?.enable_containers !== true) throw new Error(`${containersConfig}: dev.enable_containers must be true`);
  const keys = new Set([...Object.keys(main), ...Object.keys(tier)]);
  keys.delete("dev");
  const differ = [...keys].filter((k) => JSON.stringify(main[k]) !== JSON.stringify(tier[k]));
  if (differ.length) throw new Error(`${containersConfig} differs from wrangler.jsonc in ${differ.join(", ")}: copy those from wrangler.jsonc (only "dev" may differ)`);
  return `${containersConfig} differs from wrangler.jsonc only in dev.enable_containers`;
}

/** Prints the step times and the checks; true when every check passed. */
export function summary(checks: Check[], stoppedEarly: number): boolean {
  console.log("\n── container tier: step times");
  for (const s of steps) console.log(`  ${s.ok ? " " : "✗"} ${s.seconds.toFixed(1).padStart(6)} s  ${s.name}`);
  console.log(
    `  ${steps
      .reduce((t, s) => t + s.seconds, 0)
      .toFixed(1)
      .padStart(8)} s  total`,
  );
  console.log("── container tier: checks");
  for (const c of checks) console.log(`  ${c.pass ? "PASS" : "FAIL"} ${c.name}`);
  const passed = checks.every((c) => c.pass);
  console.log(passed && !stoppedEarly ? `container tier: PASS (${checks.length} checks)` : `container tier: FAIL`);
  return passed;
}
