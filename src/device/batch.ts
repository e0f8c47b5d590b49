// Preallocated batch storage shared by the send and receive paths: packets sit at fixed strides in one buffer,
// with room for the 16-byte transport header in front and padding plus the 16-byte tag behind (§5.4.6), so
// sealing and opening happen in place and nothing is allocated per packet.

export const BATCH = 128;
export const HEADER = 16;
export const TAG = 16;
/** Largest IP packet (64 KiB) + header + up to 15 bytes of padding + tag, rounded to a cache line. */
export const STRIDE = 65664;

/** A per-batch table of 32-byte keys; consecutive packets of one session share a slot. */
export class KeyTable {
  readonly keys: Uint8Array;
  readonly index: Uint16Array;
  private last: Uint8Array | null = null;
  private n = 0;

  constructor(capacity: number) {
    this.keys = new Uint8Array(capacity * 32);
    this.index = new Uint16Array(capacity);
  }

  reset(): void {
    this.last = null;
    this.n = 0;
  }

  slot(key: Uint8Array): number {
    if (key === this.last) return this.n - 1;
    this.keys.set(key, this.n * 32);
    this.last = key;
    return this.n++;
  }
}

export function writeU32LE(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
  buf[off + 2] = (v >>> 16) & 0xff;
  buf[off + 3] = (v >>> 24) & 0xff;
}

export function readU32LE(buf: Uint8Array, off: number): number {
  return (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0;
}

/** Counters are JS numbers: exact below 2^53, far beyond any session's REJECT_AFTER_MESSAGES in practice. */
export function writeCounter(buf: Uint8Array, off: number, counter: number): void {
  writeU32LE(buf, off, counter >>> 0);
  writeU32LE(buf, off + 4, Math.floor(counter / 4294967296) >>> 0);
}

export function readCounter(buf: Uint8Array, off: number): number {
  return readU32LE(buf, off) + readU32LE(buf, off + 4) * 4294967296;
}
