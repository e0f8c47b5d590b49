// The data plane's worker threads as the send and receive paths see them (zig/src/pool.zig; design in
// docs/threads.md). The JS thread decides everything about a batch — routes, counters, keys, endpoints — and then
// hands it over: sealed and sent, opened, or written to the TUN, by a worker (async) or right here (a small batch,
// where a hand-off would only add latency). Either way the UDP sends and the TUN writes leave in submission order.
// A batch's buffers belong to the job until its result is collected (result() or wait()).
import { loadNative, type Native } from "../native/lib.ts";
import type { UdpBind, TunDevice } from "./io.ts";
import type { SessionObserver } from "../noise/index.ts";

/** Batches smaller than this run on the JS thread: one ping should not pay for two thread hand-offs. */
export const ASYNC_MIN = 8;
/** The device counts as busy this long after a read (either side) that filled ASYNC_MIN slots: while busy, every
 *  batch goes to the workers whatever its size — a stream's acknowledgements the other way too — and reads are
 *  made there; after a quiet moment a ping is handled on the JS thread at once (no hand-off). */
export const BUSY_MS = 2;

/** Fuller reads (docs/threads.md): a worker's TUN read or UDP receive that brought a burst — at least `from`
 *  packets, a bulk sender's (one TSO super-packet is ~45) — but fewer than `fill` waits up to gapUs µs for more, at
 *  most `gaps` times (≤ 200 µs in all, and only under load: reads go to workers only then). Each batch costs the JS
 *  thread a wake-up and its per-batch work; a bulk stream's next burst is usually that close. A read of fewer
 *  packets (a ping, a paced flow) is handed back at once: waiting for those only added latency (measured). */
const FULLER = { from: 32, fill: 128, gapUs: 50, gaps: 4 } as const;

/** What a worker needs to reach the UDP socket and the TUN itself: their native handles. */
export interface NativeUdp {
  readonly fd: number;
  readonly family: 4 | 6;
  readonly gso: boolean;
  /** The receive state kept between receive calls (zig/src/udp.zig RecvState): one reader at a time. */
  readonly carry: Uint8Array;
}
export interface NativeTun {
  readonly fd: number;
  readonly offloadState: number | null;
  /** What a write of n packets that returned `result` (the library's code) means: packets taken; throws as
   *  writeBatch does when the interface is gone. */
  tookWrite(n: number, result: number): number;
  /** What a read that returned `result` means: packets read; throws as readBatch does. */
  tookRead(result: number): number;
}

export function nativeUdp(udp: UdpBind | null): NativeUdp | null {
  const u = udp as Partial<NativeUdp> | null;
  return u !== null && typeof u.fd === "number" && u.fd >= 0 && (u.family === 4 || u.family === 6) && typeof u.gso === "boolean" && u.carry instanceof Uint8Array ? (u as NativeUdp) : null;
}

export function nativeTun(tun: TunDevice): NativeTun | null {
  const t = tun as TunDevice & Partial<NativeTun>;
  return t.fd >= 0 && t.offloadState !== undefined && typeof t.tookWrite === "function" && typeof t.tookRead === "function" ? (t as NativeTun) : null;
}

/** What a worker's receive-and-open (udpRecvOpen) made of each datagram (zig/src/pool.zig openReceived); 2 is
 *  FORGED, which the receive path treats as any other failed open. */
export const NOT_OPENED = 0, AUTHENTIC = 1;

/** The workers keep a copy of every live session's receive key by index (zig/src/sessions.zig), told by the engine's
 *  index table (SessionObserver), so that a worker can open a batch it received without this thread in between. */
export class Workers implements SessionObserver {
  private readonly native: Native;
  private pool: number | null;
  readonly eventFd: number;
  private readonly pending: number;
  readonly count: number;
  private busyUntil = 0;

  private constructor(native: Native, pool: number, count: number) {
    this.native = native;
    this.pool = pool;
    this.count = count;
    this.eventFd = native.sym.bunwg_pool_event_fd(pool as never);
    this.pending = native.sym.bunwg_pool_pending_code();
  }

  /** A read brought n packets at `now`: a full one makes the device busy (BUSY_MS). */
  sawRead(n: number, now: number): void {
    if (n >= ASYNC_MIN) this.busyUntil = now + BUSY_MS;
  }

  /** Whether a batch of n packets goes to a worker: a large one, or any while the device is busy — and only when a
   *  worker is free. With every worker busy this thread does the work itself (in the workers' order) rather than
   *  queue it and wait: with few cores, waiting for a worker costs more than the work (docs/threads.md). */
  wants(n: number, now: number): boolean {
    return (n >= ASYNC_MIN || now < this.busyUntil) && this.idle();
  }

  /** Whether reads go to the workers: the device is busy and a worker is free. */
  get busy(): boolean {
    return performance.now() < this.busyUntil && this.idle();
  }

  private idle(): boolean {
    return this.pool !== null && this.native.sym.bunwg_pool_idle(this.pool as never) > 0;
  }

  /** Starts `count` worker threads; null when the library cannot (the caller stays single-threaded, and says so). */
  static start(count: number): Workers | null {
    if (count < 1) return null;
    const native = loadNative();
    const p = native.sym.bunwg_pool_start(count) as number | null;
    return p ? new Workers(native, p, count) : null;
  }

  private get p(): never {
    if (this.pool === null) throw new Error("data-plane workers: used after stop()");
    return this.pool as never;
  }

  /** Seals the n packets (payload lengths in lens, counters already in their headers) and sends them to eps; lens
   *  become datagram sizes. Returns the job's id. */
  sealSend(async: boolean, n: number, buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, keys: Uint8Array, keyIdx: Uint16Array, udp: NativeUdp, eps: Uint8Array): number {
    return this.submitted(this.native.sym.bunwg_pool_seal_send(this.p, async ? 1 : 0, n, buf, buf.length, offs, lens, keys, keys.length / 32, keyIdx, udp.fd, udp.family, eps, udp.gso ? 1 : 0));
  }

  /** Opens the n packets in place; ok[i] = 1 where packet i authenticated. */
  open(async: boolean, n: number, buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, keys: Uint8Array, keyIdx: Uint16Array, ok: Uint8Array): number {
    return this.submitted(this.native.sym.bunwg_pool_open(this.p, async ? 1 : 0, n, buf, buf.length, offs, lens, keys, keys.length / 32, keyIdx, ok));
  }

  tunWrite(async: boolean, tun: NativeTun, buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, n: number): number {
    return this.submitted(this.native.sym.bunwg_pool_tun_write(this.p, async ? 1 : 0, (tun.offloadState ?? null) as never, tun.fd, buf, offs, lens, n));
  }

  /** Reads up to max packets from the TUN on a worker (one read of the TUN outstanding at a time), fuller when it
   *  can (FULLER); the event fd tells when it is done; result() is then what readBatch returns natively
   *  (tun.tookRead). */
  tunRead(tun: NativeTun, buf: Uint8Array, stride: number, lens: Uint32Array, max: number): number {
    return this.submitted(this.native.sym.bunwg_pool_tun_read(this.p, (tun.offloadState ?? null) as never, tun.fd, buf, stride, lens, max,
      FULLER.from, FULLER.fill, FULLER.gapUs, FULLER.gaps));
  }

  /** Receives from the UDP socket on a worker (one receive outstanding at a time), as Udp.recvBatch but fuller when
   *  it can (FULLER: more datagrams go into the slots after those received, never one split across two calls), then
   *  opens the transport messages whose receiver index names a live session (added()): opened[i] is NOT_OPENED,
   *  AUTHENTIC or FORGED for datagram i, the plaintext in place; the event fd tells when it is done. The other arrays
   *  are the job's scratch, maxPkts entries each (keys: 32 bytes per entry, wiped by the job). */
  udpRecvOpen(udp: NativeUdp, buf: Uint8Array, stride: number, maxMsgs: number, offs: Uint32Array, lens: Uint32Array, eps: Uint8Array, maxPkts: number,
              openOffs: Uint32Array, openLens: Uint32Array, keys: Uint8Array, keyIdx: Uint16Array, src: Uint16Array, ok: Uint8Array, opened: Uint8Array): number {
    return this.submitted(this.native.sym.bunwg_pool_udp_recv_open(this.p, udp.fd, buf, buf.length, stride, maxMsgs, offs, lens, eps, maxPkts, udp.carry,
      openOffs, openLens, keys, keyIdx, src, ok, opened, FULLER.from, FULLER.fill, FULLER.gapUs, FULLER.gaps));
  }

  /** A session was made (noise/indextable.ts): its receive key is copied for the workers. */
  added(index: number, receiveKey: Uint8Array): void {
    // A table that cannot grow leaves the session to this thread: its packets arrive NOT_OPENED and are opened here.
    if (this.pool !== null) this.native.sym.bunwg_pool_session_add(this.pool as never, index, receiveKey);
  }

  /** A session's index is freed, before its keys are erased: the workers' copy goes first. */
  removed(index: number): void {
    if (this.pool !== null) this.native.sym.bunwg_pool_session_remove(this.pool as never, index);
  }

  private submitted(id: number): number {
    // The send and receive paths keep fewer batches outstanding than the pool has slots (pool.zig SLOTS).
    if (id < 0) throw new Error("data-plane workers: more batches outstanding than the pool has slots");
    return id;
  }

  /** The job's result if it is done (its slot is then free), else undefined. */
  result(id: number): number | undefined {
    const r = this.native.sym.bunwg_pool_result(this.p, id);
    return r === this.pending ? undefined : r;
  }

  /** Waits for the job (running queued jobs on this thread meanwhile) and returns its result. */
  wait(id: number): number {
    const r = this.native.sym.bunwg_pool_wait(this.p, id);
    if (r === this.pending + 1) throw new Error(`data-plane workers: wait for job ${id}, which was already collected`);
    return r;
  }

  /** The JS thread is about to wait in poll() on eventFd: false when a read or an open finished since it last
   *  waited (look first); else the next one to finish writes eventFd (workers do not write it while the JS thread
   *  is busy: a syscall per batch saved). */
  mayWait(): boolean {
    return this.pool !== null && this.native.sym.bunwg_pool_sleeping(this.pool as never) === 0;
  }

  /** The JS thread was woken through eventFd and is collecting: empty it. */
  clearEvent(): void {
    if (this.pool !== null) this.native.sym.bunwg_pool_clear_event(this.pool as never);
  }

  /** Runs what is queued and joins the threads. The caller has collected every job first (their buffers may go). */
  stop(): void {
    if (this.pool === null) return;
    const p = this.pool;
    this.pool = null;
    this.native.sym.bunwg_pool_stop(p as never);
  }
}
