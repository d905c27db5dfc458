// formatBytes: IEC units, one decimal, the rounding edge at each unit, and the placeholder for an unknown size.
import { describe, expect, it } from "vitest";
import { formatBytes } from "./format-bytes.ts";

describe("formatBytes", () => {
  it("prints IEC units with one decimal above bytes", () => {
    const cases: [number, string][] = [
      [0, "0 B"],
      [1, "1 B"],
      [1023, "1023 B"],
      [1024, "1.0 KiB"],
      [1536, "1.5 KiB"],
      [5 * 1024 ** 2, "5.0 MiB"],
      [20 * 1024 ** 3 + 1, "20.0 GiB"],
      [3.25 * 1024 ** 4, "3.3 TiB"],
      [2048 * 1024 ** 4, "2048.0 TiB"],
    ];
    for (const [n, text] of cases) expect(formatBytes(n), String(n)).toBe(text);
  });

  it("moves to the next unit when rounding would print 1024.0 of this one", () => {
    expect(formatBytes(1024 * 1024 - 1)).toBe("1.0 MiB");
    expect(formatBytes(1024 * 1023.94)).toBe("1023.9 KiB");
    expect(formatBytes(1024 ** 3 - 1)).toBe("1.0 GiB");
  });

  it("prints the placeholder for a size not known yet, the dashboard's by default", () => {
    expect(formatBytes(null)).toBe("–");
    expect(formatBytes(undefined)).toBe("–");
    expect(formatBytes(null, "—")).toBe("—");
    expect(formatBytes(0, "—")).toBe("0 B");
  });
});
