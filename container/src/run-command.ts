// Child processes run to completion (initdb, psql, pg_ctl) and the system users they may run as.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

export interface SystemUser {
  uid: number;
  gid: number;
  name: string;
}

/** Looks a user up in /etc/passwd (no spawn: this runs on every harness start). */
export function systemUser(name: string): SystemUser | undefined {
  let passwd: string;
  try {
    passwd = readFileSync("/etc/passwd", "utf8");
  } catch {
    return undefined;
  }
  for (const line of passwd.split("\n")) {
    const [user, , uid, gid] = line.split(":");
    if (user === name) return { name, uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

/** Runs a command to completion and resolves with its output; never rejects. */
export function runCommand(
  file: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; uid?: number; gid?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, uid: opts.uid, gid: opts.gid, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", (e) => resolve({ code: -1, stdout: "", stderr: `${file}: ${e.message}` }));
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
    child.stdin.on("error", () => {}); // the child may exit before reading everything; 'close' reports why
    child.stdin.end(opts.input ?? "");
  });
}
