// §5.4.4 / §5.4.7: mac1, mac2 and cookie replies (their XChaCha20-Poly1305 backends: test/aead.test.ts).
import { describe, expect, test } from "bun:test";
import { blake2s } from "@noble/hashes/blake2.js";
import { COOKIE_REFRESH_TIME } from "../../src/noise/constants.ts";
import { INITIATION } from "../../src/noise/messages.ts";
import { hex, makePair, SRC_A, SRC_B, unhex } from "./helpers.ts";

const ascii = (s: string) => new TextEncoder().encode(s);

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
