#!/usr/bin/env bun
// The JavaScript around each packet of the data path (src/device/send.ts route/add, receive.ts process/deliver), with
// the crypto and the I/O taken out: two devices joined in memory, a transport AEAD that does nothing, and TUN and UDP
// stand-ins that copy nothing after their first fill. Reports nanoseconds per packet for full batches (128 packets
// of 1420 bytes) sent by one device and received by the other — the per-packet share of the JavaScript thread's
// work, which a tunnel run cannot resolve from its run-to-run spread.
//
//   bun run bench/datapath.ts [--repeat N] [--seconds S] [--ftl] [--json]
//
// Baselines in the same run:
//   - the native AEAD (src/crypto/aead.ts, the Zig library) sealing and opening the same batch: the work the
//     JavaScript surrounds;
//   - with BUNWG_BENCH_BEFORE=DIR (a checkout of an earlier commit with `bun install` run, as bench/tunnel.ts's
//     ours-before), the same measurement of that checkout, rounds alternated between the two in both orders.
// Each measurement runs in a child process of its own (JavaScriptCore's compiled code and profiles are per process),
// with the FTL tier off as the detached daemon runs (src/device/daemon.ts); --ftl turns it on.
import { join } from "node:path";

const HERE = join(import.meta.dir, "..");
const MTU = 1420;
const BATCH = 128;

type Result = { send: number; recv: number; aead: number };

// ---------------------------------------------------------------------------------------------------------------
// The child: one measurement of the checkout at argv[3].

async function child(repo: string, seconds: number): Promise<Result> {
  const { loadAead } = await import(join(repo, "src/crypto/aead.ts"));
  const { Device } = await import(join(repo, "src/device/device.ts"));
  const { Logger } = await import(join(repo, "src/device/log.ts"));
  const { Endpoint, EP_SIZE } = await import(join(repo, "src/device/endpoint.ts"));
  const { applySet } = await import(join(repo, "src/uapi/set.ts"));
  const { keyToHex } = await import(join(repo, "src/text/codec.ts"));
  const { ipv4 } = await import(join(repo, "src/device/warmup.ts"));
  const real = loadAead();
  // Handshakes use the real AEAD; transport messages are left as they are and "authenticate".
  const aead = Object.assign(Object.create(Object.getPrototypeOf(real)), real, {
    sealTransport() {},
    openTransport(n: number, _b: Uint8Array, _o: Uint32Array, _l: Uint32Array, _k: Uint8Array, _i: Uint16Array, ok: Uint8Array) {
      ok.fill(1, 0, n);
    },
  });

  /** Hands out `waiting` copies of one packet; each buffer is filled once, later reads only set the lengths. */
  class Tun {
    readonly fd = -1;
    onDownWrite = null;
    waiting = 0;
    written = 0;
    private readonly filled = new WeakSet<Uint8Array>();
    constructor(readonly name: string, private readonly pkt: Uint8Array) {}
    readBatch(buf: Uint8Array, stride: number, lens: Uint32Array, max: number): number {
      const n = Math.min(max, this.waiting);
      this.waiting -= n;
      if (!this.filled.has(buf)) {
        for (let i = 0; i < max; i++) buf.set(this.pkt, i * stride);
        this.filled.add(buf);
      }
      for (let i = 0; i < n; i++) lens[i] = this.pkt.length;
      return n;
    }
    writeBatch(_b: Uint8Array, _o: Uint32Array, _l: Uint32Array, n: number): number {
      this.written += n;
      return n;
    }
    onReadable(): void {}
    rearm(): void {}
    close(): void {}
  }

  /** Until `batch` is set: a wire to `other` (the handshake). Then: `pending` times the recorded batch, its counters
   *  renewed each time so that the replay window takes them. */
  class Bind {
    readonly fd = -1;
    other: Bind | null = null;
    readonly record: Uint8Array;
    readonly queue: Uint8Array[] = [];
    capture = false;
    batch: Uint8Array[] | null = null;
    pending = 0;
    sent = 0;
    private counter = 1_000_000;
    private readonly filled = new WeakSet<Uint8Array>();
    constructor(readonly port: number, address: string) {
      this.record = Endpoint.fromAddress(address, port, 4).rec.slice(0, EP_SIZE);
    }
    recvBatch(buf: Uint8Array, stride: number, maxMsgs: number, offs: Uint32Array, lens: Uint32Array, eps: Uint8Array, maxPkts: number): number {
      const from = this.other!.record;
      if (this.batch === null) {
        const n = Math.min(maxMsgs, this.queue.length);
        for (let i = 0; i < n; i++) {
          const d = this.queue.shift()!;
          buf.set(d, i * stride);
          offs[i] = i * stride;
          lens[i] = d.length;
          eps.set(from, i * EP_SIZE);
        }
        return n;
      }
      if (this.pending === 0) return 0;
      this.pending--;
      const batch = this.batch, n = Math.min(maxPkts, batch.length), gap = 2048; // as GRO-split segments lie
      if (!this.filled.has(buf)) {
        for (let i = 0; i < batch.length; i++) (buf.set(batch[i], i * gap), eps.set(from, i * EP_SIZE));
        this.filled.add(buf);
      }
      const dv = new DataView(buf.buffer, buf.byteOffset);
      for (let i = 0; i < n; i++) {
        offs[i] = i * gap;
        lens[i] = batch[i].length;
        dv.setUint32(i * gap + 8, this.counter++, true);
      }
      return n;
    }
    sendBatch(buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, _e: Uint8Array, n: number): number {
      if (this.capture) for (let i = 0; i < n; i++) this.other!.queue.push(buf.slice(offs[i], offs[i] + lens[i]));
      this.sent += n;
      return n;
    }
    sendBytes(b: Uint8Array): boolean {
      this.other!.queue.push(b.slice());
      return true;
    }
    setFwmark(): void {}
    onReadable(): void {}
    rearm(): void {}
    close(): void {}
  }

  const log = new Logger("datapath", "silent");
  const random = (o: Uint8Array) => void crypto.getRandomValues(o);
  const aAddr = [10, 255, 0, 1], bAddr = [10, 255, 0, 2];
  const tunA = new Tun("dpa", ipv4(aAddr, bAddr, MTU, 17)), tunB = new Tun("dpb", ipv4(bAddr, aAddr, 52, 17));
  const bindA = new Bind(1, "127.0.0.1"), bindB = new Bind(2, "127.0.0.2");
  bindA.other = bindB;
  bindB.other = bindA;
  bindA.capture = bindB.capture = true;
  const opts = { pump: false, threads: 1 };
  const a = new Device(tunA, aead, log, "silent", random, opts, MTU), b = new Device(tunB, aead, log, "silent", random, opts, MTU);
  a.openBind = () => bindA;
  b.openBind = () => bindB;
  const ka = crypto.getRandomValues(new Uint8Array(32)), kb = crypto.getRandomValues(new Uint8Array(32));
  const configure = (dev: any, priv: Uint8Array, port: number, peerPriv: Uint8Array, peerPort: number, peerAddr: string, allowed: string) => {
    const set = applySet(dev.config, [`private_key=${keyToHex(priv)}`, `listen_port=${port}`, `public_key=${keyToHex(dev.engine.publicKeyOf(peerPriv))}`,
      `endpoint=${peerAddr}:${peerPort}`, `allowed_ip=${allowed}`], { derivePublicKey: (k: Uint8Array) => dev.engine.publicKeyOf(k) });
    if (!set.ok) throw new Error(`datapath: configuration refused: ${set.message}`);
    dev.applyConfig(set.config, set.changes);
  };
  configure(a, ka, 1, kb, 2, "127.0.0.2", "10.255.0.2/32");
  configure(b, kb, 2, ka, 1, "127.0.0.1", "10.255.0.1/32");
  // A handshake and its first packet, then one full batch from a recorded for b to receive over and over.
  tunA.waiting = 1;
  for (let i = 0; i < 8; i++) {
    a.sender.drainTun(), b.receiver.drain(), b.sender.drainTun(), a.receiver.drain();
    const now = performance.now();
    a.runDueTimers(now), b.runDueTimers(now);
  }
  if (tunB.written === 0) throw new Error("datapath: no packet crossed between the two devices (handshake failed)");
  bindB.queue.length = 0;
  tunA.waiting = BATCH;
  a.sender.drainTun();
  bindA.capture = bindB.capture = false;
  if (bindB.queue.length !== BATCH) throw new Error(`datapath: expected a batch of ${BATCH} datagrams, got ${bindB.queue.length}`);
  bindB.batch = bindB.queue.splice(0);

  const perPacket = (step: () => number): number => {
    for (let i = 0; i < 2000; i++) step(); // past the optimising tiers' thresholds before the clock starts
    let packets = 0;
    const t0 = performance.now(), until = t0 + seconds * 1000;
    while (performance.now() < until) for (let k = 0; k < 100; k++) packets += step();
    return ((performance.now() - t0) * 1e6) / packets;
  };
  const send = perPacket(() => ((tunA.waiting = BATCH), a.sender.drainTun()));
  const written = tunB.written;
  const recv = perPacket(() => ((bindB.pending = 1), b.receiver.drain()));
  if (tunB.written - written < BATCH) throw new Error("datapath: the receiving device delivered nothing");
  a.close();
  b.close();

  // The native AEAD on the same batch: seal, then open what was sealed (in place, back to the plaintext).
  const stride = 2048, buf = new Uint8Array(BATCH * stride);
  const offs = new Uint32Array(BATCH), lens = new Uint32Array(BATCH), idx = new Uint16Array(BATCH), ok = new Uint8Array(BATCH);
  const keys = crypto.getRandomValues(new Uint8Array(32));
  for (let i = 0; i < BATCH; i++) (offs[i] = i * stride), (buf[i * stride] = 4), (buf[i * stride + 8] = i);
  const aeadNs = perPacket(() => {
    for (let i = 0; i < BATCH; i++) lens[i] = MTU;
    real.sealTransport(BATCH, buf, offs, lens, keys, idx);
    for (let i = 0; i < BATCH; i++) lens[i] = MTU + 16;
    real.openTransport(BATCH, buf, offs, lens, keys, idx, ok);
    if (ok[0] !== 1) throw new Error("datapath: the native AEAD did not open what it sealed");
    return BATCH;
  });
  return { send, recv, aead: aeadNs };
}

if (process.argv[2] === "--child") {
  console.log(JSON.stringify(await child(process.argv[3]!, Number(process.argv[4]))));
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------------------------
// The parent: rounds of children, alternated.

const { parseArgs } = await import("node:util");
const { values: opt } = parseArgs({
  options: { repeat: { type: "string", default: "4" }, seconds: { type: "string", default: "2" }, ftl: { type: "boolean" }, json: { type: "boolean" } },
});
const count = (name: string, v: string, min: number, max: number) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name}: expected a number ${min}–${max}, got "${v}"`);
  return n;
};
const REPEAT = Math.round(count("repeat", opt.repeat!, 1, 100));
const SECONDS = count("seconds", opt.seconds!, 0.1, 60);
const BEFORE = process.env.BUNWG_BENCH_BEFORE;
const subjects = [{ name: "ours", repo: HERE }, ...(BEFORE ? [{ name: "ours-before", repo: BEFORE }] : [])];

async function measure(repo: string): Promise<Result> {
  const p = Bun.spawn(["bun", join(HERE, "bench", "datapath.ts"), "--child", repo, String(SECONDS)], {
    cwd: repo, stdout: "pipe", stderr: "pipe",
    env: { ...process.env, BUN_JSC_useFTLJIT: opt.ftl ? "1" : "0" },
  });
  const timer = setTimeout(() => p.kill("SIGKILL"), (4 * SECONDS + 60) * 1000);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`datapath: the measurement of ${repo} exited with ${code}: ${err.trim().split("\n").slice(-3).join(" / ")}`);
  return JSON.parse(out.trim().split("\n").pop()!);
}

const results = new Map<string, Result[]>(subjects.map((s) => [s.name, []]));
for (let r = 0; r < REPEAT; r++) {
  const order = r % 2 === 0 ? subjects : [...subjects].reverse();
  for (const s of order) {
    const x = await measure(s.repo);
    results.get(s.name)!.push(x);
    if (opt.json) console.log(JSON.stringify({ bench: "datapath", subject: s.name, round: r + 1, ftl: !!opt.ftl, ...x }));
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((p, q) => p - q);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
if (!opt.json) {
  const f = (x: number) => x.toFixed(1);
  console.log(`JavaScript per packet, ${BATCH} × ${MTU}-byte packets per batch, FTL ${opt.ftl ? "on" : "off"}, ${REPEAT} rounds of ${SECONDS} s (median; each round)`);
  console.log("| subject | send (ns/packet) | receive (ns/packet) | native AEAD seal + open (ns/packet) | (send + receive) ÷ AEAD |");
  console.log("|---|---:|---:|---:|---:|");
  for (const s of subjects) {
    const xs = results.get(s.name)!;
    const m = { send: median(xs.map((x) => x.send)), recv: median(xs.map((x) => x.recv)), aead: median(xs.map((x) => x.aead)) };
    const each = (k: keyof Result) => xs.map((x) => f(x[k])).join(", ");
    console.log(`| ${s.name} | ${f(m.send)} (${each("send")}) | ${f(m.recv)} (${each("recv")}) | ${f(m.aead)} (${each("aead")}) | ${((m.send + m.recv) / m.aead).toFixed(2)} |`);
  }
  if (BEFORE) {
    const o = results.get("ours")!, b = results.get("ours-before")!;
    const ratio = (k: keyof Result) => (median(o.map((x) => x[k])) / median(b.map((x) => x[k]))).toFixed(2);
    console.log(`\nours ÷ ours-before: send ${ratio("send")}, receive ${ratio("recv")}`);
  }
}
