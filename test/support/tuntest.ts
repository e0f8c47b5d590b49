// An in-memory TUN device (src/device/io.ts TunDevice), as wireguard-go's tun/tuntest: packets the host "sends"
// are queued with inject() and handed out by readBatch; what the device writes is kept in `written`.
import { TunGoneError, type TunDevice } from "../../src/device/io.ts";

export class MemoryTun implements TunDevice {
  readonly fd: number = -1;
  /** Packets waiting to be read by the device, oldest first. */
  readonly inbound: Uint8Array[] = [];
  /** Every packet the device wrote, in order. */
  readonly written: Uint8Array[] = [];
  /** How many packets a writeBatch takes before refusing the rest (the host's queue is full, the link is down). */
  accept = Infinity;
  gone = false;
  onDownWrite: (() => void) | null = null;
  private readable: ((gone?: TunGoneError) => void) | null = null;
  private armed = true;

  constructor(readonly name = "mem0") {}

  /** The host sends packets into the tunnel; the device is told once (until it re-arms). */
  inject(...packets: Uint8Array[]): void {
    for (const p of packets) this.inbound.push(Uint8Array.from(p));
    this.fire();
  }

  /** The interface is deleted: the next read throws, and the device is told. */
  remove(): void {
    this.gone = true;
    this.readable?.(new TunGoneError(this.name));
  }

  readBatch(buf: Uint8Array, stride: number, lens: Uint32Array, max: number): number {
    if (this.gone) throw new TunGoneError(this.name);
    const n = Math.min(max, this.inbound.length);
    for (let i = 0; i < n; i++) {
      // As the kernel's TUN read: a packet longer than the slot is cut to it, and its whole length reported.
      const p = this.inbound.shift()!;
      buf.set(p.subarray(0, Math.min(p.length, stride)), i * stride);
      lens[i] = p.length;
    }
    return n;
  }

  writeBatch(buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, n: number): number {
    const took = Math.min(n, this.accept);
    for (let i = 0; i < took; i++) this.written.push(buf.slice(offs[i], offs[i] + lens[i]));
    return took;
  }

  onReadable(cb: (gone?: TunGoneError) => void): void {
    this.readable = cb;
  }

  rearm(): void {
    this.armed = true;
    if (this.inbound.length > 0) this.fire();
  }

  close(): void {
    this.readable = null;
  }

  private fire(): void {
    if (!this.armed || this.readable === null || this.inbound.length === 0) return;
    this.armed = false;
    const cb = this.readable;
    queueMicrotask(() => cb());
  }
}
