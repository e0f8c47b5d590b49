import { describe, expect, test } from "bun:test";
import { nobleAead } from "../../src/crypto/aead.ts";
import { nobleX25519 } from "../../src/noise/index.ts";
import { handshake, hex, makePair, open, seal } from "./helpers.ts";

describe("two engines", () => {
  for (const psk of [undefined, new Uint8Array(32).fill(0x42)]) {
    test(`handshake and transport ${psk ? "with" : "without"} psk`, () => {
      const aead = nobleAead();
      const p = makePair({ psk, aead });
      const { atB, atA } = handshake(p, 1000);
      expect(atB.kind).toBe("response");
      expect(atA?.kind).toBe("established");
      // initiator may send at once; responder only after receiving on the new session
      const kpA = p.pa.sendingKeypair(1000)!;
      expect(kpA).not.toBeNull();
      expect(p.pb.sendingKeypair(1000)).toBeNull();
      expect(p.pb.next).not.toBeNull();
      expect(hex(kpA.sendKey)).toBe(hex(p.pb.next!.receiveKey));
      expect(hex(kpA.receiveKey)).toBe(hex(p.pb.next!.sendKey));
      const msg = seal(aead, p.pa, kpA, new TextEncoder().encode("hello, b"));
      const pt = open(aead, p.b, 1001, msg);
      expect(new TextDecoder().decode(pt!)).toBe("hello, b");
      const kpB = p.pb.sendingKeypair(1001)!;
      expect(kpB).not.toBeNull();
      expect(p.pb.lastHandshake).toBe(1001);
      expect(p.pa.lastHandshake).toBe(1000);
      const back = seal(aead, p.pb, kpB, new TextEncoder().encode("hello, a"));
      expect(new TextDecoder().decode(open(aead, p.a, 1002, back)!)).toBe("hello, a");
      // replay of the same message is refused
      expect(open(aead, p.b, 1003, msg)).toBeNull();
    });
  }

  test("noble X25519 engines agree with node:crypto ones", () => {
    const p = makePair({ x25519: nobleX25519() });
    const { atA } = handshake(p, 5);
    expect(atA?.kind).toBe("established");
  });
});
