// The I/O shell's view of a peer: the sans-IO protocol state (noise Peer) plus what only the shell knows —
// where the peer is (its endpoint, §2 roaming), packets waiting for a session, and traffic counters.
import type { Peer as NoisePeer } from "../noise/index.ts";
import type { Endpoint } from "./endpoint.ts";
import { StagedQueue } from "./queue.ts";
import { PeerCounters } from "./counters.ts";

export class DevicePeer {
  private endpoint_: Endpoint | null = null;
  rxBytes = 0;
  txBytes = 0;
  readonly staged = new StagedQueue();
  /** Marks the peer as already collected in the current batch's "touched" list (no Set per batch). */
  touchedEpoch = -1;

  constructor(readonly noise: NoisePeer, readonly publicKeyHex: string, readonly counters = new PeerCounters()) {
    noise.hasEndpoint = false;
    noise.shell = this; // device.ts peerOf
  }

  /** Where the peer is. The core makes no handshake attempt while this is null (noise/peer.ts hasEndpoint). */
  get endpoint(): Endpoint | null { return this.endpoint_; }
  set endpoint(ep: Endpoint | null) {
    this.endpoint_ = ep;
    this.noise.hasEndpoint = ep !== null;
  }

  get name(): string { return this.noise.publicKeyBase64; }
}
