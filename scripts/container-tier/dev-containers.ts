// `npm run dev -- --containers`: what scripts/dev.ts needs to run the Worker with real containers on this machine's Docker.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bridgeGateway, DOCKER, nodeImage, postgresBuildArgs, sidecarImage, wranglerDockerEnv } from "./docker.ts";
import { forwardFromBridge, viaBridge, type Forwarder } from "./worker.ts";

export { CONTAINERS_CONFIG } from "./worker.ts";

export interface DevContainers {
  /** The same URL, reachable from a container (through a forwarder on Docker's bridge gateway). */
  reachable(url: string): Promise<string>;
  /** For wrangler dev's environment. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** Uses the running Docker engine (never starts one); real images where they can be pulled, stand-ins where not. */
export async function devContainers(log: (line: string) => void): Promise<DevContainers> {
  const gateway = await bridgeGateway();
  if (!gateway) throw new Error(`no Docker engine with a 'bridge' network answers ${DOCKER}: start Docker (npm run test:container starts one for its own run)`);
  const dir = mkdtempSync(join(tmpdir(), "pgseal-dev-containers-"));
  const forwarders: Forwarder[] = [];
  const close = async () => {
    for (const f of forwarders) await f.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    log(await nodeImage(dir));
    const sidecar = await sidecarImage();
    log(sidecar.note);
    const pg = await postgresBuildArgs();
    log(pg.note);
    return {
      async reachable(url) {
        const f = await forwardFromBridge(gateway, Number(new URL(url).port));
        forwarders.push(f);
        return viaBridge(url, f);
      },
      env: wranglerDockerEnv(pg.args, sidecar.image),
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
