// XChaCha20-Poly1305 (noise/crypto.ts XAead; whitepaper §5.4 XAEAD, used by cookie replies §5.4.7), two backends:
// the Zig library's (zig/src/xchacha.zig) and @noble/ciphers' (pure JS, ~15 µs a cookie reply: the reference and
// the fallback). Under a handshake flood every bogus initiation costs one seal, so this decides how many a second
// we can answer with cookies (bench/dos.ts).
import type { XAead } from "../noise/index.ts";
import type { Native } from "../native/lib.ts";
import { nobleCiphers } from "./noble.ts";

export const XNONCE_LEN = 24;
const KEY_LEN = 32;
const TAG_LEN = 16;

function check(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== KEY_LEN) throw new RangeError(`XChaCha20-Poly1305 key: expected 32 bytes, got ${key.length}`);
  if (nonce.length !== XNONCE_LEN) throw new RangeError(`XChaCha20-Poly1305 nonce: expected 24 bytes, got ${nonce.length}`);
}

function checkOut(out: Uint8Array, need: number, what: string): void {
  if (out.length < need) throw new RangeError(`XChaCha20-Poly1305 ${what} output: expected at least ${need} bytes, got ${out.length}`);
}

/** @noble/ciphers' XChaCha20-Poly1305 (allocates per call). */
export function nobleXAead(): XAead {
  return {
    seal(key, nonce, plaintext, ad, out) {
      check(key, nonce);
      checkOut(out, plaintext.length + TAG_LEN, "seal");
      out.set(nobleCiphers().xchacha20poly1305(key, nonce, ad).encrypt(plaintext));
    },
    open(key, nonce, sealed, ad, out) {
      check(key, nonce);
      if (sealed.length < TAG_LEN) return false;
      checkOut(out, sealed.length - TAG_LEN, "open");
      let pt: Uint8Array;
      try {
        pt = nobleCiphers().xchacha20poly1305(key, nonce, ad).decrypt(sealed);
      } catch {
        return false;
      }
      out.set(pt);
      pt.fill(0);
      return true;
    },
  };
}

// bun:ffi may pass a null pointer for an empty array; hand native code a real (unused) byte instead.
const NONEMPTY = new Uint8Array(1);

/** The Zig library's XChaCha20-Poly1305 (no allocation). */
export function zigXAead(native: Native): XAead {
  const s = native.sym;
  return {
    seal(key, nonce, plaintext, ad, out) {
      check(key, nonce);
      checkOut(out, plaintext.length + TAG_LEN, "seal");
      s.bunwg_xchacha_seal(key, nonce, plaintext.length ? plaintext : NONEMPTY, plaintext.length, ad.length ? ad : NONEMPTY, ad.length, out);
    },
    open(key, nonce, sealed, ad, out) {
      check(key, nonce);
      if (sealed.length < TAG_LEN) return false;
      checkOut(out, sealed.length - TAG_LEN, "open");
      return s.bunwg_xchacha_open(key, nonce, sealed, sealed.length, ad.length ? ad : NONEMPTY, ad.length, out.length ? out : NONEMPTY) === 1;
    },
  };
}
