// The §6 timers over simulated minutes on a fake clock.
import { describe, expect, test } from "bun:test";
import { nobleAead } from "../../src/crypto/aead.ts";
import {
  KEEPALIVE_TIMEOUT,
  REKEY_AFTER_TIME,
  REKEY_ATTEMPT_TIME,
  REKEY_ON_RECEIVE_AFTER,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
  ZERO_KEYS_AFTER,
} from "../../src/noise/constants.ts";
import { handshake, makePair, open, seal, Sim } from "./helpers.ts";

const data = new Uint8Array(16).fill(0x61);

function connected() {
  const sim = new Sim(makePair());
  sim.send("a", data); // stages, wants a handshake; the handshake runs and the staged packet goes out
  expect(sim.times("a", "initiation")).toEqual([0]);
  expect(sim.times("a", "data")).toEqual([0]);
  return sim;
}

describe("timers", () => {
  test("the initiator rekeys on send after REKEY_AFTER_TIME; the responder does not", () => {
    const sim = connected();
    sim.runUntil(300_000, 1000, () => sim.send("a", data));
    const inits = sim.times("a", "initiation");
    expect(inits[1]).toBe(REKEY_AFTER_TIME + 1000); // the first send after 120 s
    expect(inits[2]).toBe(2 * (REKEY_AFTER_TIME + 1000));
    expect(sim.times("b", "initiation", "retry")).toEqual([]);
    // all the while a's data got through: b answered only with passive keepalives
    expect(sim.times("b", "keepalive").length).toBeGreaterThan(20);
  });

  test("when only the responder sends data, the initiator's keepalives renew the session", () => {
    const sim = connected();
    sim.runUntil(200_000, 1000, () => sim.send("b", data));
    // a answers b's data with passive keepalives; the first one it sends after REKEY_AFTER_TIME rekeys
    const [, rekey] = sim.times("a", "initiation");
    expect(rekey).toBeGreaterThan(REKEY_AFTER_TIME);
    expect(rekey).toBeLessThanOrEqual(REKEY_AFTER_TIME + KEEPALIVE_TIMEOUT);
    expect(sim.times("b", "initiation", "retry")).toEqual([]);
    expect(sim.p.pb.sendingKeypair(sim.now)).not.toBeNull();
  });

  test("retries every REKEY_TIMEOUT + jitter for REKEY_ATTEMPT_TIME, then gives up; keys zeroed later", () => {
    const sim = new Sim(makePair());
    sim.dropAB = true;
    sim.send("a", data);
    sim.runUntil(1_000_000);
    const all = sim.times("a", "initiation", "retry");
    expect(sim.times("a", "initiation")).toEqual([0]);
    expect(all.length).toBe(1 + REKEY_ATTEMPT_TIME / REKEY_TIMEOUT);
    for (let i = 1; i < all.length; i++) {
      const gap = all[i] - all[i - 1];
      expect(gap).toBeGreaterThanOrEqual(REKEY_TIMEOUT);
      expect(gap).toBeLessThan(REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX);
    }
    expect(all.at(-1)!).toBeLessThanOrEqual(REKEY_ATTEMPT_TIME + 18 * REKEY_TIMEOUT_JITTER_MAX);
    const [gaveUp] = sim.times("a", "gave-up");
    expect(gaveUp - all.at(-1)!).toBeGreaterThanOrEqual(REKEY_TIMEOUT);
    expect(sim.times("a", "zeroed")).toEqual([gaveUp + ZERO_KEYS_AFTER]);
    expect(sim.p.pa.nextDeadline()).toBe(Infinity);
  });

  test("new traffic restarts the attempt budget", () => {
    const sim = new Sim(makePair());
    sim.dropAB = true;
    sim.send("a", data);
    sim.runUntil(60_000);
    sim.send("a", data);
    sim.runUntil(1_000_000);
    const [gaveUp] = sim.times("a", "gave-up");
    expect(gaveUp).toBeGreaterThan(60_000 + REKEY_ATTEMPT_TIME);
  });

  test("passive keepalive KEEPALIVE_TIMEOUT after data received with nothing sent back", () => {
    const sim = connected();
    sim.runUntil(1000);
    sim.send("a", data);
    sim.runUntil(30_000);
    // b got data at 0 (the staged packet) and at 1000; one keepalive, KEEPALIVE_TIMEOUT after the first, answers both
    expect(sim.times("b", "keepalive")).toEqual([KEEPALIVE_TIMEOUT]);
    // if b sends data itself, no keepalive is needed
    sim.send("a", data);
    sim.runUntil(35_000);
    sim.send("b", data);
    sim.runUntil(60_000);
    expect(sim.times("b", "keepalive")).toEqual([KEEPALIVE_TIMEOUT]);
  });

  test("a new handshake after KEEPALIVE_TIMEOUT + REKEY_TIMEOUT of sending without hearing back", () => {
    const sim = connected();
    sim.dropBA = true;
    sim.runUntil(1000);
    sim.send("a", data);
    sim.runUntil(30_000);
    // counted from the first unanswered data (the staged packet at 0), not restarted by later data
    const [t] = sim.times("a", "initiation").slice(1);
    expect(t).toBeGreaterThanOrEqual(KEEPALIVE_TIMEOUT + REKEY_TIMEOUT);
    expect(t).toBeLessThan(KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX);
  });

  test("persistent keepalive brings the tunnel up and keeps it busy", () => {
    const sim = new Sim(makePair());
    sim.p.pa.setPersistentKeepalive(25, 0);
    sim.runUntil(100_000);
    expect(sim.times("a", "initiation")).toEqual([25_000]);
    // the staged keepalive goes out at 25 s, then one per 25 s of silence (b's replies are keepalives too,
    // which also restart a's interval)
    const ka = sim.times("a", "keepalive");
    expect(ka[0]).toBe(25_000);
    expect(ka.slice(1)).toEqual([50_000, 75_000, 100_000]);
    sim.p.pa.persistentKeepalive = 0;
    sim.runUntil(200_000);
    expect(sim.times("a", "keepalive").length).toBe(4);
  });

  test("keys are zeroed 3 × REJECT_AFTER_TIME after the last handshake", () => {
    const sim = connected();
    const kp = sim.p.pa.current!;
    sim.runUntil(ZERO_KEYS_AFTER - 1);
    expect(sim.times("a", "zeroed")).toEqual([]);
    sim.runUntil(ZERO_KEYS_AFTER);
    expect(sim.times("a", "zeroed")).toEqual([ZERO_KEYS_AFTER]);
    expect(sim.times("b", "zeroed")).toEqual([ZERO_KEYS_AFTER]);
    expect(sim.p.pa.current).toBeNull();
    expect(sim.p.a.keypairByIndex(kp.localIndex)).toBeUndefined();
    expect(kp.alive).toBe(false);
  });

  test("an initiator receiving on a session older than 165 s rekeys, once", () => {
    const aead = nobleAead();
    const p = makePair({ aead });
    handshake(p, 0);
    open(aead, p.b, 0, seal(aead, p.pa, p.pa.sendingKeypair(0)!, new Uint8Array(0)));
    const kpB = p.pb.sendingKeypair(0)!;
    const t0 = REKEY_ON_RECEIVE_AFTER;
    expect(open(aead, p.a, t0, seal(aead, p.pb, kpB, data))).not.toBeNull();
    expect(p.pa.nextDeadline()).toBeGreaterThan(t0);
    expect(open(aead, p.a, t0 + 1, seal(aead, p.pb, kpB, data))).not.toBeNull();
    expect(p.pa.nextDeadline()).toBe(t0 + 1);
    const acts = p.pa.tick(t0 + 1);
    expect(acts).toContainEqual(expect.objectContaining({ kind: "initiation", retry: false }));
  });
});
