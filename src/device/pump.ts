// How the event loop learns that packets wait. Idle, two poll threads (one per fd, poller.zig) sleep in poll() and
// wake the loop through a thread-safe callback — no CPU used. But that hand-off costs tens of microseconds per
// wake-up (measured ~30-55 µs on the 2-core test machine), four times per round trip through two daemons. So once
// traffic flows the pump takes over: in each event-loop turn it waits for the TUN and the UDP socket itself, on
// the JS thread, 1 ms at first and doubling up to MAX_WAIT_MS while nothing comes (timers and the configuration
// socket run between turns), and a packet ends the wait and is handled in the same turn. After IDLE_MS without
// packets it hands back to the poll threads.
import type { DataPathHost } from "./host.ts";
import { TunGoneError } from "./io.ts";
import type { Receiver } from "./receive.ts";
import type { Sender } from "./send.ts";
import { loadNative, type Native } from "../native/lib.ts";

/** Longest wait per turn: how long timers and the configuration socket may be held up while traffic pauses. */
const MAX_WAIT_MS = 16;
const IDLE_MS = 250;
const READY_TUN = 1, READY_UDP = 2, TUN_ERROR = 4, READY_WORKERS = 8;

export class Pump {
  private active = false;
  private lastPacket = 0;
  private waitMs = 1;
  /** Which sides the last wait found readable (READY_TUN | READY_UDP): only those are read next turn, sparing the
   *  other side's read that would find nothing (a system call, ~2 µs here, four times per round trip). */
  private ready = READY_TUN | READY_UDP;
  private readonly native: Native = loadNative();

  /** enabled=false keeps the poll threads in charge throughout (to measure what the pump gives). */
  constructor(
    private readonly dev: DataPathHost,
    private readonly sender: Sender,
    private readonly receiver: Receiver,
    private readonly enabled = true,
  ) {}

  /** A poll thread saw packets: start pumping (the poll threads stay parked until handBack). */
  readonly wake = (gone?: TunGoneError): void => {
    if (gone) return this.dev.onFatal("interface deleted");
    if (this.active || this.dev.closed) return;
    if (!this.enabled) return this.once();
    this.active = true;
    this.ready = READY_TUN | READY_UDP; // the first turn reads both sides without waiting: a poll thread saw packets
    this.waitMs = 0;
    this.lastPacket = performance.now();
    this.loop();
  };

  /** One turn: wait for packets, handle what the wait found, run the timers, and give the event loop a turn. The
   *  drain follows the wait in the same turn, so a packet that ends a wait is read without first going round the
   *  event loop (a hop that cost a second poll of Bun's own and ~2 turns per round trip for each daemon). */
  private readonly loop = (): void => {
    const dev = this.dev;
    if (dev.closed) return;
    if (this.waitMs > 0 && !this.wait()) return;
    const moved = this.drain(this.ready);
    if (moved < 0) return;
    const now = performance.now();
    if (moved > 0) {
      this.lastPacket = now;
      this.waitMs = 1;
    } else if (now - this.lastPacket > IDLE_MS) {
      if (this.settle() < 0) return;
      return this.handBack();
    } else {
      this.waitMs = Math.min(MAX_WAIT_MS, Math.max(1, this.waitMs * 2));
    }
    dev.runDueTimers(now);
    setImmediate(this.loop);
  };

  /** Waits up to waitMs for the TUN, the UDP socket or (with worker threads) the pool, here rather than in a poll
   *  thread (see above), and notes which sides to read. Returns immediately when one is ready already, so waiting
   *  after a turn that moved packets costs nothing while more wait. False when the interface is gone. */
  private wait(): boolean {
    const dev = this.dev;
    const tunFd = dev.tun.fd, udpFd = dev.udp?.fd ?? -1;
    // With worker threads, a read or an opened batch coming back wakes us too (zig/src/pool.zig signals its event
    // fd); a side a worker is reading is not polled here: its read comes back that way.
    const workers = dev.workers;
    const wait = workers !== null && !workers.mayWait() ? 0 : this.waitMs;
    const tunReading = this.sender.reading, udpReading = this.receiver.reading;
    const r = this.native.sym.bunwg_wait3(tunReading ? -1 : tunFd, udpReading ? -1 : udpFd, workers?.eventFd ?? -1, wait);
    if (r > 0 && (r & TUN_ERROR) !== 0 && (r & READY_TUN) === 0) {
      dev.onFatal("interface deleted");
      return false;
    }
    if (r > 0 && (r & READY_WORKERS) !== 0) workers?.clearEvent();
    // Level-triggered: a side not reported now is reported by the next wait. A failed wait, a side without a
    // descriptor to wait on (in memory, io.ts) and a side a worker reads (its result is collected there) read as ready.
    this.ready = r < 0 ? READY_TUN | READY_UDP
      : (r & (READY_TUN | READY_UDP)) | (tunFd < 0 || tunReading ? READY_TUN : 0) | (udpFd < 0 || udpReading ? READY_UDP : 0);
    return true;
  }

  /** Poll threads only: drain, then let them wake us again. */
  private once(): void {
    if (this.drain(READY_TUN | READY_UDP) < 0) return;
    if (this.settle() < 0) return;
    this.dev.runDueTimers(performance.now());
    this.handBack();
  }

  /** The sides in `sides` until they would block: packets moved, or -1 when the interface is gone (device
   *  stopping). What the worker threads finished is collected first (workers.ts). After a receive that moved
   *  packets the TUN is read again, whatever the wait said: the host answers some of what is written to it inside
   *  the write itself (an echo reply, a TCP acknowledgement, the segments an acknowledgement lets out are queued on
   *  the TUN before the write returns), and reading them now rather than after the next wait spares the answering
   *  daemon a turn of the event loop per round trip (bench/RESULTS.md, "Latency tail", thirteenth round). */
  private drain(sides: number): number {
    return this.guard(() => {
      this.sender.reap();
      this.receiver.reap();
      const sent = (sides & READY_TUN) !== 0 ? this.sender.drainTun() : 0;
      const received = (sides & READY_UDP) !== 0 ? this.receiver.drain() : 0;
      return sent + received + (received > 0 ? this.sender.drainTun() : 0);
    });
  }

  /** Waits for every batch the workers hold: before the poll threads take over, nothing may stay in flight. */
  private settle(): number {
    return this.guard(() => {
      this.sender.settle();
      this.receiver.settle();
      return 0;
    });
  }

  private guard(step: () => number): number {
    const dev = this.dev;
    try {
      return step();
    } catch (e) {
      if (e instanceof TunGoneError) {
        dev.onFatal("interface deleted");
        return -1;
      }
      dev.log.error(`Packet processing failed: ${(e as Error).stack ?? e}`);
      return 0;
    }
  }

  private handBack(): void {
    this.active = false;
    // Level-triggered poll: anything that arrived since the last drain wakes us again at once.
    this.dev.tun.rearm();
    this.dev.udp?.rearm();
  }
}
