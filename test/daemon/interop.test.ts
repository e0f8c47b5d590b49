// bunwg against real WireGuard peers: Debian's wireguard-go (2022), the newest wireguard-go when built, and itself.
// Two daemons with their UDP sockets on loopback in the root namespace; their interfaces moved into two
// namespaces made here (the seed's rdomain example on Linux). Configured with wg(8) only.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ping, pingUntil } from "../support/net.ts";
import { run, waitFor } from "../support/process.ts";
import { BUNWG, WGGO_DEBIAN, WGGO_LATEST, genKey, isRoot, uniqueTag, wgTool } from "../support/programs.ts";
import { Scope } from "../support/scope.ts";
import { logPath } from "../../src/device/log.ts";
import { socketPath } from "../../src/uapi/socket.ts";

interface Side { ns: string; ifname: string; v4: string; v6: string; key: { priv: string; pub: string }; port: number }

async function listenPort(ifname: string): Promise<number> {
  return Number((await wgTool(["show", ifname, "listen-port"])).stdout.trim());
}

/** Two interfaces a (program pa) and b (program pb), configured as each other's peer, in namespaces, up. */
async function pair(scope: Scope, pa: string[], pb: string[], opts: { psk?: boolean; env?: Record<string, string> } = {}): Promise<[Side, Side]> {
  const t = uniqueTag();
  const n = parseInt(t.slice(0, 2), 16);
  const m = parseInt(t.slice(2, 4), 16);
  const mk = (s: string, host: number): Side => ({
    ns: `bwt${t}${s}`, ifname: `bwt${t}${s}`, v4: `10.${n}.${m}.${host}`, v6: `fd00:${n}:${m}::${host}`, key: genKey(), port: 0,
  });
  const a = mk("a", 1), b = mk("b", 2);
  for (const s of [a, b]) { await scope.netns(s.ns); scope.track(s.ns); }
  await scope.daemon(pa, a.ifname, opts.env);
  await scope.daemon(pb, b.ifname); // wireguard-go with LOG_LEVEL set would keep our stdout pipe open
  const psk = opts.psk ? scope.file(`psk${t}`, Bun.spawnSync(["wg", "genpsk"]).stdout.toString()) : null;
  for (const s of [a, b]) {
    await wgTool(["set", s.ifname, "private-key", scope.file(`${s.ifname}.key`, s.key.priv + "\n"), "listen-port", "0"]);
    s.port = await listenPort(s.ifname);
  }
  for (const [s, o] of [[a, b], [b, a]] as const) {
    await wgTool(["set", s.ifname, "peer", o.key.pub, "endpoint", `127.0.0.1:${o.port}`, "allowed-ips", `${o.v4}/32,${o.v6}/128`,
      ...(psk ? ["preshared-key", psk] : [])]);
    await run(["ip", "link", "set", s.ifname, "netns", s.ns]);
    await run(["ip", "-n", s.ns, "addr", "add", `${s.v4}/24`, "dev", s.ifname]);
    await run(["ip", "-n", s.ns, "addr", "add", `${s.v6}/64`, "dev", s.ifname, "nodad"]);
    await run(["ip", "-n", s.ns, "link", "set", s.ifname, "up"]);
  }
  return [a, b];
}

async function iperf(from: Side, to: Side, seconds = 2): Promise<number> {
  const server = Bun.spawn(["ip", "netns", "exec", to.ns, "iperf3", "-s", "-1", "-B", to.v4], { stdout: "ignore", stderr: "ignore" });
  try {
    await waitFor("iperf3 server", async () => (await run(["ss", "-N", to.ns, "-tln", "sport = 5201"], { check: false })).stdout.includes("5201"), 5000);
    const r = await run(["ip", "netns", "exec", from.ns, "iperf3", "-c", to.v4, "-t", String(seconds), "-J"], { timeoutMs: (seconds + 15) * 1000 });
    return JSON.parse(r.stdout).end.sum_received.bits_per_second as number;
  } finally {
    server.kill();
  }
}

const peers: [string, string[] | null][] = [["wireguard-go (Debian)", WGGO_DEBIAN], ["newest wireguard-go", WGGO_LATEST], ["bunwg", BUNWG]];

describe.skipIf(!isRoot)("interop", () => {
  const scope = new Scope();
  afterAll(() => scope.close());

  for (const [name, prog] of peers) {
    test.skipIf(prog === null)(`with ${name}: ping IPv4 and IPv6 both ways, TCP both ways, statistics`, async () => {
      const [a, b] = await pair(scope, BUNWG, prog!, { psk: name !== "bunwg" });
      await pingUntil(a.ns, b.v4);
      expect(await ping(b.ns, a.v4)).toBe(true);
      expect(await ping(a.ns, b.v6)).toBe(true);
      expect(await ping(b.ns, a.v6)).toBe(true);
      const up = await iperf(a, b);
      const down = await iperf(b, a);
      console.log(`  ours↔${name}: TCP ${(up / 1e6).toFixed(0)} Mbit/s out, ${(down / 1e6).toFixed(0)} Mbit/s in`);
      expect(up).toBeGreaterThan(10e6);
      expect(down).toBeGreaterThan(10e6);
      // wg(8) reads our statistics: a recent handshake and bytes both ways.
      const dump = (await wgTool(["show", a.ifname, "dump"])).stdout.trim().split("\n");
      const peerLine = dump[1].split("\t");
      expect(peerLine[0]).toBe(b.key.pub);
      expect(peerLine[2]).toBe(`127.0.0.1:${b.port}`);
      expect(Math.abs(Number(peerLine[4]) - Date.now() / 1000)).toBeLessThan(60);
      expect(Number(peerLine[5])).toBeGreaterThan(1_000_000);
      expect(Number(peerLine[6])).toBeGreaterThan(1_000_000);
    }, 90_000);
  }

  test("roaming: the endpoint follows the peer's latest authenticated packet", async () => {
    const [a, b] = await pair(scope, BUNWG, WGGO_DEBIAN ?? BUNWG);
    await pingUntil(a.ns, b.v4);
    await wgTool(["set", b.ifname, "listen-port", "0"]);
    const newPort = await listenPort(b.ifname);
    expect(newPort).not.toBe(b.port);
    expect(await ping(b.ns, a.v4)).toBe(true);
    const endpoints = (await wgTool(["show", a.ifname, "endpoints"])).stdout.trim();
    expect(endpoints).toBe(`${b.key.pub}\t127.0.0.1:${newPort}`);
  }, 60_000);

  test("crypto reverse-path filter: a more specific allowed IP on another peer blocks the source", async () => {
    const [a, b] = await pair(scope, BUNWG, WGGO_DEBIAN ?? BUNWG, { env: { LOG_LEVEL: "debug" } });
    await pingUntil(a.ns, b.v4);
    // b gets the whole /24; then b's own address, more specifically, goes to another peer of a: b's packets are
    // dropped after decryption, and a's replies are routed to the other peer.
    await wgTool(["set", a.ifname, "peer", b.key.pub, "allowed-ips", b.v4.replace(/\.\d+$/, ".0/24")]);
    expect(await ping(b.ns, a.v4)).toBe(true);
    const other = genKey();
    await wgTool(["set", a.ifname, "peer", other.pub, "allowed-ips", `${b.v4}/32`]);
    expect(await ping(b.ns, a.v4, 2, 1)).toBe(false);
    const log = readFileSync(logPath(a.ifname), "utf8");
    expect(log).toContain(`Packet has unallowed src IP from peer ${b.key.pub}`);
    await wgTool(["set", a.ifname, "peer", other.pub, "remove"]);
    expect(await ping(b.ns, a.v4)).toBe(true);
  }, 60_000);

  test("deleting the interface stops the daemon and removes its socket", async () => {
    const [a] = await pair(scope, BUNWG, BUNWG);
    const sock = socketPath(a.ifname);
    await run(["ip", "-n", a.ns, "link", "del", a.ifname]);
    await waitFor("socket removal", async () => !(await Bun.file(sock).exists()), 10_000);
    const ps = await run(["pgrep", "-f", ` ${a.ifname}$`], { check: false });
    expect(ps.stdout.trim()).toBe("");
  }, 60_000);
});
