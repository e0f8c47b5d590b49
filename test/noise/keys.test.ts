import { describe, expect, test } from "bun:test";
import { clampPrivateKey } from "../../src/noise/keys.ts";
import { keyFromBase64, keyFromHex, keyToBase64, keyToHex } from "../../src/text/codec.ts";
import { nobleAead } from "../../src/crypto/aead.ts";
import { hex, seededRandom, UNIX_OFFSET } from "./helpers.ts";
import { testEngine } from "./helpers.ts";

describe("keys", () => {
  test("any 32 bytes are clamped (RFC 7748 §5), the input is left alone", () => {
    const raw = new Uint8Array(32).fill(0xff);
    const k = clampPrivateKey(raw);
    expect(k[0]).toBe(0xf8);
    expect(k[31]).toBe(0x7f);
    expect(raw[0]).toBe(0xff);
    expect(clampPrivateKey(new Uint8Array(32))[31]).toBe(0x40);
    expect(() => clampPrivateKey(new Uint8Array(31))).toThrow("private key: expected 32 bytes, got 31");
  });

  test("an engine accepts an unclamped key and reports it clamped; same public key as the clamped one", () => {
    const e = testEngine(1);
    const raw = new Uint8Array(32).fill(0xff);
    e.setPrivateKey(raw);
    expect(hex(e.privateKey!)).toBe(hex(clampPrivateKey(raw)));
    const pub = hex(e.publicKey!);
    e.setPrivateKey(clampPrivateKey(raw));
    expect(hex(e.publicKey!)).toBe(pub);
  });

  test("base64 round trip; the seed's example key", () => {
    const pub = "NW5l2q2MArV5ZXpVXSZwBOyqhohOf8ImDgUB+jPtJps=";
    const k = keyFromBase64(pub, "public key");
    expect(k.length).toBe(32);
    expect(keyToBase64(k)).toBe(pub);
  });

  test("bad base64 is named with what was expected", () => {
    expect(() => keyFromBase64("abc", "public key")).toThrow(
      'public key: expected 32 bytes of base64 (44 characters), got "abc"',
    );
    expect(() => keyFromBase64("NW5l2q2MArV5ZXpVXSZwBOyqhohOf8ImDgUB+jPtJps", "private key")).toThrow("private key");
    // 44 characters but non-canonical trailing bits, or a bad character
    expect(() => keyFromBase64("NW5l2q2MArV5ZXpVXSZwBOyqhohOf8ImDgUB+jPtJpt=")).toThrow("expected 32 bytes of base64");
    expect(() => keyFromBase64("NW5l2q2MArV5ZXpVXSZwBOyqhohOf8ImDgUB+jPtJp!=")).toThrow("expected 32 bytes of base64");
    const long = "A".repeat(100);
    expect(() => keyFromBase64(long)).toThrow(`got "${"A".repeat(64)}…"`);
  });

  test("hex round trip, either case in, lowercase out; errors named", () => {
    const h = "0123456789abcdef".repeat(4);
    expect(keyToHex(keyFromHex(h.toUpperCase()))).toBe(h);
    expect(() => keyFromHex("12", "preshared key")).toThrow(
      'preshared key: expected 32 bytes of hex (64 characters), got "12"',
    );
    expect(() => keyFromHex("g".repeat(64))).toThrow("expected 32 bytes of hex");
  });
});
