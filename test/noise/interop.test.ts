// Interoperability with real WireGuard: our engine against wireguard-go (the Debian build and, when present, the
// newest one) over UDP on 127.0.0.1. wireguard-go's TUN sits in a network namespace of ours with 10.x.y.1/24;
// our side plays 10.x.y.2. Both directions: wireguard-go initiates (a ping from the namespace) and we answer; then
// we initiate and ping through it. Root only (TUN, namespaces); everything made is removed in afterAll.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadAead } from "../../src/crypto/aead.ts";
import { defaultSuite } from "../../src/crypto/suite.ts";
import { Engine, type Keypair, type Peer } from "../../src/noise/index.ts";
import { keyToBase64 } from "../../src/text/codec.ts";
import { readCounter, readU32, writeTransportHeader } from "../../src/noise/messages.ts";
import { socketPath } from "../../src/uapi/socket.ts";

const IMPLS = ["/usr/bin/wireguard-go", "/opt/wggo-latest/wireguard"].filter((p) => existsSync(p));
const canRun = process.getuid?.() === 0 && IMPLS.length > 0 && existsSync("/dev/net/tun") && Bun.which("wg") !== null;
if (!canRun) console.warn("interop.test.ts: skipped (needs root, /dev/net/tun, wg and wireguard-go)");

const random = (out: Uint8Array) => void crypto.getRandomValues(out);
const rhex = (n: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(n))).toString("hex");
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const f of cleanups.reverse()) {
    try {
      f();
    } catch {
      // best effort: go on removing the rest
    }
  }
});

function sh(...cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", timeout: 5000 });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: exit ${r.exitCode}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

async function until<T>(what: string, f: () => T | undefined, ms = 5000): Promise<T> {
  const end = performance.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

function checksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i] << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** An IPv4 ICMP echo (type 8) or echo reply (type 0). */
function icmp(type: number, src: number[], dst: number[], id: number, seq: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(28 + payload.length);
  const v = new DataView(p.buffer);
  p[0] = 0x45;
  v.setUint16(2, p.length);
  p[8] = 64;
  p[9] = 1;
  p.set(src, 12);
  p.set(dst, 16);
  v.setUint16(10, checksum(p.subarray(0, 20)));
  p[20] = type;
  v.setUint16(24, id);
  v.setUint16(26, seq);
  p.set(payload, 28);
  v.setUint16(22, checksum(p.subarray(20)));
  return p;
}

describe.skipIf(!canRun).each(IMPLS)("against %s", (impl) => {
  test("handshakes both ways, pings both ways, cookies under load", async () => {
    const ifname = `bwg${rhex(3)}`;
    const ns = `bwg${rhex(3)}`;
    const net = [10, 200 + Math.floor(Math.random() * 50), Math.floor(Math.random() * 250)];
    const them = [...net, 1];
    const us = [...net, 2];
    const dir = mkdtempSync(join(tmpdir(), "bwg-interop-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));

    // our side
    const aead = loadAead();
    const engine = new Engine({ crypto: defaultSuite({ aead, random }) });
    engine.setPrivateKey(crypto.getRandomValues(new Uint8Array(32)));
    const theirPrivate = crypto.getRandomValues(new Uint8Array(32)); // unclamped on purpose: both must clamp
    const psk = crypto.getRandomValues(new Uint8Array(32));
    const keyOf = new Engine({ crypto: defaultSuite({ aead, random }) });
    keyOf.setPrivateKey(theirPrivate);
    const peer: Peer = engine.addPeer(keyOf.publicKey!);
    peer.setPresharedKey(psk);

    const inbox: Uint8Array[] = [];
    const sock = await Bun.udpSocket({
      hostname: "127.0.0.1",
      socket: {
        data(_s, buf) {
          inbox.push(new Uint8Array(buf));
        },
        error() {},
      },
    });
    cleanups.push(() => sock.close());
    const theirPort = 20000 + Math.floor(Math.random() * 20000);
    const send = (b: Uint8Array) => sock.send(b, theirPort, "127.0.0.1");
    const next = (what: string, ms?: number) => until(what, () => inbox.shift(), ms);

    // their side: wireguard-go with its TUN moved into our namespace
    sh("ip", "netns", "add", ns);
    cleanups.push(() => sh("ip", "netns", "del", ns));
    const wg = Bun.spawn([impl, "-f", ifname], { stdout: "ignore", stderr: "ignore", env: { ...process.env, LOG_LEVEL: "error" } });
    cleanups.push(() => wg.kill());
    await until("the wireguard-go socket", () => (existsSync(socketPath(ifname)) ? true : undefined));
    writeFileSync(join(dir, "priv"), keyToBase64(theirPrivate));
    writeFileSync(join(dir, "psk"), keyToBase64(psk));
    sh("wg", "set", ifname, "private-key", join(dir, "priv"), "listen-port", String(theirPort),
      "peer", keyToBase64(engine.publicKey!), "preshared-key", join(dir, "psk"),
      "endpoint", `127.0.0.1:${sock.port}`, "allowed-ips", `${us.join(".")}/32`);
    sh("ip", "link", "set", ifname, "netns", ns);
    sh("ip", "-n", ns, "addr", "add", `${them.join(".")}/24`, "dev", ifname);
    sh("ip", "-n", ns, "link", "set", ifname, "up");
    // wg(8) shows the public key it derived from the unclamped private key: ours must agree
    const shown = sh("ip", "netns", "exec", ns, "wg", "show", ifname, "public-key").trim();
    expect(shown).toBe(keyToBase64(keyOf.publicKey!));

    const sealData = (kp: Keypair, pt: Uint8Array): Uint8Array => {
      const padded = new Uint8Array(Math.ceil(pt.length / 16) * 16);
      padded.set(pt);
      const counter = peer.reserveCounters(kp, 1);
      const msg = new Uint8Array(32 + padded.length);
      writeTransportHeader(msg, 0, kp.remoteIndex, counter);
      aead.seal(kp.sendKey, counter, padded, new Uint8Array(0), msg.subarray(16));
      peer.packetSent(performance.now(), pt.length === 0);
      return msg;
    };
    const openData = (msg: Uint8Array): Uint8Array => {
      expect(msg[0]).toBe(4);
      const kp = engine.keypairByIndex(readU32(msg, 4))!;
      expect(kp).toBeDefined();
      const counter = readCounter(msg);
      expect(peer.replayMayAccept(kp, counter)).toBe(true);
      const pt = new Uint8Array(msg.length - 32);
      expect(aead.open(kp.receiveKey, counter, msg.subarray(16), new Uint8Array(0), pt)).toBe(true);
      expect(peer.packetReceived(performance.now(), kp, counter, pt.length === 0)).toBe(true);
      return pt;
    };

    // 1. They initiate: a ping from the namespace makes wireguard-go handshake with us. We claim to be under
    //    load: our cookie reply must satisfy them, and their retry (REKEY_TIMEOUT later) must carry a mac2 that
    //    we accept.
    const src = new Uint8Array([127, 0, 0, 1, theirPort >> 8, theirPort & 0xff]);
    const ping1 = Bun.spawn(["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "10", us.join(".")], { stdout: "ignore", stderr: "ignore" });
    cleanups.push(() => ping1.kill());
    const first = await next("their initiation");
    expect(first[0]).toBe(1);
    expect(first.subarray(132).every((b) => b === 0)).toBe(true); // no cookie yet: mac2 zero
    const c = engine.consumeHandshake(performance.now(), first, src, true);
    expect(c.kind).toBe("cookie-reply");
    if (c.kind !== "cookie-reply") return;
    send(c.packet);
    const init = await next("their retry, with mac2", 8000);
    expect(init[0]).toBe(1);
    const r = engine.consumeHandshake(performance.now(), init, src, true);
    expect(r.kind).toBe("response");
    if (r.kind !== "response") return;
    send(r.packet);
    // their first transport packet is the echo request, on the session we made as responder
    const req = openData(await next("their echo request"));
    expect(req[9]).toBe(1); // ICMP
    expect([...req.subarray(12, 16)]).toEqual(them);
    expect(req[20]).toBe(8);
    const kpResp = peer.sendingKeypair(performance.now())!;
    expect(kpResp).not.toBeNull(); // confirmed by their packet
    expect(kpResp.isInitiator).toBe(false);
    const len = (req[2] << 8) | req[3];
    const reqIcmp = req.subarray(20, len);
    send(sealData(kpResp, icmp(0, us, them, (reqIcmp[4] << 8) | reqIcmp[5], (reqIcmp[6] << 8) | reqIcmp[7], reqIcmp.subarray(8))));
    expect(await ping1.exited).toBe(0); // their ping got our reply

    // 2. We initiate, then ping them.
    const ours = peer.createInitiation(performance.now())!;
    expect(ours).not.toBeNull();
    send(ours);
    const resp = await next("their response");
    expect(resp[0]).toBe(2);
    const est = engine.consumeHandshake(performance.now(), resp, new Uint8Array(6), false);
    expect(est.kind).toBe("established");
    const kpInit = peer.sendingKeypair(performance.now())!;
    expect(kpInit.isInitiator).toBe(true);
    send(sealData(kpInit, icmp(8, us, them, 0x4242, 1, new TextEncoder().encode("bunwg interop"))));
    const reply = openData(await next("their echo reply"));
    expect(reply[20]).toBe(0);
    expect([...reply.subarray(12, 16)]).toEqual(them);
    expect(new TextDecoder().decode(reply.subarray(28, 28 + 13))).toBe("bunwg interop");
    // and they count a handshake with us
    const hs = sh("ip", "netns", "exec", ns, "wg", "show", ifname, "latest-handshakes").trim().split(/\s+/);
    expect(Number(hs[1])).toBeGreaterThan(0);

    // 3. Cookies (§5.4.7): a flood of replayed initiations puts wireguard-go under load; it answers with cookie
    //    replies, which we must open, and then it must accept our next initiation for its mac2. Our clock runs
    //    ahead by REKEY_TIMEOUTs here so the engine lets us initiate again at once.
    let skew = 10_000;
    const flood = peer.createInitiation(performance.now() + skew)!;
    const floodIndex = readU32(flood, 4);
    inbox.length = 0;
    for (let burst = 0; burst < 20 && inbox.every((m) => m[0] !== 3); burst++) {
      for (let i = 0; i < 1000; i++) send(flood);
      await Bun.sleep(10);
    }
    const cookie = await until("a cookie reply", () => {
      const m = inbox.shift();
      if (m === undefined || m[0] !== 3) return undefined;
      expect(readU32(m, 4)).toBe(floodIndex);
      return engine.consumeHandshake(performance.now() + skew, m, new Uint8Array(6), false);
    });
    expect(cookie.kind).toBe("cookie-consumed");
    skew += 10_000;
    const withMac2 = peer.createInitiation(performance.now() + skew)!;
    expect(withMac2.subarray(132).some((b) => b !== 0)).toBe(true);
    const index = readU32(withMac2, 4);
    // wireguard-go stays under load for a second after its queue drains. Let the storm of cookie replies to the
    // flood pass first (it overflows our socket's receive buffer, which would drop the answers), then send the
    // new initiation twice: with mac2 zeroed (still under load, that must draw a cookie reply) and as it is
    // (its mac2 must be accepted: a response).
    for (let quiet = 0; quiet < 20 && inbox.length > 0; quiet++) {
      inbox.length = 0;
      await Bun.sleep(20);
    }
    const noMac2 = Uint8Array.from(withMac2);
    noMac2.fill(0, 132);
    send(noMac2);
    await Bun.sleep(10);
    send(withMac2);
    let cookieForIndex = false;
    const answer = await until("their response to our initiation with mac2", () => {
      const m = inbox.shift();
      if (m === undefined) return undefined;
      if (m[0] === 3 && readU32(m, 4) === index) cookieForIndex = true;
      return m[0] === 2 && readU32(m, 8) === index ? m : undefined;
    });
    expect(cookieForIndex).toBe(true);
    expect(engine.consumeHandshake(performance.now() + skew, answer, new Uint8Array(6), false).kind).toBe("established");
  }, 30_000);
});
