// The same mutations as fuzzer.ts, one layer out: through the daemon's inbound path itself (receive.ts: batch
// sorting, header checks, batched AEAD open, replay window, roaming, the allowed-IPs reverse-path filter, TUN
// write), with the UDP socket and the TUN replaced by fakes that hand in datagrams and record what would reach the
// interface. A test peer (an Engine of our own) holds a real session with the device; it also sends genuine inner
// packets that must never reach the TUN: sources outside its allowed IPs (§2 cryptokey routing), a source that
// belongs to another peer, and malformed IP headers.
//
// Oracle: the TUN receives only genuine, well-formed, allowed packets, each at most once; a peer's endpoint only
// moves to the source of an authenticated message; no exception escapes; state stays bounded.
import type { Aead } from "../../src/crypto/aead.ts";
import { Device } from "../../src/device/device.ts";
import { EP_SIZE } from "../../src/device/endpoint.ts";
import { Logger } from "../../src/device/log.ts";
import type { DevicePeer } from "../../src/device/peer.ts";
import { emptyDeviceConfig } from "../../src/config/model.ts";
import { keyToHex } from "../../src/text/codec.ts";
import { applySet } from "../../src/uapi/set.ts";
import { REKEY_TIMEOUT } from "../../src/noise/constants.ts";
import { defaultSuite } from "../../src/crypto/suite.ts";
import { Engine, type Peer } from "../../src/noise/index.ts";
import { seal } from "../noise/helpers.ts";
import { MemoryBind } from "../support/bindtest.ts";
import { MemoryTun } from "../support/tuntest.ts";
import { CASE_CLASSES, type CaseClass, type GenuineMessage, LOW_ORDER_POINTS, Rng, mac1KeyOf, mutate, padded, setU32, writeMac1 } from "./fuzzer.ts";


/** A 48-byte endpoint record (endpoint.ts) for an IPv4 source. */
function v4Endpoint(a: number, b: number, c: number, d: number, port: number): Uint8Array {
  const rec = new Uint8Array(EP_SIZE);
  rec[0] = 4;
  rec[2] = port & 0xff;
  rec[3] = port >>> 8;
  rec[18] = 0xff;
  rec[19] = 0xff;
  rec.set([a, b, c, d], 20);
  return rec;
}

const DEVICE_V4 = [10, 9, 0, 1];
const PEER_V4 = [10, 9, 0, 2]; // the test peer's allowed IP
const OTHER_V4 = [10, 9, 0, 3]; // another peer's allowed IP
const PEER_V6 = "fd090000000000000000000000000002";

let packetId = 0;

/** A well-formed IPv4 packet (checksums are not the router's affair) or an IPv6 one, each with a unique
 *  identification / flow label so that no two are alike. */
function ipv4(rng: Rng, src: number[], len: number): Uint8Array {
  const p = new Uint8Array(Math.max(20, len));
  rng.fill(p.subarray(20));
  p[0] = 0x45;
  const id = ++packetId;
  p[1] = id >>> 16;
  p[4] = id >>> 8;
  p[5] = id;
  p[2] = p.length >>> 8;
  p[3] = p.length & 0xff;
  p[8] = 64;
  p[9] = 17;
  p.set(src, 12);
  p.set(DEVICE_V4, 16);
  return p;
}

function ipv6(rng: Rng, src: string, len: number): Uint8Array {
  const p = new Uint8Array(Math.max(40, len));
  rng.fill(p.subarray(40));
  const id = ++packetId;
  p[0] = 0x60;
  p[1] = (id >>> 16) & 0x0f;
  p[2] = id >>> 8;
  p[3] = id;
  p[4] = (p.length - 40) >>> 8;
  p[5] = (p.length - 40) & 0xff;
  p[6] = 17;
  p[7] = 64;
  p.set(Buffer.from(src, "hex"), 8);
  p.set(Buffer.from("fd090000000000000000000000000001", "hex"), 24);
  return p;
}

interface Sent extends GenuineMessage {
  /** The inner packet, when it must reach the TUN; null when it must not (spoofed, malformed, keepalive). */
  inner: Uint8Array | null;
  delivered: boolean;
}

export interface ReceiverReport {
  cases: number;
  batches: number;
  ms: number;
  outcomes: Map<string, number>;
  failures: { cls: string; what: string }[];
  genuineDelivered: number;
  spoofedSent: number;
  maxIndices: number;
  heapGrowthBytes: number;
}

export class ReceiverFuzzer {
  readonly rng: Rng;
  private readonly udp = new MemoryBind(0);
  private readonly tun = new MemoryTun("fuzz0");
  readonly dev: Device;
  private readonly x: Engine; // the test peer
  private px!: Peer; // the device, as x sees it
  private devPeer!: DevicePeer; // x, as the device sees it
  private xnow = 1_000;
  private mac1Dev: Uint8Array = new Uint8Array(0); // set once the device has its key
  private corpus: Sent[] = [];
  private readonly byBytes = new Map<string, Sent>();
  private readonly report: ReceiverReport = {
    cases: 0, batches: 0, ms: 0, outcomes: new Map(), failures: [], genuineDelivered: 0, spoofedSent: 0, maxIndices: 0, heapGrowthBytes: 0,
  };
  private epochLeft = 0;
  private readonly genuineEp = v4Endpoint(127, 0, 0, 9, 40_009);

  constructor(readonly seed: number, private readonly aead: Aead, readonly epochCases = 2_000) {
    this.rng = new Rng(seed);
    this.dev = new Device(this.tun, aead, new Logger("fuzz0", "silent"), "silent", this.rng.source());
    this.dev.udp = this.udp;
    this.x = new Engine({ crypto: defaultSuite({ aead, random: this.rng.source() }), unixTimeOffset: 1.8e12 });
    this.x.setPrivateKey(this.rng.bytes(32));
  }

  /** Configures the device (its key, the test peer with 10.9.0.2/32 and fd09::2/128, a second peer with 10.9.0.3/32). */
  async setup(): Promise<void> {
    const devKey = this.rng.bytes(32);
    const other = new Engine({ crypto: defaultSuite({ aead: this.aead, random: this.rng.source() }) });
    other.setPrivateKey(this.rng.bytes(32));
    const set = applySet(emptyDeviceConfig(), [
      `private_key=${keyToHex(devKey)}`,
      `public_key=${keyToHex(this.x.publicKey!)}`,
      "allowed_ip=10.9.0.2/32",
      "allowed_ip=fd09::2/128",
      `public_key=${keyToHex(other.publicKey!)}`,
      "allowed_ip=10.9.0.3/32",
    ], { derivePublicKey: (k) => this.dev.engine.publicKeyOf(k) });
    if (!set.ok) throw new Error(`receiver fuzzer: configuration refused: ${set.message}`);
    this.dev.applyConfig(set.config, set.changes);
    const devPub = this.dev.engine.publicKey!;
    this.mac1Dev = mac1KeyOf(devPub);
    this.px = this.x.addPeer(devPub);
    this.devPeer = this.dev.peers.get(keyToHex(this.x.publicKey!))!;
  }

  close(): void { this.dev.close(); }

  run(n: number): ReceiverReport {
    const r = this.report;
    Bun.gc(true);
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    let done = 0;
    while (done < n) {
      if (this.epochLeft <= 0) {
        try {
          this.refresh();
        } catch (e) {
          this.fail("genuine", `a genuine exchange failed after fuzzing: ${(e as Error).message}`);
          break;
        }
        this.epochLeft = this.epochCases;
      }
      const k = Math.min(n - done, 1 + this.rng.int(this.rng.chance(0.2) ? 64 : 8));
      this.batch(k);
      done += k;
      this.epochLeft -= k;
      const size = this.dev.engine.indices.size;
      if (size > r.maxIndices) r.maxIndices = size;
    }
    r.ms += performance.now() - t0;
    r.cases += done;
    Bun.gc(true);
    r.heapGrowthBytes = Math.max(r.heapGrowthBytes, process.memoryUsage().heapUsed - heap0);
    return r;
  }

  // ---- genuine traffic

  private add(s: Sent): void {
    this.corpus.push(s);
    this.byBytes.set(Buffer.from(s.bytes).toString("latin1"), s);
  }

  /** Hands datagrams to the device now, from the genuine source; returns what it sent back. */
  private exchange(msgs: Uint8Array[]): Uint8Array[] {
    for (const m of msgs) this.udp.queue.push({ bytes: m, ep: this.genuineEp });
    this.udp.sent.length = 0;
    this.dev.receiver.drain();
    return this.udp.sent.map((d) => d.bytes);
  }

  private refresh(): void {
    // Fuzzing must not have disturbed the session: every genuine packet not delivered yet still gets through.
    const left = this.corpus.filter((s) => !s.delivered && s.inner !== null);
    if (left.length > 0) {
      this.tun.written.length = 0;
      this.exchange(left.map((s) => s.bytes));
      const got = new Set(this.tun.written.map((p) => Buffer.from(p).toString("latin1")));
      for (const s of left) {
        if (!got.has(Buffer.from(s.inner!).toString("latin1"))) throw new Error("a genuine packet was refused after the epoch's fuzzing");
        s.delivered = true;
        this.report.genuineDelivered++;
      }
      this.tun.written.length = 0;
    }
    this.corpus = [];
    this.byBytes.clear();
    // A new handshake from x (§5.4.2). Under load the device answers with a cookie reply first (§5.4.7); its
    // flood limit may refuse an initiation that follows the last one within 20 ms.
    let established = false;
    for (let attempt = 0; attempt < 6 && !established; attempt++) {
      this.xnow += REKEY_TIMEOUT + 1;
      const init = this.px.createInitiation(this.xnow);
      if (init === null) throw new Error("test peer could not create an initiation");
      for (const reply of this.exchange([init])) {
        const out = this.x.consumeHandshake(this.xnow, reply, new Uint8Array(6), false);
        if (out.kind === "established") established = true;
      }
      if (!established) Bun.sleepSync(25);
    }
    if (!established) throw new Error("the device did not answer a genuine initiation");
    // The initiator speaks first (§5.4.5): a keepalive confirms the device's new session.
    const ka = this.seal(new Uint8Array(0), null);
    this.exchange([ka.bytes]);
    ka.delivered = true;
    // Genuine packets: allowed ones (must arrive once), and ones that must never arrive.
    for (let i = 0; i < 40; i++) {
      const len = this.rng.pick([20, 28, 40, 84, 576, 1280, 1420]);
      const pkt = this.rng.chance(0.5) ? ipv4(this.rng, PEER_V4, len) : ipv6(this.rng, PEER_V6, Math.max(40, len));
      this.add(this.seal(pkt, pkt));
    }
    for (let i = 0; i < 12; i++) {
      const bad = this.badInner();
      this.add(this.seal(bad, null));
      this.report.spoofedSent++;
    }
  }

  /** Inner packets the reverse-path filter or the header checks must stop. */
  private badInner(): Uint8Array {
    const rng = this.rng;
    switch (rng.int(6)) {
      case 0: return ipv4(rng, OTHER_V4, 84); // another peer's address (§2)
      case 1: return ipv4(rng, [10, 9, 0, 2 + 2 + rng.int(200)], 84); // outside every allowed IP
      case 2: return ipv6(rng, "fd090000000000000000000000000099", 104);
      case 3: { const p = ipv4(rng, PEER_V4, 84); p[2] = 0x10; return p; } // total length beyond the packet
      case 4: { const p = ipv4(rng, PEER_V4, 84); p[0] = 0x55; return p; } // IP version 5
      default: return rng.bytes(1 + rng.int(19)); // shorter than any IP header
    }
  }

  private seal(inner: Uint8Array, deliverable: Uint8Array | null): Sent {
    const kp = this.px.sendingKeypair(this.xnow);
    if (kp === null) throw new Error("test peer has no session");
    return { kind: "transport", bytes: seal(this.aead, this.px, kp, padded(inner)), to: "b", inner: deliverable, delivered: false };
  }

  // ---- one batch of datagrams

  private batch(k: number): void {
    const rng = this.rng;
    const endpointBefore = this.devPeer.endpoint;
    const allowedPorts = new Set<number>();
    const classes: CaseClass[] = [];
    const sentGenuine: Sent[] = [];
    for (let i = 0; i < k; i++) {
      let cls = CASE_CLASSES[rng.int(CASE_CLASSES.length)];
      if (cls === "genuine" && rng.chance(0.75)) cls = "bit-flip";
      classes.push(cls);
      const port = 1 + rng.int(65_000);
      const ep = v4Endpoint(127, 0, rng.int(256), 2 + rng.int(200), port);
      const msg = this.makeCase(cls);
      const g = this.byBytes.get(Buffer.from(msg).toString("latin1"));
      if (g !== undefined && !g.delivered) {
        allowedPorts.add(port); // an authenticated message may move the endpoint (§2 roaming)
        sentGenuine.push(g);
      }
      this.udp.queue.push({ bytes: msg, ep });
    }
    this.tun.written.length = 0;
    this.udp.sent.length = 0;
    try {
      this.dev.receiver.drain();
    } catch (e) {
      this.fail(classes.join(","), `exception: ${(e as Error).stack ?? e}`);
    }
    this.report.batches++;
    // What reached the TUN: only genuine allowed packets, once.
    const expected = new Map<string, Sent>();
    for (const g of sentGenuine) if (g.inner !== null) expected.set(Buffer.from(g.inner).toString("latin1"), g);
    for (const p of this.tun.written) {
      const g = expected.get(Buffer.from(p).toString("latin1"));
      if (g === undefined || g.delivered) {
        this.fail(classes.join(","), `the TUN received a packet that is ${g ? "a replay" : "not a genuine allowed packet"}: ${Buffer.from(p.subarray(0, 40)).toString("hex")}`);
      } else {
        g.delivered = true;
        this.report.genuineDelivered++;
      }
    }
    for (const g of sentGenuine) if (g.inner === null) g.delivered = true;
    const ep = this.devPeer.endpoint;
    if (ep !== endpointBefore && ep !== null && !allowedPorts.has(ep.port)) {
      this.fail(classes.join(","), `the peer's endpoint moved to ${ep} without an authenticated message from there`);
    }
    for (const cls of classes) this.report.outcomes.set(cls, (this.report.outcomes.get(cls) ?? 0) + 1);
    this.report.outcomes.set("tun-writes", (this.report.outcomes.get("tun-writes") ?? 0) + this.tun.written.length);
    this.report.outcomes.set("device-sends", (this.report.outcomes.get("device-sends") ?? 0) + this.udp.sent.length);
  }

  private makeCase(cls: CaseClass): Uint8Array {
    const rng = this.rng;
    switch (cls) {
      case "random-bytes":
        return rng.bytes(rng.chance(0.02) ? rng.int(65_536) : rng.int(rng.chance(0.5) ? 200 : 2_000));
      case "random-shaped":
      case "random-mac1":
      case "low-order": {
        const type = cls === "random-shaped" ? 1 + rng.int(4) : 1;
        const m = rng.bytes(type === 1 ? 148 : type === 2 ? 92 : type === 3 ? 64 : 32 + 16 * rng.int(90));
        m[0] = type; m[1] = 0; m[2] = 0; m[3] = 0;
        if (type === 4 && rng.chance(0.7)) setU32(m, 4, this.devIndex());
        if (cls === "low-order") m.set(rng.pick(LOW_ORDER_POINTS), 8);
        if (cls !== "random-shaped") writeMac1(m, this.mac1Dev);
        return m;
      }
      default: {
        const transports = this.corpus.filter((s) => s.kind === "transport");
        const left = transports.filter((s) => !s.delivered);
        const done = transports.filter((s) => s.delivered);
        const g = cls === "replay" && done.length > 0 ? rng.pick(done)
          : (cls === "genuine" || rng.chance(0.6)) && left.length > 0 ? rng.pick(left) : rng.pick(transports);
        return mutate(rng, cls, g, { mac1Key: () => this.mac1Dev, otherIndex: () => this.devIndex() });
      }
    }
  }

  private devIndex(): number {
    const p = this.devPeer.noise;
    const kp = this.rng.pick([p.current, p.previous, p.next]);
    return kp ? kp.localIndex : this.rng.u32();
  }

  private fail(cls: string, what: string): void {
    if (this.report.failures.length < 50) this.report.failures.push({ cls, what });
  }
}
