// The BLAKE2s functions of the handshake (noise/crypto.ts Blake2sFunctions, whitepaper §5.4), two backends:
// - jsBlake2s: our own allocation-free JS on a reusable state (blake2s-state.ts); the reference, works everywhere;
// - zigBlake2s: the Zig library's (zig/src/blake2s.zig), a fraction of the cost per handshake
//   (3,438 vs 2,809 handshakes/s in bench/handshake.ts when it was introduced).
import type { Blake2sFunctions } from "../noise/index.ts";
import type { Native } from "../native/lib.ts";
import { Blake2s } from "./blake2s-state.ts";

const BLOCK = 64;
const ONE = new Uint8Array([1]);
const TWO = new Uint8Array([2]);
const THREE = new Uint8Array([3]);

/** The JS backend. Each call gets its own scratch (JS runs one call at a time); key material in it is wiped. */
export function jsBlake2s(): Blake2sFunctions {
  const state = new Blake2s();
  const pad = new Uint8Array(BLOCK);
  const inner = new Uint8Array(32);
  const t0 = new Uint8Array(32);
  const t1 = new Uint8Array(32);

  function hmac(out: Uint8Array, key: Uint8Array, a: Uint8Array, b?: Uint8Array): void {
    if (key.length > BLOCK) throw new RangeError(`HMAC key: expected at most 64 bytes, got ${key.length}`);
    pad.fill(0x36);
    for (let i = 0; i < key.length; i++) pad[i] ^= key[i];
    state.init(32).update(pad).update(a);
    if (b !== undefined) state.update(b);
    state.digest(inner);
    pad.fill(0x5c);
    for (let i = 0; i < key.length; i++) pad[i] ^= key[i];
    state.init(32).update(pad).update(inner).digest(out);
    pad.fill(0);
    inner.fill(0);
    state.wipe();
  }

  return {
    hash(out, a, b, c) {
      state.init(32).update(a);
      if (b !== undefined) state.update(b);
      if (c !== undefined) state.update(c);
      state.digest(out);
    },
    mac(out, key, input) {
      state.init(16, key).update(input).digest(out);
      state.wipe();
    },
    hmac,
    kdf1(out1, key, input) {
      hmac(t0, key, input);
      hmac(out1, t0, ONE);
      t0.fill(0);
    },
    kdf2(out1, out2, key, input) {
      hmac(t0, key, input);
      hmac(t1, t0, ONE);
      hmac(out2, t0, t1, TWO);
      out1.set(t1);
      t0.fill(0);
      t1.fill(0);
    },
    kdf3(out1, out2, out3, key, input) {
      hmac(t0, key, input);
      hmac(t1, t0, ONE);
      hmac(out2, t0, t1, TWO);
      hmac(out3, t0, out2, THREE);
      out1.set(t1);
      t0.fill(0);
      t1.fill(0);
    },
  };
}

const EMPTY = new Uint8Array(1); // a valid pointer for absent inputs (length 0)

/** The Zig backend over a loaded library. */
export function zigBlake2s(native: Native): Blake2sFunctions {
  const s = native.sym;
  return {
    hash(out, a, b, c) {
      s.bunwg_hash(out, a.length ? a : EMPTY, a.length, b?.length ? b : EMPTY, b?.length ?? 0, c?.length ? c : EMPTY, c?.length ?? 0);
    },
    mac(out, key, input) {
      s.bunwg_mac(out, key, key.length, input.length ? input : EMPTY, input.length);
    },
    hmac(out, key, a, b) {
      if (key.length > BLOCK) throw new RangeError(`HMAC key: expected at most 64 bytes, got ${key.length}`);
      s.bunwg_hmac(out, key.length ? key : EMPTY, key.length, a.length ? a : EMPTY, a.length, b?.length ? b : EMPTY, b?.length ?? 0);
    },
    kdf1(out1, key, input) {
      s.bunwg_kdf(1, out1, EMPTY, EMPTY, key, key.length, input.length ? input : EMPTY, input.length);
    },
    kdf2(out1, out2, key, input) {
      s.bunwg_kdf(2, out1, out2, EMPTY, key, key.length, input.length ? input : EMPTY, input.length);
    },
    kdf3(out1, out2, out3, key, input) {
      s.bunwg_kdf(3, out1, out2, out3, key, key.length, input.length ? input : EMPTY, input.length);
    },
  };
}
