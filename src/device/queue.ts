// Packets staged for a peer while it has no usable session (whitepaper §6.2: handshakes happen on demand, the
// packet that caused one is sent when it completes). Bounded like wireguard-go's 128-packet staging queue: when
// full, the oldest is dropped. This is the slow path, taken once per handshake: storage is allocated on the first
// packet and released when the queue is drained or cleared, so an idle peer — most of a large peer set — holds
// none (bench/RESULTS.md, "Memory"). The per-packet hot path never comes here.

export const STAGED_MAX = 128;
/** Slots are at least this large, so a run of small packets reuses them. */
const MIN_SLOT = 2048;

export class StagedQueue {
  private slots: Uint8Array[] | null = null;
  private lens: Uint32Array | null = null;
  private head = 0;
  private count = 0;
  dropped = 0;

  get length(): number { return this.count; }

  /** Bytes of packet storage held now (0 when empty). */
  get storageBytes(): number {
    if (this.slots === null) return 0;
    let n = this.lens!.byteLength;
    for (const s of this.slots) n += s?.byteLength ?? 0;
    return n;
  }

  /** Copies packet bytes [off, off+len) of buf. */
  push(buf: Uint8Array, off: number, len: number): void {
    if (this.slots === null) {
      this.slots = [];
      this.lens = new Uint32Array(STAGED_MAX);
    }
    if (this.count === STAGED_MAX) {
      this.head = (this.head + 1) % STAGED_MAX;
      this.count--;
      this.dropped++;
    }
    const i = (this.head + this.count) % STAGED_MAX;
    let slot = this.slots[i];
    if (!slot || slot.length < len) {
      slot = new Uint8Array(Math.max(len, MIN_SLOT));
      this.slots[i] = slot;
    }
    slot.set(buf.subarray(off, off + len));
    this.lens![i] = len;
    this.count++;
  }

  /** Hands each staged packet, oldest first, to fn, and empties the queue, releasing its storage. The storage is
   *  detached first: a packet fn stages again (no session after all) lands in a fresh queue. */
  drain(fn: (pkt: Uint8Array, len: number) => void): void {
    const slots = this.slots, lens = this.lens, head = this.head, count = this.count;
    this.clear();
    if (slots === null || lens === null) return;
    for (let k = 0; k < count; k++) {
      const i = (head + k) % STAGED_MAX;
      fn(slots[i], lens[i]);
    }
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
    this.slots = null;
    this.lens = null;
  }
}
