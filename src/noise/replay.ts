// Replay protection of transport counters (§5.4.6): an RFC 6479 sliding window. A ring of 256 32-bit blocks
// (8192 bits) remembers which counters arrived; the newest counter moves the window forward by clearing the blocks
// it passes. Counters up to REPLAY_WINDOW (8128) behind the newest are still accepted once, so reordering by the
// network costs no packets. O(1) per packet, no allocation.
//
// Counters are JS numbers, exact below 2^53: callers refuse larger ones through REJECT_AFTER_MESSAGES
// (constants.ts). Block arithmetic uses division, not shifts, because shifts would cut counters to 32 bits; the
// ring slot only needs bits 5..12 of the counter, which `>>> 5` keeps exactly.

import { REPLAY_WINDOW } from "./constants.ts";

const BLOCK_BITS = 32;
const RING_BLOCKS = 256;
const RING_MASK = RING_BLOCKS - 1;

export class ReplayWindow {
  private readonly ring = new Uint32Array(RING_BLOCKS);
  private last = 0; // highest counter accepted

  /** True when `counter` is below `limit`, has not been seen and is not too old; read-only. */
  mayAccept(counter: number, limit: number): boolean {
    if (counter >= limit) return false;
    if (counter > this.last) return true;
    if (this.last - counter > REPLAY_WINDOW) return false;
    return (this.ring[(counter >>> 5) & RING_MASK] & (1 << (counter & 31))) === 0;
  }

  /** Records `counter`; false (and nothing recorded) when it is not acceptable as in `mayAccept`. */
  accept(counter: number, limit: number): boolean {
    if (counter >= limit) return false;
    if (counter > this.last) {
      const current = Math.floor(this.last / BLOCK_BITS);
      const steps = Math.min(Math.floor(counter / BLOCK_BITS) - current, RING_BLOCKS);
      for (let i = 1; i <= steps; i++) this.ring[(current + i) & RING_MASK] = 0;
      this.last = counter;
    } else if (this.last - counter > REPLAY_WINDOW) {
      return false;
    }
    const slot = (counter >>> 5) & RING_MASK;
    const bit = 1 << (counter & 31);
    const old = this.ring[slot];
    if ((old & bit) !== 0) return false;
    this.ring[slot] = old | bit;
    return true;
  }

  reset(): void {
    this.ring.fill(0);
    this.last = 0;
  }
}
