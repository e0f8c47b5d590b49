// Per-source rate limiting of handshake messages under load (§5.3): once a sender has proven its address with a
// valid mac2, it still may not make us do more than RATE_LIMIT_PER_SECOND handshakes a second (bursts of
// RATE_LIMIT_BURST). A token bucket per source IP; like wireguard-go, the port is ignored, so one host cannot
// multiply its budget by using many ports.

import { RATE_LIMIT_BURST, RATE_LIMIT_PER_SECOND } from "./constants.ts";

const COST = 1000 / RATE_LIMIT_PER_SECOND; // ms of tokens one message spends
const MAX_TOKENS = COST * RATE_LIMIT_BURST;
const FORGET_AFTER = 1000; // an idle bucket this old is full again, so it can be dropped
const PORT_LENGTH = 2;

interface Bucket {
  tokens: number;
  last: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = -Infinity;

  /** src = IP bytes ‖ port (2 bytes). True when a message from that IP may be processed now. */
  allow(now: number, src: Uint8Array): boolean {
    if (now - this.lastSweep >= FORGET_AFTER) this.sweep(now);
    const key = String.fromCharCode(...src.subarray(0, Math.max(0, src.length - PORT_LENGTH)));
    const b = this.buckets.get(key);
    if (b === undefined) {
      this.buckets.set(key, { tokens: MAX_TOKENS - COST, last: now });
      return true;
    }
    b.tokens = Math.min(MAX_TOKENS, b.tokens + (now - b.last));
    b.last = now;
    if (b.tokens < COST) return false;
    b.tokens -= COST;
    return true;
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [key, b] of this.buckets) if (now - b.last >= FORGET_AFTER) this.buckets.delete(key);
  }
}
