// The AEAD of WireGuard (whitepaper §5.4): ChaCha20-Poly1305 (RFC 8439) with the 96-bit nonce
// 4 zero bytes ‖ counter u64 little-endian. Two backends: the Zig library (vectorised, batched, in place) and
// @noble/ciphers (pure JS reference, used when the library cannot be loaded).
import type { HandshakeAead } from "../noise/index.ts";
import { loadNative, type Native } from "../native/lib.ts";
import { nobleCiphers } from "./noble.ts";

/** The core's handshake AEAD (seal/open, noise/crypto.ts) extended with the shell's batched transport AEAD. */
export interface Aead extends HandshakeAead {
  readonly backend: string; // e.g. "zig x86-64-v4 (AVX-512)", "@noble/ciphers"
  // Batched transport data (message type 4), in place, empty AD. Packet i starts at buf[offs[i]] with the 16-byte
  // transport header (type 4, 3 zero bytes, receiver u32 LE, counter u64 LE) — the counter is READ FROM THE HEADER.
  // seal: lens[i] = payload length (already padded); payload at offs[i]+16; the 16-byte tag is written after it.
  // open: lens[i] = payload+tag length; on success the plaintext replaces the ciphertext and ok[i]=1, else ok[i]=0
  //       and the payload bytes are not released as plaintext (left as ciphertext or zeroed).
  // keys: a table of 32-byte keys; keyIdx[i] selects packet i's key (keys.subarray(32*keyIdx[i], 32*keyIdx[i]+32)).
  sealTransport(n: number, buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, keys: Uint8Array, keyIdx: Uint16Array): void;
  openTransport(n: number, buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, keys: Uint8Array, keyIdx: Uint16Array, ok: Uint8Array): void;
}

export const KEY_LEN = 32;
export const TAG_LEN = 16;
export const TRANSPORT_HEADER_LEN = 16; // §5.4.6: type u8, 3 reserved, receiver u32, counter u64

function checkKey(key: Uint8Array): void {
  if (key.length !== KEY_LEN) throw new RangeError(`AEAD key: expected ${KEY_LEN} bytes, got ${key.length}`);
}

function checkCounter(counter: number): void {
  // A JS number holds counters exactly up to 2^53; the transport path reads full u64 counters from headers.
  if (!Number.isSafeInteger(counter) || counter < 0) {
    throw new RangeError(`AEAD counter: expected an integer in [0, 2^53), got ${counter}`);
  }
}

function checkSealOut(pt: Uint8Array, out: Uint8Array): void {
  if (out.length < pt.length + TAG_LEN) {
    throw new RangeError(`AEAD seal output: expected at least ${pt.length + TAG_LEN} bytes (plaintext + 16), got ${out.length}`);
  }
}

function checkOpenOut(ct: Uint8Array, out: Uint8Array): void {
  if (out.length < ct.length - TAG_LEN) {
    throw new RangeError(`AEAD open output: expected at least ${ct.length - TAG_LEN} bytes (ciphertext - 16), got ${out.length}`);
  }
}

function checkBatch(what: string, n: number, offs: Uint32Array, lens: Uint32Array, keys: Uint8Array, keyIdx: Uint16Array, ok?: Uint8Array): void {
  if (!Number.isInteger(n) || n < 0 || n > offs.length || n > lens.length || n > keyIdx.length || (ok && n > ok.length)) {
    throw new RangeError(`${what}: n = ${n} exceeds offs (${offs.length}), lens (${lens.length}), keyIdx (${keyIdx.length})${ok ? `, ok (${ok.length})` : ""}`);
  }
  if (keys.length % KEY_LEN !== 0) throw new RangeError(`${what}: keys: expected a multiple of 32 bytes, got ${keys.length}`);
}

function badPacket(what: string, i: number, buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, keys: Uint8Array, keyIdx: Uint16Array, extra: number): RangeError {
  return new RangeError(
    `${what}: packet ${i}: header at ${offs[i]} + 16 + ${lens[i]} bytes${extra ? " + 16-byte tag" : ""} must lie inside buf (${buf.length} bytes) ` +
      `and keyIdx ${keyIdx[i]} must be < ${keys.length / KEY_LEN} keys`,
  );
}

function nonceOf(counter: bigint | number, nonce: Uint8Array): Uint8Array {
  new DataView(nonce.buffer, nonce.byteOffset, 12).setBigUint64(4, BigInt(counter), true);
  return nonce;
}


/** The @noble/ciphers reference backend (pure JS, ~75 MB/s: correct everywhere, slow). */
export function nobleAead(): Aead {
  const nonce = new Uint8Array(12);
  const empty = new Uint8Array(0);
  return {
    backend: "@noble/ciphers",
    seal(key, counter, plaintext, ad, out) {
      checkKey(key);
      checkCounter(counter);
      checkSealOut(plaintext, out);
      out.set(nobleCiphers().chacha20poly1305(key, nonceOf(counter, nonce), ad).encrypt(plaintext));
    },
    open(key, counter, ciphertext, ad, out) {
      checkKey(key);
      checkCounter(counter);
      if (ciphertext.length < TAG_LEN) return false;
      checkOpenOut(ciphertext, out);
      let pt: Uint8Array;
      try {
        pt = nobleCiphers().chacha20poly1305(key, nonceOf(counter, nonce), ad).decrypt(ciphertext);
      } catch {
        return false;
      }
      out.set(pt);
      return true;
    },
    sealTransport(n, buf, offs, lens, keys, keyIdx) {
      checkBatch("sealTransport", n, offs, lens, keys, keyIdx);
      for (let i = 0; i < n; i++) {
        if (offs[i] + 32 + lens[i] > buf.length || keyIdx[i] * KEY_LEN >= keys.length) throw badPacket("sealTransport", i, buf, offs, lens, keys, keyIdx, TAG_LEN);
      }
      const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      for (let i = 0; i < n; i++) {
        const o = offs[i];
        const k = keys.subarray(keyIdx[i] * KEY_LEN, keyIdx[i] * KEY_LEN + KEY_LEN);
        const ct = nobleCiphers().chacha20poly1305(k, nonceOf(dv.getBigUint64(o + 8, true), nonce), empty).encrypt(buf.subarray(o + 16, o + 16 + lens[i]));
        buf.set(ct, o + 16);
      }
    },
    openTransport(n, buf, offs, lens, keys, keyIdx, ok) {
      checkBatch("openTransport", n, offs, lens, keys, keyIdx, ok);
      for (let i = 0; i < n; i++) {
        if (offs[i] + 16 + lens[i] > buf.length || keyIdx[i] * KEY_LEN >= keys.length) throw badPacket("openTransport", i, buf, offs, lens, keys, keyIdx, 0);
      }
      const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      for (let i = 0; i < n; i++) {
        const o = offs[i];
        const len = lens[i];
        ok[i] = 0;
        if (len < TAG_LEN) continue;
        const k = keys.subarray(keyIdx[i] * KEY_LEN, keyIdx[i] * KEY_LEN + KEY_LEN);
        try {
          const pt = nobleCiphers().chacha20poly1305(k, nonceOf(dv.getBigUint64(o + 8, true), nonce), empty).decrypt(buf.subarray(o + 16, o + 16 + len));
          buf.set(pt, o + 16);
          ok[i] = 1;
        } catch {
          // tag mismatch: leave the ciphertext as it is
        }
      }
    },
  };
}

// bun:ffi may pass a null pointer for an empty array; hand native code a real (unused) byte instead.
const NONEMPTY = new Uint8Array(1);

/** The Zig backend over an already loaded library (tests use this to exercise each CPU variant). */
export function zigAead(native: Native): Aead {
  const s = native.sym;
  return {
    // The library's own name for what it runs, e.g. "x86-64-v4 (AVX-512, IFMA)".
    backend: `zig ${native.sym.bunwg_variant()}`,
    seal(key, counter, plaintext, ad, out) {
      checkKey(key);
      checkCounter(counter);
      checkSealOut(plaintext, out);
      s.bunwg_aead_seal(key, counter, plaintext.length ? plaintext : NONEMPTY, plaintext.length, ad.length ? ad : NONEMPTY, ad.length, out);
    },
    open(key, counter, ciphertext, ad, out) {
      checkKey(key);
      checkCounter(counter);
      if (ciphertext.length < TAG_LEN) return false;
      checkOpenOut(ciphertext, out);
      return s.bunwg_aead_open(key, counter, ciphertext, ciphertext.length, ad.length ? ad : NONEMPTY, ad.length, out.length ? out : NONEMPTY) === 1;
    },
    sealTransport(n, buf, offs, lens, keys, keyIdx) {
      if (n === 0) return;
      checkBatch("sealTransport", n, offs, lens, keys, keyIdx);
      const rc = s.bunwg_seal_transport(n, buf, buf.length, offs, lens, keys, keys.length / KEY_LEN, keyIdx);
      if (rc < 0) throw badPacket("sealTransport", -rc - 1, buf, offs, lens, keys, keyIdx, TAG_LEN);
    },
    openTransport(n, buf, offs, lens, keys, keyIdx, ok) {
      if (n === 0) return;
      checkBatch("openTransport", n, offs, lens, keys, keyIdx, ok);
      const rc = s.bunwg_open_transport(n, buf, buf.length, offs, lens, keys, keys.length / KEY_LEN, keyIdx, ok);
      if (rc < 0) throw badPacket("openTransport", -rc - 1, buf, offs, lens, keys, keyIdx, 0);
    },
  };
}

/** The Zig backend for this CPU, or @noble/ciphers with one warning line on stderr saying why. */
export function loadAead(): Aead {
  try {
    return zigAead(loadNative());
  } catch (e) {
    console.warn(`bunwg: using @noble/ciphers (slow) for ChaCha20-Poly1305: ${(e as Error).message}`);
    return nobleAead();
  }
}
