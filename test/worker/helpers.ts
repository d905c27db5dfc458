// Shared by the Worker tests: calls into the Worker as a client would, DO stubs, and waiting for a state.
import { env, exports } from "cloudflare:workers";

export interface TestWorkers {
  controlUrl: string;
  bucket: string;
  s3: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
}

const bag = env as unknown as Record<string, unknown>;

export const testWorkers = (): TestWorkers => JSON.parse(String(bag.TEST_WORKERS)) as TestWorkers;
export const adminToken = (): string => String(bag.ADMIN_TOKEN);
/** The run's secret values long enough to search for (Swift's test secret is the word "testing"). */
export const secretValues = (): string[] =>
  Object.entries(bag)
    .filter(([k, v]) => typeof v === "string" && v.length >= 12 && /^(DATABASE_URL_|S3_SECRET_ACCESS_KEY_|PGSEAL_KEYRING|ADMIN_TOKEN)/.test(k))
    .map(([, v]) => String(v));

/** A request to the Worker under test, with the admin token unless `token` says otherwise. */
export async function api(path: string, init: RequestInit & { token?: string | null } = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const { token = adminToken(), ...rest } = init;
  const headers = new Headers(rest.headers);
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  const res = await exports.default.fetch(new Request(`https://pgseal.test${path}`, { ...rest, headers }));
  const text = await res.text();
  return { status: res.status, body: text === "" ? null : JSON.parse(text), headers: res.headers };
}

export const backups = (db: string) => env.DATABASE_BACKUPS.getByName(db);

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 45_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
