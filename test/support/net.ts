// What tests read from the kernel about the hosts they made: reachability (ping), interface, UDP and IP-stack
// counters, whether links, sockets and ports exist; and what wg(8) shows of a daemon (port, a peer's fields).
import { existsSync, readFileSync } from "node:fs";
import { socketPath } from "../../src/uapi/socket.ts";
import { poll, run, runSync, waitFor } from "./process.ts";
import { wgTool } from "./programs.ts";

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
      if (parseInt(cols[1].split(":")[1], 16) === port) drops += Number(cols[cols.length - 1]);
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

/** A statistics counter of an interface (rx_packets, tx_packets, tx_dropped, …); for a TUN, tx is what the kernel
 *  handed to the daemon, rx what the daemon wrote. */
export async function linkCounter(ifname: string, counter: string, netns?: string): Promise<number> {
  const file = `/sys/class/net/${ifname}/statistics/${counter}`;
  return Number((await run(netns ? ["ip", "netns", "exec", netns, "cat", file] : ["cat", file])).stdout.trim());
}

/** A counter of a namespace's IP stack from /proc/net/snmp, e.g. ("Icmp", "InEchos"), ("Udp", "NoPorts"): counts
 *  exactly the test's own packets where a stray packet of an earlier test would also move an interface counter. */
export async function snmpCounter(netns: string, proto: string, field: string): Promise<number> {
  const lines = (await run(["ip", "netns", "exec", netns, "cat", "/proc/net/snmp"])).stdout.split("\n").filter((l) => l.startsWith(`${proto}: `));
  const names = lines[0]?.split(" ") ?? [];
  const i = names.indexOf(field);
  if (i < 0 || lines.length < 2) throw new Error(`no ${proto} ${field} in ${netns}'s /proc/net/snmp`);
  return Number(lines[1].split(" ")[i]);
}

/** Waits until no packet has reached the interface for 400 ms (stragglers of an earlier test). */
export async function waitQuiet(ifname: string, netns?: string): Promise<void> {
  let last = -1;
  await waitFor(`a quiet ${ifname}`, async () => {
    const rx = await rxPackets(ifname, netns);
    const quiet = rx === last;
    last = rx;
    if (!quiet) await Bun.sleep(400);
    return quiet;
  }, 10_000);
}

/** The UDP port a daemon listens on, as wg(8) shows it. */
export async function listenPort(ifname: string): Promise<number> {
  return Number((await wgTool(["show", ifname, "listen-port"])).stdout.trim());
}

/** One field of `wg show IFNAME dump` for the peer pub (base64): 2 endpoint, 4 latest handshake, 5 rx, 6 tx. */
export async function peerField(ifname: string, pub: string, field: 2 | 4 | 5 | 6): Promise<string> {
  const lines = (await wgTool(["show", ifname, "dump"])).stdout.trim().split("\n").slice(1);
  const cols = lines.map((l) => l.split("\t")).find((c) => c[0] === pub);
  if (!cols) throw new Error(`${ifname} has no peer ${pub}`);
  return cols[field];
}

/** rx and tx bytes wg(8) shows for a peer. */
export async function peerTransfer(ifname: string, pub: string): Promise<{ rx: number; tx: number }> {
  return { rx: Number(await peerField(ifname, pub, 5)), tx: Number(await peerField(ifname, pub, 6)) };
}
