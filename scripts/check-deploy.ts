// `npm run check:deploy`: what `wrangler deploy` would build — the Worker bundle, and the image build it would ask
// Docker for — checked without a Docker engine: a stub docker records the build request and this script checks it.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const DOCKERFILE = join(ROOT, "container/Dockerfile");
const MAX_BUNDLE_BYTES = 3 * 1024 * 1024; // the Workers paid plan's compressed limit is 10 MiB; ours should stay far below

const dir = mkdtempSync(join(tmpdir(), "pgseal-check-deploy-"));
const problems: string[] = [];
try {
  const log = join(dir, "docker.log");
  const stub = join(dir, "docker");
  // Answers `docker info` and `docker build` like an engine would, keeping the build's arguments and Dockerfile.
  writeFileSync(stub, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nif [ "$1" = build ]; then cat > '${dir}/Dockerfile.received'; fi\nexit 0\n`);
  chmodSync(stub, 0o755);
  const outdir = join(dir, "worker");
  const r = spawnSync(process.execPath, [join(ROOT, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--outdir", outdir], {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_DOCKER_BIN: stub, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
    encoding: "utf8",
  });
  if (r.status !== 0) problems.push(`wrangler deploy --dry-run exited ${r.status}:\n${r.stdout}\n${r.stderr}`);

  const bundle = join(outdir, "index.js");
  if (!existsSync(bundle)) problems.push("no Worker bundle was written");
  else if (statSync(bundle).size > MAX_BUNDLE_BYTES) problems.push(`the Worker bundle is ${statSync(bundle).size} bytes, more than ${MAX_BUNDLE_BYTES}`);

  const calls = existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [];
  const build = calls.find((c) => c.startsWith("build "));
  if (!build) problems.push(`wrangler never asked docker to build the image (calls: ${calls.join(" | ") || "none"})`);
  else {
    if (!build.endsWith(` ${ROOT}`)) problems.push(`the image build context is not the repository root: docker ${build}`);
    if (!build.includes("--platform linux/amd64")) problems.push(`the image is not built for linux/amd64: docker ${build}`);
    const received = existsSync(join(dir, "Dockerfile.received")) ? readFileSync(join(dir, "Dockerfile.received"), "utf8") : "";
    if (received !== readFileSync(DOCKERFILE, "utf8")) problems.push("the Dockerfile docker received is not container/Dockerfile");
  }

  // Every COPY source must exist in the context and get past .dockerignore (an allow-list).
  const allowed = readFileSync(join(ROOT, ".dockerignore"), "utf8")
    .split("\n")
    .filter((l) => l.startsWith("!"))
    .map((l) => l.slice(1).replace(/\/$/, ""));
  const copied: string[] = [];
  for (const line of readFileSync(DOCKERFILE, "utf8").split("\n")) {
    const m = /^COPY\s+(.+)\s+\S+$/.exec(line.trim());
    if (!m) continue;
    for (const src of m[1].split(/\s+/)) {
      copied.push(src.replace(/\/$/, ""));
      if (!existsSync(join(ROOT, src))) problems.push(`COPY ${src}: no such path in the build context`);
      if (!allowed.some((a) => src === a || src.startsWith(`${a}/`))) problems.push(`COPY ${src}: excluded by .dockerignore`);
    }
  }
  // Every module the streamer imports (relative imports, followed from its entry) must be in the image.
  for (const file of importClosure(join(ROOT, "container/src/server.ts"))) {
    const rel = relative(ROOT, file);
    if (!copied.some((c) => rel === c || rel.startsWith(`${c}/`))) problems.push(`the streamer imports ${rel}, which no COPY puts into the image`);
  }
  if (problems.length === 0) {
    console.log(
      `check:deploy ok: Worker bundle ${(statSync(bundle).size / 1024).toFixed(0)} KiB; image build: context = repository root, Dockerfile = container/Dockerfile, every COPY source present`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
/** The files reachable from `entry` through relative import specifiers (what Node loads from the repository). */
function importClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const m of readFileSync(file, "utf8").matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) todo.push(resolve(dirname(file), m[1]));
  }
  return seen;
}

if (problems.length > 0) {
  console.error(`check:deploy failed:\n- ${problems.join("\n- ")}`);
  process.exitCode = 1;
}
