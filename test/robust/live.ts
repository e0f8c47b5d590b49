// Helpers of the live robustness tests: daemons started and stopped by process id (never by name), interface
// counters, /proc readings, raw requests on the configuration socket, and a test peer — a protocol engine of our
// own behind a UDP socket on another loopback address — that can handshake with a daemon, send any inner packet,
// replay, and flood.
import { existsSync, openSync, closeSync, readFileSync, rmSync } from "node:fs";
import type { udp } from "bun";
import { loadAead, type Aead } from "../../src/crypto/aead.ts";
import { Engine, type Keypair, type Peer } from "../../src/noise/index.ts";
import { keyToHex } from "../../src/device/uapi.ts";
import { OURS, type Scope, WGGO_DEBIAN, WGGO_LATEST, sh, waitFor } from "../helpers/net.ts";
import { open, seal } from "../noise/helpers.ts";
export { cpuSeconds, memKiB } from "../../bench/lib/proc.ts";
import { padded } from "./fuzzer.ts";

export const SOCK_DIR = "/var/run/wireguard";
export const sockPath = (ifname: string) => `${SOCK_DIR}/${ifname}.sock`;
/** wireguard-go for interop peers: Debian's, else the newest, else ourselves. */
export const PEER_PROGRAM: string[] = WGGO_DEBIAN ?? WGGO_LATEST ?? OURS;
export const PEER_NAME = WGGO_DEBIAN ? "wireguard-go (Debian)" : WGGO_LATEST ? "newest wireguard-go" : "bunwg";

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.startsWith("Z");
  } catch {
    return false;
  }
}

/** Throws, with the end of its log, unless the daemon is still running. */
export function assertAlive(d: Daemon): void {
  if (!alive(d.pid)) throw new Error(`${d.ifname}'s daemon (pid ${d.pid}) has exited; its log ends: ${readFileSync(d.log, "utf8").slice(-1500)}`);
}

export interface Daemon { ifname: string; pid: number; netns?: string; log: string; proc: ReturnType<typeof Bun.spawn> }

/** Starts `program -f ifname` (in netns, if given) in the foreground, so its process id is ours to stop; waits
 *  for its configuration socket. Registered with scope: stopped by id, interface and socket removed. */
export async function startDaemon(scope: Scope, program: string[], ifname: string, opts: { netns?: string; env?: Record<string, string> } = {}): Promise<Daemon> {
  const log = `${scope.dir}/${ifname}.log`;
  const fd = openSync(log, "a", 0o600);
  // `ip netns exec` execs the program: the process id we get is the daemon's.
  const cmd = [...(opts.netns ? ["ip", "netns", "exec", opts.netns] : []), ...program, "-f", ifname];
  const proc = Bun.spawn(cmd, { stdio: ["ignore", fd, fd], env: { ...process.env, ...opts.env } });
  closeSync(fd);
  const d: Daemon = { ifname, pid: proc.pid, netns: opts.netns, log, proc };
  scope.add(() => stopDaemon(d));
  // Ready when the socket answers (a file alone may be left over from a killed daemon).
  await waitFor(`${ifname}'s configuration socket`, async () => {
    if (proc.exitCode !== null) throw new Error(`${ifname} exited during start-up: ${readFileSync(log, "utf8").slice(-2000)}`);
    if (!existsSync(sockPath(ifname))) return false;
    try {
      return (await uapiRequest(ifname, "get=1\n\n", 1000)).answer.endsWith("errno=0\n\n");
    } catch {
      return false;
    }
  }, 15_000);
  return d;
}

/** SIGTERM, then SIGKILL after 3 s; removes what a killed daemon leaves (interface, socket). Synchronous. */
export function stopDaemon(d: Daemon): void {
  if (alive(d.pid)) {
    try { process.kill(d.pid, "SIGTERM"); } catch { /* gone */ }
    const end = Date.now() + 3000;
    while (alive(d.pid) && Date.now() < end) Bun.sleepSync(20);
    if (alive(d.pid)) try { process.kill(d.pid, "SIGKILL"); } catch { /* gone */ }
  }
  Bun.spawnSync(d.netns ? ["ip", "-n", d.netns, "link", "del", d.ifname] : ["ip", "link", "del", d.ifname], { stderr: "ignore" });
  rmSync(sockPath(d.ifname), { force: true });
}

/** utime + stime of a process, in seconds. */
/** Packets the kernel received on an interface: for a TUN, what the daemon wrote to it. */
export async function rxPackets(ifname: string, netns?: string): Promise<number> {
  const cmd = netns ? ["ip", "netns", "exec", netns, "cat", `/sys/class/net/${ifname}/statistics/rx_packets`] : ["cat", `/sys/class/net/${ifname}/statistics/rx_packets`];
  return Number((await sh(cmd)).stdout.trim());
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

/** One raw request on the configuration socket; resolves with everything read until the daemon answers
 *  ("\n\n" at the end) or closes, or rejects after timeoutMs. */
export function uapiRequest(ifname: string, request: string | Uint8Array, timeoutMs = 5000): Promise<{ answer: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    let got = "";
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ answer: got, closed });
    };
    const timer = setTimeout(() => {
      if (!done) { done = true; reject(new Error(`no answer within ${timeoutMs} ms (got ${JSON.stringify(got.slice(0, 200))})`)); }
    }, timeoutMs);
    // A socket write may take only part of a large request: the rest goes out on drain.
    let rest = typeof request === "string" ? new TextEncoder().encode(request) : request;
    const write = (s: { write(b: Uint8Array): number }) => { rest = rest.subarray(Math.max(0, s.write(rest))); };
    Bun.connect({
      unix: sockPath(ifname),
      socket: {
        open(s) { write(s); },
        drain(s) { if (rest.length > 0) write(s); },
        data(s, d) { got += d.toString(); if (/errno=-?\d+\n\n$/.test(got)) { s.end(); finish(false); } },
        close() { finish(true); },
        error(_s, e) { if (!done) { done = true; clearTimeout(timer); reject(e); } },
      },
    }).catch((e) => { if (!done) { done = true; clearTimeout(timer); reject(e); } });
  });
}

export const b64ToHex = (k: string) => Buffer.from(k, "base64").toString("hex");

// ---- a test peer of our own

type Sock = udp.Socket<"uint8array">;

/** A WireGuard peer made of our protocol engine and a UDP socket on `host` (another loopback address). It records
 *  every datagram it receives; `established()` handshakes with the daemon listening at daemonPort. */
export class TestPeer {
  readonly engine: Engine;
  readonly aead: Aead;
  peer!: Peer;
  sock!: Sock;
  received: Uint8Array[] = [];
  /** Every transport message this peer sent, in order. */
  sent: Uint8Array[] = [];
  private now = 0;

  private constructor(readonly host: string, readonly daemonPort: number, readonly daemonPublicKey: Uint8Array) {
    this.aead = loadAead();
    this.engine = new Engine({ aead: this.aead, random: (o) => crypto.getRandomValues(o) });
    const k = new Uint8Array(32);
    crypto.getRandomValues(k);
    this.engine.setPrivateKey(k);
    this.peer = this.engine.addPeer(daemonPublicKey);
  }

  static async open(host: string, daemonPort: number, daemonPublicKeyBase64: string): Promise<TestPeer> {
    const t = new TestPeer(host, daemonPort, new Uint8Array(Buffer.from(daemonPublicKeyBase64, "base64")));
    t.sock = await Bun.udpSocket({
      hostname: host,
      port: 0,
      socket: { data: (_s, buf) => { t.received.push(new Uint8Array(buf)); }, error: () => {} },
    });
    return t;
  }

  get publicKeyHex(): string { return keyToHex(this.engine.publicKey!); }
  get publicKeyBase64(): string { return Buffer.from(this.engine.publicKey!).toString("base64"); }
  get port(): number { return this.sock.port; }

  send(bytes: Uint8Array): void { this.sock.send(bytes, this.daemonPort, "127.0.0.1"); }

  /** Sends many datagrams in one call (sendmmsg); returns how many the kernel took. */
  sendMany(list: Uint8Array[]): number {
    const args: (Uint8Array | number | string)[] = [];
    for (const b of list) args.push(b, this.daemonPort, "127.0.0.1");
    return this.sock.sendMany(args as never);
  }

  /** A handshake as initiator (§5.4.2); resolves once our session is current, rejects after timeoutMs. */
  async establish(timeoutMs = 5000): Promise<void> {
    this.now += 10_000; // a fake clock of our own: each call may initiate at once
    const init = this.peer.createInitiation(this.now);
    if (init === null) throw new Error("test peer: cannot create an initiation");
    const from = this.received.length;
    this.send(init);
    await waitFor("the daemon's handshake response", () => {
      for (let i = from; i < this.received.length; i++) {
        const m = this.received[i]!;
        if (m[0] === 2 && m.length === 92 && this.engine.consumeHandshake(this.now, m, new Uint8Array(6), false).kind === "established") return true;
      }
      return false;
    }, timeoutMs);
    // The initiator speaks first (§5.4.5): a keepalive makes the daemon's session current.
    this.send(this.seal(new Uint8Array(0)));
  }

  /** Sends a fresh handshake initiation and does not wait for the answer. */
  initiate(): void {
    this.now += 10_000;
    const init = this.peer.createInitiation(this.now);
    if (init === null) throw new Error("test peer: cannot create an initiation");
    this.send(init);
  }

  get keypair(): Keypair {
    const kp = this.peer.sendingKeypair(this.now);
    if (kp === null) throw new Error("test peer: no session");
    return kp;
  }

  /** A transport message carrying `inner` (padded to 16 bytes, §5.4.6). Recorded in `sent`. */
  seal(inner: Uint8Array): Uint8Array {
    const msg = seal(this.aead, this.peer, this.keypair, padded(inner));
    this.sent.push(msg);
    return msg;
  }

  /** Opens the transport messages received since `from`; returns their plaintexts (inner packets). */
  openReceived(from = 0): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const m of this.received.slice(from)) {
      const pt = m[0] === 4 ? open(this.aead, this.engine, this.now, m) : null;
      if (pt !== null) out.push(pt);
    }
    return out;
  }

  close(): void { this.sock.close(); }
}

/** An ICMP echo request (IPv4) from src to dst with an identifier the test can find again. */
export function icmpEcho(src: string, dst: string, id: number, seq = 1, payload = 32): Uint8Array {
  const p = new Uint8Array(28 + payload);
  p[0] = 0x45;
  p[2] = p.length >>> 8; p[3] = p.length & 0xff;
  p[8] = 64; p[9] = 1;
  p.set(src.split(".").map(Number), 12);
  p.set(dst.split(".").map(Number), 16);
  p.set(checksum(p.subarray(0, 20)), 10);
  p[20] = 8; // echo request
  p[24] = id >>> 8; p[25] = id & 0xff;
  p[26] = seq >>> 8; p[27] = seq & 0xff;
  for (let i = 28; i < p.length; i++) p[i] = i;
  p.set(checksum(p.subarray(20)), 22);
  return p;
}

/** An IPv6 UDP packet from src to dst (16-byte hex addresses). */
export function udp6(srcHex: string, dstHex: string, payload = 16): Uint8Array {
  const p = new Uint8Array(48 + payload);
  p[0] = 0x60;
  p[4] = (8 + payload) >>> 8; p[5] = (8 + payload) & 0xff;
  p[6] = 17; p[7] = 64;
  p.set(Buffer.from(srcHex, "hex"), 8);
  p.set(Buffer.from(dstHex, "hex"), 24);
  p[40] = 0x30; p[41] = 0x39; p[42] = 0x30; p[43] = 0x39; // ports 12345
  p[44] = (8 + payload) >>> 8; p[45] = (8 + payload) & 0xff;
  return p;
}

function checksum(b: Uint8Array): Uint8Array {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff;
  return new Uint8Array([c >>> 8, c & 0xff]);
}

// ---- operator faults (operator.test.ts, operator-routes.test.ts)

/** The implementations an operator-fault test runs against: ours always, the newest wireguard-go when built. */
export const IMPLEMENTATIONS: [string, string[]][] = [["bunwg", OURS], ...(WGGO_LATEST ? [["newest wireguard-go", WGGO_LATEST] as [string, string[]]] : [])];

export async function listenPort(ifname: string): Promise<number> {
  return Number((await sh(["wg", "show", ifname, "listen-port"])).stdout.trim());
}

/** One field of `wg show IFNAME dump` for the peer pub (base64): 2 endpoint, 4 latest handshake, 5 rx, 6 tx. */
export async function peerField(ifname: string, pub: string, field: 2 | 4 | 5 | 6): Promise<string> {
  const lines = (await sh(["wg", "show", ifname, "dump"])).stdout.trim().split("\n").slice(1);
  const cols = lines.map((l) => l.split("\t")).find((c) => c[0] === pub);
  if (!cols) throw new Error(`${ifname} has no peer ${pub}`);
  return cols[field]!;
}

/** rx and tx bytes wg(8) shows for a peer. */
export async function peerTransfer(ifname: string, pub: string): Promise<{ rx: number; tx: number }> {
  return { rx: Number(await peerField(ifname, pub, 5)), tx: Number(await peerField(ifname, pub, 6)) };
}

/** A statistics counter of an interface (rx_packets, tx_packets, …); for a TUN, tx is what the kernel handed
 *  to the daemon, rx what the daemon wrote. */
export async function linkCounter(ifname: string, counter: string, netns?: string): Promise<number> {
  const file = `/sys/class/net/${ifname}/statistics/${counter}`;
  return Number((await sh(netns ? ["ip", "netns", "exec", netns, "cat", file] : ["cat", file])).stdout.trim());
}

/** A counter of a namespace's IP stack from /proc/net/snmp, e.g. ("Icmp", "InEchos"), ("Udp", "NoPorts"): counts
 *  exactly the test's own packets where a stray packet of an earlier test would also move an interface counter. */
export async function snmpCounter(netns: string, proto: string, field: string): Promise<number> {
  const lines = (await sh(["ip", "netns", "exec", netns, "cat", "/proc/net/snmp"])).stdout.split("\n").filter((l) => l.startsWith(`${proto}: `));
  const names = lines[0]?.split(" ") ?? [];
  const i = names.indexOf(field);
  if (i < 0 || lines.length < 2) throw new Error(`no ${proto} ${field} in ${netns}'s /proc/net/snmp`);
  return Number(lines[1]!.split(" ")[i]);
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

const TCP_TRANSFER = `${import.meta.dir}/tcp-transfer.ts`;

/** A TCP transfer of `bytes` random bytes from namespace fromNs to addr:port in toNs through tcp-transfer.ts,
 *  with `during` run while it is under way (its argument says whether the transfer has ended). Resolves with the
 *  sender's report; `reply` equals `${sent} ${hash}` only if every byte arrived intact. */
export async function tcpTransfer(scope: Scope, fromNs: string, toNs: string, addr: string, bytes: number,
  during: (ended: () => boolean) => Promise<void> = async () => {}, timeoutMs = 60_000): Promise<{ sent: number; hash: string; reply: string }> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const server = Bun.spawn(["ip", "netns", "exec", toNs, process.execPath, TCP_TRANSFER, "serve", addr, String(port)], { stdout: "pipe", stderr: "inherit" });
  scope.add(() => server.kill("SIGKILL"));
  try {
    const ready = await Promise.race([new Response(server.stdout as ReadableStream).body!.getReader().read(), Bun.sleep(10_000).then(() => null)]);
    if (ready === null) throw new Error(`tcp-transfer server in ${toNs} not ready within 10 s`);
    let ended = false;
    const send = sh(["ip", "netns", "exec", fromNs, process.execPath, TCP_TRANSFER, "send", addr, String(port), String(bytes)], { timeoutMs })
      .finally(() => { ended = true; });
    const [r] = await Promise.all([send, during(() => ended)]);
    return JSON.parse(r.stdout);
  } finally {
    server.kill("SIGKILL");
  }
}
