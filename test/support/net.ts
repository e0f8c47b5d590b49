// What tests read from the kernel about the hosts they made: reachability (ping), interface and UDP counters, and
// whether links, sockets and ports exist.
import { existsSync, readFileSync } from "node:fs";
import { socketPath } from "../../src/uapi/socket.ts";
import { poll, run, runSync } from "./process.ts";

export async function ping(ns: string, addr: string, count = 3, timeoutS = 2): Promise<boolean> {
  const cmd = addr.includes(":") ? ["ping", "-6"] : ["ping"];
  const r = await run(["ip", "netns", "exec", ns, ...cmd, "-n", "-c", String(count), "-W", String(timeoutS), "-i", "0.2", addr], { check: false, timeoutMs: (count * timeoutS + 5) * 1000 });
  return r.code === 0;
}

/** Pings until one gets through (the first packet starts the handshake), bounded. */
export async function pingUntil(ns: string, addr: string, timeoutMs = 15_000): Promise<void> {
  if (!(await poll(() => ping(ns, addr, 1, 1), timeoutMs))) throw new Error(`timed out after ${timeoutMs} ms waiting for ping ${addr} from ${ns}`);
}

export function linkExists(ifname: string, ns?: string): boolean {
  return runSync(ns ? ["ip", "-n", ns, "link", "show", "dev", ifname] : ["ip", "link", "show", "dev", ifname], { check: false }).code === 0;
}

export function socketExists(ifname: string): boolean {
  return existsSync(socketPath(ifname));
}

/** Packets the kernel received on an interface: for a TUN, what the daemon wrote to it. */
export async function rxPackets(ifname: string, netns?: string): Promise<number> {
  const file = `/sys/class/net/${ifname}/statistics/rx_packets`;
  return Number((await run(netns ? ["ip", "netns", "exec", netns, "cat", file] : ["cat", file])).stdout.trim());
}

/** Datagrams the kernel dropped at a UDP port's socket (receive buffer full), from /proc/net/udp{,6}. */
export function udpDrops(port: number): number {
  let drops = 0;
  for (const f of ["/proc/net/udp", "/proc/net/udp6"]) {
    for (const line of readFileSync(f, "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 13) continue;
      if (parseInt(cols[1]!.split(":")[1]!, 16) === port) drops += Number(cols[cols.length - 1]);
    }
  }
  return drops;
}

export async function udpPortFree(port: number): Promise<boolean> {
  for (const hostname of ["0.0.0.0", "::"]) {
    try {
      const s = await Bun.udpSocket({ hostname, port });
      s.close();
    } catch {
      return false;
    }
  }
  return true;
}

/** A UDP port nothing uses right now (from the kernel's ephemeral range). */
export async function freePort(): Promise<number> {
  const s = await Bun.udpSocket({ hostname: "0.0.0.0", port: 0 });
  const p = s.port;
  s.close();
  return p;
}
