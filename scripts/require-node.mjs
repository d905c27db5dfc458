// Plain JS on purpose: runs on any Node and explains a missing Node 24 before a .ts file fails obscurely.
const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  console.error(
    `pgseal: npm scripts need Node 24, but this is Node ${process.version}.\n` +
      "Node 24 comes from the `node` devDependency, installed by `npm ci` (its install script puts\n" +
      "node_modules/.bin/node first on PATH for npm scripts). Run `npm ci` without --ignore-scripts.",
  );
  process.exit(1);
}
