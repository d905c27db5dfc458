// The Worker entry. This release carries the engine and CLI only: /health answers, every other
// route says plainly that the admin API is not in this version (never a silent 404 or a fake 200).
import { PGSEAL_WORKER_API_AVAILABLE } from "./status.ts";

export default {
  async fetch(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === "/health") return Response.json({ ok: true, api: PGSEAL_WORKER_API_AVAILABLE });
    return Response.json(
      { error: { code: "NOT_IMPLEMENTED", message: "the pgseal admin API is not part of this version: use the pgseal CLI (see README)" } },
      { status: 501 },
    );
  },
} satisfies ExportedHandler;
