// BLAKE2s, MAC, HMAC and KDF1/2/3 (§5.4) of both backends (src/crypto/blake2s.ts) against published vectors and
// against independent implementations (@noble/hashes, node:crypto); the protocol's C0 and H0.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { blake2s } from "@noble/hashes/blake2.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac as nobleHmac } from "@noble/hashes/hmac.js";
import { Blake2s } from "../../src/crypto/blake2s-state.ts";
import { jsBlake2s, zigBlake2s } from "../../src/crypto/blake2s.ts";
import { loadNative } from "../../src/native/lib.ts";
import { CONSTRUCTION, IDENTIFIER, INITIAL_CHAIN_KEY, INITIAL_HASH } from "../../src/noise/constants.ts";
import type { Blake2sFunctions } from "../../src/noise/crypto.ts";
import { hex, seededRandom } from "./helpers.ts";

const ascii = (s: string) => new TextEncoder().encode(s);
const rand = seededRandom(42);
const bytes = (n: number) => {
  const b = new Uint8Array(n);
  rand(b);
  return b;
};

const BACKENDS: [string, Blake2sFunctions][] = [["JS", jsBlake2s()]];
try {
  BACKENDS.push(["Zig", zigBlake2s(loadNative())]);
} catch {
  console.warn("primitives.test.ts: Zig library not built; JS backend only");
}

test("§5.4.2 C0 = HASH(CONSTRUCTION), H0 = HASH(C0 ‖ IDENTIFIER), as constants.ts writes them", () => {
  const c0 = blake2s(CONSTRUCTION);
  expect(hex(INITIAL_CHAIN_KEY)).toBe(hex(c0));
  expect(hex(INITIAL_HASH)).toBe(hex(blake2s(new Uint8Array([...c0, ...IDENTIFIER]))));
});

describe("BLAKE2s", () => {
  test.each(BACKENDS)("RFC 7693 Appendix B: BLAKE2s-256(\"abc\"), %s", (_, f) => {
    const out = new Uint8Array(32);
    f.hash(out, ascii("abc"));
    expect(hex(out)).toBe("508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
  });

  test("reference keyed vector: key 00..1f, empty message", () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    const out = new Uint8Array(32);
    new Blake2s().init(32, key).digest(out);
    expect(hex(out)).toBe("48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49");
  });

  test("agrees with @noble/hashes and node:crypto over lengths 0..200, split updates, keys, output sizes", () => {
    const st = new Blake2s();
    for (let len = 0; len <= 200; len++) {
      const msg = bytes(len);
      const cut = (len * 7) % (len + 1);
      const ours = new Uint8Array(32);
      st.init().update(msg.subarray(0, cut)).update(msg.subarray(cut)).digest(ours);
      expect(hex(ours)).toBe(createHash("blake2s256").update(msg).digest("hex"));
      for (const keyLen of [1, 16, 32]) {
        const key = bytes(keyLen);
        const out = new Uint8Array(16);
        st.init(16, key).update(msg).digest(out);
        expect(hex(out)).toBe(hex(blake2s(msg, { key, dkLen: 16 })));
      }
    }
  });

  test("rejects bad parameters", () => {
    expect(() => new Blake2s().init(33)).toThrow("BLAKE2s output length");
    expect(() => new Blake2s().init(32, new Uint8Array(33))).toThrow("BLAKE2s key");
  });
});

describe.each(BACKENDS)("MAC, HMAC, KDF (%s)", (_, f) => {
  const { mac, hmac, kdf1, kdf2, kdf3 } = f;
  test("MAC = keyed BLAKE2s-128", () => {
    for (const len of [0, 60, 116]) {
      const key = bytes(32);
      const msg = bytes(len);
      const out = new Uint8Array(16);
      mac(out, key, msg);
      expect(hex(out)).toBe(hex(blake2s(msg, { key, dkLen: 16 })));
    }
  });

  test("HMAC-BLAKE2s agrees with @noble/hashes' generic HMAC", () => {
    for (const len of [0, 1, 32, 33, 64, 100]) {
      const key = bytes(32);
      const msg = bytes(len);
      const out = new Uint8Array(32);
      hmac(out, key, msg.subarray(0, len >> 1), msg.subarray(len >> 1));
      expect(hex(out)).toBe(hex(nobleHmac(blake2s, key, msg)));
    }
  });

  // Noise's HKDF(ck, input) is RFC 5869 HKDF with salt = ck and empty info: an independent construction.
  test("KDF1/2/3 equal RFC 5869 HKDF-BLAKE2s(salt = chaining key, info = empty)", () => {
    for (const len of [0, 32]) {
      const ck = bytes(32);
      const input = bytes(len);
      const ref = hkdf(blake2s, input, ck, new Uint8Array(0), 96);
      const o1 = new Uint8Array(32), o2 = new Uint8Array(32), o3 = new Uint8Array(32);
      kdf1(o1, ck, input);
      expect(hex(o1)).toBe(hex(ref.subarray(0, 32)));
      kdf2(o1, o2, ck, input);
      expect(hex(o1) + hex(o2)).toBe(hex(ref.subarray(0, 64)));
      kdf3(o1, o2, o3, ck, input);
      expect(hex(o1) + hex(o2) + hex(o3)).toBe(hex(ref));
    }
  });

  test("outputs may alias the key (ck = KDF(ck, …))", () => {
    const ck = bytes(32);
    const input = bytes(32);
    const ref = hkdf(blake2s, input, ck, new Uint8Array(0), 64);
    const k = new Uint8Array(32);
    kdf2(ck, k, ck, input);
    expect(hex(ck) + hex(k)).toBe(hex(ref));
  });
});
