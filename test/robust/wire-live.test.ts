// Hostile wire input against a running daemon. bunwg (D) and a wireguard-go peer (W) carry a tunnel between two
// namespaces; their UDP sockets are on loopback, W's traffic passes a relay (127.0.0.3) that can capture and
// replay it. A test peer of our own (T, 127.0.0.2) holds a real session with D and sends what a compromised or
// malicious peer would: spoofed inner sources, replays, low-order points, then a flood of malformed datagrams
// while TCP and ping run through the tunnel.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CASE_CLASSES, type CaseClass, LOW_ORDER_POINTS, Rng, mac1KeyOf, mutate, writeMac1 } from "./fuzzer.ts";
import { Relay } from "./relay.ts";
import { type Daemon, startDaemon } from "../support/daemon.ts";
import { ping, pingUntil, rxPackets, udpDrops } from "../support/net.ts";
import { icmpEcho, udp6 } from "../support/packets.ts";
import { TestPeer } from "../support/peer.ts";
import { run, waitFor } from "../support/process.ts";
import { BUNWG, PEER_NAME, PEER_PROGRAM, genKey, isRoot, uniqueTag, wgTool } from "../support/programs.ts";
import { Scope, alive } from "../support/scope.ts";
import { memKiB } from "../../bench/lib/proc.ts";

interface Side { ns: string; ifname: string; v4: string; v6: string; key: { priv: string; pub: string }; port: number; d: Daemon }

describe.skipIf(!isRoot)(`hostile input at a running daemon (peer: ${PEER_NAME})`, () => {
  const scope = new Scope();
  const t = uniqueTag();
  const n = parseInt(t.slice(0, 2), 16), m = parseInt(t.slice(2, 4), 16);
  const net4 = `10.${n}.${m}`;
  const net6 = `fd00:${n.toString(16)}:${m.toString(16)}:`;
  const hex6 = (host: number) => Buffer.from([0xfd, 0, 0, n, 0, m, ...new Array(9).fill(0), host]).toString("hex");
  let D!: Side, W!: Side, T!: TestPeer, relay!: Relay;
  let capturedInitiations: Uint8Array[] = []; // W's, as they passed the relay during set-up

  const transferOf = async (pubB64: string) => {
    const line = (await wgTool(["show", D.ifname, "transfer"])).stdout.split("\n").find((l) => l.startsWith(pubB64));
    return line ? Number(line.split("\t")[1]) : 0;
  };

  beforeAll(async () => {
    const mk = async (s: string, host: number, program: string[]): Promise<Side> => {
      const name = `bwr${t}${s}`;
      await scope.netns(name);
      const d = await startDaemon(scope, program, name);
      const key = genKey();
      await wgTool(["set", name, "private-key", scope.file(`${name}.key`, key.priv + "\n"), "listen-port", "0"]);
      const port = Number((await wgTool(["show", name, "listen-port"])).stdout.trim());
      return { ns: name, ifname: name, v4: `${net4}.${host}`, v6: `${net6}:${host}`, key, port, d };
    };
    D = await mk("d", 1, BUNWG);
    W = await mk("w", 2, PEER_PROGRAM);
    relay = await Relay.open({ aHost: "127.0.0.3", bHost: "127.0.0.3", target: { host: "127.0.0.1", port: D.port } });
    scope.add(() => relay.close());
    relay.capturing = true;
    await wgTool(["set", W.ifname, "peer", D.key.pub, "endpoint", `127.0.0.3:${relay.portA}`, "allowed-ips", `${D.v4}/32,${D.v6}/128`]);
    await wgTool(["set", D.ifname, "peer", W.key.pub, "endpoint", `127.0.0.3:${relay.portB}`, "allowed-ips", `${W.v4}/32,${W.v6}/128`]);
    T = await TestPeer.open("127.0.0.2", D.port, D.key.pub);
    scope.add(() => T.close());
    await wgTool(["set", D.ifname, "peer", T.publicKeyBase64, "allowed-ips", `${net4}.3/32,${net6}:3/128`]);
    for (const s of [D, W]) {
      await run(["ip", "link", "set", s.ifname, "netns", s.ns]);
      await run(["ip", "-n", s.ns, "addr", "add", `${s.v4}/24`, "dev", s.ifname]);
      await run(["ip", "-n", s.ns, "addr", "add", `${s.v6}/64`, "dev", s.ifname, "nodad"]);
      await run(["ip", "-n", s.ns, "link", "set", s.ifname, "up"]);
    }
    await pingUntil(W.ns, D.v4);
    capturedInitiations = relay.captured.a2b.filter((p) => p[0] === 1 && p.length === 148);
    relay.capturing = false;
    await T.establish();
  }, 60_000);
  afterAll(() => scope.close());

  test("spoofed inner sources never reach the TUN; an allowed one does and is answered", async () => {
    const rx0 = await rxPackets(D.ifname, D.ns);
    const from = T.received.length;
    // Control: an echo request from T's own allowed address arrives and the kernel's reply comes back through D.
    T.send(T.seal(icmpEcho(`${net4}.3`, D.v4, 0x7e57)));
    await waitFor("the echo reply to T", () => T.openReceived(from).some((p) => p[9] === 1 && p[20] === 0 && p[24] === 0x7e && p[25] === 0x57), 5000);
    expect(await rxPackets(D.ifname, D.ns)).toBe(rx0 + 1);
    // T claims W's addresses, addresses nobody has, and garbage: authenticated, so D decrypts them, and must drop them.
    const spoofed = [
      icmpEcho(W.v4, D.v4, 1), icmpEcho(`${net4}.99`, D.v4, 2), icmpEcho("192.0.2.1", D.v4, 3), icmpEcho("0.0.0.0", D.v4, 4),
      udp6(hex6(2), hex6(1)), udp6(hex6(0x99), hex6(1)), udp6("00000000000000000000000000000001", hex6(1)),
    ];
    for (let i = 0; i < 5; i++) for (const p of spoofed) T.send(T.seal(p));
    await Bun.sleep(700);
    expect(await rxPackets(D.ifname, D.ns)).toBe(rx0 + 1);
    // They did count as authenticated traffic from T (so they were decrypted, not lost).
    expect(await transferOf(T.publicKeyBase64)).toBeGreaterThan(35 * 32);
  }, 20_000);

  test("unknown keys and low-order points get no answer and produce no traffic", async () => {
    const dPub = new Uint8Array(Buffer.from(D.key.pub, "base64"));
    // A stranger (a key D does not know) initiates: nothing comes back.
    const U = await TestPeer.open("127.0.0.4", D.port, D.key.pub);
    try {
      U.send(U.peer.createInitiation(1_000_000)!);
      // Initiations from T whose ephemeral is a low-order point, with a valid mac1: the DH gives zero (§5.4).
      const from = T.received.length;
      const init = T.peer.createInitiation(2_000_000)!;
      for (const point of LOW_ORDER_POINTS) {
        const m = Uint8Array.from(init);
        m.set(point, 8);
        writeMac1(m, mac1KeyOf(dPub));
        T.send(m);
      }
      // A peer configured with a low-order public key, its endpoint at U: traffic for it starts no handshake.
      await wgTool(["set", D.ifname, "peer", "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "endpoint", `127.0.0.4:${U.port}`, "allowed-ips", `${net4}.4/32`]);
      expect(await ping(D.ns, `${net4}.4`, 2, 1)).toBe(false);
      await Bun.sleep(500);
      expect(U.received.length).toBe(0);
      expect(T.received.slice(from).filter((p) => p[0] !== 4).length).toBe(0);
      expect((await wgTool(["show", D.ifname, "latest-handshakes"])).stdout).toContain("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\t0");
    } finally {
      U.close();
      await wgTool(["set", D.ifname, "peer", "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "remove"]);
    }
  }, 20_000);

  test(`replayed transport packets and a replayed initiation from ${PEER_NAME} are refused and disturb nothing`, async () => {
    relay.captured = { a2b: [], b2a: [] };
    relay.capturing = true;
    const r = await run(["ip", "netns", "exec", W.ns, "ping", "-n", "-c", "20", "-i", "0.05", "-W", "1", D.v4], { timeoutMs: 15_000 });
    expect(r.stdout).toContain("20 received");
    relay.capturing = false;
    const transport = relay.captured.a2b.filter((p) => p[0] === 4 && p.length > 32);
    expect(transport.length).toBeGreaterThanOrEqual(20);
    await Bun.sleep(300);
    const rx0 = await rxPackets(D.ifname, D.ns);
    const endpoints0 = (await wgTool(["show", D.ifname, "endpoints"])).stdout;
    // Every captured packet again: from the relay (the source D knows) and from another address.
    for (const p of transport) relay.sendToTarget(p);
    T.sendMany(transport);
    await Bun.sleep(700);
    expect(await rxPackets(D.ifname, D.ns)).toBe(rx0);
    expect((await wgTool(["show", D.ifname, "endpoints"])).stdout).toBe(endpoints0);

    // W's initiation, captured during set-up, replayed at the live session.
    const initiations = capturedInitiations;
    expect(initiations.length).toBeGreaterThan(0);
    const hs0 = (await wgTool(["show", D.ifname, "latest-handshakes"])).stdout;
    relay.captured = { a2b: [], b2a: [] };
    relay.capturing = true;
    const tFrom = T.received.length;
    for (const i of initiations) relay.sendToTarget(i);
    for (const i of initiations) T.send(i);
    await Bun.sleep(1000);
    relay.capturing = false;
    expect(relay.captured.b2a.filter((p) => p[0] === 2).length).toBe(0); // no response
    expect(T.received.slice(tFrom).filter((p) => p[0] === 2).length).toBe(0);
    expect((await wgTool(["show", D.ifname, "latest-handshakes"])).stdout).toBe(hs0);
    expect(await ping(W.ns, D.v4, 3, 1)).toBe(true);
    expect((await wgTool(["show", D.ifname, "latest-handshakes"])).stdout).toBe(hs0); // the session was not replaced
  }, 30_000);

  test("a flood of malformed datagrams from 127.0.0.2: the daemon stays up and keeps carrying TCP and ping", async () => {
    // Traffic between W and D goes straight to D now (not through this process's relay).
    await wgTool(["set", W.ifname, "peer", D.key.pub, "endpoint", `127.0.0.1:${D.port}`]);
    expect(await ping(W.ns, D.v4, 2, 1)).toBe(true);
    // The flood: mutants of T's genuine messages (real session index, so they reach the AEAD), replays of what T
    // sent, random bytes and shapes, and initiations with a valid mac1 (which push D into cookie mode).
    const rng = new Rng(0xf100d);
    const dPub = new Uint8Array(Buffer.from(D.key.pub, "base64"));
    const mac1D = mac1KeyOf(dPub);
    const init = T.peer.createInitiation(3_000_000)!;
    const genuine = Array.from({ length: 64 }, (_, i) => ({ kind: "transport" as const, bytes: T.seal(icmpEcho(`${net4}.3`, D.v4, 0x1000 + i)), to: "b" as const }));
    // Delivered once, legitimately, before the flood replays and mutates them (so a mutant differing only in
    // mac2, which is not checked when D is not under load, is a replay too).
    T.sendMany(genuine.map((g) => g.bytes));
    T.send(init);
    await Bun.sleep(300);
    const flood: Uint8Array[] = [];
    const kinds = CASE_CLASSES.filter((c) => c !== "genuine") as CaseClass[];
    while (flood.length < 4096) {
      const cls = rng.pick(kinds);
      if (cls === "random-bytes") flood.push(rng.bytes(rng.int(1500)));
      else if (cls === "random-shaped" || cls === "random-mac1" || cls === "low-order") {
        const msg = rng.bytes(148);
        msg.set([1, 0, 0, 0]);
        if (cls === "low-order") msg.set(rng.pick(LOW_ORDER_POINTS), 8);
        if (cls !== "random-shaped") writeMac1(msg, mac1D);
        flood.push(msg);
      } else if (cls === "replay") flood.push(rng.pick(T.sent));
      else flood.push(mutate(rng, cls, rng.pick([...genuine, ...genuine, { kind: "initiation" as const, bytes: init, to: "b" as const }]), { mac1Key: () => mac1D, otherIndex: () => rng.u32() }));
    }
    const tRx0 = await transferOf(T.publicKeyBase64);
    const rss0 = memKiB(D.d.pid).rss;
    const drops0 = udpDrops(D.port);
    let sent = 0;
    const timer = setInterval(() => {
      for (let k = 0; k < 2; k++) {
        const batch = [];
        for (let i = 0; i < 100; i++) batch.push(flood[(sent + i) % flood.length]);
        T.sendMany(batch);
        sent += batch.length;
      }
    }, 10);
    let iperfOut = "";
    let pingOut = "";
    const t0 = performance.now();
    try {
      const server = Bun.spawn(["ip", "netns", "exec", D.ns, "iperf3", "-s", "-1", "-B", D.v4], { stdout: "ignore", stderr: "ignore" });
      try {
        await waitFor("iperf3 server", async () => (await run(["ss", "-N", D.ns, "-tln", "sport = 5201"], { check: false })).stdout.includes("5201"), 5000);
        const [ip, pg] = await Promise.all([
          run(["ip", "netns", "exec", W.ns, "iperf3", "-c", D.v4, "-t", "3", "-J"], { timeoutMs: 30_000, check: false }),
          run(["ip", "netns", "exec", W.ns, "ping", "-n", "-c", "20", "-i", "0.15", "-W", "1", D.v4], { timeoutMs: 30_000, check: false }),
        ]);
        iperfOut = ip.stdout;
        pingOut = pg.stdout;
      } finally {
        server.kill();
      }
    } finally {
      clearInterval(timer);
    }
    const seconds = (performance.now() - t0) / 1000;
    await Bun.sleep(300);
    const bps = JSON.parse(iperfOut).end.sum_received.bits_per_second as number;
    const received = Number(pingOut.match(/(\d+) received/)?.[1] ?? 0);
    const drops = udpDrops(D.port) - drops0;
    console.log(`  flood: ${sent} malformed datagrams in ${seconds.toFixed(1)} s (${(sent / seconds).toFixed(0)}/s, ${drops} dropped by the kernel); ` +
      `meanwhile TCP ${(bps / 1e6).toFixed(0)} Mbit/s and ${received}/20 pings; RSS ${(rss0 / 1024).toFixed(0)} → ${(memKiB(D.d.pid).rss / 1024).toFixed(0)} MiB`);
    expect(alive(D.d.pid)).toBe(true);
    expect(sent).toBeGreaterThan(30_000);
    expect(bps).toBeGreaterThan(5e6);
    expect(received).toBeGreaterThanOrEqual(15);
    // Nothing of the flood was accepted as T's traffic, not even T's own replayed packets.
    expect(await transferOf(T.publicKeyBase64)).toBe(tRx0);
    expect(memKiB(D.d.pid).rss - rss0).toBeLessThan(150 * 1024);
    // And afterwards everything still works.
    expect(await ping(W.ns, D.v4, 3, 1)).toBe(true);
    expect((await wgTool(["show", D.ifname])).code).toBe(0);
  }, 60_000);
});
