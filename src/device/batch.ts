// Preallocated batch storage shared by the send and receive paths: packets sit at fixed strides in one buffer,
// with room for the 16-byte transport header in front and padding plus the 16-byte tag behind (§5.4.6), so
// sealing and opening happen in place and nothing is allocated per packet.

import { TRANSPORT } from "../noise/index.ts";

export const BATCH = 128;
export const HEADER = TRANSPORT.header;
export const TAG = 16;
/** Largest IP packet (64 KiB) + header + up to 15 bytes of padding + tag, rounded to a cache line: the slot a UDP
 *  receive needs (a GRO-coalesced datagram, or a peer's large datagram, may be this big). */
export const STRIDE = 65664;
/** Largest packet a TUN slot is grown for. */
export const MAX_PACKET = 65535;

/** The slot for packets of up to `mtu` bytes: header + packet + padding (< 16) + tag, rounded to a cache line. TUN
 *  reads are sized by the MTU (the offload layer splits super-packets into MTU-sized packets, zig/src/offload.zig),
 *  so the send path's memory follows what the interface can carry instead of the 64 KiB maximum. */
export function strideFor(mtu: number): number {
  return (HEADER + Math.min(mtu, MAX_PACKET) + 15 + TAG + 63) & ~63;
}

/** The largest packet a slot of `stride` bytes holds with room for its padding and tag behind it. */
export function capacityOf(stride: number): number {
  return Math.min(stride - HEADER - 15 - TAG, MAX_PACKET);
}

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

  /** Starts a batch, erasing the keys the previous one copied in: they must not outlive their sessions here. */
  reset(): void {
    this.keys.fill(0, 0, this.n * 32);
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
