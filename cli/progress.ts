// Progress on stderr: one updating line on a TTY; with --progress elsewhere, a plain line every few seconds (logs stay readable).
export { formatBytes } from "../src/shared/format-bytes.ts";

/** "1 part", "2 parts". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

const REDRAW_INTERVAL_MS = 200;
/** Off a TTY a line per interval is a log a person can follow and a CI page does not drown in. */
export const PROGRESS_LINE_INTERVAL_MS = 2_000;

export const PROGRESS_FLAG = { progress: { type: "boolean" } } as const;
export const PROGRESS_FLAG_HELP = { progress: "off a terminal, print a progress line every 2 s on stderr (a terminal always gets one updating line)" };

export interface Progress {
  update(text: string): void;
  done(): void;
}

/**
 * `lines`: --progress was given. On a TTY the line redraws in place; otherwise, with `lines`, the
 * latest state is printed every PROGRESS_LINE_INTERVAL_MS and once more at the end; else nothing.
 */
export function progressLine(lines = false, tty = process.stderr.isTTY === true): Progress {
  let shown = false;
  let drawnAt = 0;
  let latest: string | undefined;
  let printed: string | undefined;
  if (!tty && lines) {
    const print = () => {
      if (latest !== undefined && latest !== printed) process.stderr.write(`${latest}\n`);
      printed = latest;
    };
    const timer = setInterval(print, PROGRESS_LINE_INTERVAL_MS);
    timer.unref();
    return {
      update: (text) => void (latest = text),
      done: () => (clearInterval(timer), print()),
    };
  }
  return {
    update(text) {
      if (!tty) return;
      const now = performance.now();
      if (now - drawnAt < REDRAW_INTERVAL_MS) return;
      drawnAt = now;
      const width = process.stderr.columns ?? 100;
      process.stderr.write(`\r\x1b[K${text.slice(0, width - 1)}`);
      shown = true;
    },
    done() {
      if (shown) process.stderr.write("\r\x1b[K");
      shown = false;
    },
  };
}
