// Outbound path (whitepaper §5.4.6): packets from the TUN, routed by cryptokey routing to the peer with the most
// specific allowed IP, sealed in one batched AEAD call, sent over UDP. Packets for a peer without a usable session
// are staged and a handshake is requested (§6.2 "handshakes happen on demand").
// With worker threads (workers.ts, docs/threads.md) a full batch is sealed and sent by a worker while this thread
// reads and routes the next one: each batch in flight has its own slots (SendBatch), and its counters were
// reserved here before it left, so no nonce is used twice (§5.4.6) and the pool's UDP lane keeps the order.
import type { DataPathHost } from "./host.ts";
import type { DevicePeer } from "./peer.ts";
import { BATCH, HEADER, KeyTable, TAG, capacityOf, strideFor } from "./batch.ts";
import { EP_SIZE, FAMILY_REFUSED, SOURCE_DROPPED } from "./endpoint.ts";
import { WORDS_LITTLE_ENDIAN, writeTransportHeader, writeTransportHeaderWords, type Keypair } from "../noise/index.ts";
import { Drop } from "./counters.ts";
import { nativeTun, nativeUdp } from "./workers.ts";

/** A lone packet this long (ms) after the last drain that read anything is read alone (Sender.drainTun). Under load
 *  drains follow each other within tens of microseconds; a ping's come every few milliseconds. */
const SPARSE_MS = 1;

/** Slots per TUN read with worker threads: fewer hand-offs per byte (each costs wake-ups, docs/threads.md). */
const THREADED_BATCH = 2 * BATCH;

/** Batches in flight at once with worker threads (each holds THREADED_BATCH slots): enough to keep every worker
 *  busy while this thread fills the next. */
function ringSize(workers: number): number {
  return workers === 0 ? 1 : Math.min(2 * workers + 1, 16);
}

/** One batch: its packet slots (a TUN read lands at slot*stride + HEADER, leaving room for the transport header)
 *  and what sealing and sending it needs. Owned by a worker while `job` >= 0. */
class SendBatch {
  readonly buf: Uint8Array;
  /** buf as 32-bit words: every slot starts 4-byte-aligned (strides are multiples of 64), so headers are written a
   *  word at a time (noise/messages.ts writeTransportHeaderWords). */
  readonly words: Int32Array;
  readonly view: Uint8Array;
  readonly tunLens: Uint32Array;
  readonly offs: Uint32Array;
  readonly lens: Uint32Array;
  readonly keyTable: KeyTable;
  readonly eps: Uint8Array;
  readonly peers: (DevicePeer | null)[];
  m = 0;
  /** The peer of the last packet added, its session (null: none usable) and that session's key slot (-1: not taken
   *  yet): a run of packets to one peer looks them up once (Sender.add). */
  runPeer: DevicePeer | null = null;
  runKp: Keypair | null = null;
  runSlot = -1;
  /** The worker job sealing and sending it, or -1. */
  job = -1;

  constructor(stride: number, header: number, readonly slots: number) {
    this.buf = new Uint8Array(slots * stride + header);
    this.words = new Int32Array(this.buf.buffer, 0, this.buf.length >> 2);
    this.view = this.buf.subarray(header);
    this.tunLens = new Uint32Array(slots);
    this.offs = new Uint32Array(slots);
    this.lens = new Uint32Array(slots);
    this.keyTable = new KeyTable(slots);
    this.eps = new Uint8Array(slots * EP_SIZE);
    this.peers = new Array(slots).fill(null);
  }

  begin(): void {
    this.m = 0;
    this.keyTable.reset();
    this.runPeer = null;
    this.runKp = null;
    this.runSlot = -1;
  }

  /** The batch is over (sent, or failed): its peers let go, its keys wiped, ready to fill again. */
  release(): void {
    this.peers.fill(null, 0, this.m);
    this.begin();
  }

  /** Each packet's endpoint record copied in, and its datagram (header + payload + tag, §5.4.6) counted as sent
   *  to its peer; lens[j] is still the payload's length. */
  address(): void {
    for (let j = 0; j < this.m; j++) {
      const peer = this.peers[j]!;
      this.eps.set(peer.endpoint!.rec, j * EP_SIZE);
      peer.txBytes += HEADER + this.lens[j] + TAG;
    }
  }
}

export class Sender {
  /** Slot size, sized by the MTU and grown when a larger packet shows up (the MTU was raised): see grow(). */
  private stride = 0;
  private cap = 0;
  /** TUN batches: one, or a ring of them with worker threads (the next is filled while the others are in flight). */
  private ring: SendBatch[] = [];
  private k = 0;
  /** Staged packets and keepalives are copied here and sealed with the same code, always on this thread. */
  private aux: SendBatch;
  private auxCount = 0;
  private auxPeers: (DevicePeer | null)[] = new Array(BATCH).fill(null);
  private readonly auxLens = new Uint32Array(BATCH);
  /** Batches handed to a worker, oldest first. */
  private inFlight: SendBatch[] = [];
  /** The batch being routed (flushStaged seals what it holds so far first), or null. */
  private cur: SendBatch | null = null;
  /** A worker's read of the TUN into ring[k] (readAhead), or -1. */
  private readJob = -1;
  /** Packets the last drain that found any read, and when it ran (drainTun). */
  private lastDrained = 0;
  private lastDrainAt = 0;
  /** SPARSE_MS; tests set it (0: every lone packet after a lone one is read alone; Infinity: none is). */
  sparseMs = SPARSE_MS;

  constructor(private readonly dev: DataPathHost) {
    this.aux = new SendBatch(0, 0, BATCH);
    this.grow(dev.mtu);
  }

  /** The packet buffers, for trim.ts to give their pages back while the daemon is quiet. */
  get buffers(): Uint8Array[] { return [...this.ring.map((b) => b.buf), this.aux.buf]; }

  /** Bytes held by the send path's packet buffers (bench/memory.ts, test/memory/). */
  get bufferBytes(): number {
    return this.ring.reduce((sum, b) => sum + b.buf.byteLength, 0) + this.aux.buf.byteLength;
  }

  /** Reallocates the slots for packets of up to `size` bytes when they are smaller: when the MTU in force grew
   *  (device.ts follows the link, so the slots grow before the first larger packet) or a packet did not fit. Only
   *  between batches (nothing pending or in flight): a rare event, never per packet. */
  grow(size: number): void {
    const stride = strideFor(size);
    if (stride <= this.stride && this.ring.length === ringSize(this.dev.workers?.count ?? 0)) return;
    this.settle();
    this.stride = Math.max(stride, this.stride);
    this.cap = capacityOf(this.stride);
    const workers = this.dev.workers?.count ?? 0;
    this.ring = Array.from({ length: ringSize(workers) }, () => new SendBatch(this.stride, HEADER, workers === 0 ? BATCH : THREADED_BATCH));
    this.k = 0;
    this.aux = new SendBatch(this.stride, 0, BATCH);
  }

  /** Drains the TUN until it would block, one batch at a time; returns the packets read. Under load (a read
   *  filled at least ASYNC_MIN slots) with workers, the next read is made by a worker while this thread routes
   *  the batch just read; it comes back through the pump (the pool's event fd), and reads return to this thread
   *  when the TUN runs dry. */
  drainTun(): number {
    const now = performance.now();
    // Sparse: the last drain that read anything read one packet, a while ago (see drainTunOnce).
    const sparse = this.lastDrained === 1 && now - this.lastDrainAt >= this.sparseMs;
    const total = this.drainTunOnce(sparse);
    if (total > 0) {
      this.lastDrained = total;
      this.lastDrainAt = now;
    }
    return total;
  }

  private drainTunOnce(sparse: boolean): number {
    const dev = this.dev;
    let total = 0;
    for (;;) {
      let b: SendBatch;
      let n: number;
      let want = 0;
      const delegated = this.readJob >= 0;
      if (delegated) {
        const r = dev.workers === null ? 0 : dev.workers.result(this.readJob);
        if (r === undefined) return total;
        this.readJob = -1;
        b = this.ring[this.k];
        n = nativeTun(dev.tun)?.tookRead(r) ?? 0;
      } else if (total === 0 && dev.workers?.busy && this.readAhead()) {
        return 0; // busy (workers.ts BUSY_MS): this read goes to a worker too
      } else {
        b = this.next();
        // While packets come one at a time and far apart (a ping, a request and its answer), the first read asks for
        // one: it is sealed and sent before the read that finds the TUN empty, which otherwise lies between the
        // packet and its send (bench/RESULTS.md, "Latency tail", fourteenth round). Same reads, in another order.
        // Not under load: a lone packet between busy drains (a TCP acknowledgement) would cost a send of its own.
        want = total === 0 && sparse ? 1 : b.slots;
        n = dev.tun.readBatch(b.view, this.stride, b.tunLens, want);
      }
      if (n <= 0) return total;
      total += n;
      this.k = (this.k + 1) % this.ring.length;
      // Once reads are delegated they stay with the workers until the TUN runs dry, and while the device is busy
      // (workers.ts): no read on this thread then.
      dev.workers?.sawRead(n, performance.now());
      if (delegated || dev.workers?.busy) this.readAhead();
      this.processTunBatch(b, n);
      // A read of fewer than it asked for found the TUN empty (io.ts): another would only say so again — a system
      // call per drain, on the way from this send to the next wait (bench/RESULTS.md, "Latency tail", twelfth round).
      if (!delegated && this.readJob < 0 && n < want) return total;
    }
  }

  /** Whether a worker is reading the TUN (the pump then waits for the pool, not for the TUN). */
  get reading(): boolean {
    return this.readJob >= 0;
  }

  /** The batch to fill next: the ring's next one, once its worker is done with it. */
  private next(): SendBatch {
    if (this.ring.length !== ringSize(this.dev.workers?.count ?? 0)) this.grow(0);
    const b = this.ring[this.k];
    if (b.job >= 0) this.collect(b, true);
    return b;
  }

  /** Has a worker read the next batch into the ring's next free slots; false without workers. */
  private readAhead(): boolean {
    const workers = this.dev.workers;
    const tun = workers === null || this.ring.length < 3 ? null : nativeTun(this.dev.tun);
    if (workers === null || tun === null) return false;
    const b = this.next();
    this.readJob = workers.tunRead(tun, b.view, this.stride, b.tunLens, b.slots);
    return true;
  }

  private processTunBatch(b: SendBatch, n: number): void {
    this.cur = b;
    try {
      this.route(b, n);
    } finally {
      this.cur = null;
    }
  }

  private route(b: SendBatch, n: number): void {
    const dev = this.dev;
    const buf = b.buf;
    const now = performance.now();
    const stride = this.stride, cap = this.cap;
    let need = 0;
    b.begin();
    for (let i = 0; i < n; i++) {
      const hdr = i * stride;
      const pkt = hdr + HEADER;
      const len = b.tunLens[i];
      if (len < 1) continue;
      const version = buf[pkt] >> 4;
      const v4 = version === 4 && len >= 20, v6 = version === 6 && len >= 40;
      // A packet larger than the slots (the MTU grew) arrives cut short: its read length beyond the slot, or its IP
      // length beyond the read length (zig/src/offload.zig readBatch). Dropped; the slots grow after this batch.
      const total = v4 ? (buf[pkt + 2] << 8) | buf[pkt + 3] : v6 ? 40 + ((buf[pkt + 4] << 8) | buf[pkt + 5]) : 0;
      if (len > cap || total > len) {
        need = Math.max(need, len, total);
        continue;
      }
      const peer = v4 ? dev.allowedIps.lookupV4(buf, pkt + 16) : v6 ? dev.allowedIps.lookupV6(buf, pkt + 24) : undefined;
      if (peer === undefined) { dev.counters.drop(Drop.no_route); continue; } // §2: no allowed IP matches → drop
      if (peer.staged.length > 0) this.flushStaged(peer, now);
      this.add(b, hdr, len, peer, now);
    }
    this.finish(b, now, true); // the whole read batch: a worker may take it
    if (need > 0) {
      this.dev.log.info(`A ${need}-byte packet did not fit the ${cap}-byte slots (the MTU grew?): dropped, slots grown`);
      this.grow(need);
    }
  }

  /** Queues one packet (plaintext at hdr+HEADER) for sealing, or stages it when the peer has no session. */
  private add(b: SendBatch, hdr: number, len: number, peer: DevicePeer, now: number): void {
    // Link down: nothing is sent (device.ts setUp). A packet the kernel routed here may mean the link came up and the
    // link thread's callback has not run yet (device.ts linkUpNow): look again before dropping it.
    if (!this.dev.up && !this.dev.linkUpNow()) return this.dev.counters.drop(Drop.interface_down);
    const buf = b.buf;
    const noise = peer.noise;
    // One lookup per run of packets to this peer: within a batch `now`, the endpoint and the session stand still.
    let kp: Keypair | null;
    if (peer === b.runPeer) kp = b.runKp;
    else {
      kp = peer.endpoint === null ? null : noise.sendingKeypair(now);
      b.runPeer = peer;
      b.runKp = kp;
      b.runSlot = -1;
    }
    const counter = kp === null ? -1 : noise.reserveCounters(kp, 1);
    if (kp === null || counter < 0) {
      peer.staged.push(buf, hdr + HEADER, len);
      noise.wantHandshake(now);
      this.dev.touch(peer);
      return;
    }
    if (WORDS_LITTLE_ENDIAN && (hdr & 3) === 0) writeTransportHeaderWords(b.words, hdr >> 2, kp.remoteIndexBits, counter);
    else writeTransportHeader(buf, hdr, kp.remoteIndexBits, counter);
    // §5.4.6: pad to a multiple of 16, but never beyond the MTU.
    let padded = (len + 15) & ~15;
    if (padded > this.dev.mtu) padded = Math.max(len, this.dev.mtu);
    for (let p = hdr + HEADER + len, end = hdr + HEADER + padded; p < end; p++) buf[p] = 0; // < 16 bytes: no call into fill()
    const m = b.m++;
    peer.counters.sent(len);
    b.offs[m] = hdr;
    b.lens[m] = padded;
    b.keyTable.index[m] = b.runSlot >= 0 ? b.runSlot : (b.runSlot = b.keyTable.slot(kp.sendKey));
    b.peers[m] = peer;
  }

  /** Seals and sends b's packets: here, or (async, a large batch, workers running) by a worker. True when a worker
   *  took it (b is in flight until collected). Whatever happens, b's counters are spent: b is begun anew or in
   *  flight, never sealed twice under one nonce (§5.4.6). */
  private finish(b: SendBatch, now: number, async: boolean): boolean {
    const m = b.m;
    if (b.job >= 0) return false; // in flight (already finished)
    if (m === 0) {
      b.begin(); // empty (all staged, or none read): it lets go of its run's peer, which may be removed next
      return false;
    }
    const dev = this.dev;
    const workers = dev.workers;
    const udp = workers === null ? null : nativeUdp(dev.udp);
    const toWorker = workers !== null && async && workers.wants(m, now);
    if (workers === null || udp === null || (this.inFlight.length === 0 && !toWorker)) {
      // This thread, as without workers (nothing in flight can be overtaken).
      try {
        this.sealAndSend(b, m, now);
      } finally {
        b.release();
      }
      return false;
    }
    b.address();
    this.timers(b, m, now, b.lens, 0);
    let id: number;
    try {
      id = workers.sealSend(toWorker, m, b.buf, b.offs, b.lens, b.keyTable.keys, b.keyTable.index, udp, b.eps);
    } catch (e) {
      b.release();
      throw e;
    }
    b.job = id;
    this.inFlight.push(b);
    if (!toWorker) this.collect(b, true); // ran here, in the UDP lane's order behind what is in flight
    return toWorker;
  }

  /** Takes a worker's batch back (waiting for it when `wait`; false when it is not done): the endpoints whose
   *  source address vanished, refused families, the keys wiped. Batches come back in the order they left. */
  private collect(b: SendBatch, wait: boolean): boolean {
    const workers = this.dev.workers;
    if (workers === null) return this.abandon();
    while (this.inFlight.length > 0) {
      const first = this.inFlight[0];
      const r = wait ? workers.wait(first.job) : workers.result(first.job);
      if (r === undefined) return false;
      this.inFlight.shift();
      first.job = -1;
      if (r < 0) this.dev.log.error(`Sealing a batch failed: packet ${-r - 1} lies outside its buffer (a bug: please report)`);
      this.afterSend(first, first.m);
      first.release();
      if (first === b) return true;
    }
    return true;
  }

  /** The workers were stopped (the device closed): the batches in flight were run to the end by them. */
  private abandon(): true {
    for (const b of this.inFlight) {
      b.job = -1;
      b.release();
    }
    this.inFlight = [];
    return true;
  }

  /** Collects what the workers finished, without waiting (the pump calls this each turn). */
  reap(): void {
    if (this.inFlight.length > 0) this.collect(this.inFlight[this.inFlight.length - 1], false);
  }

  /** Waits for every batch in flight and a worker's read (routing what it read): before the socket closes, the
   *  slots change, or the poll threads take over. */
  settle(): void {
    if (this.readJob >= 0 && this.dev.workers !== null) {
      const r = this.dev.workers.wait(this.readJob);
      this.readJob = -1;
      const b = this.ring[this.k];
      const n = nativeTun(this.dev.tun)?.tookRead(r) ?? 0;
      if (n > 0) {
        this.k = (this.k + 1) % this.ring.length;
        this.processTunBatch(b, n);
      }
    }
    this.readJob = -1;
    if (this.inFlight.length > 0) this.collect(this.inFlight[this.inFlight.length - 1], true);
  }

  private sealAndSend(b: SendBatch, m: number, now: number): void {
    const dev = this.dev;
    const buf = b.buf;
    dev.aead.sealTransport(m, buf, b.offs, b.lens, b.keyTable.keys, b.keyTable.index);
    b.address();
    for (let j = 0; j < m; j++) b.lens[j] += HEADER + TAG; // now the datagram size
    dev.udp?.sendBatch(buf, b.offs, b.lens, b.eps, m);
    this.afterSend(b, m);
    this.timers(b, m, now, b.lens, HEADER + TAG);
  }

  /** What a send reported per endpoint (byte 40 of its record, zig/src/udp.zig). */
  private afterSend(b: SendBatch, m: number): void {
    const eps = b.eps;
    for (let j = 0; j < m; j++) {
      const peer = b.peers[j]!;
      const flag = eps[j * EP_SIZE + 40];
      if (flag === SOURCE_DROPPED) peer.endpoint?.clearSource();
      else if (flag === FAMILY_REFUSED && peer.endpoint !== null && !peer.endpoint.refusedLogged) {
        peer.endpoint.refusedLogged = true; // once per endpoint, not per packet
        this.dev.log.error(`Not sending to peer ${peer.name}: endpoint ${peer.endpoint} is IPv6 and the UDP socket is IPv4-only (this host has no IPv6)`);
      }
    }
  }

  /** Timers (§6.2) see each peer's run of packets once: "sent data" unless the run held only keepalives (packets
   *  whose length, `lens[j] - overhead`, is 0). */
  private timers(b: SendBatch, m: number, now: number, lens: Uint32Array, overhead: number): void {
    let run: DevicePeer | null = null;
    let keepalivesOnly = true;
    for (let j = 0; j < m; j++) {
      const peer = b.peers[j]!;
      const keepalive = lens[j] === overhead;
      if (peer !== run) {
        if (run !== null) this.sent(run, now, keepalivesOnly);
        run = peer;
        keepalivesOnly = keepalive;
      } else keepalivesOnly &&= keepalive;
    }
    if (run !== null) this.sent(run, now, keepalivesOnly);
  }

  private sent(peer: DevicePeer, now: number, keepalivesOnly: boolean): void {
    peer.noise.packetSent(now, keepalivesOnly);
    this.dev.touch(peer);
  }

  /** Sends the packets staged while the peer had no session, oldest first (§6.2). */
  flushStaged(peer: DevicePeer, now: number): void {
    if (peer.staged.length === 0 || peer.endpoint === null || peer.noise.sendingKeypair(now) === null) return;
    // What is pending in the TUN batch goes first (sealed here: the rest of that batch is still being filled).
    if (this.cur !== null) this.finish(this.cur, now, false);
    peer.staged.drain((pkt, len) => this.addAux(pkt, len, peer, now));
    this.flushAux(now);
  }

  /** An empty transport message (§6.5 keepalive), sealed like data. */
  sendKeepalive(peer: DevicePeer, now: number): void {
    this.addAux(null, 0, peer, now);
    this.flushAux(now);
  }

  private addAux(pkt: Uint8Array | null, len: number, peer: DevicePeer, now: number): void {
    if (this.auxCount === BATCH) this.flushAux(now);
    const i = this.auxCount++;
    if (pkt !== null) this.aux.buf.set(pkt.subarray(0, len), i * this.stride + HEADER);
    this.auxLens[i] = len;
    this.auxPeers[i] = peer;
  }

  private flushAux(now: number): void {
    const n = this.auxCount;
    this.auxCount = 0;
    if (n === 0) return;
    if (this.cur !== null) this.finish(this.cur, now, false);
    const aux = this.aux;
    aux.begin();
    for (let i = 0; i < n; i++) {
      const peer = this.auxPeers[i]!;
      this.auxPeers[i] = null;
      this.add(aux, i * this.stride, this.auxLens[i], peer, now);
    }
    this.finish(aux, now, false);
  }
}
