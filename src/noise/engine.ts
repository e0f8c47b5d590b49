// The protocol engine of one WireGuard interface: our static identity, the peers, the index table and the cookie
// checker (§5.3, §5.4). Handshake messages go in through consumeHandshake; transport messages are the shell's,
// which finds their session with keypairByIndex and then talks to the Peer.

import { KEY_LENGTH } from "./constants.ts";
import { CookieChecker } from "./cookie.ts";
import type { NoiseCrypto } from "./crypto.ts";
import { type LocalStatic, consumeInitiation, forgetInitiation, initialHashFor, receiverIndexOf } from "./handshake.ts";
import { IndexTable } from "./indextable.ts";
import type { Keypair } from "./keypair.ts";
import { clampPrivateKey } from "./keys.ts";
import { keyToBase64 } from "../text/codec.ts";
import { COOKIE_REPLY, MESSAGE_COOKIE_REPLY, MESSAGE_INITIATION, MESSAGE_RESPONSE, messageType, readU32 } from "./messages.ts";
import { Peer, type InitiationRefusal, type PeerHost } from "./peer.ts";
import { equalBytes } from "./primitives.ts";
import { RateLimiter } from "./ratelimiter.ts";

export type RejectReason =
  | "malformed" // wrong size, unknown type or reserved bytes set
  | "no-private-key"
  | "invalid-mac1" // type 1: the shell logs "Invalid initiation MAC"
  | "invalid-mac2" // not produced: a missing or wrong mac2 under load is answered with a cookie reply
  | "rate-limited" // under load, this source IP is over its handshake budget
  | "invalid-initiation" // the shell logs "Invalid handshake initiation"; see `detail`
  | "invalid-response"
  | "unknown-index" // a response or cookie reply names no handshake or session of ours
  | "invalid-cookie";

export type HandshakeOutcome =
  /** We answered an initiation: send packet to src and make src the peer's endpoint. */
  | { kind: "response"; peer: Peer; packet: Uint8Array }
  /** Our initiation was answered: the session is current. Send the staged packets, or a keepalive if there are
   *  none (the initiator must send first, §5.4.5). */
  | { kind: "established"; peer: Peer }
  /** Under load without a valid mac2: send packet to src (§5.4.7). */
  | { kind: "cookie-reply"; packet: Uint8Array }
  /** A cookie reply was taken; our next handshake message to that peer carries mac2. */
  | { kind: "cookie-consumed"; peer: Peer }
  | { kind: "rejected"; reason: RejectReason; peer?: Peer; detail?: InitiationDetail };

/** Why an initiation was invalid, for debug logs. */
export type InitiationDetail = "does-not-decrypt" | "unknown-peer" | InitiationRefusal;

export interface EngineOptions {
  /** All the cryptography this engine and its peers use (src/crypto/suite.ts builds it). */
  crypto: NoiseCrypto;
  /** Unix time in ms minus `now`. The TAI64N timestamps of our initiations (§5.1) must keep growing across
   *  restarts, so they need the wall clock, which the core may not read. Default: performance.timeOrigin — right
   *  when `now` is performance.now(), as in the daemon; tests with a fake clock pass their own. */
  unixTimeOffset?: number;
}

const rejected = (reason: RejectReason, peer?: Peer, detail?: InitiationDetail): HandshakeOutcome => ({
  kind: "rejected",
  reason,
  peer,
  detail,
});

export class Engine implements PeerHost {
  readonly crypto: NoiseCrypto;
  readonly indices: IndexTable<Peer>;
  readonly unixTimeOffset: number;
  private local_: LocalStatic | null = null;
  private privateKey_: Uint8Array | null = null;
  private readonly peersByKey = new Map<string, Peer>();
  private readonly cookieChecker: CookieChecker;
  private readonly rateLimiter = new RateLimiter();

  constructor(opts: EngineOptions) {
    const offset = opts.unixTimeOffset ?? performance.timeOrigin;
    if (!Number.isFinite(offset)) throw new TypeError(`Engine: unixTimeOffset: expected a finite number, got ${offset}`);
    const c = opts.crypto;
    if (!c || !c.aead || !c.xaead || !c.blake2s || !c.x25519 || typeof c.random !== "function") {
      throw new TypeError("Engine: crypto: expected a NoiseCrypto with aead, xaead, blake2s, x25519 and random (src/crypto/suite.ts)");
    }
    this.crypto = c;
    this.unixTimeOffset = offset;
    this.indices = new IndexTable<Peer>(c.random);
    this.cookieChecker = new CookieChecker(c);
  }

  get local(): LocalStatic | null {
    return this.local_;
  }

  /** Whether a private key is set (without the copy `privateKey` hands out). */
  get hasPrivateKey(): boolean {
    return this.privateKey_ !== null;
  }

  /** The clamped private key (a copy), or null. */
  get privateKey(): Uint8Array | null {
    return this.privateKey_ && Uint8Array.from(this.privateKey_);
  }

  get publicKey(): Uint8Array | null {
    return this.local_ && Uint8Array.from(this.local_.publicKey);
  }

  /** The public key of any 32 bytes (clamped here) by this engine's X25519: a configuration checks a new private
   *  key against its peers' keys before it is applied. Keeps no copy of the private key. */
  publicKeyOf(privateKey: Uint8Array): Uint8Array {
    const clamped = clampPrivateKey(privateKey);
    try {
      if (this.privateKey_ !== null && equalBytes(clamped, this.privateKey_)) return this.publicKey!;
      const k = this.crypto.x25519.privateKey(clamped);
      const pub = Uint8Array.from(k.publicKey);
      k.destroy();
      return pub;
    } finally {
      clamped.fill(0);
    }
  }

  /** Any 32 bytes (clamped here), or null. A new key discards every session and handshake in progress; setting
   *  the key we already have changes nothing (wg syncconf sets it again and again). A peer whose public key equals
   *  ours is ignored from then on. */
  setPrivateKey(key: Uint8Array | null): void {
    const clamped = key === null ? null : clampPrivateKey(key);
    if (clamped !== null && this.privateKey_ !== null && equalBytes(clamped, this.privateKey_)) return;
    this.local_?.key.destroy();
    this.privateKey_?.fill(0);
    this.privateKey_ = clamped;
    if (clamped === null) {
      this.local_ = null;
    } else {
      const k = this.crypto.x25519.privateKey(clamped);
      this.local_ = { key: k, publicKey: k.publicKey, initialHash: initialHashFor(this.crypto, k.publicKey) };
    }
    this.cookieChecker.setPublicKey(this.local_ && this.local_.publicKey);
    for (const peer of this.peersByKey.values()) peer.localKeyChanged();
  }

  /** Throws if a peer with this key exists. */
  addPeer(publicKey: Uint8Array): Peer {
    if (publicKey.length !== KEY_LENGTH) throw new RangeError(`public key: expected 32 bytes, got ${publicKey.length}`);
    const id = keyToBase64(publicKey);
    if (this.peersByKey.has(id)) throw new Error(`peer ${id} already exists`);
    const peer = new Peer(this, publicKey);
    this.peersByKey.set(id, peer);
    return peer;
  }

  /** Erases the peer's keys and frees its indices. False if there was no such peer. */
  removePeer(publicKey: Uint8Array): boolean {
    const id = keyToBase64(publicKey);
    const peer = this.peersByKey.get(id);
    if (peer === undefined) return false;
    this.peersByKey.delete(id);
    peer.destroy();
    return true;
  }

  peer(publicKey: Uint8Array): Peer | undefined {
    return publicKey.length === KEY_LENGTH ? this.peersByKey.get(keyToBase64(publicKey)) : undefined;
  }

  /** In insertion order. */
  peers(): IterableIterator<Peer> {
    return this.peersByKey.values();
  }

  /** The session a transport message's receiver index names (per packet: one map lookup). */
  keypairByIndex(receiverIndex: number): Keypair<Peer> | undefined {
    return this.indices.keypair(receiverIndex);
  }

  /** Message types 1, 2 and 3. src: opaque bytes of the source address (IP bytes ‖ port big-endian) for the
   *  cookie and per-IP rate limiting; underLoad is the shell's judgement (§5.3). */
  consumeHandshake(now: number, msg: Uint8Array, src: Uint8Array, underLoad: boolean): HandshakeOutcome {
    const type = messageType(msg);
    if (type === MESSAGE_COOKIE_REPLY) return this.consumeCookieReply(now, msg);
    if (type !== MESSAGE_INITIATION && type !== MESSAGE_RESPONSE) return rejected("malformed");
    const local = this.local_;
    if (local === null) return rejected("no-private-key");
    // §5.4.4, §5.4.7: mac1 always; under load also mac2 (else a cookie reply) and the per-IP budget.
    if (!this.cookieChecker.checkMac1(msg)) return rejected("invalid-mac1");
    if (underLoad) {
      if (!this.cookieChecker.checkMac2(now, msg, src)) {
        return { kind: "cookie-reply", packet: this.cookieChecker.createReply(now, msg, src) };
      }
      if (!this.rateLimiter.allow(now, src)) return rejected("rate-limited");
    }
    return type === MESSAGE_INITIATION ? this.consumeInitiation(now, msg, local) : this.consumeResponse(now, msg);
  }

  private consumeInitiation(now: number, msg: Uint8Array, local: LocalStatic): HandshakeOutcome {
    let unknown = false;
    const found = consumeInitiation(this.crypto, local, msg, (remoteStatic) => {
      const peer = this.peersByKey.get(keyToBase64(remoteStatic));
      if (peer === undefined || peer.isSelf) {
        unknown = true;
        return null;
      }
      return peer;
    });
    if (found === null) {
      return rejected("invalid-initiation", undefined, unknown ? "unknown-peer" : "does-not-decrypt");
    }
    let result: Uint8Array | InitiationRefusal;
    try {
      result = found.peer.acceptInitiation(now, found.consumed);
    } finally {
      forgetInitiation(); // answered or refused: the responder's chaining key goes now
    }
    if (typeof result === "string") return rejected("invalid-initiation", found.peer, result);
    return { kind: "response", peer: found.peer, packet: result };
  }

  private consumeResponse(now: number, msg: Uint8Array): HandshakeOutcome {
    const peer = this.indices.handshakePeer(receiverIndexOf(msg));
    if (peer === undefined) return rejected("unknown-index");
    if (!peer.acceptResponse(now, msg)) return rejected("invalid-response", peer);
    return { kind: "established", peer };
  }

  private consumeCookieReply(now: number, msg: Uint8Array): HandshakeOutcome {
    const peer = this.indices.peer(readU32(msg, COOKIE_REPLY.receiver));
    if (peer === undefined) return rejected("unknown-index");
    if (!peer.cookies.consumeReply(now, msg)) return rejected("invalid-cookie", peer);
    return { kind: "cookie-consumed", peer };
  }
}
