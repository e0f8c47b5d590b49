// Daemons a test starts in the foreground (`PROGRAM -f IFNAME`), so that their process id is the test's to signal,
// stop and watch; and the configuration socket spoken raw, through the CLI's own client (src/cli/configSocket.ts).
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { exchange } from "../../src/cli/configSocket.ts";
import { socketPath } from "../../src/uapi/socket.ts";
import { run, runSync } from "./process.ts";
import { waitFor } from "./process.ts";
import { alive, stopPid, type Scope } from "./scope.ts";

/** The process listening on ifname's configuration socket (a detached daemon's id is nobody's to know otherwise), or
 *  NaN when none is. */
export async function socketOwner(ifname: string): Promise<number> {
  const line = (await run(["ss", "-xlpn"])).stdout.split("\n").find((l) => l.includes(socketPath(ifname)));
  return Number(line?.match(/pid=(\d+)/)?.[1]);
}

export interface Daemon { ifname: string; pid: number; netns?: string; log: string; proc: ReturnType<typeof Bun.spawn> }

/** Starts `program -f ifname` (in netns, if given); waits until its configuration socket answers. Registered with
 *  scope: stopped by process id, interface and socket removed. */
export async function startDaemon(scope: Scope, program: string[], ifname: string, opts: { netns?: string; env?: Record<string, string> } = {}): Promise<Daemon> {
  const log = `${scope.dir}/${ifname}.log`;
  const fd = openSync(log, "a", 0o600);
  // `ip netns exec` execs the program: the process id we get is the daemon's.
  const cmd = [...(opts.netns ? ["ip", "netns", "exec", opts.netns] : []), ...program, "-f", ifname];
  const proc = Bun.spawn(cmd, { stdio: ["ignore", fd, fd], env: { ...process.env, ...opts.env } });
  closeSync(fd);
  const d: Daemon = { ifname, pid: proc.pid, netns: opts.netns, log, proc };
  scope.add(() => stopDaemon(d));
  scope.interface(ifname);
  // Ready when the socket answers (a file alone may be left over from a killed daemon).
  await waitFor(`${ifname}'s configuration socket`, async () => {
    if (proc.exitCode !== null) throw new Error(`${ifname} exited during start-up: ${readFileSync(log, "utf8").slice(-2000)}`);
    if (!existsSync(socketPath(ifname))) return false;
    try {
      return (await uapiRequest(ifname, "get=1\n\n", 1000)).answer.endsWith("errno=0\n\n");
    } catch {
      return false;
    }
  }, 15_000);
  return d;
}

/** Stops the daemon by process id and removes what a killed daemon leaves (its interface). Synchronous. */
export function stopDaemon(d: Daemon): void {
  stopPid(d.pid);
  runSync(d.netns ? ["ip", "-n", d.netns, "link", "del", d.ifname] : ["ip", "link", "del", d.ifname], { check: false });
}

export { alive };

/** Throws, with the end of its log, unless the daemon is still running. */
export function assertAlive(d: Daemon): void {
  if (!alive(d.pid)) throw new Error(`${d.ifname}'s daemon (pid ${d.pid}) has exited; its log ends: ${readFileSync(d.log, "utf8").slice(-1500)}`);
}

/** One raw request (any bytes) on the configuration socket; resolves with what was read until an answer ended or
 *  the daemon closed, rejects after timeoutMs. */
export function uapiRequest(ifname: string, request: string | Uint8Array, timeoutMs = 5000): Promise<{ answer: string; closed: boolean }> {
  return exchange(ifname, request, timeoutMs);
}
