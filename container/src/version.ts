// The tool version recorded in manifests, read once from package.json.
import { readFileSync } from "node:fs";

export const PGSEAL_VERSION: string = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version;
