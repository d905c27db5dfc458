// The tool version recorded in manifests (inlined by the bundler, read directly when run from source).
import pkg from "../../package.json" with { type: "json" };

export const PGSEAL_VERSION: string = pkg.version;
