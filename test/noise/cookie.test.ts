// §5.4.4 / §5.4.7: mac1, mac2, cookie replies, and their XChaCha20-Poly1305.
import { describe, expect, test } from "bun:test";
import { blake2s } from "@noble/hashes/blake2.js";
import { COOKIE_REFRESH_TIME } from "../../src/noise/constants.ts";
import { xaeadOpen, xaeadSeal } from "../../src/noise/cookie.ts";
import { INITIATION } from "../../src/noise/messages.ts";
import { hex, makePair, SRC_A, SRC_B, unhex } from "./helpers.ts";

const ascii = (s: string) => new TextEncoder().encode(s);

test("XChaCha20-Poly1305: draft-irtf-cfrg-xchacha-03 §A.3.1", () => {
  const pt = ascii(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  );
  const ad = unhex("50515253c0c1c2c3c4c5c6c7");
  const key = unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const nonce = unhex("404142434445464748494a4b4c4d4e4f5051525354555657");
  const ct =
    "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb" +
    "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452" +
    "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9" +
    "21f9664c97637da9768812f615c68b13b52e";
  const tag = "c0875924c1c7987947deafd8780acf49";
  const sealed = xaeadSeal(key, nonce, pt, ad);
  expect(hex(sealed)).toBe(ct + tag);
  expect(new TextDecoder().decode(xaeadOpen(key, nonce, sealed, ad)!)).toBe(new TextDecoder().decode(pt));
  sealed[0] ^= 1;
  expect(xaeadOpen(key, nonce, sealed, ad)).toBeNull();
});

describe("macs", () => {
  test("mac1 is MAC(HASH(\"mac1----\" ‖ responder public key), msg[0..116]) computed independently; mac2 zero", () => {
    const p = makePair();
    const init = p.pa.createInitiation(0)!;
    const mac1Key = blake2s(new Uint8Array([...ascii("mac1----"), ...p.b.publicKey!]));
    const mac1 = blake2s(init.subarray(0, INITIATION.mac1), { key: mac1Key, dkLen: 16 });
    expect(hex(init.subarray(INITIATION.mac1, INITIATION.mac2))).toBe(hex(mac1));
    expect(hex(init.subarray(INITIATION.mac2))).toBe("00".repeat(16));
  });

  test("under load: no mac2 → cookie reply; with the cookie, mac2 is valid and the handshake proceeds", () => {
    const p = makePair();
    const first = p.pa.createInitiation(0)!;
    const reply = p.b.consumeHandshake(0, first, SRC_A, true);
    expect(reply.kind).toBe("cookie-reply");
    if (reply.kind !== "cookie-reply") return;
    expect(reply.packet.length).toBe(64);
    expect(reply.packet[0]).toBe(3);
    expect(hex(reply.packet.subarray(4, 8))).toBe(hex(first.subarray(4, 8))); // back to our sender index
    const consumed = p.a.consumeHandshake(0, reply.packet, SRC_B, false);
    expect(consumed.kind).toBe("cookie-consumed");
    // a reply can be used once
    expect(p.a.consumeHandshake(0, reply.packet, SRC_B, false)).toMatchObject({ kind: "rejected", reason: "invalid-cookie" });
    const second = p.pa.createInitiation(5000)!;
    // mac2 = MAC(cookie, msg[0..132]); cookie = MAC(secret, src) — check it is not zero, and that it works
    expect(hex(second.subarray(INITIATION.mac2))).not.toBe("00".repeat(16));
    expect(p.b.consumeHandshake(10, second, SRC_A, true).kind).toBe("response");
  });

  test("mac2 is bound to the source address", () => {
    const p = makePair();
    const first = p.pa.createInitiation(0)!;
    const reply = p.b.consumeHandshake(0, first, SRC_A, true);
    if (reply.kind !== "cookie-reply") throw new Error("expected a cookie reply");
    p.a.consumeHandshake(0, reply.packet, SRC_B, false);
    const second = p.pa.createInitiation(5000)!;
    const elsewhere = unhex("0a0000010001");
    expect(p.b.consumeHandshake(10, second, elsewhere, true).kind).toBe("cookie-reply");
    // not under load, mac2 is not looked at
    expect(p.b.consumeHandshake(10, second, elsewhere, false).kind).toBe("response");
  });

  test("the responder's cookie secret changes after COOKIE_REFRESH_TIME; the initiator stops using an old cookie", () => {
    const p = makePair();
    const first = p.pa.createInitiation(0)!;
    const reply = p.b.consumeHandshake(0, first, SRC_A, true);
    if (reply.kind !== "cookie-reply") throw new Error("expected a cookie reply");
    p.a.consumeHandshake(0, reply.packet, SRC_B, false);
    // b's secret rotates: the held cookie no longer validates
    const second = p.pa.createInitiation(5000)!;
    expect(p.b.consumeHandshake(COOKIE_REFRESH_TIME + 1, second, SRC_A, true).kind).toBe("cookie-reply");
    // a's cookie expires on its own clock: mac2 goes back to zero
    const late = p.pa.createInitiation(COOKIE_REFRESH_TIME + 1)!;
    expect(hex(late.subarray(INITIATION.mac2))).toBe("00".repeat(16));
  });

  test("a tampered cookie reply is refused", () => {
    const p = makePair();
    const first = p.pa.createInitiation(0)!;
    const reply = p.b.consumeHandshake(0, first, SRC_A, true);
    if (reply.kind !== "cookie-reply") throw new Error("expected a cookie reply");
    reply.packet[40] ^= 1;
    expect(p.a.consumeHandshake(0, reply.packet, SRC_B, false)).toMatchObject({ kind: "rejected", reason: "invalid-cookie" });
  });
});
