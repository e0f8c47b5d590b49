// Operator faults in the daemon's own network namespace: its loopback taken down, its route to a peer removed, a
// second, better route to the peer added and removed; and the link state at start (keepalive configured before
// `up`, the private key arriving after `up`). The implementation under test (A: bunwg, then the newest
// wireguard-go) runs in namespace NA, with two peers, both wireguard-go: B in namespace NB, reached over one of two
// veth links, and Q in NA itself, reached over NA's loopback (its interface moved to namespace NQ).
//
//   NA: A (socket *:PA) ── veth 198.18.1.1 ─── 198.18.1.2 ── NB: B (socket *:PB on 198.18.3.2, an address on lo)
//       Q (socket *:PQ)  ── veth 198.18.2.1 ─── 198.18.2.2 ──
//   NA's route to 198.18.3.0/24 goes via 198.18.1.2; a /32 via 198.18.2.2 is the better route.
// All addresses live in namespaces made here.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Daemon, assertAlive, startDaemon } from "../support/daemon.ts";
import { listenPort, peerField, peerTransfer, ping, pingUntil } from "../support/net.ts";
import { run, waitFor } from "../support/process.ts";
import { IMPLEMENTATIONS, PEER_NAME, PEER_PROGRAM, genKey, isRoot, uniqueTag, wgTool } from "../support/programs.ts";
import { Scope } from "../support/scope.ts";

interface Side { ns: string; ifname: string; v4: string; key: { priv: string; pub: string }; port: number; d: Daemon }

const B_UNDERLAY = "198.18.3.2";

for (const [implName, program] of IMPLEMENTATIONS) {
  describe.skipIf(!isRoot)(`operator faults in the daemon's namespace, ${implName} (peers: ${PEER_NAME})`, () => {
    const scope = new Scope();
    const t = uniqueTag();
    const NA = `bwo${t}a`, NB = `bwo${t}b`, NQ = `bwo${t}q`;
    let A!: Side, B!: Side, Q!: Side;
    const pinger = (ns: string, addr: string, seconds: number) => {
      const p = Bun.spawn(["ip", "netns", "exec", ns, "ping", "-n", "-q", "-i", "0.1", "-w", String(seconds), addr], { stdout: "ignore", stderr: "ignore" });
      scope.add(() => p.kill("SIGKILL"));
      return p;
    };
    /** A daemon of `prog` started in namespace ns (its TUN and UDP socket are made there), with a fresh key. */
    const side = async (s: string, prog: string[], v4: string, opts: { key?: boolean; ns?: string } = {}): Promise<Side> => {
      const ifname = `bwo${t}${s}`;
      const ns = opts.ns ?? NA;
      const d = await startDaemon(scope, prog, ifname, { netns: ns });
      const key = genKey();
      await wgTool(["set", ifname, "listen-port", "0", ...(opts.key === false ? [] : ["private-key", scope.file(`${ifname}.key`, key.priv + "\n")])]);
      return { ns, ifname, v4, key, port: await listenPort(ifname), d };
    };
    const up = async (s: Side, ns: string) => {
      if (ns !== s.ns) await run(["ip", "-n", s.ns, "link", "set", s.ifname, "netns", ns]);
      s.ns = ns;
      await run(["ip", "-n", ns, "addr", "add", `${s.v4}/24`, "dev", s.ifname]);
      await run(["ip", "-n", ns, "link", "set", s.ifname, "up"]);
    };

    beforeAll(async () => {
      for (const ns of [NA, NB, NQ]) await scope.netns(ns);
      // Replies to B may leave by the other link than B's packets came in on: no reverse-path filter.
      for (const ns of [NA, NB]) await run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"]);
      for (const l of [1, 2]) {
        await run(["ip", "link", "add", `bwo${t}v${l}`, "netns", NA, "type", "veth", "peer", "name", `bwo${t}w${l}`, "netns", NB]);
        await run(["ip", "-n", NA, "addr", "add", `198.18.${l}.1/24`, "dev", `bwo${t}v${l}`]);
        await run(["ip", "-n", NB, "addr", "add", `198.18.${l}.2/24`, "dev", `bwo${t}w${l}`]);
        await run(["ip", "-n", NA, "link", "set", `bwo${t}v${l}`, "up"]);
        await run(["ip", "-n", NB, "link", "set", `bwo${t}w${l}`, "up"]);
      }
      await run(["ip", "-n", NB, "addr", "add", `${B_UNDERLAY}/32`, "dev", "lo"]);
      await run(["ip", "-n", NA, "route", "add", "198.18.3.0/24", "via", "198.18.1.2"]);
      A = await side("a", program, "10.9.0.1");
      Q = await side("q", PEER_PROGRAM, "10.9.0.3");
      B = await side("b", PEER_PROGRAM, "10.9.0.2", { ns: NB });
      await wgTool(["set", A.ifname, "peer", B.key.pub, "endpoint", `${B_UNDERLAY}:${B.port}`, "allowed-ips", `${B.v4}/32`]);
      await wgTool(["set", A.ifname, "peer", Q.key.pub, "endpoint", `127.0.0.1:${Q.port}`, "allowed-ips", `${Q.v4}/32`]);
      await wgTool(["set", B.ifname, "peer", A.key.pub, "endpoint", `198.18.1.1:${A.port}`, "allowed-ips", `${A.v4}/32`]);
      await wgTool(["set", Q.ifname, "peer", A.key.pub, "endpoint", `127.0.0.1:${A.port}`, "allowed-ips", `${A.v4}/32`]);
      await up(A, NA);
      await up(B, NB);
      await up(Q, NQ);
      await pingUntil(NA, B.v4);
      await pingUntil(NA, Q.v4);
    }, 90_000);
    afterAll(async () => { await scope.close(); });

    test("the route to the peer removed and restored: sends fail meanwhile, the daemon stays, the tunnel comes back", async () => {
      await run(["ip", "-n", NA, "route", "del", "198.18.3.0/24"]);
      try {
        expect(await ping(NA, B.v4, 2, 1)).toBe(false); // the fault is real: A cannot reach B's address
        expect(await ping(NB, A.v4, 2, 1)).toBe(false); // B's packets arrive, A's answers cannot leave
        assertAlive(A.d);
        expect(await ping(NQ, A.v4, 2, 1)).toBe(true); // the loopback peer is not affected
      } finally {
        await run(["ip", "-n", NA, "route", "add", "198.18.3.0/24", "via", "198.18.1.2"], { check: false });
      }
      await pingUntil(NA, B.v4, 15_000);
      expect(await ping(NB, A.v4, 2, 2)).toBe(true);
    }, 45_000);

    test("the namespace's loopback taken down and up again: the loopback peer's tunnel stops and comes back, the other stays", async () => {
      await run(["ip", "-n", NA, "link", "set", "lo", "down"]);
      try {
        expect(await ping(NQ, A.v4, 2, 1)).toBe(false); // the fault is real: A and Q talk over NA's loopback
        expect(await ping(NB, A.v4, 2, 2)).toBe(true);
        assertAlive(A.d);
      } finally {
        await run(["ip", "-n", NA, "link", "set", "lo", "up"], { check: false });
      }
      await pingUntil(NQ, A.v4, 15_000);
      expect(await ping(NA, Q.v4, 2, 2)).toBe(true);
      assertAlive(A.d);
    }, 45_000);

    // #10 item 6: a cached source address must be re-resolved when the routing changes. The peer does the talking
    // (B pings A every 100 ms; A only answers), so A's source can only come from a re-resolution, not from a packet
    // of its own that happened to go first. Found here: each packet B sent to A's old address used to pin that
    // address again, unchecked against the route that now leaves through the other link (device.ts checkSource).
    test("a second, better route to the peer added and removed while the peer talks: the peer records each new source of ours", async () => {
      const p = pinger(NB, A.v4, 15);
      const endpointAtB = () => peerField(B.ifname, A.key.pub, 2);
      try {
        await waitFor(`${PEER_NAME} to see ${implName} at 198.18.1.1`, async () => (await endpointAtB()) === `198.18.1.1:${A.port}`, 5000);
        await run(["ip", "-n", NA, "route", "add", `${B_UNDERLAY}/32`, "via", "198.18.2.2"]);
        try {
          await waitFor(`${PEER_NAME} to see ${implName} at 198.18.2.1 (the better route's source)`, async () => (await endpointAtB()) === `198.18.2.1:${A.port}`, 5000);
        } finally {
          await run(["ip", "-n", NA, "route", "del", `${B_UNDERLAY}/32`], { check: false });
        }
        await waitFor(`${PEER_NAME} to see ${implName} at 198.18.1.1 again`, async () => (await endpointAtB()) === `198.18.1.1:${A.port}`, 5000);
        expect(await ping(NB, A.v4, 2, 2)).toBe(true);
      } finally {
        p.kill();
      }
    }, 45_000);

    // The same after a fwmark change, as wireguard-go does it: marked packets go by table 77, whose route to B is via
    // the second link. bunwg applies the mark (a blackhole in table 77 stops its packets) and re-checks its sources
    // on the change, but fails as above.
    test("fwmark set, with a rule routing marked packets over the second link, while the peer talks: the peer records that link's source; fwmark off: back", async () => {
      const p = pinger(NB, A.v4, 15);
      const endpointAtB = () => peerField(B.ifname, A.key.pub, 2);
      await run(["ip", "-n", NA, "route", "add", `${B_UNDERLAY}/32`, "via", "198.18.2.2", "table", "77"]);
      await run(["ip", "-n", NA, "rule", "add", "fwmark", "0x77", "lookup", "77"]);
      try {
        await waitFor(`${PEER_NAME} to see ${implName} at 198.18.1.1`, async () => (await endpointAtB()) === `198.18.1.1:${A.port}`, 5000);
        await wgTool(["set", A.ifname, "fwmark", "0x77"]);
        await waitFor(`${PEER_NAME} to see ${implName} at 198.18.2.1 (the marked packets' route)`, async () => (await endpointAtB()) === `198.18.2.1:${A.port}`, 5000);
        await wgTool(["set", A.ifname, "fwmark", "0"]);
        await waitFor(`${PEER_NAME} to see ${implName} at 198.18.1.1 again`, async () => (await endpointAtB()) === `198.18.1.1:${A.port}`, 5000);
        expect(await ping(NB, A.v4, 2, 2)).toBe(true);
      } finally {
        p.kill();
        await wgTool(["set", A.ifname, "fwmark", "0"], { check: false });
        await run(["ip", "-n", NA, "rule", "del", "fwmark", "0x77", "lookup", "77"], { check: false });
        await run(["ip", "-n", NA, "route", "flush", "table", "77"], { check: false });
      }
    }, 45_000);

    // #10 item 5 (bunwg): the device follows the link state, as wg(4) and the kernel do. Not shared with the newest
    // wireguard-go, measured here: it sent an initiation and keepalives (212 bytes) while its link was still down, and
    // nothing within 3 s of a private key arriving on an up link; so these two run on bunwg only.
    const bunwgOnly = implName === "bunwg" ? test : test.skip;
    bunwgOnly("keepalive configured before `up`: nothing sent while the link is down, a handshake at once on `up`", async () => {
      const C = await side("c", program, "10.9.0.4");
      await wgTool(["set", B.ifname, "peer", C.key.pub, "allowed-ips", `${C.v4}/32`]);
      try {
        await wgTool(["set", C.ifname, "peer", B.key.pub, "endpoint", `${B_UNDERLAY}:${B.port}`, "allowed-ips", `${B.v4}/32`, "persistent-keepalive", "1"]);
        await Bun.sleep(1500);
        expect(await peerTransfer(B.ifname, C.key.pub)).toEqual({ rx: 0, tx: 0 });
        await run(["ip", "-n", NA, "link", "set", C.ifname, "up"]);
        await waitFor(`${PEER_NAME}'s handshake with ${implName} after up`, async () => Number(await peerField(B.ifname, C.key.pub, 4)) > 0, 3000);
      } finally {
        await wgTool(["set", B.ifname, "peer", C.key.pub, "remove"], { check: false });
      }
    }, 30_000);

    bunwgOnly("private key set after `up` on a peer with keepalive: a handshake at once", async () => {
      const E = await side("e", program, "10.9.0.5", { key: false });
      await wgTool(["set", B.ifname, "peer", E.key.pub, "allowed-ips", `${E.v4}/32`]);
      try {
        await wgTool(["set", E.ifname, "peer", B.key.pub, "endpoint", `${B_UNDERLAY}:${B.port}`, "allowed-ips", `${B.v4}/32`, "persistent-keepalive", "1"]);
        await run(["ip", "-n", NA, "link", "set", E.ifname, "up"]);
        await Bun.sleep(1000);
        expect(await peerTransfer(B.ifname, E.key.pub)).toEqual({ rx: 0, tx: 0 });
        await wgTool(["set", E.ifname, "private-key", scope.file(`${E.ifname}.key`, E.key.priv + "\n")]);
        await waitFor(`${PEER_NAME}'s handshake with ${implName} after its private key`, async () => Number(await peerField(B.ifname, E.key.pub, 4)) > 0, 3000);
      } finally {
        await wgTool(["set", B.ifname, "peer", E.key.pub, "remove"], { check: false });
      }
    }, 30_000);
  });
}
