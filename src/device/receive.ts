// Inbound path: the UDP socket is drained in batches (recvmmsg; GRO-coalesced datagrams arrive already split).
// Each packet is sorted by message type (§5.4): handshake messages go to the protocol engine one by one;
// transport messages are opened together in one AEAD call, checked against the replay window (§5.4.6) and
// against the sending peer's allowed IPs (§2: cryptokey routing doubles as a reverse-path filter), then
// written to the TUN in one batched call.
import type { DataPathHost } from "./host.ts";
import type { DevicePeer } from "./peer.ts";
import {
  COOKIE_REPLY, INITIATION, MESSAGE_COOKIE_REPLY, MESSAGE_INITIATION, MESSAGE_RESPONSE, MESSAGE_TRANSPORT, RESPONSE,
  TRANSPORT, readCounter, readU32, type Keypair,
} from "../noise/index.ts";
import { HEADER, KeyTable, STRIDE, TAG } from "./batch.ts";
import { EP_SIZE, Endpoint } from "./endpoint.ts";
import { Drop, dropForRejection } from "./counters.ts";
import type { Sender } from "./send.ts";


/** Datagrams per receive call, and packets after GRO splitting (each datagram may hold up to 64 segments). Slots are
 *  64 KiB (a datagram may be that large), but only the bytes received are ever touched: without GRO one datagram per
 *  slot; with GRO up to 64 KiB. What a burst touched is given back when the daemon is quiet (trim.ts). Fewer slots
 *  per call with GRO (16, 32) cost UDP throughput in a same-run A/B (bench/RESULTS.md, "Memory: where it goes"). */
const MSGS = 64;
const PKTS = 1024;

/** Under load (§5.4.7): many handshake messages in a short window; sticky for a second like wireguard-go. */
const LOAD_WINDOW_MS = 250;
const LOAD_THRESHOLD = 64;
const LOAD_STICKY_MS = 1000;

export class Receiver {
  private readonly buf = new Uint8Array(MSGS * STRIDE);
  private readonly inOffs = new Uint32Array(PKTS);
  private readonly inLens = new Uint32Array(PKTS);
  private readonly eps = new Uint8Array(PKTS * EP_SIZE);
  private readonly epWords = new Uint32Array(this.eps.buffer);

  private readonly offs = new Uint32Array(PKTS);
  private readonly lens = new Uint32Array(PKTS);
  private readonly ok = new Uint8Array(PKTS);
  private readonly src = new Uint16Array(PKTS);
  private readonly kps: (Keypair | null)[] = new Array(PKTS).fill(null);
  private readonly keyTable = new KeyTable(PKTS);
  private readonly tunOffs = new Uint32Array(PKTS);
  private readonly tunLens = new Uint32Array(PKTS);

  private loadWindowStart = 0;
  private loadCount = 0;
  private underLoadUntil = 0;

  /** Staged packets and keepalives leave through the sender once a handshake completes. */
  constructor(private readonly dev: DataPathHost, private readonly sender: Sender) {}

  /** The packet buffer, for trim.ts to give its pages back while the daemon is quiet. */
  get buffers(): Uint8Array[] { return [this.buf]; }

  /** Drains the socket until it would block; returns the packets received. */
  drain(): number {
    const udp = this.dev.udp;
    if (udp === null) return 0;
    let total = 0;
    for (;;) {
      const n = udp.recvBatch(this.buf, STRIDE, MSGS, this.inOffs, this.inLens, this.eps, PKTS);
      if (n <= 0) return total;
      total += n;
      if (!this.dev.up) this.dev.counters.drop(Drop.interface_down, n); // link down: nothing is accepted (device.ts setUp)
      else this.process(n);
    }
  }

  private process(n: number): void {
    const dev = this.dev;
    const buf = this.buf;
    const now = performance.now();
    const keys = this.keyTable;
    keys.reset();
    let m = 0;
    for (let i = 0; i < n; i++) {
      const off = this.inOffs[i];
      const len = this.inLens[i];
      if (len < 4 || buf[off + 1] !== 0 || buf[off + 2] !== 0 || buf[off + 3] !== 0) { dev.counters.drop(Drop.malformed); continue; }
      const type = buf[off];
      if (type === MESSAGE_TRANSPORT) {
        if (len < TRANSPORT.minSize) { dev.counters.drop(Drop.malformed); continue; }
        const kp = dev.engine.keypairByIndex(readU32(buf, off + TRANSPORT.receiver));
        if (kp === undefined) { dev.counters.drop(Drop.unknown_session); continue; }
        if (!kp.peer.replayMayAccept(kp, readCounter(buf, off))) { dev.counters.dropFrom(dev.peerOf(kp.peer), Drop.replay); continue; }
        this.offs[m] = off;
        this.lens[m] = len - HEADER;
        keys.index[m] = keys.slot(kp.receiveKey);
        this.kps[m] = kp;
        this.src[m] = i;
        m++;
      } else if ((type === MESSAGE_INITIATION && len === INITIATION.size) || (type === MESSAGE_RESPONSE && len === RESPONSE.size) ||
                 (type === MESSAGE_COOKIE_REPLY && len === COOKIE_REPLY.size)) {
        // Transport packets that arrived earlier go first: a handshake may change the session they belong to.
        this.openAndDeliver(m, now);
        m = 0;
        keys.reset();
        this.handshake(buf.subarray(off, off + len), new Endpoint(this.eps, i * EP_SIZE), type, now);
      } else dev.counters.drop(Drop.malformed);
    }
    this.openAndDeliver(m, now);
    keys.reset(); // the batch's receive keys go now, not at the next batch (batch.ts)
    dev.runDueTimers(now);
  }

  private underLoad(now: number): boolean {
    if (now - this.loadWindowStart > LOAD_WINDOW_MS) {
      this.loadWindowStart = now;
      this.loadCount = 0;
    }
    if (++this.loadCount > LOAD_THRESHOLD) this.underLoadUntil = now + LOAD_STICKY_MS;
    return now < this.underLoadUntil;
  }

  private handshake(msg: Uint8Array, ep: Endpoint, type: number, now: number): void {
    const dev = this.dev;
    let outcome;
    try {
      outcome = dev.engine.consumeHandshake(now, msg, ep.sourceBytes(), this.underLoad(now));
    } catch (e) {
      dev.log.debug(`Dropped handshake message from ${ep}: ${(e as Error).message}`);
      dev.counters.drop(Drop.invalid_handshake);
      return;
    }
    switch (outcome.kind) {
      case "response": {
        const peer = dev.peerOf(outcome.peer);
        if (!peer) return;
        dev.log.debug(`Received handshake initiation from peer ${peer.name} (${ep})`);
        peer.endpoint = dev.checkSource(ep);
        peer.rxBytes += msg.length;
        if (dev.udp?.sendBytes(outcome.packet, ep) === false) dev.log.error(`Failed to send handshake response to peer ${peer.name} (${ep})`);
        peer.txBytes += outcome.packet.length;
        peer.counters.completed();
        dev.touch(peer);
        break;
      }
      case "established": {
        const peer = dev.peerOf(outcome.peer);
        if (!peer) return;
        dev.log.debug(`Received handshake response from peer ${peer.name} (${ep})`);
        peer.endpoint = dev.checkSource(ep);
        peer.rxBytes += msg.length;
        peer.counters.completed();
        // §6.5: the initiator sends first — its staged packets, or a keepalive to confirm the session.
        if (peer.staged.length > 0) this.sender.flushStaged(peer, now);
        else this.sender.sendKeepalive(peer, now);
        dev.touch(peer);
        break;
      }
      case "cookie-reply":
        if (dev.udp?.sendBytes(outcome.packet, ep) === false) dev.log.debug(`Failed to send cookie reply to ${ep}`);
        dev.counters.cookieSent();
        break;
      case "cookie-consumed":
        break;
      case "rejected":
        dev.counters.dropFrom(outcome.peer && dev.peerOf(outcome.peer), dropForRejection(outcome.reason));
        if (outcome.reason === "invalid-mac1" && type === MESSAGE_INITIATION) dev.log.debug("Invalid initiation MAC");
        else if (outcome.reason === "invalid-initiation") dev.log.debug("Invalid handshake initiation");
        else dev.log.debug(`Dropped handshake message from ${ep}: ${outcome.reason}`);
        break;
    }
  }

  /** Opens the m queued transport packets, filters them and writes the good ones to the TUN. */
  private openAndDeliver(m: number, now: number): void {
    if (m === 0) return;
    const dev = this.dev;
    const buf = this.buf;
    const keys = this.keyTable;
    dev.aead.openTransport(m, buf, this.offs, this.lens, keys.keys, keys.index, this.ok);
    let w = 0;
    for (let j = 0; j < m; j++) {
      const kp = this.kps[j]!;
      this.kps[j] = null;
      if (this.ok[j] !== 1) { dev.counters.dropFrom(dev.peerOf(kp.peer), Drop.bad_mac); continue; }
      const off = this.offs[j];
      const plen = this.lens[j] - TAG;
      const noise = kp.peer;
      if (!noise.packetReceived(now, kp, readCounter(buf, off), plen === 0)) { dev.counters.dropFrom(dev.peerOf(noise), kp.alive ? Drop.replay : Drop.unknown_session); continue; }
      const peer = dev.peerOf(noise);
      if (peer === undefined) { dev.counters.drop(Drop.unknown_session); continue; }
      const i = this.src[j];
      // §2 roaming: the endpoint follows the latest authenticated packet.
      const ep = peer.endpoint;
      if (ep === null || !ep.matches(this.epWords, i * (EP_SIZE / 4))) peer.endpoint = dev.checkSource(new Endpoint(this.eps, i * EP_SIZE));
      peer.rxBytes += plen + HEADER + TAG;
      dev.touch(peer);
      if (peer.staged.length > 0) this.sender.flushStaged(peer, now); // a responder's session is confirmed now
      if (plen === 0) continue; // keepalive
      const pkt = off + HEADER;
      const version = buf[pkt] >> 4;
      let total = 0;
      let owner: DevicePeer | undefined;
      if (version === 4 && plen >= 20) {
        total = (buf[pkt + 2] << 8) | buf[pkt + 3];
        owner = dev.allowedIps.lookupV4(buf, pkt + 12);
      } else if (version === 6 && plen >= 40) {
        total = 40 + ((buf[pkt + 4] << 8) | buf[pkt + 5]);
        owner = dev.allowedIps.lookupV6(buf, pkt + 8);
      } else { peer.counters.drop(Drop.malformed); continue; }
      if (total > plen || total < (version === 4 ? 20 : 40)) { peer.counters.drop(Drop.malformed); continue; }
      if (owner !== peer) {
        if (dev.log.debugEnabled) dev.log.debug(`Packet has unallowed src IP from peer ${peer.name}`);
        peer.counters.drop(Drop.unallowed_source);
        continue;
      }
      this.tunOffs[w] = pkt;
      this.tunLens[w] = total;
      peer.counters.received(total);
      w++;
    }
    if (w > 0) dev.counters.tunWritten(w, dev.tun.writeBatch(buf, this.tunOffs, this.tunLens, w));
  }
}
