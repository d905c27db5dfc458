// Standard output as a pipeline sink: a reader that goes away early (`| head`) is OUTPUT_CLOSED, which the CLI ends quietly.
import { Writable } from "node:stream";
import { PgsealError } from "../src/shared/errors.ts";

export function stdoutSink(): WritableStream<Uint8Array> {
  const out = Writable.toWeb(process.stdout) as WritableStream<Uint8Array>;
  const writer = out.getWriter();
  const closed = (e: unknown): never => {
    if ((e as { code?: unknown })?.code === "EPIPE") throw new PgsealError("OUTPUT_CLOSED", "standard output was closed by its reader before the end");
    throw e;
  };
  return new WritableStream({
    write: (chunk) => writer.write(chunk).catch(closed),
    close: () => writer.close().catch(closed),
    abort: (reason) => writer.abort(reason).catch(() => undefined), // the output is being thrown away anyway
  });
}
