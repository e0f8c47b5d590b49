// Inbound path: the UDP socket is drained in batches (recvmmsg; GRO-coalesced datagrams arrive already split).
// Each packet is sorted by message type (§5.4): handshake messages go to the protocol engine one by one;
// transport messages are opened together in one AEAD call, checked against the replay window (§5.4.6) and
// against the sending peer's allowed IPs (§2: cryptokey routing doubles as a reverse-path filter), then
// written to the TUN in one batched call.
// With worker threads (workers.ts, docs/threads.md) a large batch is opened by a worker while this thread receives
// the next; when it comes back (in the order received) this thread applies the replay window — only now, after
// authentication (§5.4.6) — and the allowed-IPs check, and a worker writes the survivors to the TUN in order.
// Under load a worker receives the next batch and opens it in the same job (pool.zig udp_recv_open), with copies of
// the sessions' receive keys (workers.ts): one hand-off per batch instead of two.
import type { DataPathHost } from "./host.ts";
import type { DevicePeer } from "./peer.ts";
import {
  COOKIE_REPLY, INITIATION, MESSAGE_COOKIE_REPLY, MESSAGE_INITIATION, MESSAGE_RESPONSE, MESSAGE_TRANSPORT, RESPONSE,
  TRANSPORT, WORDS_LITTLE_ENDIAN, readCounter, readCounterWords, readIndex, readIndexWords, type Keypair,
} from "../noise/index.ts";
import { HEADER, KeyTable, STRIDE, TAG } from "./batch.ts";
import { EP_SIZE, Endpoint } from "./endpoint.ts";
import { Drop, dropForRejection } from "./counters.ts";
import type { Sender } from "./send.ts";
import { AUTHENTIC, NOT_OPENED, nativeTun, nativeUdp } from "./workers.ts";


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

/** Received batches in flight at once with worker threads (each holds up to MSGS × STRIDE bytes, touched only as
 *  far as datagrams fill them). */
function ringSize(workers: number): number {
  return workers === 0 ? 1 : Math.min(workers + 2, 8);
}

const IDLE = 0, OPENING = 1, WRITING = 2;

/** One received batch: its datagrams, the transport packets to open and what the TUN gets. Owned by a worker
 *  while `stage` is not IDLE. */
class RecvBatch {
  readonly buf = new Uint8Array(MSGS * STRIDE);
  /** buf as 32-bit words: a header at a 4-byte-aligned offset (every datagram's, and the segments of ours and of any
   *  peer that pads to 16) is read a word at a time (noise/messages.ts readIndexWords, readCounterWords). */
  readonly words = new Int32Array(this.buf.buffer);
  readonly inOffs = new Uint32Array(PKTS);
  readonly inLens = new Uint32Array(PKTS);
  readonly eps = new Uint8Array(PKTS * EP_SIZE);
  readonly epWords = new Int32Array(this.eps.buffer); // signed, as Endpoint's (endpoint.ts)
  readonly offs = new Uint32Array(PKTS);
  readonly lens = new Uint32Array(PKTS);
  readonly ok = new Uint8Array(PKTS);
  readonly src = new Uint16Array(PKTS);
  readonly kps: (Keypair | null)[] = new Array(PKTS).fill(null);
  readonly keyTable = new KeyTable(PKTS);
  readonly tunOffs = new Uint32Array(PKTS);
  readonly tunLens = new Uint32Array(PKTS);
  /** Per datagram, what the worker that received the batch made of it (workers.ts udpRecvOpen), when `preOpened`. */
  readonly opened = new Uint8Array(PKTS);
  preOpened = false;
  /** Transport packets queued to open, then packets to write. */
  m = 0;
  w = 0;
  stage = IDLE;
  job = -1;
}

export class Receiver {
  private ring: RecvBatch[] = [new RecvBatch()];
  private k = 0;
  /** Batches handed to a worker, oldest first. */
  private inFlight: RecvBatch[] = [];
  /** A worker's receive into ring[k] (recvAhead), or -1. */
  private recvJob = -1;

  /** openOne's arrays. */
  private readonly one = { offs: new Uint32Array(1), lens: new Uint32Array(1), keys: new KeyTable(1), ok: new Uint8Array(1) };

  private loadWindowStart = 0;
  private loadCount = 0;
  private underLoadUntil = 0;

  /** Staged packets and keepalives leave through the sender once a handshake completes. */
  constructor(private readonly dev: DataPathHost, private readonly sender: Sender) {}

  /** The packet buffers, for trim.ts to give their pages back while the daemon is quiet. */
  get buffers(): Uint8Array[] { return this.ring.map((b) => b.buf); }

  /** Drains the socket until it would block; returns the packets received. Under load (a receive brought at
   *  least ASYNC_MIN packets) with workers, the next receive is made by a worker while this thread sorts the batch
   *  just received (as the sender does with TUN reads). */
  drain(): number {
    const udp = this.dev.udp;
    if (udp === null) return 0;
    const want = ringSize(this.dev.workers?.count ?? 0);
    if (this.ring.length !== want) {
      this.settle();
      this.ring = Array.from({ length: want }, (_, i) => this.ring[i] ?? new RecvBatch());
      this.k = 0;
    }
    let total = 0;
    for (;;) {
      let b: RecvBatch;
      let n: number;
      const delegated = this.recvJob >= 0;
      if (delegated) {
        const r = this.dev.workers === null ? 0 : this.dev.workers.result(this.recvJob);
        if (r === undefined) return total;
        this.recvJob = -1;
        b = this.ring[this.k];
        b.preOpened = true;
        n = r < 0 ? 0 : r;
      } else if (total === 0 && this.dev.workers?.busy && this.recvAhead()) {
        return 0; // busy (workers.ts BUSY_MS): this receive goes to a worker too
      } else {
        b = this.ring[this.k];
        if (b.stage !== IDLE) this.collect(b, true);
        b.preOpened = false;
        n = udp.recvBatch(b.buf, STRIDE, MSGS, b.inOffs, b.inLens, b.eps, PKTS);
      }
      if (n <= 0) return total;
      total += n;
      // A full call may leave datagrams in b.buf for the next one (udp.ts recvBatch): then b is read into again,
      // here, once it is free.
      if (n < PKTS) {
        this.k = (this.k + 1) % this.ring.length;
        this.dev.workers?.sawRead(n, performance.now());
        if (delegated || this.dev.workers?.busy) this.recvAhead(); // delegated until the socket runs dry (as send.ts)
      }
      const dry = !delegated && this.recvJob < 0 && udp.drained === true;
      if (!this.dev.linkUpNow()) this.dev.counters.drop(Drop.interface_down, n); // link down: nothing is accepted (device.ts setUp)
      else this.process(b, n);
      // The socket was found empty (io.ts drained): as in send.ts drainTun, no receive that would only say so again.
      if (dry) return total;
    }
  }

  /** Whether a worker is receiving (the pump then waits for the pool, not for the socket). */
  get reading(): boolean {
    return this.recvJob >= 0;
  }

  private recvAhead(): boolean {
    const workers = this.dev.workers;
    const udp = workers === null || this.ring.length < 3 ? null : nativeUdp(this.dev.udp);
    if (workers === null || udp === null) return false;
    const b = this.ring[this.k];
    if (b.stage !== IDLE) this.collect(b, true);
    this.recvJob = workers.udpRecvOpen(udp, b.buf, STRIDE, MSGS, b.inOffs, b.inLens, b.eps, PKTS,
      b.offs, b.lens, b.keyTable.keys, b.keyTable.index, b.src, b.ok, b.opened);
    return true;
  }

  private process(b: RecvBatch, n: number): void {
    const dev = this.dev;
    const buf = b.buf;
    const now = performance.now();
    const keys = b.keyTable;
    keys.reset();
    const pre = b.preOpened;
    // A stream's datagrams name one session after another: the last lookup is kept (until a handshake message).
    // Indices are read signed (messages.ts readIndex), so every value is a valid index: none can stand for "no lookup".
    let lastIndex = 0;
    let lastKp: Keypair | undefined;
    // The key slot of the last session seen this batch, as keys.slot would give it again (-1: none yet).
    let slotKp: Keypair | undefined;
    let slot = -1;
    const words = b.words;
    let m = 0;
    for (let i = 0; i < n; i++) {
      const off = b.inOffs[i];
      const len = b.inLens[i];
      if (len < 4 || buf[off + 1] !== 0 || buf[off + 2] !== 0 || buf[off + 3] !== 0) { dev.counters.drop(Drop.malformed); continue; }
      const type = buf[off];
      if (type === MESSAGE_TRANSPORT) {
        if (len < TRANSPORT.minSize) { dev.counters.drop(Drop.malformed); continue; }
        const atWord = WORDS_LITTLE_ENDIAN && (off & 3) === 0; // the header read a word at a time (batch `words`)
        const index = atWord ? readIndexWords(words, off >> 2) : readIndex(buf, off + TRANSPORT.receiver);
        const kp = index === lastIndex && lastKp !== undefined ? lastKp : (lastKp = dev.engine.keypairByIndex((lastIndex = index)));
        if (kp === undefined) { dev.counters.drop(Drop.unknown_session); continue; }
        if (pre && b.opened[i] !== NOT_OPENED) {
          // Opened by the worker that received it; the replay window comes in deliver(), after authentication.
          b.ok[m] = b.opened[i] === AUTHENTIC ? 1 : 0;
        } else {
          const counter = atWord ? readCounterWords(words, off >> 2) : readCounter(buf, off);
          if (!kp.peer.replayMayAccept(kp, counter)) { dev.counters.dropFrom(dev.peerOf(kp.peer), Drop.replay); continue; }
          if (pre) { this.openOne(b, i, m, kp); } // a session the workers had no key for (workers.ts added)
          else keys.index[m] = kp === slotKp ? slot : ((slotKp = kp), (slot = keys.slot(kp.receiveKey)));
        }
        b.offs[m] = off;
        b.lens[m] = len - HEADER;
        b.kps[m] = kp;
        b.src[m] = i;
        m++;
      } else if ((type === MESSAGE_INITIATION && len === INITIATION.size) || (type === MESSAGE_RESPONSE && len === RESPONSE.size) ||
                 (type === MESSAGE_COOKIE_REPLY && len === COOKIE_REPLY.size)) {
        // Transport packets that arrived earlier go first: a handshake may change the session they belong to.
        this.settleInFlight();
        this.openHere(b, m, now);
        m = 0;
        keys.reset();
        lastKp = slotKp = undefined;
        this.handshake(buf.subarray(off, off + len), new Endpoint(b.eps, i * EP_SIZE), type, now);
      } else dev.counters.drop(Drop.malformed);
    }
    this.submit(b, m, now);
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

  /** Opens b's m queued packets: a large batch by a worker (collected later, in order), else on this thread. A batch
   *  a worker opened as it received it (preOpened) is only checked and written, behind the batches in flight. */
  private submit(b: RecvBatch, m: number, now: number): void {
    const workers = this.dev.workers;
    if (m === 0 || workers === null || nativeTun(this.dev.tun) === null) {
      this.openHere(b, m, now);
      return;
    }
    if (b.preOpened) {
      // Opened already: checked here and written once the batches before it are (collect, in order).
      b.m = m;
      b.job = -1;
      b.stage = OPENING;
      this.inFlight.push(b);
      this.collect(null, false);
      return;
    }
    const toWorker = workers.wants(m, now);
    if (this.inFlight.length === 0 && !toWorker) {
      this.openHere(b, m, now);
      return;
    }
    const keys = b.keyTable;
    b.m = m;
    b.job = workers.open(toWorker, m, b.buf, b.offs, b.lens, keys.keys, keys.index, b.ok);
    b.stage = OPENING;
    this.inFlight.push(b);
    if (!toWorker) this.collect(b, true); // opened here; delivered behind what is in flight
  }

  /** Moves the batches in flight on, oldest first, as far as the workers got — or, with `wait`, until `until` is
 *  free (every batch when null): opened → checked here → written to the TUN → free. */
  private collect(until: RecvBatch | null, wait: boolean): void {
    const workers = this.dev.workers;
    const tun = nativeTun(this.dev.tun);
    if (workers === null || tun === null) {
      // The workers were stopped (the device closed): what was in flight ran to the end; nothing more is delivered.
      for (const b of this.inFlight) {
        b.stage = IDLE;
        b.job = -1;
        b.kps.fill(null, 0, b.m);
        b.keyTable.reset();
      }
      this.inFlight = [];
      return;
    }
    while (this.inFlight.length > 0 && (until === null || until.stage !== IDLE)) {
      const first = this.inFlight[0];
      const r = first.job < 0 ? 0 : wait ? workers.wait(first.job) : workers.result(first.job); // < 0: opened when received
      if (r === undefined) return;
      first.job = -1; // collected: whatever happens next, never waited for again
      if (first.stage === OPENING) {
        first.keyTable.reset(); // the batch's receive keys go now (batch.ts)
        if (r < 0) {
          this.dev.log.error(`Opening a batch failed: packet ${-r - 1} lies outside its buffer (a bug: please report)`);
          first.w = 0;
        } else first.w = this.deliver(first, first.m, performance.now());
        if (first.w > 0) {
          first.stage = WRITING;
          first.job = workers.tunWrite(workers.wants(first.w, performance.now()), tun, first.buf, first.tunOffs, first.tunLens, first.w);
          continue; // collected when written (at once when written here)
        }
      } else this.dev.counters.tunWritten(first.w, tun.tookWrite(first.w, r));
      first.stage = IDLE;
      first.job = -1;
      this.inFlight.shift();
    }
  }

  /** Collects what the workers finished, without waiting (the pump calls this each turn). */
  reap(): void {
    if (this.inFlight.length > 0) this.collect(null, false);
  }

  /** Waits for every batch being opened or written (before a handshake message is handled). */
  private settleInFlight(): void {
    if (this.inFlight.length > 0) this.collect(null, true);
  }

  /** Waits for a worker's receive (handling what it brought) and every batch in flight: before the socket
   *  changes or the poll threads take over. */
  settle(): void {
    if (this.recvJob >= 0 && this.dev.workers !== null) {
      const r = this.dev.workers.wait(this.recvJob);
      this.recvJob = -1;
      const b = this.ring[this.k];
      b.preOpened = true;
      if (r > 0) {
        if (r < PKTS) this.k = (this.k + 1) % this.ring.length;
        if (!this.dev.linkUpNow()) this.dev.counters.drop(Drop.interface_down, r);
        else this.process(b, r);
      }
    }
    this.recvJob = -1;
    this.settleInFlight();
  }

  /** Opens, filters and writes b's m queued packets on this thread, as without workers. */
  private openHere(b: RecvBatch, m: number, now: number): void {
    if (m === 0) return;
    const dev = this.dev;
    const keys = b.keyTable;
    if (!b.preOpened) dev.aead.openTransport(m, b.buf, b.offs, b.lens, keys.keys, keys.index, b.ok);
    const w = this.deliver(b, m, now);
    keys.reset(); // the batch's receive keys go now, not at the next batch (batch.ts)
    if (w > 0) dev.counters.tunWritten(w, dev.tun.writeBatch(b.buf, b.tunOffs, b.tunLens, w));
  }

  /** Opens datagram i of a batch the workers opened, which they had no key for (as packet m, ok in b.ok[m]). */
  private openOne(b: RecvBatch, i: number, m: number, kp: Keypair): void {
    const one = this.one;
    one.offs[0] = b.inOffs[i];
    one.lens[0] = b.inLens[i] - HEADER;
    one.keys.reset();
    one.keys.index[0] = one.keys.slot(kp.receiveKey);
    this.dev.aead.openTransport(1, b.buf, one.offs, one.lens, one.keys.keys, one.keys.index, one.ok);
    one.keys.reset();
    b.ok[m] = one.ok[0];
  }

  /** After opening: the replay window (§5.4.6, only now that the packet authenticated), roaming, the allowed-IPs
   *  check; the packets for the TUN go to b.tunOffs/b.tunLens. Returns their count. */
  private deliver(b: RecvBatch, m: number, now: number): number {
    const dev = this.dev;
    const buf = b.buf;
    const tunOffs = b.tunOffs, tunLens = b.tunLens;
    let w = 0;
    for (let j = 0; j < m; j++) {
      const kp = b.kps[j]!;
      b.kps[j] = null;
      if (b.ok[j] !== 1) { dev.counters.dropFrom(dev.peerOf(kp.peer), Drop.bad_mac); continue; }
      const off = b.offs[j];
      const plen = b.lens[j] - TAG;
      const noise = kp.peer;
      const counter = WORDS_LITTLE_ENDIAN && (off & 3) === 0 ? readCounterWords(b.words, off >> 2) : readCounter(buf, off);
      if (!noise.packetReceived(now, kp, counter, plen === 0)) { dev.counters.dropFrom(dev.peerOf(noise), kp.alive ? Drop.replay : Drop.unknown_session); continue; }
      const peer = dev.peerOf(noise);
      if (peer === undefined) { dev.counters.drop(Drop.unknown_session); continue; }
      const i = b.src[j];
      // §2 roaming: the endpoint follows the latest authenticated packet.
      const ep = peer.endpoint;
      if (ep === null || !ep.matches(b.epWords, i * (EP_SIZE / 4))) peer.endpoint = dev.checkSource(new Endpoint(b.eps, i * EP_SIZE));
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
      tunOffs[w] = pkt;
      tunLens[w] = total;
      peer.counters.received(total);
      w++;
    }
    return w;
  }
}
