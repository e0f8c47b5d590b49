// A full handshake and transport exchange between two engines (§5.4.2–§5.4.6).
import { describe, expect, test } from "bun:test";
import { loadAead, nobleAead } from "../../src/crypto/aead.ts";
import { nobleX25519 } from "../../src/crypto/x25519.ts";
import { handshake, hex, makePair, open, seal } from "./helpers.ts";

const text = (s: string) => new TextEncoder().encode(s);
const cases = [nobleAead(), loadAead()].flatMap((aead) =>
  [undefined, new Uint8Array(32).fill(0x42)].map((psk) => ({ aead, psk, name: `${psk ? "with" : "without"} psk, ${aead.backend}` })),
);

describe("two engines", () => {
  test.each(cases)("handshake and transport, $name", ({ aead, psk }) => {
    const p = makePair({ psk, aead });
    const { atB, atA } = handshake(p, 1000);
    expect(atB.kind).toBe("response");
    expect(atA?.kind).toBe("established");
    // the initiator may send at once; the responder only after receiving on the new session
    const kpA = p.pa.sendingKeypair(1000)!;
    expect(kpA).not.toBeNull();
    expect(p.pb.sendingKeypair(1000)).toBeNull();
    expect(p.pb.next).not.toBeNull();
    expect(hex(kpA.sendKey)).toBe(hex(p.pb.next!.receiveKey));
    expect(hex(kpA.receiveKey)).toBe(hex(p.pb.next!.sendKey));
    const msg = seal(aead, p.pa, kpA, text("hello, b"));
    expect(new TextDecoder().decode(open(aead, p.b, 1001, msg)!)).toBe("hello, b");
    const kpB = p.pb.sendingKeypair(1001)!;
    expect(kpB).not.toBeNull();
    expect(p.pb.lastHandshake).toBe(1001);
    expect(p.pa.lastHandshake).toBe(1000);
    const back = seal(aead, p.pb, kpB, text("hello, a"));
    expect(new TextDecoder().decode(open(aead, p.a, 1002, back)!)).toBe("hello, a");
    // a replay of the same message is refused
    expect(open(aead, p.b, 1003, msg)).toBeNull();
  });

  test("engines on the @noble/curves X25519 interoperate the same way", () => {
    const p = makePair({ x25519: nobleX25519() });
    const { atA } = handshake(p, 5);
    expect(atA?.kind).toBe("established");
  });
});
