// The database page as HTML: the banner for multipart uploads the last job could not abort.
import { describe, expect, it } from "vitest";
import type { DatabaseStatus } from "../do/rpc-types.ts";
import { DatabasePage } from "./pages.tsx";

const status = (openUploads: DatabaseStatus["openUploads"]): DatabaseStatus => ({
  db: "shop",
  configured: true,
  schedule: "0 3 * * *",
  enabled: true,
  destination: "primary",
  nextRunAt: "2026-11-30T03:00:00.000Z",
  activeJob: null,
  lastBackup: null,
  lastSealed: null,
  lastJob: null,
  lastPollOkAt: null,
  lastPrune: null,
  openUploads,
});

const render = async (s: DatabaseStatus) => String(await DatabasePage({ status: s, jobs: [], csrf: "csrf-token" }));

describe("the database page", () => {
  it("names every upload left open, by destination and key, and what will abort it", async () => {
    const html = await render(
      status([
        { destination: "primary", key: "pg/shop/2026/11/shop_20261130T010000Z.dump.zst.pgseal", uploadId: "upload-1" },
        { destination: "offsite", key: "pg/shop/2026/11/shop_20261130T010000Z.dump.zst.pgseal", uploadId: "upload-2" },
      ]),
    );
    expect(html).toMatch(/<p class="error" role="status">Open multipart upload\(s\) the last job could not abort/);
    expect(html).toContain("<code>pgseal prune</code> aborts them");
    expect(html).toContain("primary: pg/shop/2026/11/shop_20261130T010000Z.dump.zst.pgseal, offsite: pg/shop/2026/11/shop_20261130T010000Z.dump.zst.pgseal");
  });

  it("shows no banner when no upload is open", async () => {
    const html = await render(status([]));
    expect(html).toContain("<h1>shop</h1>");
    expect(html).not.toContain("Open multipart upload");
  });
});
