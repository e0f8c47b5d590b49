// The invariants a multi-threaded data plane must keep (issue #14), checked from outside against real daemons and
// real peers, once per data-plane thread count (BUNWG_THREADS=1, the single-threaded path, 2 and 3; see THREAD_COUNTS):
//   1. a nonce is never used twice under one key;
//   2. packets of one peer leave in the order they were read, and the inner stream arrives intact;
//   3. the replay window moves only for packets that authenticated (§5.4.6);
//   4. a key rotation or a peer removal under load never seals with a zeroed key, and traffic resumes;
//   5. a daemon stopped under load (SIGTERM, interface deleted, socket removed) exits cleanly.
// Topology for 1–4: bunwg D (interface in namespace …d) has three peers — bunwg P (same thread count), the newest
// wireguard-go W and boringtun B (when installed), each with its interface in a namespace of its own. All UDP sockets
// stay on loopback; every peer's datagrams to and from D pass a relay of its own (relay.ts, 127.0.0.3) whose tap
// records each transport message's (receiver index, counter) in arrival order — on loopback, the order they were sent.
// For 5: one bunwg daemon per stop, flooded both ways by a test peer of our own (support/peer.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { type Direction, Relay } from "./relay.ts";
import { type Daemon, startDaemon } from "../support/daemon.ts";
import { listenPort, pingUntil, udpDrops } from "../support/net.ts";
import { icmpEcho } from "../support/packets.ts";
import { TestPeer } from "../support/peer.ts";
import { tcpTransfer } from "../support/traffic.ts";
import { run, waitFor } from "../support/process.ts";
import { BUNWG, WGGO_LATEST, WG_TS, genKey, isRoot, uniqueTag, wgTool } from "../support/programs.ts";
import { Scope } from "../support/scope.ts";
import { socketPath } from "../../src/uapi/socket.ts";

const BORINGTUN_BIN = join(homedir(), ".cargo", "bin", "boringtun-cli");
const BORINGTUN = existsSync(BORINGTUN_BIN) ? [BORINGTUN_BIN, "--disable-drop-privileges"] : null;
// boringtun would otherwise drop root and lose its own interface, and log to /tmp.
const BORINGTUN_ENV = { WG_SUDO: "1", WG_LOG_LEVEL: "error", WG_LOG_FILE: "/dev/null" };

/** The relay's record of transport messages (type 4, §5.4.6): per direction and receiver index, every counter in
 *  arrival order; optionally copies of the first `keep` messages of each direction, to send again. */
class TransportLog {
  readonly counters: Record<Direction, Map<number, number[]>> = { a2b: new Map(), b2a: new Map() };
  readonly kept: Record<Direction, Uint8Array[]> = { a2b: [], b2a: [] };
  readonly lastReceiver: Record<Direction, number> = { a2b: -1, b2a: -1 };
  constructor(private readonly keep = 0) {}

  readonly tap = (dir: Direction, b: Uint8Array): void => {
    if (b.length < 32 || b[0] !== 4) return;
    const receiver = (b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24)) >>> 0;
    const lo = (b[8] | (b[9] << 8) | (b[10] << 16) | (b[11] << 24)) >>> 0;
    const hi = (b[12] | (b[13] << 8) | (b[14] << 16) | (b[15] << 24)) >>> 0;
    let list = this.counters[dir].get(receiver);
    if (!list) this.counters[dir].set(receiver, (list = []));
    list.push(hi * 2 ** 32 + lo); // exact below 2^53: genuine counters are far below
    this.lastReceiver[dir] = receiver;
    if (this.kept[dir].length < this.keep) this.kept[dir].push(b.slice());
  };

  count(dir: Direction): number {
    let n = 0;
    for (const l of this.counters[dir].values()) n += l.length;
    return n;
  }

  /** (receiver, counter) pairs seen more than once. */
  repeats(dir: Direction): string[] {
    const out: string[] = [];
    for (const [r, l] of this.counters[dir]) {
      const s = Float64Array.from(l).sort();
      for (let i = 1; i < s.length; i++) if (s[i] === s[i - 1]) out.push(`receiver ${r} counter ${s[i]}`);
    }
    return out;
  }

  /** Places where a counter is not above the one before it under the same receiver index. */
  outOfOrder(dir: Direction): string[] {
    const out: string[] = [];
    for (const [r, l] of this.counters[dir]) {
      for (let i = 1; i < l.length; i++) if (l[i] <= l[i - 1]) out.push(`receiver ${r}: #${i} counter ${l[i]} after ${l[i - 1]}`);
    }
    return out;
  }

  latest(dir: Direction, receiver: number): number {
    const l = this.counters[dir].get(receiver) ?? [];
    return l.reduce((m, c) => Math.max(m, c), 0);
  }
}

interface Side { name: string; ns: string; ifname: string; v4: string; key: { priv: string; pub: string }; port: number; d: Daemon; ours: boolean }
interface Link { peer: Side; relay: Relay } // D ↔ peer: the peer is side a of the relay, D (its target) side b

async function ifconfigJson(ifname: string): Promise<any> {
  return JSON.parse((await run([process.execPath, WG_TS, "ifconfig", ifname, "--json"], { timeoutMs: 10_000 })).stdout);
}

/** A bunwg daemon's drop counters: the interface's totals, or one peer's. */
async function drops(ifname: string, peerPub?: string): Promise<Record<string, number>> {
  const j = await ifconfigJson(ifname);
  if (peerPub === undefined) return j.counters.dropped;
  const p = j.peers.find((x: any) => x.wgpeer === peerPub);
  if (!p) throw new Error(`${ifname} has no peer ${peerPub}`);
  return p.counters.dropped;
}

/** iperf3 from fromNs to `addr:port` in toNs (client args added), bounded; resolves with its JSON report. */
async function iperf(scope: Scope, fromNs: string, toNs: string, addr: string, seconds: number, args: string[]): Promise<any> {
  const port = 20_000 + Math.floor(Math.random() * 30_000);
  const server = Bun.spawn(["ip", "netns", "exec", toNs, "iperf3", "-s", "-1", "-B", addr, "-p", String(port)], { stdout: "ignore", stderr: "ignore" });
  scope.add(() => server.kill("SIGKILL"));
  try {
    await waitFor(`iperf3 listening on ${addr}:${port} in ${toNs}`, async () =>
      (await run(["ip", "netns", "exec", toNs, "ss", "-Htln", `sport = :${port}`], { check: false })).stdout.includes(`:${port}`), 5000);
    const r = await run(["ip", "netns", "exec", fromNs, "iperf3", "-c", addr, "-p", String(port), "-t", String(seconds), "-J", "--connect-timeout", "3000", ...args],
      { check: false, timeoutMs: (seconds + 15) * 1000 });
    const report = JSON.parse(r.stdout || "{}");
    if (report.error) throw new Error(`iperf3 ${args.join(" ")} to ${addr} from ${fromNs}: ${report.error}`);
    return report;
  } finally {
    server.kill("SIGKILL");
  }
}

/** A UDP flood from fromNs to addr in toNs until stop() (iperf3, killed). */
async function flood(scope: Scope, fromNs: string, toNs: string, addr: string, rate: string): Promise<() => void> {
  const port = 20_000 + Math.floor(Math.random() * 30_000);
  const server = Bun.spawn(["ip", "netns", "exec", toNs, "iperf3", "-s", "-B", addr, "-p", String(port)], { stdout: "ignore", stderr: "ignore" });
  scope.add(() => server.kill("SIGKILL"));
  await waitFor(`iperf3 listening on ${addr}:${port} in ${toNs}`, async () =>
    (await run(["ip", "netns", "exec", toNs, "ss", "-Htln", `sport = :${port}`], { check: false })).stdout.includes(`:${port}`), 5000);
  const client = Bun.spawn(["ip", "netns", "exec", fromNs, "iperf3", "-c", addr, "-p", String(port), "-u", "-b", rate, "-l", "1300", "-t", "60"], { stdout: "ignore", stderr: "ignore" });
  scope.add(() => client.kill("SIGKILL"));
  return () => { client.kill("SIGKILL"); server.kill("SIGKILL"); };
}

// `bun run test` runs this file with BUNWG_THREADS=1, then 2 (scripts/test.ts). Alone (`bun test` without the
// variable) it runs 1 and 2. The order test also runs with one more thread: two workers, where batches on different
// workers overtake each other unless the pool's lanes keep their order (docs/threads.md).
const envThreads = Number(process.env.BUNWG_THREADS || 0);
const THREAD_COUNTS = envThreads === 0 ? [1, 2] : [envThreads];
const LANES_ONLY = Math.max(...THREAD_COUNTS) > 1 ? Math.max(...THREAD_COUNTS) + 1 : 0;
for (const threads of LANES_ONLY ? [...THREAD_COUNTS, LANES_ONLY] : THREAD_COUNTS) {
  const env = { BUNWG_THREADS: String(threads) };
  const lanesOnly = threads === LANES_ONLY; // only the order test

  describe.skipIf(!isRoot)(`concurrency invariants, BUNWG_THREADS=${threads}`, () => {
    const scope = new Scope();
    const t = uniqueTag();
    const net4 = `10.${parseInt(t.slice(0, 2), 16)}.${parseInt(t.slice(2, 4), 16)}`;
    let D!: Side;
    const links: Link[] = [];
    const bunwgPeer = () => links.find((l) => l.peer.ours)!;

    beforeAll(async () => {
      const mk = async (s: string, host: number, program: string[], ours: boolean, name: string, extraEnv: Record<string, string> = {}): Promise<Side> => {
        const ifname = `bcc${t}${threads}${s}`;
        await scope.netns(ifname);
        const d = await startDaemon(scope, program, ifname, { env: { ...extraEnv, ...(ours ? env : {}) } });
        const key = genKey();
        await wgTool(["set", ifname, "private-key", scope.file(`${ifname}.key`, key.priv + "\n"), "listen-port", "0"]);
        return { name, ns: ifname, ifname, v4: `${net4}.${host}`, key, port: await listenPort(ifname), d, ours };
      };
      D = await mk("d", 1, BUNWG, true, "bunwg");
      const peers = [await mk("p", 2, BUNWG, true, "bunwg")];
      if (WGGO_LATEST) peers.push(await mk("w", 3, WGGO_LATEST, false, "newest wireguard-go"));
      if (BORINGTUN) peers.push(await mk("b", 4, BORINGTUN, false, "boringtun", BORINGTUN_ENV));
      for (const peer of peers) {
        const relay = await Relay.open({ aHost: "127.0.0.3", bHost: "127.0.0.3", target: { host: "127.0.0.1", port: D.port } });
        scope.add(() => relay.close());
        links.push({ peer, relay });
        await wgTool(["set", peer.ifname, "peer", D.key.pub, "endpoint", `127.0.0.3:${relay.portA}`, "allowed-ips", `${D.v4}/32`]);
        await wgTool(["set", D.ifname, "peer", peer.key.pub, "endpoint", `127.0.0.3:${relay.portB}`, "allowed-ips", `${peer.v4}/32`]);
      }
      for (const s of [D, ...peers]) {
        await run(["ip", "link", "set", s.ifname, "netns", s.ns]);
        await run(["ip", "-n", s.ns, "addr", "add", `${s.v4}/24`, "dev", s.ifname]);
        await run(["ip", "-n", s.ns, "link", "set", s.ifname, "up"]);
      }
      // The peer speaks first: the relay learns its address from it (side a), then D's answers reach it.
      for (const peer of peers) await pingUntil(peer.ns, D.v4);
    }, 60_000);
    afterAll(() => scope.close());

    test.skipIf(lanesOnly)("a nonce is never used twice under one key: TCP (4 streams, both ways) and UDP floods to every peer", async () => {
      const record = links.map((l) => { const log = new TransportLog(); l.relay.tap = log.tap; return log; });
      try {
        await Promise.all(links.map((l) => iperf(scope, D.ns, l.peer.ns, l.peer.v4, 2, ["-P", "4"])));
        await Promise.all(links.map((l) => iperf(scope, D.ns, l.peer.ns, l.peer.v4, 2, ["-P", "4", "-R"])));
        await Promise.all(links.map((l) => iperf(scope, D.ns, l.peer.ns, l.peer.v4, 1, ["-u", "-b", "300M", "-l", "1300", "--bidir"])));
      } finally {
        for (const l of links) l.relay.tap = null;
      }
      links.forEach((l, i) => {
        for (const dir of ["a2b", "b2a"] as const) {
          const who = `${dir === "b2a" ? "bunwg D" : l.peer.name} → ${dir === "b2a" ? l.peer.name : "bunwg D"}`;
          expect({ who, repeats: record[i].repeats(dir).slice(0, 5) }).toEqual({ who, repeats: [] });
          // Not vacuous: each direction carried many thousands of transport messages past the relay.
          expect({ who, many: record[i].count(dir) > 5000 }).toEqual({ who, many: true });
        }
      });
      console.log(`threads=${threads} nonces checked: ${links.map((l, i) => `${l.peer.name} ${record[i].count("b2a")} out / ${record[i].count("a2b")} in`).join("; ")}`);
    }, 40_000);

    test("packets of one peer leave in the order they were read; a SHA-256-checked transfer arrives intact", async () => {
      const record = links.map((l) => { const log = new TransportLog(); l.relay.tap = log.tap; return log; });
      try {
        const P = bunwgPeer().peer;
        const results = await Promise.all([
          ...links.map((l) => tcpTransfer(scope, D.ns, l.peer.ns, l.peer.v4, 8 << 20)),
          tcpTransfer(scope, P.ns, D.ns, D.v4, 8 << 20),
          ...links.map((l) => iperf(scope, D.ns, l.peer.ns, l.peer.v4, 1, ["-u", "-b", "200M", "-l", "1300"])),
        ]);
        for (const r of results.slice(0, links.length + 1)) expect(r.reply).toBe(`${r.sent} ${r.hash}`);
      } finally {
        for (const l of links) l.relay.tap = null;
      }
      // Order is checked where bunwg seals: everything D sends, and what P (bunwg) sends to D.
      links.forEach((l, i) => {
        const dirs: Direction[] = l.peer.ours ? ["b2a", "a2b"] : ["b2a"];
        for (const dir of dirs) {
          const who = dir === "b2a" ? `bunwg D → ${l.peer.name}` : `bunwg P → D`;
          expect({ who, outOfOrder: record[i].outOfOrder(dir).slice(0, 5) }).toEqual({ who, outOfOrder: [] });
          // 8 MiB is ~6,000 full datagrams; fewer than half means the check saw too little to mean anything.
          expect({ who, many: record[i].count(dir) > 3000 }).toEqual({ who, many: true });
        }
      });
    }, 40_000);

    test.skipIf(lanesOnly)("forged transport packets with counters far ahead do not move the replay window; genuine ones sent again are replays", async () => {
      for (const l of links) {
        const log = new TransportLog(300);
        l.relay.tap = log.tap;
        const peerPub = l.peer.key.pub;
        try {
          const before = await drops(D.ifname, peerPub);
          const udp0 = udpDrops(D.port);
          // Genuine traffic from the peer to D: 300 pings 5 ms apart, and forgeries among them for its live index.
          const pinging = run(["ip", "netns", "exec", l.peer.ns, "ping", "-n", "-q", "-c", "300", "-i", "0.005", "-W", "1", D.v4], { check: false, timeoutMs: 20_000 });
          await waitFor(`transport messages from ${l.peer.name}`, () => log.count("a2b") > 20, 5000);
          // Counters just ahead, far ahead, and beyond 2^53 (where our REJECT_AFTER_MESSAGES lies, src/noise/constants.ts:
          // those may be refused before opening, counted as replays); garbage in place of ciphertext and tag.
          let forged = 0, huge = 0;
          const garbage = new Uint8Array(16 + 96 + 16);
          const view = new DataView(garbage.buffer);
          for (let round = 0; round < 30; round++) {
            const receiver = log.lastReceiver.a2b;
            const current = BigInt(log.latest("a2b", receiver));
            for (const counter of [current + 1n, current + 2n, current + 10_000n + BigInt(round), 2n ** 52n + BigInt(round), 2n ** 60n + BigInt(round), 2n ** 64n - 1n - BigInt(round)]) {
              crypto.getRandomValues(garbage);
              garbage.set([4, 0, 0, 0], 0);
              view.setUint32(4, receiver, true);
              view.setBigUint64(8, counter, true);
              l.relay.sendToTarget(garbage);
              forged++;
              if (counter >= 2n ** 53n) huge++;
            }
            await Bun.sleep(30);
          }
          const r = await pinging;
          // If a forged counter had moved the window, genuine packets after it would be refused as replays.
          expect({ peer: l.peer.name, ping: r.stdout.match(/(\d+) received/)?.[1] }).toEqual({ peer: l.peer.name, ping: "300" });
          const lost = udpDrops(D.port) - udp0;
          let after = await drops(D.ifname, peerPub);
          await waitFor("every forgery counted at D", async () => {
            after = await drops(D.ifname, peerPub);
            return after.bad_mac - before.bad_mac + after.replay - before.replay + lost >= forged;
          }, 3000).catch(() => {});
          const badMac = after.bad_mac - before.bad_mac, replay = after.replay - before.replay;
          // Every forgery dropped, none of them counted twice, and no genuine packet refused as a replay: replays only
          // among the counters beyond 2^53, bad MACs for all the others.
          expect({ peer: l.peer.name, forged, dropped: badMac + replay + lost >= forged, replayOnlyHuge: replay <= huge, badMacAtLeast: badMac + lost >= forged - huge, badMacAtMost: badMac <= forged })
            .toEqual({ peer: l.peer.name, forged, dropped: true, replayOnlyHuge: true, badMacAtLeast: true, badMacAtMost: true });
          // Genuine messages captured on the way, sent again from the relay: each refused as a replay.
          const genuine = log.kept.a2b.filter((m) => m.length > 32);
          expect(genuine.length).toBeGreaterThan(100);
          const mid = after;
          for (const m of genuine) l.relay.sendToTarget(m);
          await waitFor(`${genuine.length} replays counted at D`, async () => (after = await drops(D.ifname, peerPub)).replay - mid.replay >= genuine.length, 5000);
          expect({ peer: l.peer.name, replay: after.replay - mid.replay, bad_mac: after.bad_mac - mid.bad_mac })
            .toEqual({ peer: l.peer.name, replay: genuine.length, bad_mac: 0 });
        } finally {
          l.relay.tap = null;
        }
      }
    }, 40_000);

    test.skipIf(lanesOnly)("peer removal and key rotation under a flood: the receiver never sees a bad MAC, traffic resumes each time", async () => {
      const { peer: P, relay } = bunwgPeer();
      const bad0 = (await drops(P.ifname)).bad_mac;
      const rx0 = (await ifconfigJson(P.ifname)).counters.rx_packets as number;
      const log = new TransportLog();
      relay.tap = log.tap;
      const stop = await flood(scope, D.ns, P.ns, P.v4, "300M");
      let dKey = D.key;
      try {
        await Bun.sleep(300);
        for (let i = 0; i < 6; i++) {
          if (i % 2 === 0) {
            // D forgets P mid-flood (its sessions erased) and learns it again: a new handshake.
            await wgTool(["set", D.ifname, "peer", P.key.pub, "remove"]);
            await Bun.sleep(50);
            await wgTool(["set", D.ifname, "peer", P.key.pub, "endpoint", `127.0.0.3:${relay.portB}`, "allowed-ips", `${P.v4}/32`]);
          } else {
            // D gets a new private key (all its sessions erased); P learns D's new public key first.
            const next = genKey();
            await wgTool(["set", P.ifname, "peer", next.pub, "endpoint", `127.0.0.3:${relay.portA}`, "allowed-ips", `${D.v4}/32`]);
            await wgTool(["set", D.ifname, "private-key", scope.file(`${D.ifname}.key${i}`, next.priv + "\n")]);
            await wgTool(["set", P.ifname, "peer", dKey.pub, "remove"]);
            dKey = next;
          }
          const rx = (await ifconfigJson(P.ifname)).counters.rx_packets as number;
          await pingUntil(D.ns, P.v4, 10_000);
          await waitFor("the flood reaching P again", async () => (await ifconfigJson(P.ifname)).counters.rx_packets > rx + 1000, 10_000);
        }
      } finally {
        stop();
        relay.tap = null;
      }
      // Each change made D start a session anew (a receiver index of P's it had not used), under which it sent.
      expect(log.counters.b2a.size).toBeGreaterThanOrEqual(7);
      expect(log.repeats("b2a")).toEqual([]);
      expect(log.outOfOrder("b2a")).toEqual([]);
      // A packet sealed under a zeroed (or any wrong) key fails authentication at P and is counted there.
      expect((await drops(P.ifname)).bad_mac - bad0).toBe(0);
      expect((await ifconfigJson(P.ifname)).counters.rx_packets - rx0).toBeGreaterThan(10_000);
    }, 60_000);
  });

  describe.skipIf(!isRoot || lanesOnly)(`shutdown under a flood, BUNWG_THREADS=${threads}`, () => {
    const scope = new Scope();
    const t = uniqueTag();
    const net4 = `10.${parseInt(t.slice(0, 2), 16)}.${parseInt(t.slice(2, 4), 16)}`;
    const ns = `bcs${t}${threads}`;
    beforeAll(async () => { await scope.netns(ns); }, 10_000);
    afterAll(() => scope.close());

    const STOPS: [string, (ifname: string, pid: number) => unknown][] = [
      ["SIGTERM", (_ifname, pid) => process.kill(pid, "SIGTERM")],
      ["ip link del", (ifname) => run(["ip", "-n", ns, "link", "del", ifname], { check: false })],
      ["socket file removed", (ifname) => rmSync(socketPath(ifname), { force: true })],
    ];

    /** One daemon flooded both ways: the test peer seals ICMP echo requests to the daemon's address as fast as it
     *  can, the daemon opens and writes them, the kernel answers, the daemon seals the replies back. */
    async function flooded(k: number) {
      const ifname = `bcs${t}${threads}${k.toString().padStart(2, "0")}`;
      const me = `${net4}.${4 * k + 1}`, them = `${net4}.${4 * k + 2}`;
      const d = await startDaemon(scope, BUNWG, ifname, { env });
      const key = genKey();
      await wgTool(["set", ifname, "private-key", scope.file(`${ifname}.key`, key.priv + "\n"), "listen-port", "0"]);
      const T = await TestPeer.open("127.0.0.2", await listenPort(ifname), key.pub);
      scope.add(() => T.close());
      await wgTool(["set", ifname, "peer", T.publicKeyBase64, "allowed-ips", `${them}/32`]);
      await run(["ip", "link", "set", ifname, "netns", ns]);
      await run(["ip", "-n", ns, "addr", "add", `${me}/30`, "dev", ifname]);
      await run(["ip", "-n", ns, "link", "set", ifname, "up"]);
      // The daemon learns of `up` from the kernel a moment later, and drops what arrives before: initiate again.
      for (let attempt = 1; ; attempt++) {
        try {
          await T.establish(1500);
          break;
        } catch (e) {
          if (attempt === 4) throw e;
        }
      }
      let running = true, replies = 0;
      const echo = icmpEcho(them, me, k, 1, 1200);
      const loop = (async () => {
        while (running) {
          const batch: Uint8Array[] = [];
          try {
            for (let i = 0; i < 64; i++) batch.push(T.seal(echo));
            T.sendMany(batch);
          } catch { /* the daemon went away */ }
          replies += T.received.length;
          T.sent.length = 0;
          T.received.length = 0;
          await Bun.sleep(1);
        }
      })();
      // Under way: the daemon's sealed replies are coming back.
      await waitFor(`${ifname} answering the flood`, () => replies > 200, 10_000);
      return { d, ifname, stop: async () => { running = false; await loop; T.close(); } };
    }

    test("SIGTERM, interface deleted, socket removed — 10 times each under a flood: every exit is clean (0) within 5 s", async () => {
      const exits: number[] = [];
      for (let round = 0; round < 10; round++) {
        for (const [j, [how, stop]] of STOPS.entries()) {
          const k = round * STOPS.length + j;
          const f = await flooded(k);
          try {
            await Bun.sleep(100);
            const at = performance.now();
            await stop(f.ifname, f.d.pid);
            const code = await Promise.race([f.d.proc.exited, Bun.sleep(5000).then(() => "timeout" as const)]);
            const ms = Math.round(performance.now() - at);
            const log = readFileSync(f.d.log, "utf8");
            const crash = log.match(/segmentation fault|panic|bun has crashed|sigsegv|sigbus|sigabrt|core dumped|use after free/i)?.[0] ?? null;
            const outcome = { how, round, code, signal: f.d.proc.signalCode ?? null, crash };
            expect(outcome).toEqual({ how, round, code: 0, signal: null, crash: null });
            exits.push(ms);
            // And it left nothing: no configuration socket, no interface.
            await waitFor(`${f.ifname} gone after ${how}`, async () =>
              !existsSync(socketPath(f.ifname)) && (await run(["ip", "-n", ns, "link", "show", f.ifname], { check: false })).code !== 0, 3000);
          } finally {
            await f.stop();
          }
        }
      }
      expect(exits.length).toBe(30);
      console.log(`threads=${threads}: ${exits.length} clean exits, the slowest after ${Math.max(...exits)} ms`);
    }, 120_000);
  });
}
