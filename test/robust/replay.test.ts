// Replay at the protocol core, deterministically (the live versions are in wire-live.test.ts and faults.test.ts):
// every transport message sent again is refused, in any order; reordering inside the window (§5.4.6) costs nothing;
// a replayed initiation neither answers, nor resets, nor disturbs the live session (§5.1).
import { describe, expect, test } from "bun:test";
import { loadAead } from "../../src/crypto/aead.ts";
import { REPLAY_WINDOW } from "../../src/noise/constants.ts";
import { SRC_A, makePair, open, seal } from "../noise/helpers.ts";
import { Rng } from "./fuzzer.ts";

const aead = loadAead();

/** Two engines with a session from a's initiation at now = 1000; deliver() is the shell's inbound order at b. */
function pair(seed: number) {
  const p = makePair({ seed, aead });
  const init = p.pa.createInitiation(1000)!;
  const atB = p.b.consumeHandshake(1000, init, SRC_A, false);
  if (atB.kind !== "response" || p.a.consumeHandshake(1000, atB.packet, SRC_A, false).kind !== "established") throw new Error("handshake failed");
  return {
    ...p,
    init,
    rng: new Rng(seed),
    seal: (payload: Uint8Array) => seal(aead, p.pa, p.pa.sendingKeypair(1000)!, payload),
    deliver: (msg: Uint8Array, now = 1000) => open(aead, p.b, now, msg) !== null,
  };
}

describe("replay at the protocol core", () => {
  test("2,000 messages accepted once; every one of them refused when sent again, in any order", () => {
    const p = pair(1);
    const msgs = Array.from({ length: 2000 }, (_, i) => p.seal(p.rng.bytes(16 * (i % 8))));
    expect(msgs.map((m) => p.deliver(m)).every(Boolean)).toBe(true);
    const again = [...msgs].sort(() => p.rng.int(3) - 1);
    expect(again.filter((m) => p.deliver(m)).length).toBe(0);
    // Still working: a fresh message goes through.
    expect(p.deliver(p.seal(new Uint8Array(16)))).toBe(true);
  });

  test(`reordering within the window (${REPLAY_WINDOW} counters) loses nothing; beyond it, messages are refused`, () => {
    const p = pair(2);
    const msgs = Array.from({ length: REPLAY_WINDOW + 200 }, () => p.seal(new Uint8Array(0)));
    // Deliver the newest one inside the window first, then all the older ones in random order.
    const head = msgs[REPLAY_WINDOW];
    expect(p.deliver(head)).toBe(true);
    const older = msgs.slice(0, REPLAY_WINDOW);
    for (let i = older.length - 1; i > 0; i--) {
      const j = p.rng.int(i + 1);
      [older[i], older[j]] = [older[j], older[i]];
    }
    // Counter 0 is exactly REPLAY_WINDOW behind the head: the oldest still accepted.
    expect(older.filter((m) => p.deliver(m)).length).toBe(REPLAY_WINDOW);
    // Move the window on by 200: the first 200 fall out of it (accepted once already, they stay refused).
    expect(msgs.slice(REPLAY_WINDOW + 1).every((m) => p.deliver(m))).toBe(true);
    expect(msgs.slice(0, 200).some((m) => p.deliver(m))).toBe(false);
    const fresh = pair(3);
    const ms = Array.from({ length: REPLAY_WINDOW + 2 }, () => fresh.seal(new Uint8Array(0)));
    expect(fresh.deliver(ms[REPLAY_WINDOW + 1])).toBe(true);
    expect(fresh.deliver(ms[0])).toBe(false); // REPLAY_WINDOW + 1 behind: too old, never seen, still refused
    expect(fresh.deliver(ms[1])).toBe(true);
  });

  test("a replayed initiation is refused and leaves the live session as it was", () => {
    const p = pair(4);
    expect(p.deliver(p.seal(new Uint8Array(16)))).toBe(true); // b's session confirmed
    const current = p.pb.current;
    const handshakeAt = p.pb.lastHandshake;
    for (const [now, underLoad] of [[1100, false], [60_000, false], [61_000, true]] as const) {
      const out = p.b.consumeHandshake(now, p.init, SRC_A, underLoad);
      // Under load without mac2 a cookie reply is the answer (the cheap path); otherwise a refusal.
      expect(out.kind === "rejected" || out.kind === "cookie-reply").toBe(true);
      if (out.kind === "rejected") expect(out.detail).toBe("replayed-timestamp");
    }
    expect(p.pb.current).toBe(current);
    expect(p.pb.next).toBeNull();
    expect(p.pb.lastHandshake).toBe(handshakeAt);
    expect(p.deliver(p.seal(new Uint8Array(16)), 60_000)).toBe(true);
  });
});
