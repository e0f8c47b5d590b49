// The DoS cookie of §5.4.4 and §5.4.7. Every handshake message carries mac1 = MAC(HASH("mac1----" ‖ receiver's
// static public key), msg up to mac1): cheap proof that the sender knows whom it talks to, always checked. Under
// load a responder also demands mac2 = MAC(cookie, msg up to mac2), where cookie = MAC(secret, source address)
// and the secret changes every COOKIE_REFRESH_TIME: proof that the sender can receive at its address. A sender
// without one gets a cookie reply, the cookie sealed with XChaCha20-Poly1305 and bound to its mac1.

import { COOKIE_REFRESH_TIME, KEY_LENGTH, LABEL_COOKIE, LABEL_MAC1, MAC_LENGTH } from "./constants.ts";
import { COOKIE_REPLY, MESSAGE_COOKIE_REPLY, readU32, writeHeader, writeU32 } from "./messages.ts";
import { equalBytes, hash, mac } from "./primitives.ts";

// mac1 and mac2 are the last 32 bytes of both handshake messages.
const mac1Offset = (msg: Uint8Array): number => msg.length - 2 * MAC_LENGTH;
const mac2Offset = (msg: Uint8Array): number => msg.length - MAC_LENGTH;

// Loaded on first use: only cookie replies need it, and loading @noble/ciphers costs several MiB of resident memory
// in a daemon that may never send or receive one (bench/RESULTS.md, "Memory: where it goes").
type XChaCha = typeof import("@noble/ciphers/chacha.js").xchacha20poly1305;
let xchachaLoaded: XChaCha | undefined;
const xchacha20poly1305: XChaCha = (...args) =>
  (xchachaLoaded ??= (require("@noble/ciphers/chacha.js") as typeof import("@noble/ciphers/chacha.js")).xchacha20poly1305)(...args);

/** XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha) seal, as cookie replies use it: out = ciphertext ‖ tag. */
export function xaeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  return xchacha20poly1305(key, nonce, ad).encrypt(plaintext);
}

/** The matching open: the plaintext, or null when the tag does not verify. */
export function xaeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  try {
    return xchacha20poly1305(key, nonce, ad).decrypt(sealed);
  } catch {
    return null;
  }
}

/** HASH(label ‖ public key): the mac1 key ("mac1----") or the cookie encryption key ("cookie--") of a static key. */
export function labelKey(label: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(KEY_LENGTH);
  hash(out, label, publicKey);
  return out;
}

/** Our side of a peer's cookie (§5.4.4): adds mac1/mac2 to what we send it, takes the cookies it sends us. */
export class CookieState {
  private readonly mac1Key: Uint8Array;
  private readonly cookieKey: Uint8Array;
  private readonly cookie = new Uint8Array(MAC_LENGTH);
  private cookieSetAt = -Infinity;
  private readonly lastMac1 = new Uint8Array(MAC_LENGTH);
  private hasLastMac1 = false;

  constructor(remoteStatic: Uint8Array) {
    this.mac1Key = labelKey(LABEL_MAC1, remoteStatic);
    this.cookieKey = labelKey(LABEL_COOKIE, remoteStatic);
  }

  /** Writes mac1, and mac2 while we hold a cookie younger than COOKIE_REFRESH_TIME (else zeros), into a handshake
   *  message whose other fields are final. */
  addMacs(now: number, msg: Uint8Array): void {
    const m1 = mac1Offset(msg);
    const m2 = mac2Offset(msg);
    mac(msg.subarray(m1, m2), this.mac1Key, msg.subarray(0, m1));
    this.lastMac1.set(msg.subarray(m1, m2));
    this.hasLastMac1 = true;
    if (now - this.cookieSetAt < COOKIE_REFRESH_TIME) mac(msg.subarray(m2), this.cookie, msg.subarray(0, m2));
    else msg.fill(0, m2);
  }

  /** §5.4.7: opens a cookie reply (addressed to us by its receiver index) with the mac1 of our last message to this
   *  peer as associated data. False when it does not authenticate or we sent nothing it could answer. */
  consumeReply(now: number, msg: Uint8Array): boolean {
    if (!this.hasLastMac1) return false;
    const nonce = msg.subarray(COOKIE_REPLY.nonce, COOKIE_REPLY.cookie);
    const cookie = xaeadOpen(this.cookieKey, nonce, msg.subarray(COOKIE_REPLY.cookie), this.lastMac1);
    if (cookie === null) return false;
    this.cookie.set(cookie);
    this.cookieSetAt = now;
    this.hasLastMac1 = false; // one reply per message we sent
    return true;
  }

  zero(): void {
    this.cookie.fill(0);
    this.cookieSetAt = -Infinity;
    this.hasLastMac1 = false;
  }
}

/** The responder's side (§5.4.7): checks mac1/mac2 of messages sent to us and writes cookie replies. */
export class CookieChecker {
  private mac1Key: Uint8Array | null = null;
  private cookieKey: Uint8Array | null = null;
  private readonly secret = new Uint8Array(KEY_LENGTH);
  private secretSetAt = -Infinity;
  private readonly scratch = new Uint8Array(MAC_LENGTH);
  private readonly cookie = new Uint8Array(MAC_LENGTH);

  constructor(private readonly random: (out: Uint8Array) => void) {}

  /** Our static public key changed (or went away). */
  setPublicKey(publicKey: Uint8Array | null): void {
    this.mac1Key = publicKey && labelKey(LABEL_MAC1, publicKey);
    this.cookieKey = publicKey && labelKey(LABEL_COOKIE, publicKey);
    this.secretSetAt = -Infinity;
  }

  checkMac1(msg: Uint8Array): boolean {
    if (this.mac1Key === null) return false;
    const m1 = mac1Offset(msg);
    mac(this.scratch, this.mac1Key, msg.subarray(0, m1));
    return equalBytes(this.scratch, msg.subarray(m1, mac2Offset(msg)));
  }

  /** mac2 is valid for the cookie of `src` (opaque source address bytes) under the current secret. */
  checkMac2(now: number, msg: Uint8Array, src: Uint8Array): boolean {
    this.makeCookie(now, src);
    const m2 = mac2Offset(msg);
    mac(this.scratch, this.cookie, msg.subarray(0, m2));
    return equalBytes(this.scratch, msg.subarray(m2));
  }

  /** A 64-byte cookie reply to a handshake message (whose mac1 was valid) from `src`. */
  createReply(now: number, msg: Uint8Array, src: Uint8Array): Uint8Array {
    if (this.cookieKey === null) throw new Error("cookie reply: no private key is set");
    this.makeCookie(now, src);
    const reply = new Uint8Array(COOKIE_REPLY.size);
    writeHeader(reply, MESSAGE_COOKIE_REPLY);
    // Both handshake messages carry their sender index at offset 4; the reply goes back to that index.
    writeU32(reply, COOKIE_REPLY.receiver, readU32(msg, 4));
    const nonce = reply.subarray(COOKIE_REPLY.nonce, COOKIE_REPLY.cookie);
    this.random(nonce);
    const mac1 = msg.subarray(mac1Offset(msg), mac2Offset(msg));
    reply.set(xaeadSeal(this.cookieKey, nonce, this.cookie, mac1), COOKIE_REPLY.cookie);
    return reply;
  }

  // §5.4.7: cookie = MAC(secret, source address); the secret is replaced once older than COOKIE_REFRESH_TIME.
  private makeCookie(now: number, src: Uint8Array): void {
    if (now - this.secretSetAt >= COOKIE_REFRESH_TIME) {
      this.random(this.secret);
      this.secretSetAt = now;
    }
    mac(this.cookie, this.secret, src);
  }
}
