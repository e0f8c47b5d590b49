// The Noise_IKpsk2 handshake of §5.4.2–§5.4.3: create and consume the initiation and the response, and derive the
// transport keys (§5.4.5). Pure computation over caller-owned buffers; who may handshake when is peer.ts's affair.
// Each function works on scratch copies of the chaining key and hash and commits only on success, so a forged
// message cannot disturb a handshake in progress.

import { INITIAL_CHAIN_KEY, INITIAL_HASH, KEY_LENGTH, TAI64N_LENGTH } from "./constants.ts";
import type { NoiseCrypto, X25519PrivateKey } from "./crypto.ts";
import { clampPrivateKey } from "./keys.ts";
import { INITIATION, MESSAGE_INITIATION, MESSAGE_RESPONSE, RESPONSE, readU32, writeHeader, writeU32 } from "./messages.ts";
import { isZero } from "./primitives.ts";

/** Our static identity. */
export interface LocalStatic {
  readonly key: X25519PrivateKey;
  readonly publicKey: Uint8Array;
  /** HASH(HASH(C0 ‖ IDENTIFIER) ‖ our public key): where every initiation sent to us starts. */
  readonly initialHash: Uint8Array;
}

/** What the handshake needs to know about a peer. */
export interface RemoteStatic {
  readonly publicKey: Uint8Array;
  /** HASH(HASH(C0 ‖ IDENTIFIER) ‖ their public key). */
  readonly initialHash: Uint8Array;
  /** DH(our static, their static), computed once; all zero when their key is a low-order point. */
  readonly staticStatic: Uint8Array;
  /** §5.4.3 Q: the preshared key, all zero when none is configured. */
  readonly psk: Uint8Array;
}

/** HASH(H0 ‖ responder's static public key), the starting hash of a handshake towards that responder. */
export function initialHashFor(c: NoiseCrypto, publicKey: Uint8Array): Uint8Array {
  return initialHashInto(c, publicKey, new Uint8Array(KEY_LENGTH));
}

/** initialHashFor into caller-owned memory (32 bytes); returns `out`. */
export function initialHashInto(c: NoiseCrypto, publicKey: Uint8Array, out: Uint8Array): Uint8Array {
  c.blake2s.hash(out, INITIAL_HASH, publicKey);
  return out;
}

/** An initiation we sent and whose response we await (§5.4.2 initiator state). */
export class PendingInitiation {
  readonly chainKey = new Uint8Array(KEY_LENGTH);
  readonly hash = new Uint8Array(KEY_LENGTH);
  ephemeral: X25519PrivateKey | null = null;
  localIndex = 0;

  clear(): void {
    this.chainKey.fill(0);
    this.hash.fill(0);
    this.ephemeral?.destroy();
    this.ephemeral = null;
    this.localIndex = 0;
  }
}

/** An initiation we accepted (§5.4.2 responder state), valid until the response is written. */
export interface ConsumedInitiation {
  readonly remoteStatic: Uint8Array; // a view into scratch memory: look the peer up at once
  readonly senderIndex: number;
  readonly timestamp: Uint8Array; // likewise
}

// Scratch memory, reused by every call (JS runs one call at a time).
const ck = new Uint8Array(KEY_LENGTH);
const h = new Uint8Array(KEY_LENGTH);
const key = new Uint8Array(KEY_LENGTH);
const tau = new Uint8Array(KEY_LENGTH);
const dh = new Uint8Array(KEY_LENGTH);
const secret = new Uint8Array(KEY_LENGTH);
const remoteStatic = new Uint8Array(KEY_LENGTH);
const remoteEphemeral = new Uint8Array(KEY_LENGTH);
const timestamp = new Uint8Array(TAI64N_LENGTH);
const EMPTY = new Uint8Array(0);

function wipeScratch(): void {
  ck.fill(0);
  h.fill(0);
  key.fill(0);
  tau.fill(0);
  dh.fill(0);
}

function newEphemeral(c: NoiseCrypto): X25519PrivateKey {
  c.random(secret);
  const clamped = clampPrivateKey(secret);
  secret.fill(0);
  try {
    return c.x25519.privateKey(clamped);
  } finally {
    clamped.fill(0);
  }
}

/** §5.4.2: fills msg[0..116] (mac1/mac2 are cookie.ts's) and records the state in `pending`. False when a DH
 *  result is zero (their static key is a low-order point). */
export function createInitiation(
  c: NoiseCrypto,
  local: LocalStatic,
  remote: RemoteStatic,
  pending: PendingInitiation,
  localIndex: number,
  tai64n: Uint8Array,
  msg: Uint8Array,
): boolean {
  const b = c.blake2s;
  if (isZero(remote.staticStatic)) return false;
  const e = newEphemeral(c);
  try {
    ck.set(INITIAL_CHAIN_KEY);
    h.set(remote.initialHash);
    writeHeader(msg, MESSAGE_INITIATION);
    writeU32(msg, INITIATION.sender, localIndex);
    const ephemeral = msg.subarray(INITIATION.ephemeral, INITIATION.static);
    ephemeral.set(e.publicKey);
    b.kdf1(ck, ck, ephemeral);
    b.hash(h, h, ephemeral);
    if (!c.x25519.sharedSecret(e, remote.publicKey, dh)) return false;
    b.kdf2(ck, key, ck, dh);
    const encStatic = msg.subarray(INITIATION.static, INITIATION.timestamp);
    c.aead.seal(key, 0, local.publicKey, h, encStatic);
    b.hash(h, h, encStatic);
    b.kdf2(ck, key, ck, remote.staticStatic);
    const encTimestamp = msg.subarray(INITIATION.timestamp, INITIATION.mac1);
    c.aead.seal(key, 0, tai64n, h, encTimestamp);
    b.hash(h, h, encTimestamp);
    pending.clear();
    pending.chainKey.set(ck);
    pending.hash.set(h);
    pending.ephemeral = e;
    pending.localIndex = localIndex;
    return true;
  } finally {
    if (pending.ephemeral !== e) e.destroy();
    wipeScratch();
  }
}

/** Responder's chaining key and hash between consuming an initiation and writing the response. */
const responderChainKey = new Uint8Array(KEY_LENGTH);
const responderHash = new Uint8Array(KEY_LENGTH);

/** Erases what consumeInitiation left for createResponse. The engine calls it once the initiation is answered
 *  or refused (replayed timestamp, flood), so no chaining key outlives the message that made it. */
export function forgetInitiation(): void {
  responderChainKey.fill(0);
  responderHash.fill(0);
  remoteStatic.fill(0);
  remoteEphemeral.fill(0);
  timestamp.fill(0);
}

/** Every scratch buffer of this module, for tests: all must be zero between handshake calls. */
export const scratchForTests: readonly Uint8Array[] = [
  ck, h, key, tau, dh, secret, remoteStatic, remoteEphemeral, timestamp, responderChainKey, responderHash,
];

/** §5.4.2 on the responder: decrypts and authenticates an initiation whose macs were already checked.
 *  `lookup` maps the initiator's static key to what we know of them, or null if we do not know them. Returns null
 *  when the message does not decrypt, the key is unknown or a DH result is zero. On success the state stays in
 *  module scratch for the `createResponse` that must follow before any other handshake call, and
 *  `forgetInitiation` erases it either way. */
export function consumeInitiation<P extends RemoteStatic>(
  c: NoiseCrypto,
  local: LocalStatic,
  msg: Uint8Array,
  lookup: (remoteStatic: Uint8Array) => P | null,
): { consumed: ConsumedInitiation; peer: P } | null {
  const b = c.blake2s;
  let consumed = false;
  try {
    ck.set(INITIAL_CHAIN_KEY);
    h.set(local.initialHash);
    remoteEphemeral.set(msg.subarray(INITIATION.ephemeral, INITIATION.static));
    b.kdf1(ck, ck, remoteEphemeral);
    b.hash(h, h, remoteEphemeral);
    if (!c.x25519.sharedSecret(local.key, remoteEphemeral, dh)) return null;
    b.kdf2(ck, key, ck, dh);
    const encStatic = msg.subarray(INITIATION.static, INITIATION.timestamp);
    if (!c.aead.open(key, 0, encStatic, h, remoteStatic)) return null;
    b.hash(h, h, encStatic);
    const peer = lookup(remoteStatic);
    if (peer === null || isZero(peer.staticStatic)) return null;
    b.kdf2(ck, key, ck, peer.staticStatic);
    const encTimestamp = msg.subarray(INITIATION.timestamp, INITIATION.mac1);
    if (!c.aead.open(key, 0, encTimestamp, h, timestamp)) return null;
    b.hash(h, h, encTimestamp);
    responderChainKey.set(ck);
    responderHash.set(h);
    consumed = true;
    return { peer, consumed: { remoteStatic, senderIndex: readU32(msg, INITIATION.sender), timestamp } };
  } finally {
    wipeScratch();
    if (!consumed) forgetInitiation();
  }
}

/** §5.4.3 on the responder, right after `consumeInitiation`: fills msg[0..60] and derives the responder's transport
 *  keys (§5.4.5). False when a DH result is zero. */
export function createResponse(
  c: NoiseCrypto,
  remote: RemoteStatic,
  senderIndex: number,
  localIndex: number,
  msg: Uint8Array,
  sendKey: Uint8Array,
  receiveKey: Uint8Array,
): boolean {
  const b = c.blake2s;
  const e = newEphemeral(c);
  try {
    ck.set(responderChainKey);
    h.set(responderHash);
    writeHeader(msg, MESSAGE_RESPONSE);
    writeU32(msg, RESPONSE.sender, localIndex);
    writeU32(msg, RESPONSE.receiver, senderIndex);
    const ephemeral = msg.subarray(RESPONSE.ephemeral, RESPONSE.empty);
    ephemeral.set(e.publicKey);
    b.kdf1(ck, ck, ephemeral);
    b.hash(h, h, ephemeral);
    if (!c.x25519.sharedSecret(e, remoteEphemeral, dh)) return false;
    b.kdf1(ck, ck, dh);
    if (!c.x25519.sharedSecret(e, remote.publicKey, dh)) return false;
    b.kdf1(ck, ck, dh);
    b.kdf3(ck, tau, key, ck, remote.psk);
    b.hash(h, h, tau);
    const empty = msg.subarray(RESPONSE.empty, RESPONSE.mac1);
    c.aead.seal(key, 0, EMPTY, h, empty);
    // §5.4.5: the initiator sends with τ1 and receives with τ2; the responder the other way round.
    b.kdf2(receiveKey, sendKey, ck, EMPTY);
    return true;
  } finally {
    e.destroy();
    forgetInitiation();
    wipeScratch();
  }
}

/** §5.4.3 on the initiator: checks a response (macs already checked) against `pending` and derives the initiator's
 *  transport keys. False when it does not authenticate; `pending` is then left as it was. */
export function consumeResponse(
  c: NoiseCrypto,
  local: LocalStatic,
  remote: RemoteStatic,
  pending: PendingInitiation,
  msg: Uint8Array,
  sendKey: Uint8Array,
  receiveKey: Uint8Array,
): boolean {
  const b = c.blake2s;
  const e = pending.ephemeral;
  if (e === null) return false;
  try {
    ck.set(pending.chainKey);
    h.set(pending.hash);
    const ephemeral = msg.subarray(RESPONSE.ephemeral, RESPONSE.empty);
    b.kdf1(ck, ck, ephemeral);
    b.hash(h, h, ephemeral);
    if (!c.x25519.sharedSecret(e, ephemeral, dh)) return false;
    b.kdf1(ck, ck, dh);
    if (!c.x25519.sharedSecret(local.key, ephemeral, dh)) return false;
    b.kdf1(ck, ck, dh);
    b.kdf3(ck, tau, key, ck, remote.psk);
    b.hash(h, h, tau);
    if (!c.aead.open(key, 0, msg.subarray(RESPONSE.empty, RESPONSE.mac1), h, EMPTY)) return false;
    b.kdf2(sendKey, receiveKey, ck, EMPTY);
    return true;
  } finally {
    wipeScratch();
  }
}

/** Reads the sender index of an initiation or response and the receiver index of a response. */
export const senderIndexOf = (msg: Uint8Array): number => readU32(msg, INITIATION.sender);
export const receiverIndexOf = (msg: Uint8Array): number => readU32(msg, RESPONSE.receiver);
