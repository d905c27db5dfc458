// Stand-in for cloudflare/proxy-everything (the network sidecar workerd runs beside every dev container), for
// machines that cannot pull it. Only what workerd's container client uses when nothing intercepts outbound traffic:
//   CONNECT host:port (or the X-Dst-Addr header) on --http-ingress-address: a TCP tunnel into the shared network
//   namespace; 400 when nothing listens there (workerd reads that as "the container is not listening").
//   PUT /egress: the egress settings, acknowledged and logged.  GET /ca: a placeholder certificate.
// At start it deletes the namespace's default route (workerd grants the sidecar NET_ADMIN): the app container then
// reaches only the docker bridge subnet, i.e. this host, never the internet.
import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { connect } from "node:net";

const argv = process.argv.slice(2);
const flag = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const ingress = flag("--http-ingress-address") ?? "0.0.0.0:39001";
const cut = ingress.lastIndexOf(":");
const log = (event, fields = {}) => console.log(JSON.stringify({ at: new Date().toISOString(), event, ...fields }));

try {
  execFileSync("ip", ["route", "del", "default"], { stdio: "pipe" });
  log("route.removed", { routes: execFileSync("ip", ["route"], { encoding: "utf8" }).trim().split("\n") });
} catch (e) {
  // No default route (already removed, or none given): the container is just as confined.
  log("route.unchanged", { reason: String(e.stderr ?? e.message).trim() });
}

const server = createServer((req, res) => {
  let body = "";
  req.setEncoding("utf8").on("data", (d) => (body += d));
  req.on("end", () => {
    if (req.method === "PUT" && req.url === "/egress") {
      log("egress", { settings: body });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    } else if (req.method === "GET" && req.url === "/ca") {
      res.writeHead(200, { "content-type": "application/x-pem-file" }).end("-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n");
    } else {
      log("unknown", { method: req.method, url: req.url });
      res.writeHead(404).end();
    }
  });
});

server.on("connect", (req, client, head) => {
  const dst = String(req.headers["x-dst-addr"] ?? req.url);
  const i = dst.lastIndexOf(":");
  const upstream = connect({ host: dst.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(dst.slice(i + 1)), allowHalfOpen: true });
  let open = false;
  upstream.once("connect", () => {
    open = true;
    client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    if (head?.length) upstream.write(head);
    client.pipe(upstream).pipe(client);
  });
  upstream.on("error", (e) => {
    if (open) return client.destroy();
    log("connect.refused", { dst, code: e.code });
    client.end("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
  });
  client.on("error", () => upstream.destroy());
});

server.listen(Number(ingress.slice(cut + 1)), ingress.slice(0, cut), () => log("listening", { ingress }));
for (const s of ["SIGTERM", "SIGINT"]) process.on(s, () => process.exit(0));
