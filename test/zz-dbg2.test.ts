import { it } from "vitest";
import { startPostgres } from "./harness/postgres.ts";
import { findPgTools } from "../container/src/pg-tools.ts";
import { pgDumpSource } from "../container/src/stages/pg-dump.ts";
import { dumpInventory } from "../container/src/stages/dump-inventory.ts";
import { compressStage } from "../container/src/stages/compress.ts";
import { parsePgUrl } from "../src/shared/pg-url.ts";
import { runPipeline, stage } from "../src/shared/pipeline/pipeline.ts";
import { tap } from "../src/shared/pipeline/tap.ts";
import { PgsealError } from "../src/shared/errors.ts";
it("dbg", async () => {
  const pg = await startPostgres();
  const url = await pg.createDatabase("src");
  await pg.psql("create table blob as select g as id, (select string_agg(md5((g * 100 + i)::text), '') from generate_series(1, 20) i) as t from generate_series(1, 60000) g", "src");
  const tools = await findPgTools();
  for (const variant of ["inv", "noinv"]) {
    const dump = pgDumpSource({ tools, conn: parsePgUrl(url) });
    const inv = dumpInventory();
    let n = 0;
    const sink = new WritableStream<Uint8Array>({
      write(c) {
        n += c.length;
        if (n > 3_000_000) throw new PgsealError("S3_NO_SUCH_BUCKET", "x");
      },
    });
    const t0 = Date.now();
    const r = await Promise.race([
      runPipeline({
        source: { name: "pg_dump", readable: dump.readable },
        stages: [
          stage(
            "progress",
            tap(() => {}),
          ),
          ...(variant === "inv" ? [stage("inventory", inv.stage)] : []),
          stage("d", new TransformStream()),
          stage("compress", compressStage("zstd", 3)),
        ],
        sink: { name: "s", writable: sink },
      }).then(
        () => "ok",
        (e) => "err " + e.code,
      ),
      new Promise((r) => setTimeout(() => r("HANG"), 8000)),
    ]);
    console.log("RESULT", variant, r, Date.now() - t0);
  }
}, 60000);
