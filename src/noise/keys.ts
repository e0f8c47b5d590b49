// Curve25519 keys and their text forms (§5.4; wg(8): base64 for people, lowercase hex on the configuration socket).
// Any 32 bytes are a valid private key: we clamp them ourselves (RFC 7748 §5), as wg(4) promises.

import { KEY_LENGTH } from "./constants.ts";

/** A clamped copy of any 32 bytes: clear the 3 low bits, clear bit 255, set bit 254 (RFC 7748 §5). */
export function clampPrivateKey(key: Uint8Array): Uint8Array {
  if (key.length !== KEY_LENGTH) throw new RangeError(`private key: expected 32 bytes, got ${key.length}`);
  const k = Uint8Array.from(key);
  k[0] &= 248;
  k[31] = (k[31] & 127) | 64;
  return k;
}

// 32 bytes are 43 base64 digits and one '=': the last digit carries 4 bits, so its 2 low bits must be zero.
const BASE64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const HEX_KEY = /^[0-9a-fA-F]{64}$/;

function shown(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

/** Decodes a key from base64; `what` names it in the error (e.g. "public key"). */
export function keyFromBase64(text: string, what = "key"): Uint8Array {
  if (!BASE64_KEY.test(text)) {
    throw new Error(`${what}: expected 32 bytes of base64 (44 characters), got ${shown(text)}`);
  }
  return new Uint8Array(Buffer.from(text, "base64"));
}

/** Decodes a key from hex (either case); `what` names it in the error. */
export function keyFromHex(text: string, what = "key"): Uint8Array {
  if (!HEX_KEY.test(text)) throw new Error(`${what}: expected 32 bytes of hex (64 characters), got ${shown(text)}`);
  return new Uint8Array(Buffer.from(text, "hex"));
}

export function keyToBase64(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("base64");
}

/** Lowercase hex, as the configuration socket speaks it. */
export function keyToHex(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("hex");
}
