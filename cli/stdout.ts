// Standard output as a pipeline sink: a reader that goes away early (`| head`) is OUTPUT_CLOSED, which the CLI ends quietly.
import { nodeWritable } from "../container/src/node-writable.ts";
import { PgsealError } from "../src/shared/errors.ts";

export function stdoutSink(): WritableStream<Uint8Array> {
  return nodeWritable(process.stdout, {
    closedError: () => new PgsealError("OUTPUT_CLOSED", "standard output was closed by its reader before the end"),
    endOnClose: false,
  });
}
