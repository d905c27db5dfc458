// A Node writable (a child's stdin, stdout) as a Web WritableStream whose writes always settle, even when the far end is gone.
import { PgsealError } from "../../src/shared/errors.ts";

export interface NodeWritableOptions {
  /** Settles when the far end is gone for good (a child process exited): pending and later writes fail then. */
  gone?: Promise<unknown>;
  /** The error for a write into a closed pipe (EPIPE or gone). */
  closedError: () => Error;
  /** Close ends the stream (a child's stdin: end of input); otherwise it only flushes (stdout). */
  endOnClose: boolean;
}

/**
 * Why not Writable.toWeb: once the reader of a pipe has gone, Node may never call a pending
 * write's callback, and a write promise that never settles hangs the whole pipeline.
 */
export function nodeWritable(out: NodeJS.WritableStream, opts: NodeWritableOptions): WritableStream<Uint8Array> {
  let broken: Error | undefined;
  const fail = (e?: unknown): Error => (broken ??= (e as NodeJS.ErrnoException | undefined)?.code === "EPIPE" || e === undefined ? opts.closedError() : asError(e));
  const whenBroken = new Promise<never>((_, reject) => {
    out.once("error", (e) => reject(fail(e)));
    opts.gone?.then(
      () => reject(fail()),
      () => reject(fail()),
    );
  });
  whenBroken.catch(() => undefined); // raced by every write below; this only marks it handled while no write is pending
  const settle = (op: (done: (e?: Error | null) => void) => void) =>
    Promise.race([
      whenBroken,
      new Promise<void>((resolve, reject) => {
        if (broken) return reject(broken);
        op((e) => (e ? reject(fail(e)) : resolve()));
      }),
    ]);
  return new WritableStream({
    write: (chunk) => settle((done) => void out.write(chunk, done)),
    close: () => settle((done) => (opts.endOnClose ? void out.end(done) : void out.write(new Uint8Array(0), done))),
  });
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new PgsealError("INTERNAL", String(e));
}
