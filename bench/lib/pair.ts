// The one topology every implementation is measured in: two interfaces whose daemons' UDP sockets stay on
// loopback in the root namespace, each interface moved into a fresh namespace of its own — the Linux form of the
// two-rdomain example in wg(4). Traffic between the namespaces crosses both daemons and 127.0.0.1.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cleanup, hex, keyPair, run, runSync, sleep, type ProcStamp } from "./harness.ts";
import { createInterface, type Implementation } from "./implementations.ts";

export type Side = { ns: string; ifname: string; addr: string; daemon: ProcStamp | null; port: number };
export type Pair = { impl: Implementation; a: Side; b: Side; mtu: number; scope: Cleanup };

// A free UDP port on the root namespace's wildcard address, for a daemon's listen_port.
export async function freeUdpPort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    try {
      const s = await Bun.udpSocket({ hostname: "0.0.0.0", port });
      s.close();
      return port;
    } catch {}
  }
  throw new Error("no free UDP port found in 20000–59999 after 20 tries");
}

export function wgConfig(priv: string, port: number, peers: { pub: string; endpoint?: string; allowed: string[] }[]): string {
  const out = ["[Interface]", `PrivateKey = ${priv}`, `ListenPort = ${port}`];
  for (const p of peers) {
    out.push("", "[Peer]", `PublicKey = ${p.pub}`);
    if (p.endpoint) out.push(`Endpoint = ${p.endpoint}`);
    out.push(`AllowedIPs = ${p.allowed.join(", ")}`);
  }
  return out.join("\n") + "\n";
}

export const WG_ENV = { WG_HIDE_KEYS: "never" };

// Moves `ifname` (configured, in the root namespace) into `ns` at `mtu`, addressed `addr`/24, up.
export async function moveIntoNamespace(impl: Implementation, ifname: string, ns: string, mtu: number, addr?: string) {
  // Set the MTU while the daemon can still see the interface: wireguard-go learns it from rtnetlink in its own
  // namespace and boringtun polls it by name there; neither follows the interface into another namespace.
  await run(["ip", "link", "set", ifname, "mtu", String(mtu)], { timeoutMs: 5000 });
  if (impl.mtuPollMs) await sleep(impl.mtuPollMs);
  await run(["ip", "link", "set", ifname, "netns", ns], { timeoutMs: 5000 });
  if (addr) await run(["ip", "-n", ns, "addr", "add", `${addr}/24`, "dev", ifname], { timeoutMs: 5000 });
  await run(["ip", "-n", ns, "link", "set", ifname, "mtu", String(mtu), "up"], { timeoutMs: 5000 });
}

export async function addNamespace(ns: string, scope: Cleanup): Promise<void> {
  scope.add(`namespace ${ns}`, () => void runSync(["ip", "netns", "del", ns]));
  await run(["ip", "netns", "add", ns], { timeoutMs: 5000 });
  await run(["ip", "-n", ns, "link", "set", "lo", "up"], { timeoutMs: 5000 });
}

export async function setupPair(impl: Implementation, mtu: number, parent: Cleanup): Promise<Pair> {
  const tag = hex(3);
  const scope = parent.child(`${impl.name} pair bnt${tag}`);
  try {
    const dir = mkdtempSync(join(tmpdir(), `bnt${tag}-`));
    scope.add(`temporary directory ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    // Subnet from the tag; the namespaces are ours alone, so it cannot collide with anything.
    const net = `10.${parseInt(tag.slice(0, 2), 16)}.${parseInt(tag.slice(2, 4), 16)}`;
    const mk = (s: "a" | "b", host: number): Side => ({ ns: `bntns${tag}${s}`, ifname: `bnt${tag}${s}`, addr: `${net}.${host}`, daemon: null, port: 0 });
    const a = mk("a", 1);
    const b = mk("b", 2);
    for (const side of [a, b]) await addNamespace(side.ns, scope);
    for (const side of [a, b]) side.daemon = (await createInterface(impl, side.ifname, scope, dir)).daemon;
    const ka = keyPair();
    const kb = keyPair();
    a.port = await freeUdpPort();
    do b.port = await freeUdpPort();
    while (b.port === a.port);
    const conf = (me: Side, key: string, peer: Side, peerPub: string) =>
      wgConfig(key, me.port, [{ pub: peerPub, endpoint: `127.0.0.1:${peer.port}`, allowed: [`${peer.addr}/32`] }]);
    for (const [me, key, peer, pub] of [[a, ka.priv, b, kb.pub], [b, kb.priv, a, ka.pub]] as const) {
      const file = join(dir, `${me.ifname}.conf`);
      writeFileSync(file, conf(me, key, peer, pub), { mode: 0o600 });
      await run(["wg", "setconf", me.ifname, file], { timeoutMs: 10_000, env: WG_ENV });
    }
    for (const side of [a, b]) await moveIntoNamespace(impl, side.ifname, side.ns, mtu, side.addr);
    const pair = { impl, a, b, mtu, scope };
    await handshake(pair);
    return pair;
  } catch (e) {
    scope.close();
    throw e;
  }
}

// The first packet triggers the handshake (§5); wait, bounded, until a ping gets through.
async function handshake(p: Pair): Promise<void> {
  const end = Date.now() + 15_000;
  let last = "";
  while (Date.now() < end) {
    const r = await run(["ip", "netns", "exec", p.a.ns, "ping", "-n", "-c", "1", "-W", "1", p.b.addr], { timeoutMs: 5000, check: false });
    if (r.code === 0) return;
    last = (r.stdout + r.stderr).trim().split("\n").slice(-2).join(" / ");
    await sleep(200);
  }
  throw new Error(`${p.impl.name}: no ping from ${p.a.ns} to ${p.b.addr} through the tunnel within 15 s (${last})`);
}
