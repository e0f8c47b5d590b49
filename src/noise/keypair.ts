// A session (§5.4.5, §6): the transport keys one handshake derived, the indices both ends use to name it, the send
// counter and the receive replay window.

import { KEY_LENGTH } from "./constants.ts";
import { ReplayWindow } from "./replay.ts";

/** P is the owning peer (peer.ts): a type parameter, so this file needs nothing of peer.ts. */
export class Keypair<P> {
  readonly sendKey = new Uint8Array(KEY_LENGTH);
  readonly receiveKey = new Uint8Array(KEY_LENGTH);
  /** Next counter to send. Advanced only through Peer.reserveCounters. */
  sendCounter = 0;
  /** §5.4.6 receive window; updated only through Peer.packetReceived. */
  readonly replay = new ReplayWindow();
  /** False once the keys were erased (rotated out, expired, peer removed). */
  alive = true;
  /** remoteIndex's 32 bits as a signed integer, what the data path writes into each header: JavaScriptCore writes an
   *  int32 to bytes directly but converts an index ≥ 2^31 (a double) on every write (bench/RESULTS.md, ninth round). */
  readonly remoteIndexBits: number;

  constructor(
    readonly peer: P,
    /** Our index: transport messages to us carry it as receiver. */
    readonly localIndex: number,
    /** Their index: we put it in the receiver field of what we send. */
    readonly remoteIndex: number,
    /** §6.2: only the initiator of a session rekeys it after REKEY_AFTER_TIME. */
    readonly isInitiator: boolean,
    /** `now` of the handshake that made it. */
    readonly created: number,
  ) {
    this.remoteIndexBits = remoteIndex | 0;
  }

  /** Erases the keys. */
  zero(): void {
    this.sendKey.fill(0);
    this.receiveKey.fill(0);
    this.replay.reset();
    this.alive = false;
  }
}
