// Packets staged for a peer while it has no usable session (whitepaper §6.2: handshakes happen on demand, the
// packet that caused one is sent when it completes). Bounded like wireguard-go's 128-packet staging queue: when
// full, the oldest is dropped. This is the slow path, taken once per handshake, so slots are allocated lazily and
// reused; the per-packet hot path never comes here.

export const STAGED_MAX = 128;

export class StagedQueue {
  private slots: Uint8Array[] = [];
  private lens = new Uint32Array(STAGED_MAX);
  private head = 0;
  private count = 0;
  dropped = 0;

  get length(): number { return this.count; }

  /** Copies packet bytes [off, off+len) of buf. */
  push(buf: Uint8Array, off: number, len: number): void {
    if (this.count === STAGED_MAX) {
      this.head = (this.head + 1) % STAGED_MAX;
      this.count--;
      this.dropped++;
    }
    const i = (this.head + this.count) % STAGED_MAX;
    let slot = this.slots[i];
    if (!slot || slot.length < len) {
      slot = new Uint8Array(Math.max(len, 2048));
      this.slots[i] = slot;
    }
    slot.set(buf.subarray(off, off + len));
    this.lens[i] = len;
    this.count++;
  }

  /** Hands each staged packet, oldest first, to fn and empties the queue. */
  drain(fn: (pkt: Uint8Array, len: number) => void): void {
    while (this.count > 0) {
      const i = this.head;
      this.head = (this.head + 1) % STAGED_MAX;
      this.count--;
      fn(this.slots[i]!, this.lens[i]!);
    }
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
  }
}
