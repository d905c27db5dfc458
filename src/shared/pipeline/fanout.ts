// One byte stream into several sinks at once: the slowest live sink sets the pace; a failing sink is dropped, the others go on.
import { PgsealError } from "../errors.ts";

export interface FanOutCopy {
  name: string;
  writable: WritableStream<Uint8Array>;
}

/** How one destination's copy of a backup ended (streamer result, job record, API): a backup succeeds when one copy did. */
export interface CopyOutcome {
  name: string;
  bucket: string;
  ok: boolean;
  manifestKey?: string;
  error?: { code: string; message: string };
}

export interface FanOutOutcome {
  name: string;
  ok: boolean;
  /** Why this copy was dropped (its sink's error). */
  error?: unknown;
}

/**
 * Every chunk is handed to every live sink and the next one waits until all of them took it, so
 * memory stays bounded by one chunk plus what each sink buffers itself. Chunks are shared, not
 * copied: sinks must not modify them. The stream errors only when no sink is left.
 */
export function fanOut(copies: FanOutCopy[]): { writable: WritableStream<Uint8Array>; outcomes: Promise<FanOutOutcome[]> } {
  const live = copies.map((c) => ({ name: c.name, writer: c.writable.getWriter(), error: undefined as unknown, failed: false }));
  let settle!: (o: FanOutOutcome[]) => void;
  const outcomes = new Promise<FanOutOutcome[]>((resolve) => (settle = resolve));
  const report = () => settle(live.map((l) => (l.failed ? { name: l.name, ok: false, error: l.error } : { name: l.name, ok: true })));
  const each = async (op: (w: WritableStreamDefaultWriter<Uint8Array>) => Promise<void>) => {
    await Promise.all(
      live
        .filter((l) => !l.failed)
        .map(async (l) => {
          try {
            await op(l.writer);
          } catch (e) {
            l.failed = true;
            l.error = e;
            await l.writer.abort(e).catch(() => {});
          }
        }),
    );
    if (live.every((l) => l.failed)) {
      report();
      const first = live[0]?.error;
      throw first instanceof PgsealError
        ? first
        : new PgsealError("S3_UNAVAILABLE", `every destination failed: ${live.map((l) => `${l.name}: ${l.error instanceof Error ? l.error.message : String(l.error)}`).join("; ")}`);
    }
  };
  const writable = new WritableStream<Uint8Array>({
    write: (chunk) => each((w) => w.write(chunk)),
    close: async () => {
      await each((w) => w.close());
      report();
    },
    abort: async (reason) => {
      await Promise.all(live.filter((l) => !l.failed).map((l) => l.writer.abort(reason).catch(() => {})));
      for (const l of live) if (!l.failed) (l.failed = true), (l.error = reason);
      report();
    },
  });
  return { writable, outcomes };
}
