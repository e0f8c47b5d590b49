// The interface's link state and MTU, as an operator changes them. A daemon under test (D) and a peer daemon (W)
// carry a tunnel; both daemons and their UDP sockets run here on loopback, their interfaces are moved into
// namespaces of their own (the seed's `rdomain`), and W's traffic passes a relay (127.0.0.3) that captures the
// outer datagrams. A test peer of our own (T, 127.0.0.2) records whatever a daemon sends it.
// Checked: `ip link set down` while the peer sends (the daemon lives on, traffic resumes after up); nothing is sent
// before `ip link set up`; the first packet after a move and up starts the handshake while the daemon's link thread
// is held frozen; a private key arriving on an up link starts persistent keepalive at once; the MTU in
// force bounds the padding (wg-quick's 1380, a change to 1412, and a jumbo 9000 which gets padding above 1420).
// Where the newest wireguard-go behaves the same on this kernel, the same assertion runs against it; where it does
// not (on Linux 6.x its zero-length-write probe reports a down TUN as up, and it cannot see an interface's MTU once
// the interface left its namespace) that is said at the test.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";
import { Relay } from "./relay.ts";
import { Tun } from "../../src/device/tun.ts";
import { type Daemon, startDaemon } from "../support/daemon.ts";
import { ping, pingUntil } from "../support/net.ts";
import { TestPeer } from "../support/peer.ts";
import { run, waitFor } from "../support/process.ts";
import { BUNWG, IMPLEMENTATIONS, WGGO_LATEST, genKey, isRoot, uniqueTag, wgTool } from "../support/programs.ts";
import { Scope, alive } from "../support/scope.ts";
import { SOCKET_DIR, socketPath } from "../../src/uapi/socket.ts";

interface Side { ns: string; ifname: string; v4: string; key: { priv: string; pub: string }; port: number; d: Daemon }

const PROGRAMS = IMPLEMENTATIONS;
const FREEZER = "/sys/fs/cgroup/freezer"; // cgroup v1's freezer, which takes single threads (the link-lag test)
const TRANSPORT_OVERHEAD = 32; // 16-byte transport header + 16-byte tag (whitepaper §5.4.6)

/** A daemon of `program` on loopback with a private key, its interface moved into a namespace of its own. */
async function side(scope: Scope, program: string[], name: string, v4: string, opts: { key?: boolean; move?: boolean } = {}): Promise<Side> {
  await scope.netns(name);
  const d = await startDaemon(scope, program, name);
  const key = genKey();
  if (opts.key ?? true) await wgTool(["set", name, "private-key", scope.file(`${name}.key`, key.priv + "\n"), "listen-port", "0"]);
  else await wgTool(["set", name, "listen-port", "0"]);
  const port = Number((await wgTool(["show", name, "listen-port"])).stdout.trim());
  const s = { ns: name, ifname: name, v4, key, port, d };
  if (opts.move ?? true) await moveAndUp(s, { up: false });
  return s;
}

async function moveAndUp(s: Side, opts: { up?: boolean; mtu?: number } = {}): Promise<void> {
  await run(["ip", "link", "set", s.ifname, "netns", s.ns]);
  await run(["ip", "-n", s.ns, "addr", "add", `${s.v4}/24`, "dev", s.ifname]);
  if (opts.mtu) await run(["ip", "-n", s.ns, "link", "set", s.ifname, "mtu", String(opts.mtu)]);
  if (opts.up ?? true) await run(["ip", "-n", s.ns, "link", "set", s.ifname, "up"]);
}

/** D (program) and W (bunwg) joined through a relay, both up; resolves once a ping went through. */
async function tunnel(scope: Scope, program: string[]): Promise<{ D: Side; W: Side; relay: Relay; net4: string }> {
  const t = uniqueTag();
  const n = parseInt(t.slice(0, 2), 16), m = parseInt(t.slice(2, 4), 16);
  const net4 = `10.${n}.${m}`;
  const D = await side(scope, program, `bwl${t}d`, `${net4}.1`);
  const W = await side(scope, BUNWG, `bwl${t}w`, `${net4}.2`);
  const relay = await Relay.open({ aHost: "127.0.0.3", bHost: "127.0.0.3", target: { host: "127.0.0.1", port: D.port } });
  scope.add(() => relay.close());
  await wgTool(["set", W.ifname, "peer", D.key.pub, "endpoint", `127.0.0.3:${relay.portA}`, "allowed-ips", `${D.v4}/32`]);
  await wgTool(["set", D.ifname, "peer", W.key.pub, "endpoint", `127.0.0.3:${relay.portB}`, "allowed-ips", `${W.v4}/32`]);
  for (const s of [D, W]) await run(["ip", "-n", s.ns, "link", "set", s.ifname, "up"]);
  await pingUntil(W.ns, D.v4);
  return { D, W, relay, net4 };
}

/** Transport messages (type 4) among datagrams: their plaintext lengths (padded inner packet). */
function plaintextLengths(datagrams: Uint8Array[]): number[] {
  return datagrams.filter((p) => p[0] === 4 && p.length > TRANSPORT_OVERHEAD).map((p) => p.length - TRANSPORT_OVERHEAD);
}

describe.skipIf(!isRoot)("the interface's link state and MTU", () => {
  test("a TUN write while the link is down is dropped and counted; the interface lives on", () => {
    const t = uniqueTag();
    const tun = Tun.create(`bwl${t}x`);
    try {
      // A fresh interface is down: Linux refuses writes with EIO.
      const pkt = new Uint8Array(28);
      pkt.set([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
      const buf = new Uint8Array(64);
      buf.set(pkt);
      expect(tun.writeBatch(buf, Uint32Array.of(0), Uint32Array.of(28), 1)).toBe(0);
      expect(tun.dropped).toBe(1);
      expect(tun.gone).toBe(false);
    } finally {
      tun.close();
    }
  });

  for (const [name, program] of PROGRAMS) {
    test(`${name}: link down while the peer sends, toggled 10 times with persistent keepalive on: the daemon lives, traffic resumes after up`, async () => {
      const scope = new Scope();
      try {
        const { D, W } = await tunnel(scope, program);
        await wgTool(["set", D.ifname, "peer", W.key.pub, "persistent-keepalive", "1"]);
        // The peer has a session and keeps sending while D's interface is down: D's writes to it fail (EIO).
        const flood = Bun.spawn(["ip", "netns", "exec", W.ns, "ping", "-n", "-i", "0.02", "-W", "1", "-w", "8", D.v4], { stdout: "ignore", stderr: "ignore" });
        scope.add(() => flood.kill("SIGKILL"));
        for (let i = 0; i < 10; i++) {
          await run(["ip", "-n", D.ns, "link", "set", D.ifname, "down"]);
          await Bun.sleep(i === 0 ? 1500 : 150);
          expect(alive(D.d.pid)).toBe(true);
          await run(["ip", "-n", D.ns, "link", "set", D.ifname, "up"]);
          await Bun.sleep(100);
        }
        flood.kill("SIGKILL");
        expect(alive(D.d.pid)).toBe(true);
        expect(existsSync(socketPath(D.ifname))).toBe(true);
        await pingUntil(W.ns, D.v4, 10_000);
        expect(await ping(D.ns, W.v4, 3)).toBe(true);
      } finally {
        await scope.close();
      }
    }, 60_000);
  }

  // The newest wireguard-go sends here too: on Linux 6.x its probe (a zero-length TUN write, EIO = down) gets EINVAL
  // while the link is down, so it counts itself up from the start (seen: one 148-byte initiation before up).
  test("bunwg: with key, peer, endpoint and persistent keepalive set while the link is down, nothing is sent before `ip link set up`; at up the handshake starts at once", async () => {
    const scope = new Scope();
    try {
      const t = uniqueTag();
      const D = await side(scope, BUNWG, `bwl${t}d`, `10.${parseInt(t.slice(0, 2), 16)}.1.1`, { move: false });
      const T = await TestPeer.open("127.0.0.2", D.port, D.key.pub);
      scope.add(() => T.close());
      await wgTool(["set", D.ifname, "peer", T.publicKeyBase64, "endpoint", `127.0.0.2:${T.port}`, "persistent-keepalive", "1", "allowed-ips", "10.255.255.2/32"]);
      await Bun.sleep(2500);
      expect(T.received.map((p) => p.length)).toEqual([]);
      const upAt = performance.now();
      await moveAndUp(D);
      await waitFor("an initiation after up", () => T.received.some((p) => p[0] === 1 && p.length === 148), 1500);
      expect(performance.now() - upAt).toBeLessThan(1500);
    } finally {
      await scope.close();
    }
  }, 30_000);

  // The link thread learns of a move and of `ip link set up` from netlink messages and must then be scheduled; on a
  // loaded machine that took 15-50 ms (seen in CI: a first ping dropped as "link down", its handshake never started).
  // Here the thread is frozen (cgroup v1 freezer, which takes single threads) from before the move until the end: the
  // packet read after up must still start the handshake (device.ts linkUpNow asks the kernel on its own thread).
  test.skipIf(!existsSync(`${FREEZER}/tasks`))("bunwg: the first packet after a move and `ip link set up` starts the handshake even while the link thread lags", async () => {
    const scope = new Scope();
    try {
      const t = uniqueTag();
      const net = `10.${parseInt(t.slice(0, 2), 16)}.3`;
      const D = await side(scope, BUNWG, `bwl${t}d`, `${net}.1`, { move: false });
      const T = await TestPeer.open("127.0.0.2", D.port, D.key.pub);
      scope.add(() => T.close());
      await wgTool(["set", D.ifname, "peer", T.publicKeyBase64, "endpoint", `127.0.0.2:${T.port}`, "allowed-ips", `${net}.2/32`]);
      const tasks = readdirSync(`/proc/${D.d.pid}/task`);
      const tid = tasks.find((task) => readFileSync(`/proc/${D.d.pid}/task/${task}/comm`, "utf8").trim() === "bunwg-link");
      if (tid === undefined) throw new Error(`no thread named bunwg-link among ${D.ifname}'s daemon's ${tasks.length}`);
      const freezer = `${FREEZER}/bwl${t}`;
      mkdirSync(freezer);
      scope.add(() => rmdirSync(freezer));
      writeFileSync(`${freezer}/tasks`, tid);
      scope.add(() => {
        writeFileSync(`${freezer}/freezer.state`, "THAWED");
        writeFileSync(`${FREEZER}/tasks`, tid); // back to the root group, so the directory can go
      });
      writeFileSync(`${freezer}/freezer.state`, "FROZEN");
      await moveAndUp(D);
      await run(["ip", "netns", "exec", D.ns, "ping", "-n", "-c", "1", "-W", "1", `${net}.2`], { check: false, timeoutMs: 5000 });
      await waitFor("an initiation for the packet read after up", () => T.received.some((p) => p[0] === 1 && p.length === 148), 1500);
      expect(readFileSync(`${freezer}/freezer.state`, "utf8").trim()).toBe("FROZEN"); // it lagged throughout
    } finally {
      await scope.close();
    }
  }, 30_000);

  // Not asserted against the newest wireguard-go: it sends its first initiation before the key (see above) and,
  // that one failing, nothing when the key arrives (seen: silence for 7 s).
  test("bunwg: the private key arriving on an up link with a persistent-keepalive peer starts the handshake at once", async () => {
    const scope = new Scope();
    try {
      const t = uniqueTag();
      const D = await side(scope, BUNWG, `bwl${t}d`, `10.${parseInt(t.slice(0, 2), 16)}.2.1`, { key: false, move: false });
      const key = genKey();
      const T = await TestPeer.open("127.0.0.2", D.port, key.pub);
      scope.add(() => T.close());
      await wgTool(["set", D.ifname, "peer", T.publicKeyBase64, "endpoint", `127.0.0.2:${T.port}`, "persistent-keepalive", "1", "allowed-ips", "10.255.255.2/32"]);
      await moveAndUp(D);
      await Bun.sleep(2500); // past the first persistent-keepalive interval, which found no key
      expect(T.received.length).toBe(0); // no key: nothing to send with
      const at = performance.now();
      await wgTool(["set", D.ifname, "private-key", scope.file("d.key", key.priv + "\n")]);
      await waitFor("an initiation after the key", () => T.received.some((p) => p[0] === 1 && p.length === 148), 1500);
      expect(performance.now() - at).toBeLessThan(1500);
    } finally {
      await scope.close();
    }
  }, 30_000);

  // Not asserted against the newest wireguard-go: it reads the MTU by name in its own namespace, which the interface
  // has left (its log: "Failed to load updated MTU of device").
  test("bunwg: MTU 1380 as wg-quick sets it, then 1412, then 1396 after a move to another namespace: full-size packets are padded to the MTU and never past it", async () => {
    const scope = new Scope();
    try {
      const { D, W, relay } = await tunnel(scope, BUNWG);
      const moved = await scope.netns(`${D.ns}m`);
      // 1380 and 1412 where the interface is; then 1396 after it moved on to another namespace (the daemon's
      // netlink socket there is one it had to open anew).
      for (const mtu of [1380, 1412, 1396]) {
        if (mtu === 1396) {
          await run(["ip", "-n", D.ns, "link", "set", D.ifname, "netns", moved]);
          D.ns = moved;
          await run(["ip", "-n", D.ns, "addr", "add", `${D.v4}/24`, "dev", D.ifname]);
        }
        await run(["ip", "-n", D.ns, "link", "set", D.ifname, "mtu", String(mtu), "up"]);
        await Bun.sleep(200);
        relay.captured.b2a = [];
        relay.capturing = true;
        // Full-size packets with DF from D's side, and a few sizes just under: none may be padded past the MTU.
        for (const size of [mtu - 28, mtu - 29, mtu - 35, mtu - 41]) {
          const r = await run(["ip", "netns", "exec", D.ns, "ping", "-n", "-c", "2", "-i", "0.05", "-W", "2", "-M", "do", "-s", String(size), W.v4], { check: false, timeoutMs: 10_000 });
          expect(r.code).toBe(0);
        }
        relay.capturing = false;
        const lens = plaintextLengths(relay.captured.b2a);
        expect(lens.length).toBeGreaterThanOrEqual(8);
        expect(Math.max(...lens)).toBe(mtu); // the full packets went out whole, unpadded past the MTU
        for (const l of lens) expect(l <= mtu && (l % 16 === 0 || l === mtu)).toBe(true);
      }
    } finally {
      await scope.close();
    }
  }, 60_000);

  test("bunwg: a jumbo MTU (9000) gets padding above 1420", async () => {
    const scope = new Scope();
    try {
      const { D, W, relay } = await tunnel(scope, BUNWG);
      for (const s of [D, W]) await run(["ip", "-n", s.ns, "link", "set", s.ifname, "mtu", "9000"]);
      await Bun.sleep(200);
      relay.captured.b2a = [];
      relay.capturing = true;
      const r = await run(["ip", "netns", "exec", D.ns, "ping", "-n", "-c", "2", "-i", "0.05", "-W", "2", "-M", "do", "-s", "1473", W.v4], { check: false, timeoutMs: 10_000 });
      relay.capturing = false;
      expect(r.code).toBe(0);
      const lens = plaintextLengths(relay.captured.b2a);
      expect(lens).toContain(1504); // 1501-byte packets padded to a multiple of 16 (§5.4.6)
      expect(lens.every((l) => l % 16 === 0)).toBe(true);
    } finally {
      await scope.close();
    }
  }, 60_000);
});
