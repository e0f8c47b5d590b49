// Every way the engine refuses a message (§5.4, §5.4.6, §6.1), and its bookkeeping.
import { describe, expect, test } from "bun:test";
import { blake2s } from "@noble/hashes/blake2.js";
import { nobleAead } from "../../src/crypto/aead.ts";
import { REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME, REKEY_TIMEOUT } from "../../src/noise/constants.ts";
import { handshake, hex, makePair, open, seal, seededRandom, SRC_A, SRC_B, UNIX_OFFSET } from "./helpers.ts";
import { testEngine } from "./helpers.ts";

const aead = nobleAead();

function established(now = 0) {
  const p = makePair({ aead });
  const { atA } = handshake(p, now);
  if (atA?.kind !== "established") throw new Error("handshake failed");
  // confirm b's session
  open(aead, p.b, now, seal(aead, p.pa, p.pa.sendingKeypair(now)!, new Uint8Array(0)));
  return p;
}

describe("handshake rejections", () => {
  test("malformed: wrong size, reserved bytes, unknown type", () => {
    const p = makePair();
    const init = p.pa.createInitiation(0)!;
    expect(p.b.consumeHandshake(0, init.subarray(0, 147), SRC_A, false)).toMatchObject({ reason: "malformed" });
    const r = Uint8Array.from(init);
    r[2] = 1;
    expect(p.b.consumeHandshake(0, r, SRC_A, false)).toMatchObject({ reason: "malformed" });
    const t = Uint8Array.from(init);
    t[0] = 9;
    expect(p.b.consumeHandshake(0, t, SRC_A, false)).toMatchObject({ reason: "malformed" });
    const t4 = Uint8Array.from(init);
    t4[0] = 4; // transport messages are not handshakes
    expect(p.b.consumeHandshake(0, t4, SRC_A, false)).toMatchObject({ reason: "malformed" });
  });

  test("bad mac1 (sender has the wrong public key for us): invalid-mac1, checked even when not under load", () => {
    const p = makePair();
    const init = p.pa.createInitiation(0)!;
    init[120] ^= 1;
    expect(p.b.consumeHandshake(0, init, SRC_A, false)).toEqual({ kind: "rejected", reason: "invalid-mac1" });
    // any other byte changes mac1's input
    const init2 = p.pa.createInitiation(REKEY_TIMEOUT)!;
    init2[50] ^= 1;
    expect(p.b.consumeHandshake(0, init2, SRC_A, false)).toMatchObject({ reason: "invalid-mac1" });
  });

  test("no private key", () => {
    const p = makePair();
    const init = p.pa.createInitiation(0)!;
    p.b.setPrivateKey(null);
    expect(p.b.consumeHandshake(0, init, SRC_A, false)).toMatchObject({ reason: "no-private-key" });
    p.a.setPrivateKey(null);
    expect(p.pa.createInitiation(REKEY_TIMEOUT)).toBeNull();
  });

  test("replayed initiation (timestamp not newer): invalid-initiation", () => {
    const p = makePair();
    const init = p.pa.createInitiation(0)!;
    expect(p.b.consumeHandshake(0, init, SRC_A, false).kind).toBe("response");
    expect(p.b.consumeHandshake(100, init, SRC_A, false)).toMatchObject({
      kind: "rejected",
      reason: "invalid-initiation",
      detail: "replayed-timestamp",
      peer: p.pb,
    });
  });

  test("flood: a second initiation within 20 ms is refused even with a newer timestamp", () => {
    const p = makePair();
    expect(p.b.consumeHandshake(0, p.pa.createInitiation(0)!, SRC_A, false).kind).toBe("response");
    const second = p.pa.createInitiation(REKEY_TIMEOUT)!; // a's clock runs ahead: newer TAI64N
    expect(p.b.consumeHandshake(10, second, SRC_A, false)).toMatchObject({ reason: "invalid-initiation", detail: "flood" });
    // refused without effect: the same message is fine once the interval has passed
    expect(p.b.consumeHandshake(20, second, SRC_A, false).kind).toBe("response");
  });

  test("unknown static key: invalid-initiation", () => {
    const p = makePair();
    const stranger = testEngine(99);
    stranger.setPrivateKey(new Uint8Array(32).fill(9));
    const init = stranger.addPeer(p.b.publicKey!).createInitiation(0)!;
    expect(p.b.consumeHandshake(0, init, SRC_A, false)).toEqual({
      kind: "rejected",
      reason: "invalid-initiation",
      peer: undefined,
      detail: "unknown-peer",
    });
  });

  test("an initiation that does not decrypt: invalid-initiation", () => {
    // a flipped ciphertext bit under a recomputed, valid mac1: only the AEAD can notice
    const p = makePair();
    const init = p.pa.createInitiation(0)!;
    init[45] ^= 1;
    const key = blake2s(new Uint8Array([...new TextEncoder().encode("mac1----"), ...p.b.publicKey!]));
    init.set(blake2s(init.subarray(0, 116), { key, dkLen: 16 }), 116);
    expect(p.b.consumeHandshake(0, init, SRC_A, false)).toMatchObject({ reason: "invalid-initiation", detail: "does-not-decrypt" });
  });

  test("wrong preshared key: the responder answers, the initiator refuses the response", () => {
    const p = makePair({ psk: "mismatch" });
    const { atB, atA } = handshake(p, 0);
    expect(atB.kind).toBe("response");
    expect(atA).toMatchObject({ kind: "rejected", reason: "invalid-response", peer: p.pa });
    expect(p.pa.sendingKeypair(0)).toBeNull();
  });

  test("a response whose receiver index names nothing: unknown-index (e.g. replayed after use)", () => {
    const p = makePair();
    const init = p.pa.createInitiation(0)!;
    const r = p.b.consumeHandshake(0, init, SRC_A, false);
    if (r.kind !== "response") throw new Error("no response");
    expect(p.a.consumeHandshake(0, r.packet, SRC_B, false).kind).toBe("established");
    expect(p.a.consumeHandshake(1, r.packet, SRC_B, false)).toEqual({ kind: "rejected", reason: "unknown-index" });
  });

  test("a response to a superseded initiation is refused (its index was freed)", () => {
    const p = makePair();
    const first = p.pa.createInitiation(0)!;
    const r = p.b.consumeHandshake(0, first, SRC_A, false);
    if (r.kind !== "response") throw new Error("no response");
    p.pa.createInitiation(REKEY_TIMEOUT); // a retries: new ephemeral, new index
    expect(p.a.consumeHandshake(REKEY_TIMEOUT, r.packet, SRC_B, false)).toMatchObject({ reason: "unknown-index" });
  });

  test("cookie reply for an unknown index", () => {
    const p = makePair();
    const reply = p.b.consumeHandshake(0, p.pa.createInitiation(0)!, SRC_A, true);
    if (reply.kind !== "cookie-reply") throw new Error("expected a cookie reply");
    reply.packet[4] ^= 0xff;
    expect(p.a.consumeHandshake(0, reply.packet, SRC_B, false)).toEqual({ kind: "rejected", reason: "unknown-index" });
  });

  test("under load: per-IP rate limit (burst 5, then 20/s) once mac2 is valid", () => {
    const p = makePair();
    const reply = p.b.consumeHandshake(0, p.pa.createInitiation(0)!, SRC_A, true);
    if (reply.kind !== "cookie-reply") throw new Error("expected a cookie reply");
    p.a.consumeHandshake(0, reply.packet, SRC_B, false);
    const kinds: string[] = [];
    let aNow = 0;
    for (let i = 0; i < 20; i++) {
      aNow += REKEY_TIMEOUT;
      const out = p.b.consumeHandshake(100 + i * 20, p.pa.createInitiation(aNow)!, SRC_A, true); // every 20 ms
      kinds.push(out.kind === "rejected" ? out.reason : out.kind);
    }
    // a burst of 5 (250 ms of tokens), then one per 50 ms of the 380 ms that follow: 5 + 7 (and a bit) = 12
    expect(kinds.slice(0, 5)).toEqual(Array(5).fill("response"));
    expect(kinds.filter((k) => k === "response").length).toBe(12);
    expect(kinds.filter((k) => k === "rate-limited").length).toBe(8);
    // another source IP has its own budget (port ignored: same IP, other port shares it)
    const other = new Uint8Array([10, 0, 0, 9, 0, 1]);
    const r2 = p.b.consumeHandshake(500, p.pa.createInitiation((aNow += REKEY_TIMEOUT))!, other, true);
    expect(r2.kind).toBe("cookie-reply"); // needs its own cookie first
  });

  test("a peer with our own public key is ignored", () => {
    const e = testEngine(4);
    e.setPrivateKey(new Uint8Array(32).fill(3));
    const self = e.addPeer(e.publicKey!);
    expect(self.createInitiation(0)).toBeNull();
    // an initiation claiming our own static key (made by an engine holding our private key)
    const twin = testEngine(5);
    twin.setPrivateKey(new Uint8Array(32).fill(3));
    twin.setPrivateKey(new Uint8Array(32).fill(3)); // same key again: a no-op
    const init = twin.addPeer(e.publicKey!).createInitiation(0);
    expect(init).toBeNull(); // twin refuses to talk to itself too
  });
});

describe("transport rejections", () => {
  test("replayed counter and counter behind the window", () => {
    const p = established();
    const kp = p.pa.sendingKeypair(1)!;
    const first = seal(aead, p.pa, kp, new Uint8Array(16));
    expect(open(aead, p.b, 1, first)).not.toBeNull();
    expect(open(aead, p.b, 2, first)).toBeNull();
    // jump far ahead, then a message from long ago
    const old = seal(aead, p.pa, kp, new Uint8Array(16));
    kp.sendCounter += 9000;
    expect(open(aead, p.b, 3, seal(aead, p.pa, kp, new Uint8Array(16)))).not.toBeNull();
    expect(open(aead, p.b, 4, old)).toBeNull();
  });

  test("unknown receiver index", () => {
    const p = established();
    const msg = seal(aead, p.pa, p.pa.sendingKeypair(1)!, new Uint8Array(16));
    msg[4] ^= 0xff;
    expect(open(aead, p.b, 1, msg)).toBeNull();
  });

  test("REJECT_AFTER_MESSAGES: no counters to send, none accepted at the limit", () => {
    const p = established();
    const kp = p.pa.sendingKeypair(1)!;
    kp.sendCounter = REJECT_AFTER_MESSAGES - 2;
    expect(p.pa.reserveCounters(kp, 3)).toBe(-1);
    expect(p.pa.reserveCounters(kp, 2)).toBe(REJECT_AFTER_MESSAGES - 2);
    expect(p.pa.reserveCounters(kp, 1)).toBe(-1);
    expect(p.pa.sendingKeypair(1)).toBeNull();
    const rkp = p.b.keypairByIndex(kp.remoteIndex)!;
    expect(p.pb.replayMayAccept(rkp, REJECT_AFTER_MESSAGES)).toBe(false);
    expect(p.pb.packetReceived(1, rkp, REJECT_AFTER_MESSAGES, true)).toBe(false);
  });

  test("REJECT_AFTER_TIME: not used to send or receive at 180 s", () => {
    const p = established();
    const kp = p.pa.sendingKeypair(1)!;
    const late = seal(aead, p.pa, kp, new Uint8Array(16));
    expect(p.pa.sendingKeypair(REJECT_AFTER_TIME - 1)).toBe(kp);
    expect(p.pa.sendingKeypair(REJECT_AFTER_TIME)).toBeNull();
    expect(p.pb.sendingKeypair(REJECT_AFTER_TIME)).toBeNull();
    expect(open(aead, p.b, REJECT_AFTER_TIME, late)).toBeNull();
  });

  test("a packet on the previous session still decrypts after a new handshake", () => {
    const p = established();
    const oldKp = p.pa.sendingKeypair(1)!;
    const inFlight = seal(aead, p.pa, oldKp, new Uint8Array(16).fill(1));
    const { atA } = handshake(p, REKEY_TIMEOUT);
    expect(atA?.kind).toBe("established");
    expect(p.pa.sendingKeypair(REKEY_TIMEOUT)).not.toBe(oldKp);
    expect(open(aead, p.b, REKEY_TIMEOUT, inFlight)).not.toBeNull();
  });

  test("the responder cannot send on a new session before it receives on it", () => {
    const p = makePair();
    handshake(p, 0);
    expect(p.pb.next).not.toBeNull();
    expect(p.pb.sendingKeypair(0)).toBeNull();
    expect(p.pb.lastHandshake).toBe(0);
  });
});

describe("engine bookkeeping", () => {
  test("addPeer twice throws; peers() in insertion order; removePeer frees indices and zeroes keys", () => {
    const p = established();
    expect(() => p.a.addPeer(p.b.publicKey!)).toThrow("already exists");
    const extra = p.a.addPeer(new Uint8Array(32).fill(5));
    expect([...p.a.peers()]).toEqual([p.pa, extra]);
    const kp = p.pa.sendingKeypair(1)!;
    expect(p.a.keypairByIndex(kp.localIndex)).toBe(kp);
    expect(p.a.removePeer(p.b.publicKey!)).toBe(true);
    expect(p.a.removePeer(p.b.publicKey!)).toBe(false);
    expect(p.a.keypairByIndex(kp.localIndex)).toBeUndefined();
    expect(hex(kp.sendKey)).toBe("00".repeat(32));
    expect(p.a.peer(p.b.publicKey!)).toBeUndefined();
    expect(p.a.indices.size).toBe(0);
  });

  test("a new private key discards sessions; the same key again changes nothing", () => {
    const p = established();
    const kp = p.pa.sendingKeypair(1)!;
    p.a.setPrivateKey(p.a.privateKey);
    expect(p.pa.sendingKeypair(1)).toBe(kp);
    p.a.setPrivateKey(new Uint8Array(32).fill(0x11));
    expect(p.pa.sendingKeypair(1)).toBeNull();
    expect(p.a.keypairByIndex(kp.localIndex)).toBeUndefined();
    // b no longer recognises a, whose key changed
    expect(p.b.consumeHandshake(10, p.pa.createInitiation(10)!, SRC_A, false)).toMatchObject({ reason: "invalid-initiation" });
  });

  test("preshared key accessors", () => {
    const p = makePair();
    expect(p.pa.presharedKey).toBeNull();
    p.pa.setPresharedKey(new Uint8Array(32).fill(7));
    expect(hex(p.pa.presharedKey!)).toBe("07".repeat(32));
    expect(() => p.pa.setPresharedKey(new Uint8Array(3))).toThrow("preshared key: expected 32 bytes, got 3");
    p.pa.setPresharedKey(null);
    expect(p.pa.presharedKey).toBeNull();
  });

  test("createInitiation is limited to one per REKEY_TIMEOUT", () => {
    const p = makePair();
    expect(p.pa.createInitiation(0)).not.toBeNull();
    expect(p.pa.createInitiation(REKEY_TIMEOUT - 1)).toBeNull();
    expect(p.pa.createInitiation(REKEY_TIMEOUT)).not.toBeNull();
  });
});
