// The Zig BLAKE2s backend (src/crypto/blake2s.ts) agrees with the JS one on random inputs, including outputs that
// alias inputs (the handshake itself runs on it in test/noise/handshake.test.ts).
import { describe, expect, test } from "bun:test";
import { jsBlake2s, zigBlake2s } from "../src/crypto/blake2s.ts";
import { loadNative } from "../src/native/lib.ts";

const js = jsBlake2s();
const jsHash = js.hash, jsMac = js.mac, jsKdf1 = js.kdf1, jsKdf2 = js.kdf2, jsKdf3 = js.kdf3;
let native: ReturnType<typeof zigBlake2s> | null = null;
try { native = zigBlake2s(loadNative()); } catch { console.warn("skipping: native library not built"); }

const rnd = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const len = () => [0, 1, 31, 32, 33, 63, 64, 65, 148, 200][Math.floor(Math.random() * 10)];

describe.skipIf(native === null)("Zig BLAKE2s primitives", () => {
  test("HASH, MAC, HMAC, KDF1/2/3 match the JS backend on 2,000 random inputs each", () => {
    const n = native!;
    for (let i = 0; i < 2000; i++) {
      const a = rnd(len()), b = rnd(len()), c = rnd(len()), key = rnd(32), mkey = rnd(1 + Math.floor(Math.random() * 32));
      const x = new Uint8Array(32), y = new Uint8Array(32);
      jsHash(x, a, b, c); n.hash(y, a, b, c); expect(y).toEqual(x);
      jsHash(x, a); n.hash(y, a); expect(y).toEqual(x);
      const m1 = new Uint8Array(16), m2 = new Uint8Array(16);
      jsMac(m1, mkey, a); n.mac(m2, mkey, a); expect(m2).toEqual(m1);
      const o = Array.from({ length: 6 }, () => new Uint8Array(32));
      jsKdf1(o[0], key, a); n.kdf1(o[1], key, a); expect(o[1]).toEqual(o[0]);
      jsKdf2(o[0], o[2], key, a); n.kdf2(o[1], o[3], key, a); expect([o[1], o[3]]).toEqual([o[0], o[2]]);
      jsKdf3(o[0], o[2], o[4], key, a); n.kdf3(o[1], o[3], o[5], key, a); expect([o[1], o[3], o[5]]).toEqual([o[0], o[2], o[4]]);
      const hkey = rnd(Math.floor(Math.random() * 65)); // HMAC keys up to the 64-byte block
      js.hmac(x, hkey, a, b); n.hmac(y, hkey, a, b); expect(y).toEqual(x);
      js.hmac(x, hkey, a); n.hmac(y, hkey, a); expect(y).toEqual(x);
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
