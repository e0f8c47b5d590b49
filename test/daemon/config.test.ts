// The configuration socket driven by Debian's wg(8): every command wg-quick and people use, round trips of the
// whole configuration, large configurations, and the daemon's life cycle and diagnostics.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { run, waitFor } from "../support/process.ts";
import { BUNWG, WGGO_DEBIAN, genKey, isRoot, uniqueTag, wgTool } from "../support/programs.ts";
import { Scope } from "../support/scope.ts";
import { logPath } from "../../src/device/log.ts";
import { socketPath } from "../../src/uapi/socket.ts";

function conf(priv: string, port: number, peers: { pub: string; psk?: string; endpoint?: string; ips: string[]; ka?: number }[]): string {
  const out = ["[Interface]", `ListenPort = ${port}`, `PrivateKey = ${priv}`];
  for (const p of peers) {
    out.push("", "[Peer]", `PublicKey = ${p.pub}`);
    if (p.psk) out.push(`PresharedKey = ${p.psk}`);
    if (p.ips.length) out.push(`AllowedIPs = ${p.ips.join(", ")}`);
    if (p.endpoint) out.push(`Endpoint = ${p.endpoint}`);
    if (p.ka) out.push(`PersistentKeepalive = ${p.ka}`);
  }
  return out.join("\n") + "\n";
}

async function showconf(ifname: string): Promise<string> {
  return (await wgTool(["showconf", ifname])).stdout;
}

describe.skipIf(!isRoot)("configuration through wg(8)", () => {
  const scope = new Scope();
  afterAll(() => scope.close());

  test("setconf, showconf, addconf, syncconf, set and dump round-trip exactly", async () => {
    const ifname = `bwc${uniqueTag()}`;
    await scope.daemon(BUNWG, ifname);
    const me = genKey();
    const psk = Bun.spawnSync(["wg", "genpsk"]).stdout.toString().trim();
    const p1 = genKey(), p2 = genKey(), p3 = genKey();
    const c1 = conf(me.priv, 51820 + Math.floor(Math.random() * 1000), [
      { pub: p1.pub, psk, endpoint: "127.0.0.1:1234", ips: ["10.1.0.0/16", "fd00:1::/64"], ka: 25 },
      { pub: p2.pub, endpoint: "[::1]:4321", ips: ["10.2.0.1/32"] },
    ]);
    await wgTool(["setconf", ifname, scope.file("c1.conf", c1)]);
    expect(await showconf(ifname)).toBe(c1);
    // addconf adds a peer and leaves the others.
    const add = `[Peer]\nPublicKey = ${p3.pub}\nAllowedIPs = 10.3.0.0/24\n`;
    await wgTool(["addconf", ifname, scope.file("add.conf", add)]);
    expect(await showconf(ifname)).toBe(c1 + "\n" + add);
    // syncconf makes it exactly c1 again.
    await wgTool(["syncconf", ifname, scope.file("c1b.conf", c1)]);
    expect(await showconf(ifname)).toBe(c1);
    // set: change one field, remove a peer, remove one allowed IP.
    await wgTool(["set", ifname, "peer", p2.pub, "remove", "peer", p1.pub, "persistent-keepalive", "off", "allowed-ips", "10.1.0.0/16"]);
    const dump = (await wgTool(["show", ifname, "dump"])).stdout.trim().split("\n").map((l) => l.split("\t"));
    expect(dump[0]).toEqual([me.priv, me.pub, String(c1.match(/ListenPort = (\d+)/)![1]), "off"]);
    expect(dump.length).toBe(2);
    // Fields: key, psk, endpoint, allowed IPs, last handshake (never), rx, tx (initiations sent), keepalive.
    const [pub, pskOut, ep, ips, hs, rx, , ka] = dump[1];
    expect([pub, pskOut, ep, ips, hs, rx, ka]).toEqual([p1.pub, psk, "127.0.0.1:1234", "10.1.0.0/16", "0", "0", "off"]);
  }, 30_000);

  // 5,000 peers: the answer to `wg show` goes out in 20 pieces with collections between them (src/device/ipc.ts).
  test("5,000 peers and 130,000 allowed IPs on one peer are set and read back", async () => {
    const ifname = `bwc${uniqueTag()}`;
    await scope.daemon(BUNWG, ifname);
    const lines = ["[Interface]", `PrivateKey = ${genKey().priv}`];
    const big = genKey().pub;
    lines.push("[Peer]", `PublicKey = ${big}`);
    for (let a = 1; a <= 255; a++) for (let b = 0; b < 255; b++) lines.push(`AllowedIPs = ${a}.${b}.0.0/16, ${a}:${b}::/32`);
    const keys = Array.from({ length: 4999 }, () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64"));
    keys.forEach((k, i) => lines.push("[Peer]", `PublicKey = ${k}`, `AllowedIPs = 172.${16 + (i >> 8)}.${i & 255}.0/24`));
    await wgTool(["setconf", ifname, scope.file("big.conf", lines.join("\n") + "\n")]);
    const out = (await wgTool(["show", ifname, "allowed-ips"])).stdout.trim().split("\n");
    expect(out.length).toBe(5000);
    const bigLine = out.find((l) => l.startsWith(big))!;
    expect(bigLine.split(/\s+/).length - 1).toBe(255 * 255 * 2);
    expect(bigLine).toContain("255.254.0.0/16");
    expect(out.filter((l) => !l.startsWith(big) && /\t172\.\d+\.\d+\.0\/24$/.test(l)).length).toBe(4999);
  }, 60_000);

  test("a request that fails applies nothing", async () => {
    const ifname = `bwc${uniqueTag()}`;
    await scope.daemon(BUNWG, ifname);
    const peer = genKey();
    await wgTool(["set", ifname, "private-key", scope.file("k", genKey().priv + "\n"), "listen-port", "0", "peer", peer.pub, "allowed-ips", "10.9.0.0/24"]);
    const before = await showconf(ifname);
    // A valid first half (new port, new peer) and an invalid second half: wireguard-go would keep the first half.
    const req = `set=1\nlisten_port=4000\npublic_key=${Buffer.from(genKey().pub, "base64").toString("hex")}\nallowed_ip=10.8.0.0/24\nallowed_ip=300.1.1.1/33\n\n`;
    const answer = await new Promise<string>((resolve, reject) => {
      let got = "";
      Bun.connect({ unix: socketPath(ifname), socket: {
        open(s) { s.write(req); },
        data(s, d) { got += d.toString(); if (got.endsWith("\n\n")) { s.end(); resolve(got); } },
        error(_s, e) { reject(e); },
      } }).catch(reject);
      setTimeout(() => reject(new Error(`no answer within 5 s, got "${got}"`)), 5000);
    });
    expect(answer).toBe("errno=-22\n\n");
    expect(await showconf(ifname)).toBe(before);
  }, 30_000);

  test("removing the socket file stops the daemon; so does SIGTERM", async () => {
    const a = `bwc${uniqueTag()}`, b = `bwc${uniqueTag()}`;
    await scope.daemon(BUNWG, a);
    await scope.daemon(BUNWG, b);
    rmSync(socketPath(a));
    await waitFor(`${a} to disappear`, async () => (await run(["ip", "link", "show", a], { check: false })).code !== 0, 10_000);
    await run(["pkill", "-TERM", "-f", ` ${b}$`]);
    await waitFor(`${b} to disappear`, async () => (await run(["ip", "link", "show", b], { check: false })).code !== 0 && !existsSync(socketPath(b)), 10_000);
  }, 30_000);

  test.skipIf(WGGO_DEBIAN === null)("debug diagnostics: the seed's four messages, word for word", async () => {
    const t = uniqueTag();
    const ours = `bwd${t}a`, theirs = `bwd${t}b`, stranger = `bwd${t}c`;
    await scope.daemon(BUNWG, ours, { LOG_LEVEL: "debug" });
    await scope.daemon(WGGO_DEBIAN!, theirs);
    await scope.daemon(WGGO_DEBIAN!, stranger);
    const me = genKey(), them = genKey(), other = genKey();
    const port = async (i: string) => Number((await wgTool(["show", i, "listen-port"])).stdout.trim());
    for (const [i, k] of [[ours, me], [theirs, them], [stranger, other]] as const) await wgTool(["set", i, "private-key", scope.file(`${i}.key`, k.priv + "\n"), "listen-port", "0"]);
    const [po, pt, ps] = [await port(ours), await port(theirs), await port(stranger)];
    // 1. We initiate towards a port where nobody answers: retry after 5 seconds.
    const silent = genKey();
    await wgTool(["set", ours, "peer", silent.pub, "endpoint", "127.0.0.1:9", "persistent-keepalive", "1"]);
    // 2. A peer that has the wrong public key for us: its initiation's mac1 is invalid.
    await wgTool(["set", theirs, "peer", genKey().pub, "endpoint", `127.0.0.1:${po}`, "persistent-keepalive", "1"]);
    // 3. A peer that knows our key but that we do not know: the initiation cannot be processed.
    await wgTool(["set", stranger, "peer", me.pub, "endpoint", `127.0.0.1:${po}`, "persistent-keepalive", "1"]);
    // 4. A known peer sending from an address outside its allowed IPs: a real tunnel, then a narrowed allowed IP.
    await wgTool(["set", ours, "peer", them.pub, "endpoint", `127.0.0.1:${pt}`, "allowed-ips", "10.77.0.2/32"]);
    await wgTool(["set", theirs, "peer", me.pub, "endpoint", `127.0.0.1:${po}`, "allowed-ips", "10.77.0.1/32"]);
    const ns = await scope.netns(`bwd${t}n`);
    scope.track(ns);
    // Ours must be up to send and accept anything (as the kernel's and wireguard-go's devices): in a namespace of its own.
    const nsOurs = await scope.netns(`bwd${t}o`);
    scope.track(nsOurs);
    await run(["ip", "link", "set", ours, "netns", nsOurs]);
    await run(["ip", "-n", nsOurs, "link", "set", ours, "up"]);
    await run(["ip", "link", "set", theirs, "netns", ns]);
    await run(["ip", "-n", ns, "addr", "add", "10.77.0.3/24", "dev", theirs]); // not in our allowed IPs for them
    await run(["ip", "-n", ns, "link", "set", theirs, "up"]);
    await run(["ip", "netns", "exec", ns, "ping", "-c", "3", "-i", "0.3", "-W", "1", "-I", "10.77.0.3", "10.77.0.1"], { check: false });
    const log = () => readFileSync(logPath(ours), "utf8");
    await waitFor("all four diagnostics", () => {
      const l = log();
      return l.includes(`Handshake for peer ${silent.pub} did not complete after 5 seconds, retrying`) &&
        l.includes("Invalid initiation MAC") && l.includes("Invalid handshake initiation") &&
        l.includes(`Packet has unallowed src IP from peer ${them.pub}`);
    }, 15_000).catch(() => { throw new Error(`log lacks a diagnostic:\n${log().split("\n").slice(-30).join("\n")}`); });
    // Debug off: none of them any more.
    void ps;
  }, 40_000);
});

describe.skipIf(!isRoot || !Bun.which("wg-quick"))("wg-quick", () => {
  test("WG_QUICK_USERSPACE_IMPLEMENTATION=wg.ts: wg-quick up configures and addresses it, wg-quick down removes it", async () => {
    const scope = new Scope();
    try {
      const t = uniqueTag();
      const ifname = `bwq${t}`;
      const ns = await scope.netns(`bwq${t}n`);
      scope.track(ns);
      scope.add(() => { Bun.spawnSync(["ip", "-n", ns, "link", "del", ifname]); rmSync(logPath(ifname), { force: true }); });
      const me = genKey(), peer = genKey();
      const file = scope.file(`${ifname}.conf`, `[Interface]\nPrivateKey = ${me.priv}\nAddress = 10.199.${parseInt(t.slice(0, 2), 16)}.1/24\nListenPort = 0\n\n` +
        `[Peer]\nPublicKey = ${peer.pub}\nAllowedIPs = 10.199.${parseInt(t.slice(0, 2), 16)}.2/32\nEndpoint = 127.0.0.1:9\n`);
      const env = { WG_QUICK_USERSPACE_IMPLEMENTATION: BUNWG[1] };
      await run(["ip", "netns", "exec", ns, "wg-quick", "up", file], { env, timeoutMs: 60_000 });
      const addr = (await run(["ip", "-n", ns, "-4", "addr", "show", "dev", ifname])).stdout;
      expect(addr).toContain(`10.199.${parseInt(t.slice(0, 2), 16)}.1/24`);
      const dump = (await wgTool(["show", ifname, "dump"])).stdout.trim().split("\n");
      expect(dump[0].split("\t")[1]).toBe(me.pub);
      expect(dump[1].split("\t")[0]).toBe(peer.pub);
      await run(["ip", "netns", "exec", ns, "wg-quick", "down", file], { env, timeoutMs: 60_000 });
      await waitFor("the daemon to exit", async () => !existsSync(socketPath(ifname)) &&
        (await run(["ip", "-n", ns, "link", "show", ifname], { check: false })).code !== 0, 10_000);
    } finally {
      await scope.close();
    }
  }, 90_000);
});
