// `ifconfig IFNAME` output in OpenBSD's style, from the daemon's get answer and the kernel's view of the link:
//   wg1: flags=80d1<UP,POINTOPOINT,RUNNING,NOARP,MULTICAST> rdomain NS mtu 1420
//   	wgport 111
//   	wgpubkey KEY
//   	wgpeer KEY …
// The wgpubkey line is a tab, "wgpubkey ", the key: `| grep wgpubkey | cut -d ' ' -f 2` gives the key (wg(4) EXAMPLES).
// With our daemon the interface and each peer also show what they carried and dropped (src/device/counters.ts).
import { addresses, linkInfo, locate, type AddrInfo, type LinkInfo } from "./iproute.ts";
import { request, answerErrno } from "./configSocket.ts";
import { DROP_REASONS, parseCounters, type Counts } from "../device/counters.ts";
import { COUNTERS_REQUEST } from "../uapi/framing.ts";
import { CliError } from "./errors.ts";
import { netmaskHex } from "./cidr.ts";
import { readDevice, type DeviceView, type PeerView } from "./deviceView.ts";

// OpenBSD's interface flag bits (net/if.h), so the hex value reads as it would there.
const FLAG_BITS: [string, number][] = [
  ["UP", 0x1],
  ["BROADCAST", 0x2],
  ["DEBUG", 0x4],
  ["LOOPBACK", 0x8],
  ["POINTOPOINT", 0x10],
  ["RUNNING", 0x40],
  ["NOARP", 0x80],
  ["PROMISC", 0x100],
  ["ALLMULTI", 0x200],
  ["MULTICAST", 0x8000],
];

export interface InterfaceStatus {
  name: string;
  /** network namespace the interface is in; null: the daemon's own; undefined-as-missing: interface not found */
  rdomain: string | null;
  present: boolean;
  index: number | null;
  flags: string[];
  flagBits: number;
  mtu: number | null;
  device: DeviceView;
  inet: { address: string; prefixlen: number; netmask: string; broadcast?: string; peer?: string }[];
  inet6: { address: string; prefixlen: number; scope: string }[];
  /** null: the daemon keeps none (not ours). Peers by base64 public key. */
  counters?: { device: Counts; peers: Map<string, Counts> } | null;
}

/** The counters, from our daemon only: wireguard-go closes the connection on a request it does not know. */
async function readCounters(ifname: string, timeoutMs?: number): Promise<{ device: Counts; peers: Map<string, Counts> } | null> {
  const answer = await request(ifname, `${COUNTERS_REQUEST}\n\n`, timeoutMs);
  if (answer === null || answerErrno(answer) !== 0) return null;
  try {
    const c = parseCounters(answer);
    const peers = new Map<string, Counts>();
    for (const [hex, counts] of c.peers) peers.set(Buffer.from(hex, "hex").toString("base64"), counts);
    return { device: c.device, peers };
  } catch (e) {
    throw new CliError(`${ifname}: ${(e as Error).message}`);
  }
}

function flagsOf(link: LinkInfo | null, debug: boolean): { names: string[]; bits: number } {
  const linux = new Set(link?.flags ?? []);
  const have = new Set<string>();
  if (linux.has("UP")) have.add("UP");
  if (linux.has("BROADCAST")) have.add("BROADCAST");
  if (debug) have.add("DEBUG");
  if (linux.has("LOOPBACK")) have.add("LOOPBACK");
  if (linux.has("POINTOPOINT")) have.add("POINTOPOINT");
  // Linux says LOWER_UP where BSD says RUNNING (the driver is ready to pass packets).
  if (linux.has("LOWER_UP") || linux.has("RUNNING")) have.add("RUNNING");
  if (linux.has("NOARP")) have.add("NOARP");
  if (linux.has("PROMISC")) have.add("PROMISC");
  if (linux.has("ALLMULTI")) have.add("ALLMULTI");
  if (linux.has("MULTICAST")) have.add("MULTICAST");
  const names = FLAG_BITS.filter(([n]) => have.has(n));
  return { names: names.map(([n]) => n), bits: names.reduce((a, [, b]) => a | b, 0) };
}

export async function gatherStatus(ifname: string, timeoutMs?: number): Promise<InterfaceStatus> {
  const device = await readDevice(ifname, timeoutMs);
  const ns = locate(ifname, device.rdomain);
  const link = ns === undefined ? null : linkInfo(ns, ifname);
  const addrs: AddrInfo[] = ns === undefined ? [] : addresses(ns, ifname);
  const flags = flagsOf(link, device.debug);
  const counters = device.extensions ? await readCounters(ifname, timeoutMs) : null;
  return {
    name: ifname,
    rdomain: ns ?? null,
    present: link !== null,
    index: link?.ifindex ?? null,
    flags: flags.names,
    flagBits: flags.bits,
    mtu: link?.mtu ?? null,
    device,
    inet: addrs
      .filter((a) => a.family === "inet")
      .map((a) => ({
        address: a.local,
        prefixlen: a.prefixlen,
        netmask: netmaskHex(a.prefixlen),
        ...(a.broadcast ? { broadcast: a.broadcast } : {}),
        ...(a.address && a.address !== a.local ? { peer: a.address } : {}),
      })),
    inet6: addrs.filter((a) => a.family === "inet6").map((a) => ({ address: a.local, prefixlen: a.prefixlen, scope: a.scope })),
    counters,
  };
}

/** Counter lines in ifconfig's terse style; drops only by the reasons that happened. */
function counterLines(c: Counts, indent: string, device: boolean): string[] {
  const dropped = DROP_REASONS.filter((r) => c[`drop_${r}`] > 0);
  const total = dropped.reduce((a, r) => a + c[`drop_${r}`], 0);
  return [
    `${indent}packets: tx ${c.tx_packets}, rx ${c.rx_packets} (bytes: tx ${c.tx_bytes}, rx ${c.rx_bytes})`,
    `${indent}handshakes: initiated ${c.handshakes_initiated}, completed ${c.handshakes_completed}, failed ${c.handshakes_failed}` +
      (device ? `, cookies sent ${c.cookies_sent}` : ""),
    `${indent}dropped: ${total}${dropped.length ? ` (${dropped.map((r) => `${r} ${c[`drop_${r}`]}`).join(", ")})` : ""}`,
  ];
}

/** For --json: every counter, drops as an object by reason. */
function countersJson(c: Counts | undefined): object | null {
  if (c === undefined) return null;
  const out: Record<string, unknown> = {};
  const dropped: Record<string, number> = {};
  for (const [k, v] of Object.entries(c)) {
    if (k.startsWith("drop_")) dropped[k.slice(5)] = v;
    else out[k] = v;
  }
  out.dropped = dropped;
  return out;
}

/** "1.2.3.4:51820" → "1.2.3.4 51820", "[::1]:51820" → "::1 51820": wgendpoint's own word order. */
export function endpointWords(endpoint: string): string {
  const m = endpoint.match(/^\[(.*)\]:(\d+)$/) ?? endpoint.match(/^(.*):(\d+)$/);
  return m ? `${m[1]} ${m[2]}` : endpoint;
}

function peerLines(p: PeerView, nowSec: number, counts: Counts | undefined): string[] {
  const out = [`\twgpeer ${p.publicKey}`];
  if (p.description) out.push(`\t\twgdescr: ${p.description}`);
  if (p.hasPresharedKey) out.push("\t\twgpsk (present)");
  if (p.persistentKeepalive) out.push(`\t\twgpka ${p.persistentKeepalive} (sec)`);
  if (p.endpoint) out.push(`\t\twgendpoint ${endpointWords(p.endpoint)}`);
  out.push(`\t\ttx: ${p.txBytes}, rx: ${p.rxBytes}`);
  if (p.lastHandshake !== null) out.push(`\t\tlast handshake: ${Math.max(0, Math.floor(nowSec - p.lastHandshake))} seconds ago`);
  if (counts) out.push(...counterLines(counts, "\t\t", false));
  for (const a of p.allowedIps) out.push(`\t\twgaip ${a}`);
  return out;
}

export function formatStatus(s: InterfaceStatus, nowSec = Date.now() / 1000): string {
  const head = [`${s.name}: flags=${s.flagBits.toString(16)}<${s.flags.join(",")}>`];
  if (s.rdomain) head.push(`rdomain ${s.rdomain}`);
  if (s.mtu !== null) head.push(`mtu ${s.mtu}`);
  const out = [head.join(" ")];
  if (s.index !== null) out.push(`\tindex ${s.index}`);
  else out.push("\tstatus: interface not found (the daemon is running without it)");
  const d = s.device;
  if (d.listenPort) out.push(`\twgport ${d.listenPort}`);
  if (d.publicKey) out.push(`\twgpubkey ${d.publicKey}`);
  if (s.counters) out.push(...counterLines(s.counters.device, "\t", true));
  for (const p of d.peers) out.push(...peerLines(p, nowSec, s.counters?.peers.get(p.publicKey)));
  out.push("\tgroups: wg");
  for (const a of s.inet) {
    const peer = a.peer ? ` --> ${a.peer}` : "";
    out.push(`\tinet ${a.address}${peer} netmask ${a.netmask}${a.broadcast ? ` broadcast ${a.broadcast}` : ""}`);
  }
  for (const a of s.inet6) {
    const scoped = a.scope === "link" ? `%${s.name}` : "";
    out.push(`\tinet6 ${a.address}${scoped} prefixlen ${a.prefixlen}${a.scope === "link" && s.index !== null ? ` scopeid 0x${s.index.toString(16)}` : ""}`);
  }
  return `${out.join("\n")}\n`;
}

function endpointObject(endpoint: string): { address: string; port: number } | string {
  const m = endpoint.match(/^\[(.*)\]:(\d+)$/) ?? endpoint.match(/^(.*):(\d+)$/);
  return m ? { address: m[1], port: Number(m[2]) } : endpoint;
}

/** The same facts for programs: keys in base64, times as Unix seconds, no secrets. */
export function statusJson(s: InterfaceStatus): object {
  const d = s.device;
  return {
    name: s.name,
    present: s.present,
    index: s.index,
    flags: s.flags,
    mtu: s.mtu,
    rdomain: s.rdomain,
    debug: d.debug,
    extensions: d.extensions,
    wgport: d.listenPort,
    fwmark: d.fwmark,
    wgpubkey: d.publicKey,
    peers: d.peers.map((p) => ({
      wgpeer: p.publicKey,
      wgdescr: p.description,
      wgpsk: p.hasPresharedKey,
      wgpka: p.persistentKeepalive,
      wgendpoint: p.endpoint ? endpointObject(p.endpoint) : null,
      tx: p.txBytes,
      rx: p.rxBytes,
      lastHandshake: p.lastHandshake,
      wgaip: p.allowedIps,
      counters: s.counters ? countersJson(s.counters.peers.get(p.publicKey)) : null,
    })),
    counters: s.counters ? countersJson(s.counters.device) : null,
    inet: s.inet,
    inet6: s.inet6,
  };
}
