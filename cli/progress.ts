// One updating progress line on a TTY (stderr); silence otherwise, so logs stay readable.
export { formatBytes } from "../src/shared/format-bytes.ts";

const REDRAW_INTERVAL_MS = 200;

export function progressLine(enabled = process.stderr.isTTY === true): { update(text: string): void; done(): void } {
  let shown = false;
  let drawnAt = 0;
  return {
    update(text) {
      if (!enabled) return;
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
