// Operator faults: what an administrator, the kernel or a signal does to a running daemon, tried on the
// implementation under test (A: bunwg, then the newest wireguard-go with the same checks) with a wireguard-go peer
// (B). Both daemons run in the test's namespace with their UDP sockets on loopback; their interfaces live in two
// namespaces made here. Each test leaves the tunnel as it found it, so the tests share one pair per implementation.
// Routing faults (loopback, routes, a better route) and the link state at start are in operator-routes.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Daemon, assertAlive, startDaemon } from "../support/daemon.ts";
import { freePort, linkCounter, listenPort, peerField, peerTransfer, ping, pingUntil, snmpCounter, udpDrops, waitQuiet } from "../support/net.ts";
import { icmpEcho } from "../support/packets.ts";
import { TestPeer } from "../support/peer.ts";
import { run, waitFor } from "../support/process.ts";
import { IMPLEMENTATIONS, PEER_NAME, PEER_PROGRAM, genKey, isRoot, uniqueTag, wgTool } from "../support/programs.ts";
import { Scope } from "../support/scope.ts";
import { tcpTransfer } from "../support/traffic.ts";
import { LOW_ORDER_POINTS } from "./fuzzer.ts";

interface Side { ns: string; ifname: string; v4: string; key: { priv: string; pub: string }; keyFile: string; port: number; d: Daemon }

/** Bytes on the wire of a transport message carrying an inner packet of `len` bytes: header 16, the packet padded
 *  to a multiple of 16 (whitepaper §5.4.6), tag 16. */
const transportBytes = (len: number) => 32 + Math.ceil(len / 16) * 16;
const INITIATION = 148, RESPONSE = 92;

for (const [implName, program] of IMPLEMENTATIONS) {
  describe.skipIf(!isRoot)(`operator faults on ${implName} (peer: ${PEER_NAME})`, () => {
    const scope = new Scope();
    const t = uniqueTag();
    const net = `10.${parseInt(t.slice(0, 2), 16)}.${parseInt(t.slice(2, 4), 16)}`;
    let A!: Side, B!: Side;
    const assertAlive_ = () => assertAlive(A.d);
    /** A background ping from ns to addr every `interval` s for at most `seconds`; killed by the caller (or scope). */
    const pinger = (ns: string, addr: string, interval: string, seconds: number, flood = false) => {
      const p = Bun.spawn(["ip", "netns", "exec", ns, "ping", "-n", "-q", ...(flood ? ["-f"] : ["-i", interval]), "-w", String(seconds), addr], { stdout: "ignore", stderr: "ignore" });
      scope.add(() => p.kill("SIGKILL"));
      return p;
    };

    beforeAll(async () => {
      const mk = async (s: string, host: number, prog: string[]): Promise<Side> => {
        const name = `bwo${t}${s}`;
        await scope.netns(name);
        const d = await startDaemon(scope, prog, name);
        const key = genKey();
        const keyFile = scope.file(`${name}.key`, key.priv + "\n");
        await wgTool(["set", name, "private-key", keyFile, "listen-port", "0"]);
        return { ns: name, ifname: name, v4: `${net}.${host}`, key, keyFile, port: await listenPort(name), d };
      };
      A = await mk("a", 1, program);
      B = await mk("b", 2, PEER_PROGRAM);
      for (const [s, o] of [[A, B], [B, A]] as const) {
        await wgTool(["set", s.ifname, "peer", o.key.pub, "endpoint", `127.0.0.1:${o.port}`, "allowed-ips", `${o.v4}/32`]);
        await run(["ip", "link", "set", s.ifname, "netns", s.ns]);
        await run(["ip", "-n", s.ns, "addr", "add", `${s.v4}/24`, "dev", s.ifname]);
        await run(["ip", "-n", s.ns, "link", "set", s.ifname, "up"]);
      }
    }, 60_000);
    afterAll(async () => { await scope.close(); });

    // First: the counters start at zero and nothing has crossed the tunnel yet.
    test("wg show transfer counts wire bytes: a handshake and 3 pings of 129-byte packets, exactly, on both sides", async () => {
      const r = await run(["ip", "netns", "exec", A.ns, "ping", "-n", "-c", "3", "-i", "0.2", "-s", "101", "-W", "3", B.v4], { check: false, timeoutMs: 15_000 });
      expect(r.stdout).toContain("3 received");
      await Bun.sleep(300);
      // IPv4 20 + ICMP 8 + 101 = 129 bytes inside; A initiated, so A sent the initiation and B the response.
      // No keepalive yet: the passive one comes KEEPALIVE_TIMEOUT (10 s) after the last reply (§6.5).
      const data = 3 * transportBytes(129);
      const expected = { a: { rx: RESPONSE + data, tx: INITIATION + data }, b: { rx: INITIATION + data, tx: RESPONSE + data } };
      const seen = { a: await peerTransfer(A.ifname, B.key.pub), b: await peerTransfer(B.ifname, A.key.pub) };
      console.log(`  ${implName}: rx ${seen.a.rx} tx ${seen.a.tx}; ${PEER_NAME}: rx ${seen.b.rx} tx ${seen.b.tx}; expected ${JSON.stringify(expected)}`);
      expect(seen).toEqual(expected);
    }, 30_000);

    test("a peer with the interface's own public key and 7 peers with low-order public keys: no traffic, no crash", async () => {
      let got = 0;
      const sink = await Bun.udpSocket({ hostname: "127.0.0.5", port: 0, socket: { data: () => { got++; }, error: () => {} } });
      // The first 7 of the list are below 2^255, so X25519's clearing of the top bit leaves them low-order; the rest
      // are such points plus p or 2p, which that clearing turns into ordinary points (both wireguard-gos then
      // handshake with them, rightly).
      const keys = [A.key.pub, ...LOW_ORDER_POINTS.slice(0, 7).map((p) => Buffer.from(p).toString("base64"))];
      try {
        for (const [i, k] of keys.entries()) {
          // wireguard-go accepts the own key and ignores the peer; refusing it is as good: neither may send.
          await wgTool(["set", A.ifname, "peer", k, "endpoint", `127.0.0.5:${sink.port}`, "allowed-ips", `${net}.${100 + i}/32`, "persistent-keepalive", "1"], { check: false });
        }
        const answered = await Promise.all(keys.map((_, i) => ping(A.ns, `${net}.${100 + i}`, 2, 1)));
        await Bun.sleep(500);
        expect(answered.filter(Boolean).length).toBe(0);
        expect(got).toBe(0);
        assertAlive_();
        expect(await ping(A.ns, B.v4, 1, 2)).toBe(true);
      } finally {
        for (const k of keys) await wgTool(["set", A.ifname, "peer", k, "remove"], { check: false });
        sink.close();
      }
    }, 30_000);

    test("listen port changed while the peers ping each other: the peer records the new port; endpoint set again: still up", async () => {
      // Both ways: B keeps sending to the old port until a packet from A tells it the new one.
      const p = pinger(B.ns, A.v4, "0.1", 8);
      const q = pinger(A.ns, B.v4, "0.1", 8);
      try {
        const port = await freePort();
        await wgTool(["set", A.ifname, "listen-port", String(port)]);
        A.port = port;
        await waitFor(`${PEER_NAME} to record ${implName}'s new port ${port}`, async () => (await peerField(B.ifname, A.key.pub, 2)) === `127.0.0.1:${port}`, 5000);
        await wgTool(["set", A.ifname, "peer", B.key.pub, "endpoint", `127.0.0.1:${B.port}`]);
        expect(await ping(B.ns, A.v4, 3, 2)).toBe(true);
        expect(await ping(A.ns, B.v4, 3, 2)).toBe(true);
        expect(await peerField(B.ifname, A.key.pub, 2)).toBe(`127.0.0.1:${port}`);
      } finally {
        p.kill();
        q.kill();
      }
    }, 30_000);

    // bunwg only: the newest wireguard-go closes its socket before it tries the new port, and stays without one
    // (measured: listen-port 0 afterwards, pings fail both ways).
    (implName === "bunwg" ? test : test.skip)("listen port set to a port in use: refused with EADDRINUSE, the old socket and the tunnel stay", async () => {
      const r = await wgTool(["set", A.ifname, "listen-port", String(B.port)], { check: false });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("Address already in use");
      expect(await listenPort(A.ifname)).toBe(A.port);
      expect(await ping(A.ns, B.v4, 2, 2)).toBe(true);
      expect(await ping(B.ns, A.v4, 2, 2)).toBe(true);
      assertAlive_();
    }, 30_000);

    test("wg set of private key, listen port, keepalive and peers in a loop during a flood ping: no crash, tunnel up after", async () => {
      const other = genKey();
      const otherFile = scope.file(`other${t}.key`, other.priv + "\n");
      const flood = pinger(A.ns, B.v4, "", 15, true);
      const back = pinger(B.ns, A.v4, "0.05", 15);
      try {
        for (let i = 0; i < 8; i++) {
          const extra = genKey().pub;
          await wgTool(["set", A.ifname, "private-key", otherFile, "listen-port", "0", "peer", extra, "endpoint", `127.0.0.1:${B.port}`, "allowed-ips", `${net}.${200 + i}/32`, "persistent-keepalive", "1"]);
          await Bun.sleep(50);
          await wgTool(["set", A.ifname, "peer", B.key.pub, "persistent-keepalive", i % 2 ? "1" : "off", "allowed-ips", `${B.v4}/32`]);
          await wgTool(["set", A.ifname, "private-key", A.keyFile, "listen-port", i % 2 ? "0" : String(A.port)]);
          await Bun.sleep(50);
          await wgTool(["set", A.ifname, "peer", extra, "remove"]);
          assertAlive_();
        }
      } finally {
        flood.kill();
        back.kill();
      }
      await wgTool(["set", A.ifname, "peer", B.key.pub, "persistent-keepalive", "off"]);
      A.port = await listenPort(A.ifname);
      // No stuck session: A's first packet brings a new handshake, and B learns A's (new) port from it.
      const t0 = performance.now();
      await pingUntil(A.ns, B.v4, 15_000);
      console.log(`  ${implName}: tunnel back ${((performance.now() - t0) / 1000).toFixed(1)} s after the loop`);
      expect(await ping(B.ns, A.v4, 3, 2)).toBe(true);
      assertAlive_();
    }, 60_000);

    // bunwg only: in one CI run the newest wireguard-go's configuration socket stopped answering in the middle of
    // this loop (`wg set … private-key` never returned; the test timed out), and every later test of its block
    // failed on the wedged daemon. Its hang is not what this file tests; bunwg's run of the same checks is.
    (implName === "bunwg" ? test : test.skip)("private key changed 20 times while 3 peers keep sending handshake initiations: each completes one after", async () => {
      const other = scope.file(`other2${t}.key`, genKey().priv + "\n");
      const peers = await Promise.all([0, 1, 2].map((i) => TestPeer.open(`127.0.0.${11 + i}`, A.port, A.key.pub)));
      const back = pinger(B.ns, A.v4, "0.05", 10);
      try {
        for (const [i, p] of peers.entries()) await wgTool(["set", A.ifname, "peer", p.publicKeyBase64, "allowed-ips", `${net}.${20 + i}/32`]);
        // 150 initiations/s in all: below bunwg's load threshold (64 in 250 ms, src/device/receive.ts), above which
        // it would answer with cookie replies, which is not what this test is about.
        const timer = setInterval(() => { for (const p of peers) p.initiate(); }, 20);
        try {
          for (let i = 0; i < 10; i++) {
            await wgTool(["set", A.ifname, "private-key", other]);
            await Bun.sleep(30);
            await wgTool(["set", A.ifname, "private-key", A.keyFile]);
            await Bun.sleep(30);
          }
        } finally {
          clearInterval(timer);
        }
        assertAlive_();
        // Some initiations met the other key (refused: mac1 is for the first), some were answered; none may have
        // left a state in which the next one fails.
        expect(peers.every((p) => p.received.some((m) => m[0] === 2))).toBe(true);
        await Bun.sleep(100); // past wireguard-go's initiation flood limit (50/s per peer)
        for (const p of peers) await p.establish(5000);
        await pingUntil(A.ns, B.v4, 15_000);
      } finally {
        back.kill();
        for (const p of peers) {
          p.close();
          await wgTool(["set", A.ifname, "peer", p.publicKeyBase64, "remove"], { check: false });
        }
      }
    }, 60_000);

    // Robustness only: whether the padding follows the MTU (#10 item 3) is not visible in a TCP transfer's outcome.
    test("interface MTU changed up and down (1280…9000) while a 128 MiB TCP transfer flows: it completes intact", async () => {
      const mtus = [1280, 1500, 1380, 9000, 1412, 1420];
      let changed = 0;
      try {
        const r = await tcpTransfer(scope, A.ns, B.ns, B.v4, 128 << 20, async (ended) => {
          const tx0 = await linkCounter(A.ifname, "tx_packets", A.ns);
          await waitFor("the transfer under way", async () => ended() || (await linkCounter(A.ifname, "tx_packets", A.ns)) - tx0 > 300, 15_000);
          for (let i = 0; !ended() && i < 400; i++) {
            await run(["ip", "-n", A.ns, "link", "set", A.ifname, "mtu", String(mtus[i % mtus.length])]);
            if (!ended()) changed++;
            await Bun.sleep(20);
          }
        });
        console.log(`  ${implName}: ${changed} MTU changes during the transfer`);
        expect(r.reply).toBe(`${r.sent} ${r.hash}`);
        expect(changed).toBeGreaterThanOrEqual(3);
        assertAlive_();
      } finally {
        await run(["ip", "-n", A.ns, "link", "set", A.ifname, "mtu", "1420"], { check: false });
      }
    }, 90_000);

    test("SIGSTOP for 3 s while 60,000 data packets arrive: after SIGCONT every one the kernel queued reaches the TUN", async () => {
      // A test peer of our own sends them (ping slows down when its requests go unanswered): ICMP echo requests,
      // one datagram each, 64 per sendmmsg, while the daemon sleeps.
      const SENT = 60_000;
      const T = await TestPeer.open("127.0.0.21", A.port, A.key.pub);
      try {
        await wgTool(["set", A.ifname, "peer", T.publicKeyBase64, "allowed-ips", `${net}.30/32`]);
        await T.establish();
        await waitQuiet(A.ifname, A.ns);
        const msgs = Array.from({ length: SENT }, (_, i) => T.seal(icmpEcho(`${net}.30`, A.v4, 0x5157, i)));
        // Counted where they end: A's ICMP layer (echo requests received), not moved by any other packet.
        const rx0 = await snmpCounter(A.ns, "Icmp", "InEchos");
        const drops0 = udpDrops(A.port);
        const t0 = Date.now();
        let sent = 0;
        process.kill(A.d.pid, "SIGSTOP");
        try {
          for (let i = 0; i < SENT; i += 64) sent += T.sendMany(msgs.slice(i, i + 64));
          await Bun.sleep(Math.max(0, 3000 - (Date.now() - t0)));
        } finally {
          process.kill(A.d.pid, "SIGCONT");
        }
        expect(sent).toBe(SENT);
        const dropped = udpDrops(A.port) - drops0;
        const echoes = () => snmpCounter(A.ns, "Icmp", "InEchos");
        await waitFor("the backlog on the TUN", async () => (await echoes()) - rx0 >= SENT - dropped, 5000);
        await Bun.sleep(300);
        console.log(`  ${implName}: ${SENT} sent while stopped, ${dropped} dropped by the kernel (receive buffer full)`);
        // Nothing lost beyond the kernel's drops (which may include a stray keepalive of B's), nothing twice.
        const got = (await echoes()) - rx0;
        expect(got).toBeGreaterThanOrEqual(SENT - dropped);
        expect(got).toBeLessThanOrEqual(SENT);
        assertAlive_();
      } finally {
        T.close();
        await wgTool(["set", A.ifname, "peer", T.publicKeyBase64, "remove"], { check: false });
      }
    }, 30_000);

    test("SIGSTOP for 3 s while the kernel hands 2,000 packets to the TUN: after SIGCONT each one it queued crosses to B", async () => {
      const SENT = 2000;
      expect(await ping(A.ns, B.v4, 1, 2)).toBe(true);
      // Counted where they end: B's UDP layer (datagrams for a port nobody listens on).
      const noPorts = () => snmpCounter(B.ns, "Udp", "NoPorts");
      const rx0 = await noPorts();
      const tunDropped0 = await linkCounter(A.ifname, "tx_dropped", A.ns);
      const udpDropped0 = udpDrops(B.port);
      const t0 = Date.now();
      process.kill(A.d.pid, "SIGSTOP");
      try {
        // UDP datagrams from A's namespace to B's discard port: bash writes them without forking, one per echo.
        await run(["ip", "netns", "exec", A.ns, "bash", "-c", `for i in $(seq ${SENT}); do echo $i > /dev/udp/${B.v4}/9; done`], { timeoutMs: 10_000 });
        await Bun.sleep(Math.max(0, 3000 - (Date.now() - t0)));
      } finally {
        process.kill(A.d.pid, "SIGCONT");
      }
      // The kernel drops what the TUN cannot queue for the stopped reader (txqueuelen 500; the interface's
      // tx_dropped), and, of the burst A sends after SIGCONT, what B's UDP socket has no room for (/proc/net/udp).
      const tunDropped = (await linkCounter(A.ifname, "tx_dropped", A.ns)) - tunDropped0;
      let expected = 0;
      await waitFor("the TUN's backlog at B", async () => {
        expected = SENT - tunDropped - (udpDrops(B.port) - udpDropped0);
        return (await noPorts()) - rx0 >= expected;
      }, 5000);
      await Bun.sleep(300);
      expected = SENT - tunDropped - (udpDrops(B.port) - udpDropped0);
      console.log(`  ${implName}: ${SENT} handed to the TUN while stopped; the kernel dropped ${tunDropped} at A's TUN, ${SENT - tunDropped - expected} at B's socket`);
      // Nothing lost beyond the kernel's drops (which may include other packets of A's, so this bounds from below),
      // nothing twice.
      const got = (await noPorts()) - rx0;
      expect(got).toBeGreaterThanOrEqual(expected);
      expect(got).toBeLessThanOrEqual(SENT);
      expect(tunDropped).toBeLessThan(SENT); // something was queued, so something crossed after SIGCONT
      assertAlive_();
    }, 30_000);

    test("SIGSTOP for 3 s in the middle of a 32 MB TCP transfer to the stopped daemon: it completes intact (SHA-256)", async () => {
      let stoppedMidway = false;
      const r = await tcpTransfer(scope, B.ns, A.ns, A.v4, 32 << 20, async (ended) => {
        const rx0 = await linkCounter(A.ifname, "rx_packets", A.ns);
        await waitFor("the transfer under way", async () => ended() || (await linkCounter(A.ifname, "rx_packets", A.ns)) - rx0 > 300, 15_000);
        if (ended()) return;
        process.kill(A.d.pid, "SIGSTOP");
        try {
          stoppedMidway = true;
          await Bun.sleep(3000);
        } finally {
          process.kill(A.d.pid, "SIGCONT");
        }
      });
      expect(stoppedMidway).toBe(true);
      expect(r.reply).toBe(`${r.sent} ${r.hash}`);
      assertAlive_();
    }, 60_000);

    test("the peer removed and re-added in the middle of a 32 MB TCP transfer: it completes intact", async () => {
      let removedMidway = false;
      const r = await tcpTransfer(scope, A.ns, B.ns, B.v4, 32 << 20, async (ended) => {
        const tx0 = await linkCounter(A.ifname, "tx_packets", A.ns);
        await waitFor("the transfer under way", async () => ended() || (await linkCounter(A.ifname, "tx_packets", A.ns)) - tx0 > 300, 15_000);
        if (ended()) return;
        await wgTool(["set", A.ifname, "peer", B.key.pub, "remove"]);
        removedMidway = !ended();
        await Bun.sleep(500);
        await wgTool(["set", A.ifname, "peer", B.key.pub, "endpoint", `127.0.0.1:${B.port}`, "allowed-ips", `${B.v4}/32`]);
      });
      expect(removedMidway).toBe(true);
      expect(r.reply).toBe(`${r.sent} ${r.hash}`);
      assertAlive_();
    }, 60_000);

    test("50 parallel TCP streams through the tunnel (iperf3 -P 50): every stream carries data", async () => {
      const port = String(20_000 + Math.floor(Math.random() * 20_000));
      const server = Bun.spawn(["ip", "netns", "exec", B.ns, "iperf3", "-s", "-1", "-B", B.v4, "-p", port], { stdout: "ignore", stderr: "ignore" });
      scope.add(() => server.kill("SIGKILL"));
      try {
        await waitFor("iperf3 server", async () => (await run(["ss", "-N", B.ns, "-tlnH", `sport = ${port}`], { check: false })).stdout.includes(port), 5000);
        // Each stream paced to 2 Mbit/s (100 Mbit/s in all), for 5 s. Unpaced, 50 streams overload the peer (the
        // Debian wireguard-go carries ~300 Mbit/s on a loaded machine) and TCP, not the daemon, decides who starves:
        // a stream whose retransmissions are lost too backs off for seconds (RTO 0.2, 0.4, 0.8, 1.6, 3.2 s). Under
        // three busy loops, unpaced streams for 2 s left the least at one or two segments with the newest
        // wireguard-go under test as with bunwg, and at 0 bytes once in each of 5 s and 2 s runs of the suite. Paced
        // below what the path carries, a stream left empty means something in the tunnel held it.
        const r = await run(["ip", "netns", "exec", A.ns, "iperf3", "-c", B.v4, "-p", port, "-P", "50", "-b", "2M", "-t", "5", "-J"], { check: false, timeoutMs: 30_000 });
        const j = JSON.parse(r.stdout) as { error?: string; end: { streams: { receiver: { bytes: number } }[]; sum_received: { bits_per_second: number } } };
        expect(j.error).toBeUndefined();
        expect(j.end.streams.length).toBe(50);
        const bytes = j.end.streams.map((s) => s.receiver.bytes);
        console.log(`  ${implName}: 50 streams, ${(j.end.sum_received.bits_per_second / 1e6).toFixed(0)} Mbit/s in all, least ${Math.min(...bytes)} bytes in a stream`);
        expect(bytes.every((b) => b > 0)).toBe(true);
        assertAlive_();
      } finally {
        server.kill("SIGKILL");
      }
    }, 45_000);

    test("private key set to the peer's own: that peer is dropped (as wireguard-go does), no crash; restored after", async () => {
      await wgTool(["set", A.ifname, "private-key", B.keyFile]);
      try {
        expect((await wgTool(["show", A.ifname, "peers"])).stdout.trim()).toBe("");
        expect(await ping(A.ns, B.v4, 2, 1)).toBe(false);
        assertAlive_();
      } finally {
        await wgTool(["set", A.ifname, "private-key", A.keyFile, "peer", B.key.pub, "endpoint", `127.0.0.1:${B.port}`, "allowed-ips", `${B.v4}/32`]);
      }
      await pingUntil(A.ns, B.v4, 10_000);
      expect(await ping(B.ns, A.v4, 2, 2)).toBe(true);
    }, 30_000);

    test("2,000 peers added (wg addconf) and synced away again (wg syncconf) during a flood ping: tunnel up throughout", async () => {
      let conf = "";
      for (let i = 0; i < 2000; i++) {
        const pub = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
        conf += `[Peer]\nPublicKey = ${pub}\nAllowedIPs = 10.${100 + (i >> 8)}.${i & 255}.0/24\nEndpoint = 127.0.0.1:9\n\n`;
      }
      const base = `[Interface]\nPrivateKey = ${A.key.priv}\nListenPort = ${A.port}\n\n[Peer]\nPublicKey = ${B.key.pub}\nAllowedIPs = ${B.v4}/32\nEndpoint = 127.0.0.1:${B.port}\n`;
      const flood = pinger(A.ns, B.v4, "", 15, true);
      try {
        await wgTool(["addconf", A.ifname, scope.file(`many${t}.conf`, conf)]);
        expect((await wgTool(["show", A.ifname, "peers"])).stdout.trim().split("\n").length).toBe(2001);
        expect(await ping(A.ns, B.v4, 2, 2)).toBe(true);
        await wgTool(["syncconf", A.ifname, scope.file(`base${t}.conf`, base)]);
        expect((await wgTool(["show", A.ifname, "peers"])).stdout.trim()).toBe(B.key.pub);
        expect(await ping(A.ns, B.v4, 2, 2)).toBe(true);
        assertAlive_();
      } finally {
        flood.kill();
      }
    }, 30_000);

    test("the interface renamed while traffic flows: still served (socket name unchanged), and renamed back", async () => {
      const back = pinger(B.ns, A.v4, "0.05", 10);
      try {
        await run(["ip", "-n", A.ns, "link", "set", A.ifname, "name", `${A.ifname}r`]);
        try {
          await Bun.sleep(1000);
          assertAlive_();
          expect(await ping(A.ns, B.v4, 2, 2)).toBe(true);
          expect(Number((await wgTool(["show", A.ifname, "listen-port"])).stdout.trim())).toBe(A.port);
        } finally {
          await run(["ip", "-n", A.ns, "link", "set", `${A.ifname}r`, "name", A.ifname], { check: false });
        }
        expect(await ping(B.ns, A.v4, 2, 2)).toBe(true);
      } finally {
        back.kill();
      }
    }, 30_000);

    // Last: before #10 item 1's fix this killed bunwg (EIO from a TUN write while the link is down, taken for a
    // deleted interface), and every later test would have failed with it.
    test("link toggled down/up 10 times with persistent keepalive on while the peer pings: alive, keepalive and tunnel back", async () => {
      await wgTool(["set", A.ifname, "peer", B.key.pub, "persistent-keepalive", "1"]);
      const back = pinger(B.ns, A.v4, "0.02", 15);
      try {
        for (let i = 0; i < 10; i++) {
          await run(["ip", "-n", A.ns, "link", "set", A.ifname, "down"]);
          await Bun.sleep(150);
          assertAlive_();
          await run(["ip", "-n", A.ns, "link", "set", A.ifname, "up"]);
          await Bun.sleep(150);
          assertAlive_();
        }
        back.kill();
        await pingUntil(B.ns, A.v4, 10_000);
        expect(await ping(A.ns, B.v4, 2, 2)).toBe(true);
        // Persistent keepalive still runs: B hears from A with no traffic in the tunnel.
        await Bun.sleep(1200);
        const rx0 = (await peerTransfer(B.ifname, A.key.pub)).rx;
        await waitFor(`a keepalive from ${implName}`, async () => (await peerTransfer(B.ifname, A.key.pub)).rx > rx0, 3000);
      } finally {
        back.kill();
        await wgTool(["set", A.ifname, "peer", B.key.pub, "persistent-keepalive", "off"], { check: false });
      }
    }, 60_000);
  });
}
