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

/** P is the peer type (peer.ts), a parameter so that peer.ts and this file do not import each other. */
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
    } while (this.handshakes.has(index) || this.keypairs.has(index));
    this.handshakes.set(index, peer);
    return index;
  }

  handshakePeer(index: number): P | undefined {
    return this.handshakes.get(index);
  }

  /** The handshake under `index` completed: the index now names its session. */
  promote(index: number, keypair: Keypair<P>): void {
    this.handshakes.delete(index);
    this.keypairs.set(index, keypair);
    this.observer?.added(index, keypair.receiveKey);
  }

  keypair(index: number): Keypair<P> | undefined {
    return this.keypairs.get(index);
  }

  /** The peer an index names, handshake or session (cookie replies answer either). */
  peer(index: number): P | undefined {
    return this.handshakes.get(index) ?? this.keypairs.get(index)?.peer;
  }

  free(index: number): void {
    this.handshakes.delete(index);
    if (this.keypairs.delete(index)) this.observer?.removed(index);
  }

  get size(): number {
    return this.handshakes.size + this.keypairs.size;
  }
}
