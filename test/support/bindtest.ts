// An in-memory UDP bind (src/device/io.ts UdpBind), as wireguard-go's conn/bindtest: datagrams are queued with
// deliver() (from any endpoint record) and handed out by recvBatch; what the device sends is kept in `sent`.
// memoryBindPair() joins two binds so that what one sends the other receives, from the sender's address.
import { EP_SIZE, Endpoint } from "../../src/device/endpoint.ts";
import type { UdpBind } from "../../src/device/io.ts";

export interface Datagram { bytes: Uint8Array; ep: Uint8Array }

export class MemoryBind implements UdpBind {
  readonly fd = -1;
  readonly queue: Datagram[] = [];
  readonly sent: Datagram[] = [];
  /** Where sends go besides `sent` (memoryBindPair). */
  peer: MemoryBind | null = null;
  /** Throws from the next sendBatch (a socket error between sealing and sending). */
  failNextSend: Error | null = null;
  closed = false;
  private readable: (() => void) | null = null;
  private armed = true;

  /** `address` is this bind's own (what a peer sees as the source). */
  constructor(readonly port = 51820, readonly address = "127.0.0.1") {}

  get record(): Uint8Array {
    return Endpoint.fromAddress(this.address, this.port, this.address.includes(":") ? 6 : 4).rec;
  }

  deliver(bytes: Uint8Array, from: Uint8Array): void {
    this.queue.push({ bytes: Uint8Array.from(bytes), ep: from.slice(0, EP_SIZE) });
    this.fire();
  }

  recvBatch(buf: Uint8Array, stride: number, maxMsgs: number, offs: Uint32Array, lens: Uint32Array, eps: Uint8Array, maxPkts: number): number {
    const n = Math.min(maxMsgs, maxPkts, this.queue.length);
    for (let i = 0; i < n; i++) {
      const d = this.queue.shift()!;
      const len = Math.min(d.bytes.length, stride);
      buf.set(d.bytes.subarray(0, len), i * stride);
      offs[i] = i * stride;
      lens[i] = len;
      eps.set(d.ep, i * EP_SIZE);
    }
    return n;
  }

  sendBatch(buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, eps: Uint8Array, n: number): number {
    if (this.failNextSend) {
      const e = this.failNextSend;
      this.failNextSend = null;
      throw e;
    }
    for (let i = 0; i < n; i++) this.send(buf.slice(offs[i], offs[i] + lens[i]), eps.slice(i * EP_SIZE, (i + 1) * EP_SIZE));
    return n;
  }

  sendBytes(bytes: Uint8Array, ep: Endpoint): boolean {
    this.send(Uint8Array.from(bytes), ep.rec.slice(0, EP_SIZE));
    return true;
  }

  setFwmark(): void {}

  onReadable(cb: () => void): void {
    this.readable = cb;
  }

  rearm(): void {
    this.armed = true;
    if (this.queue.length > 0) this.fire();
  }

  close(): void {
    this.closed = true;
    this.readable = null;
  }

  private send(bytes: Uint8Array, ep: Uint8Array): void {
    this.sent.push({ bytes, ep });
    this.peer?.deliver(bytes, this.record);
  }

  private fire(): void {
    if (!this.armed || this.readable === null || this.queue.length === 0) return;
    this.armed = false;
    const cb = this.readable;
    queueMicrotask(() => cb());
  }
}

/** Two binds on one wire: a's sends arrive at b from a's address, and the other way round. */
export function memoryBindPair(a = new MemoryBind(51820, "127.0.0.1"), b = new MemoryBind(51821, "127.0.0.2")): [MemoryBind, MemoryBind] {
  a.peer = b;
  b.peer = a;
  return [a, b];
}
