// Swift single-node configuration (from /work/shared/reference/swift-s3/) with our temp dir and ports.
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { gzipSync } from "node:zlib";

export const SWIFT_SERVERS = ["account", "container", "object", "proxy"] as const;
export type SwiftServer = (typeof SWIFT_SERVERS)[number];

export interface SwiftLayout {
  dir: string;
  ports: Record<SwiftServer, number>;
  /** Nobody listens there: tempauth insists on a memcache client, and misses are only logged. */
  memcachePort: number;
  /** UDP syslog sink of the harness. */
  logPort: number;
  /** The account to run as: Swift setuid()s to it, so it must be the current one. */
  user: string;
}

/** File name -> contents for the swift_dir: server configs and the three rings. */
export function swiftConfigs(l: SwiftLayout): Record<string, string | Buffer> {
  const common = (server: SwiftServer): string =>
    [
      "[DEFAULT]",
      `swift_dir = ${join(l.dir, "etc")}`,
      `devices = ${join(l.dir, "srv", "node")}`,
      "mount_check = false",
      `user = ${l.user}`,
      "bind_ip = 127.0.0.1",
      // 0 = serve in the started process itself: one PID per server to track, nothing forked.
      "workers = 0",
      "log_level = WARNING",
      "log_udp_host = 127.0.0.1",
      `log_udp_port = ${l.logPort}`,
      `log_name = ${server}-server`,
      `bind_port = ${l.ports[server]}`,
    ].join("\n");
  const storage = (server: "account" | "container" | "object"): string => `${common(server)}\n[pipeline:main]\npipeline = ${server}-server\n[app:${server}-server]\nuse = egg:swift#${server}\n`;
  const proxy = `${common("proxy")}
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk s3api tempauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
allow_account_management = true
account_autocreate = true
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
max_upload_part_num = 10000
min_segment_size = 5242880
check_bucket_owner = false
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${l.memcachePort}
# Nothing listens there on purpose; each miss would otherwise log two error lines.
set log_level = CRITICAL
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
max_manifest_segments = 10000
[filter:dlo]
use = egg:swift#dlo
`;
  const hashSuffix = l.dir.replace(/[^A-Za-z0-9]/g, "");
  const swift = `[swift-hash]
swift_hash_path_suffix = ${hashSuffix}
swift_hash_path_prefix = pgseal
[storage-policy:0]
name = Policy-0
default = yes
[swift-constraints]
max_file_size = 5368709122
`;
  return {
    "account.ring.gz": ringFile(l.ports.account),
    "container.ring.gz": ringFile(l.ports.container),
    "object.ring.gz": ringFile(l.ports.object),
    "swift.conf": swift,
    "account-server.conf": storage("account"),
    "container-server.conf": storage("container"),
    "object-server.conf": storage("object"),
    "proxy-server.conf": proxy,
  };
}

const RING_PART_POWER = 10;

/**
 * A Swift ring file (format v1 of swift/common/ring/ring.py RingData.serialize_v1) with one device
 * and one replica: every partition maps to device 0. Written here because swift-ring-builder spends
 * about a second of Python imports per call, and it takes nine calls.
 */
export function ringFile(port: number): Buffer {
  const meta = JSON.stringify({
    byteorder: "little",
    devs: [{ device: "d1", id: 0, ip: "127.0.0.1", meta: "", port, region: 1, weight: 100.0, zone: 1 }],
    part_shift: 32 - RING_PART_POWER,
    replica_count: 1,
    version: 1,
  });
  const head = Buffer.alloc(10);
  head.write("R1NG", 0, "ascii");
  head.writeUInt16BE(1, 4);
  head.writeUInt32BE(Buffer.byteLength(meta), 6);
  // replica2part2dev_id: one array of uint16 device ids, all zero.
  const part2dev = Buffer.alloc(2 << RING_PART_POWER);
  return gzipSync(Buffer.concat([head, Buffer.from(meta, "ascii"), part2dev]));
}

export function findOnPath(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, bin);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not in this PATH entry
    }
  }
  return undefined;
}
