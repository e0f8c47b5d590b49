// Curve25519 private keys (§5.4). Their text forms are src/text/codec.ts's.
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
