// Counters and the metrics endpoint, against running daemons. Two bunwg daemons (A with --metrics, B with
// BUNWG_METRICS) carry 10 pings between two namespaces: exact packet and byte counts on both sides, seen the same
// through the metrics endpoint, `wg.ts ifconfig` (text and --json) and wg(8). A test peer of our own (T, a protocol
// engine on 127.0.0.2) sends what a network or a hostile peer would — a replay, a spoofed inner source, a forged
// tag, an unknown session, a runt, a replayed initiation — and each lands on its drop reason, +1 exactly. The
// exposition passes `promtool check metrics` and a real Prometheus server scrapes it. A taken metrics port stops
// the start with an error naming the address, and nothing is left behind.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { DeviceCounters, Drop, PeerCounters, formatCounters, parseCounters } from "../../src/device/counters.ts";
import { formatMetrics, parseMetricsAddress } from "../../src/device/metrics.ts";
import { logPath } from "../../src/device/log.ts";
import { socketPath } from "../../src/uapi/socket.ts";
import { type Daemon, startDaemon, uapiRequest } from "../support/daemon.ts";
import { icmpEcho } from "../support/packets.ts";
import { TestPeer } from "../support/peer.ts";
import { run, waitFor } from "../support/process.ts";
import { BUNWG, WGGO_DEBIAN, genKey, isRoot, uniqueTag, wgTool } from "../support/programs.ts";
import { Scope } from "../support/scope.ts";

const PROMTOOL = Bun.which("promtool");
const PROMETHEUS = Bun.which("prometheus");

/** A loopback TCP port nobody listens on right now. */
function freeTcpPort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
}

/** Samples of an exposition: `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const sp = line.lastIndexOf(" ");
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

async function scrape(addr: string): Promise<{ text: string; type: string | null }> {
  const r = await fetch(`http://${addr}/metrics`, { signal: AbortSignal.timeout(5000) });
  expect(r.status).toBe(200);
  return { text: await r.text(), type: r.headers.get("content-type") };
}

async function ifconfigJson(ifname: string): Promise<any> {
  const r = await run([process.execPath, `${import.meta.dir}/../../wg.ts`, "ifconfig", ifname, "--json"]);
  return JSON.parse(r.stdout);
}

describe("the counter model and its two text forms", () => {
  const peer = (hex: string, c: PeerCounters) => ({ counters: c, publicKeyHex: hex, rxBytes: 148, txBytes: 92, staged: { dropped: 2 } });

  test("interface totals: the peers' sums plus removed peers plus drops without a peer; never backwards", () => {
    const dc = new DeviceCounters();
    const p1 = peer("11".repeat(32), dc.newPeer()), p2 = peer("22".repeat(32), dc.newPeer());
    p1.counters.received(84); p1.counters.received(60); p1.counters.sent(84); p1.counters.sent(0); // a keepalive
    p1.counters.initiated(false); p1.counters.initiated(true); p1.counters.completed();
    p2.counters.gaveUp(3); p2.counters.drop(Drop.replay);
    dc.dropFrom(undefined, Drop.replay); dc.drop(Drop.no_route, 4); dc.cookieSent(); dc.tunWritten(5, 3);
    const s = parseCounters(formatCounters(dc.snapshot([p1, p2])));
    expect(s.peers.get("11".repeat(32))).toMatchObject({ rx_packets: 2, rx_bytes: 144, tx_packets: 1, tx_bytes: 84, handshakes_initiated: 2,
      handshakes_failed: 1, handshakes_completed: 1, wire_rx_bytes: 148, drop_queue_full: 2 });
    expect(s.peers.get("22".repeat(32))).toMatchObject({ handshakes_failed: 1, drop_handshake_timeout: 3, drop_replay: 1 });
    expect(s.device).toMatchObject({ rx_packets: 2, handshakes_failed: 2, drop_replay: 2, drop_no_route: 4, cookies_sent: 1, drop_tun_write: 2,
      drop_queue_full: 4, wire_tx_bytes: 184 });
    dc.retire(p1);
    const after = parseCounters(formatCounters(dc.snapshot([p2])));
    expect(after.device).toEqual(s.device);
    expect([...after.peers.keys()]).toEqual(["22".repeat(32)]);
  });

  test("BUNWG_NO_COUNTERS: nothing is counted, the text forms still read", () => {
    const dc = new DeviceCounters(false);
    const p = peer("33".repeat(32), dc.newPeer());
    p.counters.received(84); p.counters.sent(84); p.counters.drop(Drop.replay); p.counters.initiated(true); dc.drop(Drop.no_route);
    const s = parseCounters(formatCounters(dc.snapshot([p])));
    expect(s.device).toMatchObject({ rx_packets: 0, tx_packets: 0, drop_replay: 0, drop_no_route: 0, handshakes_initiated: 0 });
    expect(samples(formatMetrics("wg0", dc.snapshot([p]))).get('bunwg_peer_receive_packets_total{interface="wg0",peer="MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM="}')).toBe(0);
  });

  test("a counters answer that is not one is refused with the line", () => {
    expect(() => parseCounters("rx_packets=x\nerrno=0\n\n")).toThrow('counters answer line 1: expected NAME=NUMBER, got "rx_packets=x"');
    expect(() => parseCounters("rx_packets=1\n")).toThrow("ended without an errno= line");
  });

  test("metrics addresses: ADDR:PORT or [IPv6]:PORT, nothing else", () => {
    expect(parseMetricsAddress("127.0.0.1:9586")).toEqual({ hostname: "127.0.0.1", port: 9586, text: "127.0.0.1:9586" });
    expect(parseMetricsAddress("[::1]:9586").hostname).toBe("::1");
    for (const bad of ["9586", ":9586", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "::1:9586", "a b:1"]) {
      expect(() => parseMetricsAddress(bad)).toThrow(`metrics address ${JSON.stringify(bad)}: expected ADDR:PORT`);
    }
  });
});

describe.skipIf(!isRoot)("counters and metrics", () => {
  let scope!: Scope; // made in beforeAll: a filtered or skipped run leaves no directory behind
  const t = uniqueTag();
  const n = parseInt(t.slice(0, 2), 16), m = parseInt(t.slice(2, 4), 16);
  const net4 = `10.${n}.${m}`;
  interface Side { ns: string; ifname: string; v4: string; key: { priv: string; pub: string }; port: number; d: Daemon; metrics: string }
  let A!: Side, B!: Side;

  beforeAll(async () => {
    scope = new Scope();
    const mk = async (s: string, host: number, how: "flag" | "env"): Promise<Side> => {
      const name = `bwm${t}${s}`;
      await scope.netns(name);
      const metrics = `127.0.0.1:${freeTcpPort()}`;
      // Flags in any order before IFNAME: startDaemon appends `-f IFNAME`.
      const d = how === "flag"
        ? await startDaemon(scope, [...BUNWG, "--metrics", metrics], name)
        : await startDaemon(scope, BUNWG, name, { env: { BUNWG_METRICS: metrics } });
      const key = genKey();
      await wgTool(["set", name, "private-key", scope.file(`${name}.key`, key.priv + "\n"), "listen-port", "0"]);
      const port = Number((await wgTool(["show", name, "listen-port"])).stdout.trim());
      return { ns: name, ifname: name, v4: `${net4}.${host}`, key, port, d, metrics };
    };
    A = await mk("a", 1, "flag");
    B = await mk("b", 2, "env");
    // IPv4 allowed IPs only: what the kernel sends on its own over the links (IPv6 link-local chatter) has no
    // route and stays out of the peer counts.
    await wgTool(["set", A.ifname, "peer", B.key.pub, "endpoint", `127.0.0.1:${B.port}`, "allowed-ips", `${B.v4}/32`]);
    await wgTool(["set", B.ifname, "peer", A.key.pub, "endpoint", `127.0.0.1:${A.port}`, "allowed-ips", `${A.v4}/32`]);
    for (const s of [A, B]) {
      await run(["ip", "link", "set", s.ifname, "netns", s.ns]);
      await run(["ip", "-n", s.ns, "addr", "add", `${s.v4}/24`, "dev", s.ifname]);
      await run(["ip", "-n", s.ns, "link", "set", s.ifname, "up"]);
    }
  }, 60_000);
  afterAll(() => scope?.close());

  test("10 pings: exactly 10 packets each way on both sides, the same through metrics, ifconfig and wg(8)", async () => {
    const r = await run(["ip", "netns", "exec", A.ns, "ping", "-n", "-c", "10", "-i", "0.2", "-W", "3", B.v4], { timeoutMs: 30_000 });
    expect(r.stdout).toContain("10 received");
    const ping = 84; // IPv4 header 20 + ICMP 8 + 56 bytes of data
    const a = samples((await scrape(A.metrics)).text);
    const b = samples((await scrape(B.metrics)).text);
    const pa = `interface="${A.ifname}",peer="${B.key.pub}"`;
    const pb = `interface="${B.ifname}",peer="${A.key.pub}"`;
    for (const [s, p] of [[a, pa], [b, pb]] as const) {
      expect(s.get(`bunwg_peer_transmit_packets_total{${p}}`)).toBe(10);
      expect(s.get(`bunwg_peer_receive_packets_total{${p}}`)).toBe(10);
      expect(s.get(`bunwg_peer_transmit_bytes_total{${p}}`)).toBe(10 * ping);
      expect(s.get(`bunwg_peer_receive_bytes_total{${p}}`)).toBe(10 * ping);
      expect(s.get(`bunwg_peer_handshakes_completed_total{${p}}`)).toBe(1);
      expect(s.get(`bunwg_peer_handshakes_failed_total{${p}}`)).toBe(0);
    }
    // A's first ping started the one handshake; B answered it.
    expect(a.get(`bunwg_peer_handshakes_initiated_total{${pa}}`)).toBe(1);
    expect(b.get(`bunwg_peer_handshakes_initiated_total{${pb}}`)).toBe(0);
    expect(a.get(`bunwg_interface_transmit_packets_total{interface="${A.ifname}"}`)).toBe(10);
    expect(a.get(`bunwg_interface_peers{interface="${A.ifname}"}`)).toBe(1);
    for (const [s, p] of [[a, pa], [b, pb]] as const) {
      for (const reason of ["unallowed_source", "bad_mac", "replay", "invalid_handshake"]) {
        expect(s.get(`bunwg_peer_dropped_packets_total{${p},reason="${reason}"}`)).toBe(0);
      }
    }
    // wg(8)'s transfer is the wire count, handshake messages included.
    const transfer = (await wgTool(["show", A.ifname, "transfer"])).stdout.trim().split("\t");
    expect(Number(transfer[1])).toBe(a.get(`bunwg_peer_wire_receive_bytes_total{${pa}}`)!);
    expect(Number(transfer[2])).toBe(a.get(`bunwg_peer_wire_transmit_bytes_total{${pa}}`)!);
    // ifconfig: the same counters, as text and JSON.
    const j = await ifconfigJson(A.ifname);
    expect(j.counters).toMatchObject({ tx_packets: 10, rx_packets: 10, tx_bytes: 10 * ping, rx_bytes: 10 * ping, handshakes_initiated: 1 });
    expect(j.peers[0].counters).toMatchObject({ tx_packets: 10, rx_packets: 10, handshakes_completed: 1, dropped: { replay: 0, unallowed_source: 0 } });
    const text = (await run([process.execPath, `${import.meta.dir}/../../wg.ts`, "ifconfig", A.ifname])).stdout;
    expect(text).toContain(`\t\tpackets: tx 10, rx 10 (bytes: tx ${10 * ping}, rx ${10 * ping})\n`);
    expect(text).toContain("\t\thandshakes: initiated 1, completed 1, failed 0\n");
    expect(text).toMatch(/\n\tpackets: tx 10, rx 10 .*\n\thandshakes: initiated 1, completed 1, failed 0, cookies sent 0\n\tdropped: \d+/);
  }, 60_000);

  test("each hostile packet lands on its drop reason, +1 exactly", async () => {
    const T = await TestPeer.open("127.0.0.2", A.port, A.key.pub);
    scope.add(() => T.close());
    const tAddr = `${net4}.3`;
    await wgTool(["set", A.ifname, "peer", T.publicKeyBase64, "allowed-ips", `${tAddr}/32`]);
    await T.establish();
    const pt = `interface="${A.ifname}",peer="${T.publicKeyBase64}"`;
    const iface = `interface="${A.ifname}"`;
    const read = async () => samples((await scrape(A.metrics)).text);
    const dropT = (s: Map<string, number>, reason: string) => s.get(`bunwg_peer_dropped_packets_total{${pt},reason="${reason}"}`)!;
    const dropI = (s: Map<string, number>, reason: string) => s.get(`bunwg_interface_dropped_packets_total{${iface},reason="${reason}"}`)!;
    await waitFor("A's session with T confirmed", async () => (await read()).get(`bunwg_peer_handshakes_completed_total{${pt}}`) === 1, 5000);

    // Control: one echo request from T's own address is delivered and answered.
    const from = T.received.length;
    T.send(T.seal(icmpEcho(tAddr, A.v4, 0x3e7)));
    await waitFor("the echo reply to T", () => T.openReceived(from).some((p) => p[9] === 1 && p[20] === 0), 5000);
    let s = await read();
    expect(s.get(`bunwg_peer_receive_packets_total{${pt}}`)).toBe(1);
    expect(s.get(`bunwg_peer_receive_bytes_total{${pt}}`)).toBe(60);
    expect(s.get(`bunwg_peer_transmit_packets_total{${pt}}`)).toBe(1);
    const before = s;

    // Each step must move exactly the counters it names by +1: T's own, and the interface's.
    const steps: [string, () => void, string[]][] = [
      ["replay: the echo request's transport message again", () => T.send(T.sent.at(-1)!), ["replay"]],
      ["unallowed source: an address T does not own", () => T.send(T.seal(icmpEcho(`${net4}.99`, A.v4, 1))), ["unallowed_source"]],
      ["bad MAC: a sealed message with its tag changed", () => { const msg = T.seal(icmpEcho(tAddr, A.v4, 2)); msg[msg.length - 1] ^= 1; T.send(msg); }, ["bad_mac"]],
      ["unknown session: a receiver index A never gave out", () => { const msg = T.seal(icmpEcho(tAddr, A.v4, 3)); msg[4] ^= 0x5a; msg[5] ^= 0xa5; T.send(msg); }, ["unknown_session"]],
      ["malformed: a 3-byte datagram", () => T.send(new Uint8Array([4, 0, 0])), ["malformed"]],
    ];
    const peerReasons = new Set(["replay", "unallowed_source", "bad_mac"]);
    for (const [what, act, reasons] of steps) {
      const b = await read();
      act();
      await waitFor(what, async () => dropI(await read(), reasons[0]) === dropI(b, reasons[0]) + 1, 5000);
      await Bun.sleep(200); // and not more than once
      const a = await read();
      for (const r of reasons) {
        expect({ what, interface: dropI(a, r) }).toEqual({ what, interface: dropI(b, r) + 1 });
        if (peerReasons.has(r)) expect({ what, peer: dropT(a, r) }).toEqual({ what, peer: dropT(b, r) + 1 });
      }
      expect({ what, delivered: a.get(`bunwg_peer_receive_packets_total{${pt}}`) }).toEqual({ what, delivered: 1 });
    }
    // A replayed initiation (same TAI64N timestamp, §5.1): the first one is answered, the copy is refused.
    const init = T.peer.createInitiation(1e9)!;
    const b = await read();
    T.send(init);
    await waitFor("the answer to T's second initiation", async () => (await read()).get(`bunwg_peer_handshakes_completed_total{${pt}}`) === 2, 5000);
    T.send(init);
    await waitFor("the replayed initiation refused", async () => dropT(await read(), "invalid_handshake") === dropT(b, "invalid_handshake") + 1, 5000);
    s = await read();
    // Nothing of the above was delivered, and nothing else was dropped for T.
    expect(s.get(`bunwg_peer_receive_packets_total{${pt}}`)).toBe(before.get(`bunwg_peer_receive_packets_total{${pt}}`)!);
    for (const r of ["replay", "unallowed_source", "bad_mac", "invalid_handshake"]) expect({ r, n: dropT(s, r) }).toEqual({ r, n: 1 });
    const j = await ifconfigJson(A.ifname);
    const jt = j.peers.find((p: any) => p.wgpeer === T.publicKeyBase64);
    expect(jt.counters.dropped).toMatchObject({ replay: 1, unallowed_source: 1, bad_mac: 1, invalid_handshake: 1 });
    expect(j.counters.dropped.unknown_session).toBe(dropI(s, "unknown_session"));
    // A removed peer's counts stay in the interface totals (counters never go backwards).
    const rxBefore = s.get(`bunwg_interface_receive_packets_total{${iface}}`)!;
    await wgTool(["set", A.ifname, "peer", T.publicKeyBase64, "remove"]);
    s = await read();
    expect(s.get(`bunwg_interface_receive_packets_total{${iface}}`)).toBe(rxBefore);
    expect(dropI(s, "replay")).toBe(dropI(before, "replay") + 1);
    expect(s.has(`bunwg_peer_receive_packets_total{${pt}}`)).toBe(false);
  }, 60_000);

  test("under load: every cookie reply sent is counted; the replayed initiations before it are invalid handshakes", async () => {
    const T = await TestPeer.open("127.0.0.2", A.port, A.key.pub);
    scope.add(() => T.close());
    await wgTool(["set", A.ifname, "peer", T.publicKeyBase64, "allowed-ips", `${net4}.4/32`]);
    const pt = `interface="${A.ifname}",peer="${T.publicKeyBase64}"`;
    const iface = `interface="${A.ifname}"`;
    const read = async () => samples((await scrape(A.metrics)).text);
    const before = await read();
    // 150 copies of one initiation at once: the first is answered, the next 63 are replays (§5.1); from the 65th
    // handshake message within 250 ms the daemon is under load (receive.ts) and answers each with a cookie reply.
    const init = T.peer.createInitiation(1e9)!;
    await Bun.sleep(400); // a fresh load window: no handshake message of the earlier tests in the last 250 ms
    T.sendMany(Array.from({ length: 150 }, () => init));
    const cookies = () => T.received.filter((d) => d[0] === 3 && d.length === 64).length;
    await waitFor("86 cookie replies", () => cookies() >= 86, 5000);
    await Bun.sleep(300);
    const s = await read();
    expect(cookies()).toBe(86);
    expect(s.get(`bunwg_interface_cookie_replies_sent_total{${iface}}`)).toBe(before.get(`bunwg_interface_cookie_replies_sent_total{${iface}}`)! + 86);
    expect(s.get(`bunwg_peer_handshakes_completed_total{${pt}}`)).toBe(1);
    expect(s.get(`bunwg_peer_dropped_packets_total{${pt},reason="invalid_handshake"}`)).toBe(63);
  }, 30_000);

  test("a peer that never answers: each unanswered initiation is a failed handshake; staged packets beyond 128 are dropped", async () => {
    const dead = genKey();
    const deadPort = (await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 }));
    scope.add(() => deadPort.close()); // bound and silent: nothing answers, nothing is refused
    const addr = `${net4}.50`;
    await wgTool(["set", A.ifname, "peer", dead.pub, "endpoint", `127.0.0.1:${deadPort.port}`, "allowed-ips", `${addr}/32`]);
    const pd = `interface="${A.ifname}",peer="${dead.pub}"`;
    const read = async () => samples((await scrape(A.metrics)).text);
    // 200 packets while no session exists: the staging queue keeps the newest 128 (queue.ts) and drops 72.
    await run(["ip", "netns", "exec", A.ns, "ping", "-n", "-q", "-c", "200", "-i", "0.002", "-W", "1", addr], { check: false, timeoutMs: 20_000 });
    let s = await read();
    expect(s.get(`bunwg_peer_dropped_packets_total{${pd},reason="queue_full"}`)).toBe(72);
    expect(s.get(`bunwg_peer_transmit_packets_total{${pd}}`)).toBe(0);
    // REKEY_TIMEOUT (5 s) later the first initiation counts as failed and the retry goes out, in the same step.
    await waitFor("the first failed handshake", async () => (s = await read()).get(`bunwg_peer_handshakes_failed_total{${pd}}`)! >= 1, 9000);
    expect(s.get(`bunwg_peer_handshakes_failed_total{${pd}}`)).toBe(1);
    expect(s.get(`bunwg_peer_handshakes_initiated_total{${pd}}`)).toBe(2);
    expect(s.get(`bunwg_peer_handshakes_completed_total{${pd}}`)).toBe(0);
  }, 30_000);

  test.skipIf(!PROMTOOL)("promtool check metrics passes", async () => {
    const { text, type } = await scrape(A.metrics);
    expect(type).toBe("text/plain; version=0.0.4; charset=utf-8");
    const p = Bun.spawn([PROMTOOL!, "check", "metrics"], { stdin: new TextEncoder().encode(text), stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    clearTimeout(timer);
    expect({ code, out, err }).toEqual({ code: 0, out: "", err: "" });
  }, 30_000);

  test.skipIf(!PROMETHEUS)("a real Prometheus server scrapes the endpoint", async () => {
    const dir = `${scope.dir}/prometheus`;
    mkdirSync(`${dir}/data`, { recursive: true });
    writeFileSync(`${dir}/prometheus.yml`,
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: bunwg\n    static_configs:\n      - targets: ["${A.metrics}"]\n`);
    const web = `127.0.0.1:${freeTcpPort()}`;
    const p = Bun.spawn([PROMETHEUS!, `--config.file=${dir}/prometheus.yml`, `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=${web}`], { stdout: "ignore", stderr: "pipe", cwd: dir });
    scope.add(() => { try { p.kill("SIGKILL"); } catch { /* gone */ } });
    try {
      let result: any[] = [];
      await waitFor("Prometheus to scrape bunwg", async () => {
        if (p.exitCode !== null) throw new Error(`prometheus exited ${p.exitCode}: ${(await new Response(p.stderr).text()).slice(-2000)}`);
        try {
          const q = encodeURIComponent(`bunwg_peer_transmit_packets_total{interface="${A.ifname}",peer="${B.key.pub}"}`);
          const r = await (await fetch(`http://${web}/api/v1/query?query=${q}`, { signal: AbortSignal.timeout(2000) })).json() as any;
          result = r.data?.result ?? [];
          return result.length > 0;
        } catch {
          return false;
        }
      }, 40_000);
      expect(result[0].metric.peer).toBe(B.key.pub);
      expect(Number(result[0].value[1])).toBe(10);
      const targets = await (await fetch(`http://${web}/api/v1/targets`, { signal: AbortSignal.timeout(2000) })).json() as any;
      expect(targets.data.activeTargets[0].health).toBe("up");
    } finally {
      p.kill("SIGTERM");
      await Promise.race([p.exited, Bun.sleep(5000)]);
    }
  }, 60_000);

  test("a metrics port in use: the daemon refuses to start, names the address, leaves nothing behind", async () => {
    const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    scope.add(() => taken.stop(true));
    const addr = `127.0.0.1:${taken.port}`;
    for (const [i, args] of [["--metrics", addr], ["--metrics", addr, "-f"], [`--metrics=${addr}`]].entries()) {
      const ifname = `bwm${t}p${i}`;
      scope.add(() => { Bun.spawnSync(["ip", "link", "del", ifname], { stderr: "ignore" }); rmSync(logPath(ifname), { force: true }); });
      const r = await run([...BUNWG, ...args, ifname], { check: false, timeoutMs: 20_000 });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`metrics: cannot listen on ${addr}: the address is already in use`);
      expect(existsSync(socketPath(ifname))).toBe(false);
      expect((await run(["ip", "link", "show", ifname], { check: false })).code).not.toBe(0);
    }
    scope.add(() => rmSync(logPath(`bwm${t}q`), { force: true }));
    const bad = await run([...BUNWG, "--metrics", "9586", `bwm${t}q`], { check: false });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('metrics address "9586": expected ADDR:PORT');
    const env = await run([...BUNWG, `bwm${t}q`], { check: false, env: { BUNWG_METRICS: addr } });
    expect(env.code).toBe(1);
    expect(env.stderr).toContain(addr);
  }, 60_000);

  test.skipIf(!WGGO_DEBIAN)("wireguard-go closes on get=bunwg-counters and keeps serving; ifconfig shows no counters for it", async () => {
    const ifname = `bwm${t}g`;
    const d = await startDaemon(scope, WGGO_DEBIAN!, ifname);
    const r = await uapiRequest(ifname, "get=bunwg-counters\n\n");
    expect(r.closed).toBe(true);
    expect((await uapiRequest(ifname, "get=1\n\n")).answer).toEndWith("errno=0\n\n");
    await run(["ip", "link", "set", ifname, "up"]);
    const j = await ifconfigJson(ifname);
    expect(j.counters).toBeNull();
    expect(d.pid).toBeGreaterThan(0);
  }, 30_000);
});
