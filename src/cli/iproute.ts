// The interface side of ifconfig on Linux: addresses, MTU, up/down and network namespaces go through ip(8).
// OpenBSD's rdomain maps onto a network namespace (wg(4) EXAMPLES): the TUN interface moves into it while the
// daemon and its UDP socket stay where they were started.
import { CliError } from "./errors.ts";

const IP_TIMEOUT_MS = 10_000;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command synchronously with a bounded wait; never throws for a non-zero exit. */
export function run(cmd: string[], timeoutMs = IP_TIMEOUT_MS): RunResult {
  let r;
  try {
    r = Bun.spawnSync(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: timeoutMs });
  } catch (e) {
    throw new CliError(`cannot run ${cmd[0]}: ${(e as Error).message}`);
  }
  return {
    code: r.exitCode ?? (r.signalCode ? 128 : 1),
    stdout: r.stdout.toString(),
    stderr: r.stderr.toString().trim(),
  };
}

/** `ip` in namespace `ns` ("" or null: the current one). */
function ipArgs(ns: string | null, args: string[]): string[] {
  return ns ? ["ip", "-n", ns, ...args] : ["ip", ...args];
}

export function ip(ns: string | null, args: string[], what: string): string {
  const r = run(ipArgs(ns, args));
  if (r.code !== 0) {
    const where = ns ? ` in namespace ${ns}` : "";
    throw new CliError(`${what}: ip ${args.join(" ")}${where} failed: ${r.stderr || `exit ${r.code}`}`);
  }
  return r.stdout;
}

export interface LinkInfo {
  ifindex: number;
  name: string;
  flags: string[];
  mtu: number;
  operstate: string;
}

export function linkInfo(ns: string | null, ifname: string): LinkInfo | null {
  const r = run(ipArgs(ns, ["-j", "link", "show", "dev", ifname]));
  if (r.code !== 0) return null;
  const arr = JSON.parse(r.stdout) as { ifindex: number; ifname: string; flags: string[]; mtu: number; operstate: string }[];
  const l = arr[0];
  if (!l) return null;
  return { ifindex: l.ifindex, name: l.ifname, flags: l.flags ?? [], mtu: l.mtu, operstate: l.operstate };
}

export interface AddrInfo {
  family: "inet" | "inet6";
  local: string;
  prefixlen: number;
  address?: string; // point-to-point peer
  broadcast?: string;
  scope: string;
}

export function addresses(ns: string | null, ifname: string): AddrInfo[] {
  const r = run(ipArgs(ns, ["-j", "addr", "show", "dev", ifname]));
  if (r.code !== 0) return [];
  const arr = JSON.parse(r.stdout) as { addr_info?: AddrInfo[] }[];
  return arr[0]?.addr_info ?? [];
}

export function netnsList(): string[] {
  const r = run(["ip", "netns", "list"]);
  if (r.code !== 0) return [];
  return r.stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter((n) => n !== "");
}

export function netnsExists(ns: string): boolean {
  return netnsList().includes(ns);
}

/**
 * Where the interface lives: null for the current namespace, a namespace name, or undefined when it is nowhere.
 * `hint` (the namespace the daemon recorded) is tried first, then the current namespace, then every named one.
 */
export function locate(ifname: string, hint = ""): string | null | undefined {
  if (hint && netnsExists(hint) && linkInfo(hint, ifname)) return hint;
  if (linkInfo(null, ifname)) return null;
  for (const ns of netnsList()) {
    if (ns !== hint && linkInfo(ns, ifname)) return ns;
  }
  return undefined;
}

