// The per-peer timers of §6 as deadlines (ms, Infinity = not armed). Events from the packet paths arm and disarm
// them; Peer.tick acts on those that expired. Every event is a few assignments: the packet path calls them per
// packet.

import {
  KEEPALIVE_TIMEOUT,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
  ZERO_KEYS_AFTER,
} from "./constants.ts";

// Where jitter draws its random bytes: one buffer for every peer's timers (JS runs one call at a time), not two
// typed arrays per peer (bench/RESULTS.md, "Memory").
const jitterDraw = new Uint16Array(1);
const jitterBytes = new Uint8Array(jitterDraw.buffer);

export class Timers {
  /** §6.4: retry an unanswered initiation. */
  retransmitAt = Infinity;
  /** §6.2: we sent data and heard nothing back for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT: handshake anew. */
  newHandshakeAt = Infinity;
  /** §6.5 passive keepalive: we received data and sent nothing back for KEEPALIVE_TIMEOUT. */
  keepaliveAt = Infinity;
  /** Persistent keepalive: nothing went either way for the configured interval. */
  persistentAt = Infinity;
  /** §6.3: erase all keys, no new session for 3 × REJECT_AFTER_TIME. */
  zeroAt = Infinity;
  /** An initiation is wanted as soon as possible (data waits, or a session needs renewing). */
  initiationAt = Infinity;

  /** Retries of the current initiation (§6.4). */
  attempts = 0;
  /** Data arrived while a passive keepalive was already pending: arm another after it. */
  needAnotherKeepalive = false;
  /** Persistent keepalive interval, ms; 0 = off. */
  persistentInterval = 0;

  constructor(private readonly random: (out: Uint8Array) => void) {}

  next(): number {
    return Math.min(
      this.retransmitAt,
      this.newHandshakeAt,
      this.keepaliveAt,
      this.persistentAt,
      this.zeroAt,
      this.initiationAt,
    );
  }

  /** 0..REKEY_TIMEOUT_JITTER_MAX−1 ms. */
  jitter(): number {
    this.random(jitterBytes);
    return jitterDraw[0] % REKEY_TIMEOUT_JITTER_MAX;
  }

  handshakeInitiated(now: number): void {
    this.retransmitAt = now + REKEY_TIMEOUT + this.jitter();
  }

  handshakeComplete(): void {
    this.retransmitAt = Infinity;
    this.attempts = 0;
  }

  sessionDerived(now: number): void {
    this.zeroAt = now + ZERO_KEYS_AFTER;
  }

  /** Any authenticated packet (transport or handshake) sent: a keepalive would be redundant. */
  anyAuthenticatedPacketSent(): void {
    this.keepaliveAt = Infinity;
  }

  /** Any authenticated packet received: the peer is answering. */
  anyAuthenticatedPacketReceived(): void {
    this.newHandshakeAt = Infinity;
  }

  /** Any authenticated packet in either direction: restart the persistent keepalive interval. */
  anyAuthenticatedPacketTraversal(now: number): void {
    if (this.persistentInterval > 0) this.persistentAt = now + this.persistentInterval;
  }

  dataSent(now: number): void {
    if (this.newHandshakeAt === Infinity) this.newHandshakeAt = now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + this.jitter();
  }

  dataReceived(now: number): void {
    if (this.keepaliveAt === Infinity) this.keepaliveAt = now + KEEPALIVE_TIMEOUT;
    else this.needAnotherKeepalive = true;
  }

  /** Stops everything but the key erasure (peer reset). */
  stop(): void {
    this.retransmitAt = this.newHandshakeAt = this.keepaliveAt = this.persistentAt = this.initiationAt = Infinity;
    this.attempts = 0;
    this.needAnotherKeepalive = false;
  }
}
