// Keys as people write them (base64 of 32 bytes, wg(8) and ifconfig's wgkey) and as the configuration socket
// wants them (64 lowercase hex digits), on top of the one key codec (src/text/codec.ts). Any 32 bytes
// are a private key: the daemon clamps (whitepaper §5.4, wg(4) "Keys"), and so does the public-key derivation
// here, so `openssl rand -base64 32` output is fine.
import { clampPrivateKey } from "../noise/index.ts";
import { defaultX25519 } from "../crypto/x25519.ts";
import { KEY_BYTES, keyFromBase64 as decodeBase64, keyFromHex as decodeHex, keyToBase64 } from "../text/codec.ts";
import { CliError } from "./errors.ts";

/** Decodes a base64 key; a malformed one is a CliError naming `what` (e.g. "wgkey private key"). */
export function keyFromBase64(text: string, what: string): Uint8Array {
  try {
    return decodeBase64(text, what);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

export function keyFromHex(hex: string, what: string): Uint8Array {
  try {
    return decodeHex(hex, what);
  } catch (e) {
    throw new CliError(`configuration socket: ${(e as Error).message}`);
  }
}

export function hexToBase64(hex: string, what: string): string {
  return keyToBase64(keyFromHex(hex, what));
}

/** The all-zero key stands for "none" on the configuration socket (no preshared key, no private key). */
export function isZeroHex(hex: string): boolean {
  return /^0{64}$/.test(hex);
}

/** Curve25519 clamping (§5.4, RFC 7748 §5): the private key as the DH function uses it. */
export function clamp(key: Uint8Array): Uint8Array {
  return clampPrivateKey(key);
}

/** Public key of any 32 bytes, clamped first — as `wg pubkey` does. */
export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  const k = defaultX25519().privateKey(clampPrivateKey(privateKey));
  const pub = Uint8Array.from(k.publicKey);
  k.destroy();
  return pub;
}

export function randomKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(KEY_BYTES));
}
