// Faults: two bunwg daemons, each started inside its own namespace (so its UDP socket is there too), joined by a
// veth. A's packets for B cross the veth to a relay in B's namespace, which impairs them both ways — loss,
// duplication, reordering — as `tc netem` would (this kernel has no sch_netem; the relay is netem in user space).
// Then: TCP through the impaired tunnel, reordering within the replay window, the peer killed with SIGKILL and
// restarted, the interface deleted, the socket removed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Daemon, startDaemon } from "../support/daemon.ts";
import { pingUntil, rxPackets } from "../support/net.ts";
import { run, waitFor } from "../support/process.ts";
import { BUNWG, genKey, isRoot, uniqueTag, wgTool } from "../support/programs.ts";
import { Scope, alive } from "../support/scope.ts";
import { SOCKET_DIR, socketPath } from "../../src/uapi/socket.ts";

const RELAY = join(import.meta.dir, "relay.ts");
const TCP = join(import.meta.dir, "tcp-transfer.ts");

/** The relay program in a namespace, driven by JSON lines. */
class RelayProcess {
  private lines: string[] = [];
  private waiters: ((l: string) => void)[] = [];
  private constructor(readonly proc: ReturnType<typeof Bun.spawn>) {}

  static async start(scope: Scope, ns: string, args: string[]): Promise<{ relay: RelayProcess; a: number; b: number }> {
    const proc = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, RELAY, ...args], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    scope.add(() => proc.kill("SIGKILL"));
    const r = new RelayProcess(proc);
    void r.read();
    const ports = JSON.parse(await r.next(10_000)) as { a: number; b: number };
    return { relay: r, ...ports };
  }

  private async read(): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of this.proc.stdout as ReadableStream<Uint8Array>) {
      buf += dec.decode(chunk);
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const w = this.waiters.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    }
  }

  next(timeoutMs: number): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`relay: no answer within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((line) => { clearTimeout(t); resolve(line); });
    });
  }

  /** Sends a command; resolves with the relay's statistics line. */
  async command(cmd: object, timeoutMs = 10_000): Promise<{ forwarded: { a2b: number; b2a: number }; dropped: number; duplicated: number; reordered: number }> {
    const stdin = this.proc.stdin as import("bun").FileSink;
    stdin.write(JSON.stringify(cmd) + "\n");
    stdin.flush();
    return JSON.parse(await this.next(timeoutMs));
  }
}

describe.skipIf(!isRoot)("faults between two namespaces", () => {
  const scope = new Scope();
  const t = uniqueTag();
  const n = parseInt(t.slice(0, 2), 16), m = parseInt(t.slice(2, 4), 16);
  const ns = { a: `bwr${t}a`, b: `bwr${t}b` };
  const ifn = { a: `bwr${t}a`, b: `bwr${t}b` };
  const tun = { a: `10.${n}.${m}.1`, b: `10.${n}.${m}.2` };
  const veth = { a: `192.168.${n}.1`, b: `192.168.${n}.2` };
  const keys = { a: genKey(), b: genKey() };
  let A!: Daemon, B!: Daemon, relay!: RelayProcess;
  let bConf = "";

  const up = async (side: "a" | "b") => {
    await run(["ip", "-n", ns[side], "addr", "add", `${tun[side]}/24`, "dev", ifn[side]]);
    await run(["ip", "-n", ns[side], "link", "set", ifn[side], "up"]);
  };

  beforeAll(async () => {
    for (const s of ["a", "b"] as const) await scope.netns(ns[s]);
    await run(["ip", "link", "add", `bwr${t}v`, "netns", ns.a, "type", "veth", "peer", "name", `bwr${t}w`, "netns", ns.b]);
    await run(["ip", "-n", ns.a, "addr", "add", `${veth.a}/24`, "dev", `bwr${t}v`]);
    await run(["ip", "-n", ns.b, "addr", "add", `${veth.b}/24`, "dev", `bwr${t}w`]);
    await run(["ip", "-n", ns.a, "link", "set", `bwr${t}v`, "up"]);
    await run(["ip", "-n", ns.b, "link", "set", `bwr${t}w`, "up"]);
    A = await startDaemon(scope, BUNWG, ifn.a, { netns: ns.a });
    B = await startDaemon(scope, BUNWG, ifn.b, { netns: ns.b });
    for (const s of ["a", "b"] as const) {
      await wgTool(["set", ifn[s], "private-key", scope.file(`${s}.key`, keys[s].priv + "\n"), "listen-port", "0"]);
    }
    const bPort = Number((await wgTool(["show", ifn.b, "listen-port"])).stdout.trim());
    // The relay: its socket `a` on B's side of the veth (A sends there), its socket `b` on B's loopback.
    const r = await RelayProcess.start(scope, ns.b, [veth.b, "127.0.0.1", `127.0.0.1:${bPort}`]);
    relay = r.relay;
    await wgTool(["set", ifn.a, "peer", keys.b.pub, "endpoint", `${veth.b}:${r.a}`, "allowed-ips", `${tun.b}/32`]);
    await wgTool(["set", ifn.b, "peer", keys.a.pub, "endpoint", `127.0.0.1:${r.b}`, "allowed-ips", `${tun.a}/32`]);
    bConf = (await wgTool(["showconf", ifn.b])).stdout;
    await up("a");
    await up("b");
    await pingUntil(ns.a, tun.b);
  }, 60_000);
  afterAll(() => scope.close());

  test("10% loss, 5% duplication, 25% reordering both ways: a 16 MB TCP transfer completes intact", async () => {
    await relay.command({ impair: { loss: 0.1, duplicate: 0.05, reorder: 0.25 } });
    const server = Bun.spawn(["ip", "netns", "exec", ns.b, process.execPath, TCP, "serve", tun.b, "5201"], { stdout: "pipe", stderr: "inherit" });
    scope.add(() => server.kill("SIGKILL"));
    const t0 = performance.now();
    let result: { sent: number; hash: string; reply: string };
    try {
      const ready = await Promise.race([new Response(server.stdout as ReadableStream).body!.getReader().read(), Bun.sleep(10_000)]);
      expect(ready).toBeDefined();
      const r = await run(["ip", "netns", "exec", ns.a, process.execPath, TCP, "send", tun.b, "5201", String(16 << 20)], { timeoutMs: 90_000 });
      result = JSON.parse(r.stdout);
    } finally {
      server.kill();
    }
    const seconds = (performance.now() - t0) / 1000;
    const stats = await relay.command({ impair: { loss: 0, duplicate: 0, reorder: 0 } });
    console.log(`  16 MB over TCP in ${seconds.toFixed(1)} s (${(128 / seconds).toFixed(1)} Mbit/s); relay: ${stats.forwarded.a2b}+${stats.forwarded.b2a} ` +
      `forwarded, ${stats.dropped} dropped, ${stats.duplicated} duplicated, ${stats.reordered} reordered`);
    expect(result.reply).toBe(`${result.sent} ${result.hash}`);
    expect(stats.dropped).toBeGreaterThan(100);
    expect(stats.duplicated).toBeGreaterThan(50);
    expect(stats.reordered).toBeGreaterThan(200);
  }, 120_000);

  test("32 data packets delivered in reverse order are all accepted (within the replay window)", async () => {
    // Quiet first: no stragglers of the last test's TCP connection may fall among the 32.
    let rx0 = -1;
    await waitFor("a quiet tunnel", async () => {
      const rx = await rxPackets(ifn.b, ns.b);
      const quiet = rx === rx0;
      rx0 = rx;
      if (!quiet) await Bun.sleep(400);
      return quiet;
    }, 10_000);
    const reversed = relay.command({ reverse: { dir: "a2b", count: 32, minLen: 33 } }, 15_000);
    const p = await run(["ip", "netns", "exec", ns.a, "ping", "-n", "-c", "32", "-i", "0.02", "-W", "3", tun.b], { check: false, timeoutMs: 20_000 });
    await reversed;
    await Bun.sleep(200);
    expect(await rxPackets(ifn.b, ns.b)).toBe(rx0 + 32);
    expect(p.stdout).toContain("32 received");
  }, 30_000);

  test("every data packet duplicated on the way: each reaches the TUN once", async () => {
    const rx0 = await rxPackets(ifn.b, ns.b);
    const before = await relay.command({ impair: { loss: 0, duplicate: 1, reorder: 0 } });
    try {
      const p = await run(["ip", "netns", "exec", ns.a, "ping", "-n", "-c", "10", "-i", "0.05", "-W", "2", tun.b], { check: false, timeoutMs: 20_000 });
      expect(p.stdout).toContain("10 received");
      expect(p.stdout).not.toContain("DUP!");
    } finally {
      const after = await relay.command({ impair: { loss: 0, duplicate: 0, reorder: 0 } });
      expect(after.duplicated - before.duplicated).toBeGreaterThanOrEqual(20); // requests and replies
    }
    expect(await rxPackets(ifn.b, ns.b)).toBe(rx0 + 10);
  }, 30_000);

  test("the peer killed with SIGKILL and restarted with the same configuration: the session recovers on its own", async () => {
    process.kill(B.pid, "SIGKILL");
    await waitFor("B to die", () => !alive(B.pid), 5000);
    expect(existsSync(socketPath(ifn.b))).toBe(true); // left behind by SIGKILL: the restart must cope
    B = await startDaemon(scope, BUNWG, ifn.b, { netns: ns.b });
    await wgTool(["setconf", ifn.b, scope.file("b.conf", bConf)]);
    expect((await wgTool(["showconf", ifn.b])).stdout).toBe(bConf);
    await up("b");
    // A still holds the old session; nothing is done to A. Its data goes unanswered, so after
    // KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (15 s) it handshakes anew (§6.2).
    const t0 = performance.now();
    await pingUntil(ns.a, tun.b, 40_000);
    console.log(`  tunnel back ${((performance.now() - t0) / 1000).toFixed(1)} s after B restarted`);
  }, 60_000);

  test("interface deleted: the daemon exits and leaves nothing behind", async () => {
    await run(["ip", "-n", ns.a, "link", "del", ifn.a]);
    await waitFor("A to exit", () => !alive(A.pid), 10_000);
    expect(existsSync(socketPath(ifn.a))).toBe(false);
    expect((await run(["ip", "-n", ns.a, "link", "show", ifn.a], { check: false })).code).not.toBe(0);
    expect((await run(["ip", "link", "show", ifn.a], { check: false })).code).not.toBe(0);
  }, 20_000);

  test("socket file removed: the daemon exits and leaves nothing behind", async () => {
    await run(["rm", socketPath(ifn.b)]);
    await waitFor("B to exit", () => !alive(B.pid), 10_000);
    expect(existsSync(socketPath(ifn.b))).toBe(false);
    expect((await run(["ip", "-n", ns.b, "link", "show", ifn.b], { check: false })).code).not.toBe(0);
  }, 20_000);
});
