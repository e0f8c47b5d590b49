// Outbound path (whitepaper §5.4.6): packets from the TUN, routed by cryptokey routing to the peer with the most
// specific allowed IP, sealed in one batched AEAD call, sent over UDP. Packets for a peer without a usable session
// are staged and a handshake is requested (§6.2 "handshakes happen on demand").
import type { DataPathHost } from "./host.ts";
import type { DevicePeer } from "./peer.ts";
import { BATCH, HEADER, KeyTable, TAG, capacityOf, strideFor } from "./batch.ts";
import { EP_SIZE, FAMILY_REFUSED, SOURCE_DROPPED } from "./endpoint.ts";
import { writeTransportHeader } from "../noise/index.ts";
import { Drop } from "./counters.ts";

export class Sender {
  /** Slot size, sized by the MTU and grown when a larger packet shows up (the MTU was raised): see grow(). */
  private stride = 0;
  private cap = 0;
  /** TUN reads land at slot*stride + HEADER, leaving room for the transport header. */
  private tunBuf = new Uint8Array(0);
  private tunView = this.tunBuf;
  readonly tunLens = new Uint32Array(BATCH);
  /** Staged packets and keepalives are copied here and sealed with the same code. */
  private auxBuf = this.tunBuf;
  private auxCount = 0;
  private auxPeers: (DevicePeer | null)[] = new Array(BATCH).fill(null);
  private readonly auxLens = new Uint32Array(BATCH);

  private readonly offs = new Uint32Array(BATCH);
  private readonly lens = new Uint32Array(BATCH);
  private readonly outPeers: (DevicePeer | null)[] = new Array(BATCH).fill(null);
  private readonly keyTable = new KeyTable(BATCH);
  private readonly eps = new Uint8Array(BATCH * EP_SIZE);
  private m = 0;

  constructor(private readonly dev: DataPathHost) {
    this.grow(dev.mtu);
  }

  /** The packet buffers, for trim.ts to give their pages back while the daemon is quiet. */
  get buffers(): Uint8Array[] { return [this.tunBuf, this.auxBuf]; }

  /** Bytes held by the send path's packet buffers (bench/memory.ts, test/memory/). */
  get bufferBytes(): number {
    return this.tunBuf.byteLength + this.auxBuf.byteLength;
  }

  /** Reallocates the slots for packets of up to `size` bytes when they are smaller: when the MTU in force grew
   *  (device.ts follows the link, so the slots grow before the first larger packet) or a packet did not fit. Only
   *  between batches (nothing pending): a rare event, never per packet. */
  grow(size: number): void {
    const stride = strideFor(size);
    if (stride <= this.stride) return;
    this.stride = stride;
    this.cap = capacityOf(stride);
    this.tunBuf = new Uint8Array(BATCH * stride + HEADER);
    this.tunView = this.tunBuf.subarray(HEADER);
    this.auxBuf = new Uint8Array(BATCH * stride);
  }

  /** Drains the TUN until it would block, one batch at a time; returns the packets read. */
  drainTun(): number {
    const dev = this.dev;
    let total = 0;
    for (;;) {
      const n = dev.tun.readBatch(this.tunView, this.stride, this.tunLens, BATCH);
      if (n <= 0) return total;
      total += n;
      this.processTunBatch(n);
    }
  }

  private processTunBatch(n: number): void {
    const dev = this.dev;
    const buf = this.tunBuf;
    const now = performance.now();
    const stride = this.stride, cap = this.cap;
    let need = 0;
    this.begin();
    for (let i = 0; i < n; i++) {
      const hdr = i * stride;
      const pkt = hdr + HEADER;
      const len = this.tunLens[i];
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
      this.add(buf, hdr, len, peer, now);
    }
    this.finish(buf, now);
    if (need > 0) {
      this.dev.log.info(`A ${need}-byte packet did not fit the ${cap}-byte slots (the MTU grew?): dropped, slots grown`);
      this.grow(need);
    }
  }

  private begin(): void {
    this.m = 0;
    this.keyTable.reset();
  }

  /** Queues one packet (plaintext at hdr+HEADER) for sealing, or stages it when the peer has no session. */
  private add(buf: Uint8Array, hdr: number, len: number, peer: DevicePeer, now: number): void {
    if (!this.dev.up) return; // link down: nothing is sent (device.ts setUp)
    const noise = peer.noise;
    const kp = peer.endpoint === null ? null : noise.sendingKeypair(now);
    const counter = kp === null ? -1 : noise.reserveCounters(kp, 1);
    if (kp === null || counter < 0) {
      peer.staged.push(buf, hdr + HEADER, len);
      noise.wantHandshake(now);
      this.dev.touch(peer);
      return;
    }
    writeTransportHeader(buf, hdr, kp.remoteIndex, counter);
    // §5.4.6: pad to a multiple of 16, but never beyond the MTU.
    let padded = (len + 15) & ~15;
    if (padded > this.dev.mtu) padded = Math.max(len, this.dev.mtu);
    buf.fill(0, hdr + HEADER + len, hdr + HEADER + padded);
    const m = this.m++;
    peer.counters.sent(len);
    this.offs[m] = hdr;
    this.lens[m] = padded;
    this.keyTable.index[m] = this.keyTable.slot(kp.sendKey);
    this.outPeers[m] = peer;
    if (this.m === BATCH) this.finish(buf, now);
  }

  private finish(buf: Uint8Array, now: number): void {
    const m = this.m;
    if (m === 0) return;
    // Whatever happens from here on, this batch is over: a later flush must never seal or send these slots again
    // (their counters are spent; sealing twice under one nonce would break the AEAD, §5.4.6).
    try {
      this.sealAndSend(buf, m, now);
    } finally {
      this.outPeers.fill(null, 0, m);
      this.begin();
    }
  }

  private sealAndSend(buf: Uint8Array, m: number, now: number): void {
    const dev = this.dev;
    dev.aead.sealTransport(m, buf, this.offs, this.lens, this.keyTable.keys, this.keyTable.index);
    const eps = this.eps;
    for (let j = 0; j < m; j++) {
      const peer = this.outPeers[j]!;
      eps.set(peer.endpoint!.rec, j * EP_SIZE);
      this.lens[j] = HEADER + this.lens[j] + TAG; // now the datagram size
      peer.txBytes += this.lens[j];
    }
    dev.udp?.sendBatch(buf, this.offs, this.lens, eps, m);
    // Timers (§6.2) see each peer's run of packets once: "sent data" unless the run held only keepalives.
    let run: DevicePeer | null = null;
    let keepalivesOnly = true;
    for (let j = 0; j < m; j++) {
      const peer = this.outPeers[j]!;
      const flag = eps[j * EP_SIZE + 40];
      if (flag === SOURCE_DROPPED) peer.endpoint?.clearSource();
      else if (flag === FAMILY_REFUSED && peer.endpoint !== null && !peer.endpoint.refusedLogged) {
        peer.endpoint.refusedLogged = true; // once per endpoint, not per packet
        dev.log.error(`Not sending to peer ${peer.name}: endpoint ${peer.endpoint} is IPv6 and the UDP socket is IPv4-only (this host has no IPv6)`);
      }
      const keepalive = this.lens[j] === HEADER + TAG;
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
    this.finish(this.tunBuf, now); // what is pending in the TUN batch was read later: keep order per peer
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
    if (pkt !== null) this.auxBuf.set(pkt.subarray(0, len), i * this.stride + HEADER);
    this.auxLens[i] = len;
    this.auxPeers[i] = peer;
  }

  private flushAux(now: number): void {
    const n = this.auxCount;
    this.auxCount = 0;
    if (n === 0) return;
    this.finish(this.tunBuf, now);
    this.begin();
    for (let i = 0; i < n; i++) {
      const peer = this.auxPeers[i]!;
      this.auxPeers[i] = null;
      this.add(this.auxBuf, i * this.stride, this.auxLens[i], peer, now);
    }
    this.finish(this.auxBuf, now);
  }
}
