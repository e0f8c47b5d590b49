// The symmetric primitives of §5.4 — HASH, MAC, HMAC, KDF1/2/3 — on BLAKE2s. Every function writes into
// caller-owned memory and allocates nothing; outputs may alias inputs.

import { Blake2s } from "./blake2s.ts";

const BLOCK = 64;
const state = new Blake2s();
const pad = new Uint8Array(BLOCK);
const inner = new Uint8Array(32);
const t0 = new Uint8Array(32);
const t1 = new Uint8Array(32);
const one = new Uint8Array([1]);
const two = new Uint8Array([2]);
const three = new Uint8Array([3]);

/** The BLAKE2s-based functions of §5.4. The core's own (below) are the reference; the shell may hand in faster
 *  ones (the daemon gives the Zig library's, src/crypto/blake2s.ts) — like the AEAD, without the core doing I/O. */
export interface HashPrimitives {
  hash(out: Uint8Array, a: Uint8Array, b?: Uint8Array, c?: Uint8Array): void;
  mac(out: Uint8Array, key: Uint8Array, input: Uint8Array): void;
  kdf1(out1: Uint8Array, key: Uint8Array, input: Uint8Array): void;
  kdf2(out1: Uint8Array, out2: Uint8Array, key: Uint8Array, input: Uint8Array): void;
  kdf3(out1: Uint8Array, out2: Uint8Array, out3: Uint8Array, key: Uint8Array, input: Uint8Array): void;
}

const OWN: HashPrimitives = { hash: jsHash, mac: jsMac, kdf1: jsKdf1, kdf2: jsKdf2, kdf3: jsKdf3 }; // hoisted functions
let impl = OWN;

/** Hands in other implementations of HASH/MAC/KDF (null: back to the core's own). Applies to every engine. */
export function useHashPrimitives(p: HashPrimitives | null): void {
  impl = p ?? OWN;
}

export function hash(out: Uint8Array, a: Uint8Array, b?: Uint8Array, c?: Uint8Array): void {
  impl.hash(out, a, b, c);
}
export function mac(out: Uint8Array, key: Uint8Array, input: Uint8Array): void {
  impl.mac(out, key, input);
}
export function kdf1(out1: Uint8Array, key: Uint8Array, input: Uint8Array): void {
  impl.kdf1(out1, key, input);
}
export function kdf2(out1: Uint8Array, out2: Uint8Array, key: Uint8Array, input: Uint8Array): void {
  impl.kdf2(out1, out2, key, input);
}
export function kdf3(out1: Uint8Array, out2: Uint8Array, out3: Uint8Array, key: Uint8Array, input: Uint8Array): void {
  impl.kdf3(out1, out2, out3, key, input);
}

/** HASH(a ‖ b ‖ …) = BLAKE2s-256; out gets 32 bytes. */
export function jsHash(out: Uint8Array, a: Uint8Array, b?: Uint8Array, c?: Uint8Array): void {
  state.init(32).update(a);
  if (b !== undefined) state.update(b);
  if (c !== undefined) state.update(c);
  state.digest(out);
}

/** MAC(key, input) = keyed BLAKE2s with a 16-byte output (mac1, mac2 and cookies, §5.4.4). */
export function jsMac(out: Uint8Array, key: Uint8Array, input: Uint8Array): void {
  state.init(16, key).update(input).digest(out);
}

/** HMAC(key, a ‖ b) over BLAKE2s-256 (RFC 2104, block 64 bytes); key ≤ 64 bytes. out gets 32 bytes. */
export function hmac(out: Uint8Array, key: Uint8Array, a: Uint8Array, b?: Uint8Array): void {
  pad.fill(0x36);
  for (let i = 0; i < key.length; i++) pad[i] ^= key[i];
  state.init(32).update(pad).update(a);
  if (b !== undefined) state.update(b);
  state.digest(inner);
  pad.fill(0x5c);
  for (let i = 0; i < key.length; i++) pad[i] ^= key[i];
  state.init(32).update(pad).update(inner).digest(out);
}

// §5.4 KDFn(key, input): τ0 = HMAC(key, input), τ1 = HMAC(τ0, 0x1), τi = HMAC(τ0, τ(i−1) ‖ i).

/** KDF1: out1 = τ1. */
export function jsKdf1(out1: Uint8Array, key: Uint8Array, input: Uint8Array): void {
  hmac(t0, key, input);
  hmac(out1, t0, one);
  t0.fill(0);
}

/** KDF2: out1 = τ1, out2 = τ2. */
export function jsKdf2(out1: Uint8Array, out2: Uint8Array, key: Uint8Array, input: Uint8Array): void {
  hmac(t0, key, input);
  hmac(t1, t0, one);
  hmac(out2, t0, t1, two);
  out1.set(t1);
  t0.fill(0);
  t1.fill(0);
}

/** KDF3: out1 = τ1, out2 = τ2, out3 = τ3. */
export function jsKdf3(out1: Uint8Array, out2: Uint8Array, out3: Uint8Array, key: Uint8Array, input: Uint8Array): void {
  hmac(t0, key, input);
  hmac(t1, t0, one);
  hmac(out2, t0, t1, two);
  hmac(out3, t0, out2, three);
  out1.set(t1);
  t0.fill(0);
  t1.fill(0);
}

/** Constant-time comparison of equal-length byte strings (MACs, tags). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** True when every byte is zero (low-order DH results, absent keys). */
export function isZero(a: Uint8Array): boolean {
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i];
  return d === 0;
}
