// Session indices (§5.4.2: "sender" is a random 32-bit index): the receiver index of every incoming response,
// cookie reply and transport message names one of our handshakes in progress or one of our sessions. Random, so
// they reveal nothing about how many sessions we hold; unique among the live ones.

import type { Keypair } from "./keypair.ts";

/** Told of every session as its index starts and stops naming it: a shell that opens packets away from the engine
 *  (device/workers.ts) keeps a copy of the receive keys by index. `removed` comes before the keys are erased. */
export interface SessionObserver {
  added(index: number, receiveKey: Uint8Array): void;
  removed(index: number): void;
}

/** P is the peer type (peer.ts), a parameter so that peer.ts and this file do not import each other.
 *
 *  Indices are handed out and taken in either form, unsigned (as readU32 reads them) or the same bits signed (as
 *  readIndex does, the data path's form); the maps key on the signed one (`| 0`), which is always a 32-bit integer
 *  to JavaScriptCore, so a lookup per packet never meets a number ≥ 2^31 (messages.ts readIndex). */
export class IndexTable<P> {
  /** Index of an initiation we sent and await a response to → its peer. */
  private readonly handshakes = new Map<number, P>();
  private readonly keypairs = new Map<number, Keypair<P>>();
  private readonly draw = new Uint32Array(1);
  private readonly drawBytes = new Uint8Array(this.draw.buffer);
  /** Set by the shell while it keeps copies of the receive keys; told of the sessions made and removed from then. */
  observer: SessionObserver | null = null;

  constructor(private readonly random: (out: Uint8Array) => void) {}

  /** A fresh random index, reserved for a handshake of `peer`. */
  newHandshakeIndex(peer: P): number {
    let index: number;
    do {
      this.random(this.drawBytes);
      index = this.draw[0];
    } while (this.handshakes.has(index | 0) || this.keypairs.has(index | 0));
    this.handshakes.set(index | 0, peer);
    return index;
  }

  handshakePeer(index: number): P | undefined {
    return this.handshakes.get(index | 0);
  }

  /** The handshake under `index` completed: the index now names its session. */
  promote(index: number, keypair: Keypair<P>): void {
    this.handshakes.delete(index | 0);
    this.keypairs.set(index | 0, keypair);
    this.observer?.added(index >>> 0, keypair.receiveKey);
  }

  keypair(index: number): Keypair<P> | undefined {
    return this.keypairs.get(index | 0);
  }

  /** The peer an index names, handshake or session (cookie replies answer either). */
  peer(index: number): P | undefined {
    return this.handshakes.get(index | 0) ?? this.keypairs.get(index | 0)?.peer;
  }

  free(index: number): void {
    this.handshakes.delete(index | 0);
    if (this.keypairs.delete(index | 0)) this.observer?.removed(index >>> 0);
  }

  get size(): number {
    return this.handshakes.size + this.keypairs.size;
  }
}
