// X25519 (RFC 7748) for both implementations, and the rejection of all-zero shared secrets.
import { describe, expect, test } from "bun:test";
import { defaultX25519, nobleX25519, nodeX25519 } from "../../src/crypto/x25519.ts";
import { hex, seededRandom, unhex } from "./helpers.ts";

const impls = [nodeX25519(), nobleX25519()];

// RFC 7748 §5.2: scalar, u-coordinate, result (the second u has its high bit set, which must be ignored).
const SCALAR_MULT = [
  [
    "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
    "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
    "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
  ],
  [
    "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
    "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
    "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
  ],
];

// RFC 7748 §6.1.
const ALICE_PRIVATE = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const ALICE_PUBLIC = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
const BOB_PRIVATE = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
const BOB_PUBLIC = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
const SHARED = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

describe.each(impls.map((x) => [x.name, x] as const))("%s", (_, x) => {
  test("RFC 7748 §5.2 scalar multiplication vectors", () => {
    for (const [scalar, u, result] of SCALAR_MULT) {
      const out = new Uint8Array(32);
      expect(x.sharedSecret(x.privateKey(unhex(scalar)), unhex(u), out)).toBe(true);
      expect(hex(out)).toBe(result);
    }
  });

  test("RFC 7748 §6.1 Diffie-Hellman", () => {
    const alice = x.privateKey(unhex(ALICE_PRIVATE));
    const bob = x.privateKey(unhex(BOB_PRIVATE));
    expect(hex(alice.publicKey)).toBe(ALICE_PUBLIC);
    expect(hex(bob.publicKey)).toBe(BOB_PUBLIC);
    const k1 = new Uint8Array(32), k2 = new Uint8Array(32);
    expect(x.sharedSecret(alice, bob.publicKey, k1)).toBe(true);
    expect(x.sharedSecret(bob, alice.publicKey, k2)).toBe(true);
    expect(hex(k1)).toBe(SHARED);
    expect(hex(k2)).toBe(SHARED);
  });

  test("low-order points give an all-zero secret, which is refused", () => {
    const k = x.privateKey(unhex(ALICE_PRIVATE));
    const out = new Uint8Array(32).fill(7);
    for (const point of [new Uint8Array(32), Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0))]) {
      expect(x.sharedSecret(k, point, out)).toBe(false);
      expect(hex(out)).toBe("00".repeat(32));
    }
  });

  test("private keys are copied, and destroy() forgets them", () => {
    const secret = unhex(ALICE_PRIVATE);
    const k = x.privateKey(secret);
    secret.fill(0);
    const out = new Uint8Array(32);
    expect(x.sharedSecret(k, unhex(BOB_PUBLIC), out)).toBe(true);
    expect(hex(out)).toBe(SHARED);
    k.destroy();
    if (x.name === "node:crypto") expect(() => x.sharedSecret(k, unhex(BOB_PUBLIC), out)).toThrow("destroyed");
  });
});

test("node:crypto and @noble/curves agree on random keys", () => {
  const [fast, ref] = impls;
  const rand = seededRandom(3);
  for (let i = 0; i < 8; i++) {
    const a = new Uint8Array(32), b = new Uint8Array(32);
    rand(a);
    rand(b);
    const fa = fast.privateKey(a), ra = ref.privateKey(a);
    expect(hex(fa.publicKey)).toBe(hex(ra.publicKey));
    const pubB = ref.privateKey(b).publicKey;
    const o1 = new Uint8Array(32), o2 = new Uint8Array(32);
    fast.sharedSecret(fa, pubB, o1);
    ref.sharedSecret(ra, pubB, o2);
    expect(hex(o1)).toBe(hex(o2));
  }
});

test("the default is node:crypto here", () => {
  expect(defaultX25519().name).toBe("node:crypto");
});
