// RFC 6479 sliding window (§5.4.6).
import { describe, expect, test } from "bun:test";
import { REJECT_AFTER_MESSAGES, REPLAY_WINDOW } from "../../src/noise/constants.ts";
import { ReplayWindow } from "../../src/noise/replay.ts";

const LIMIT = REJECT_AFTER_MESSAGES;

describe("replay window", () => {
  test("in order, duplicates refused", () => {
    const w = new ReplayWindow();
    for (let i = 0; i < 100; i++) expect(w.accept(i, LIMIT)).toBe(true);
    for (let i = 0; i < 100; i++) expect(w.accept(i, LIMIT)).toBe(false);
  });

  test("reordering inside the window is fine, once", () => {
    const w = new ReplayWindow();
    expect(w.accept(5000, LIMIT)).toBe(true);
    expect(w.mayAccept(10, LIMIT)).toBe(true);
    expect(w.accept(10, LIMIT)).toBe(true);
    expect(w.mayAccept(10, LIMIT)).toBe(false);
    expect(w.accept(10, LIMIT)).toBe(false);
    expect(w.accept(4999, LIMIT)).toBe(true);
  });

  test(`counters more than ${REPLAY_WINDOW} behind the newest are refused`, () => {
    const w = new ReplayWindow();
    const top = 100_000;
    expect(w.accept(top, LIMIT)).toBe(true);
    expect(w.mayAccept(top - REPLAY_WINDOW, LIMIT)).toBe(true);
    expect(w.accept(top - REPLAY_WINDOW, LIMIT)).toBe(true);
    expect(w.mayAccept(top - REPLAY_WINDOW - 1, LIMIT)).toBe(false);
    expect(w.accept(top - REPLAY_WINDOW - 1, LIMIT)).toBe(false);
  });

  test("a jump clears old bits: the counter one ring-length ahead is new", () => {
    const w = new ReplayWindow();
    for (let i = 0; i < 64; i++) w.accept(i, LIMIT);
    expect(w.accept(8192 + 5, LIMIT)).toBe(true); // same ring slot as 5
    expect(w.accept(8192 + 6, LIMIT)).toBe(true);
    expect(w.accept(5, LIMIT)).toBe(false); // too old now
    for (let i = 8192; i < 8192 + 5; i++) expect(w.accept(i, LIMIT)).toBe(true);
  });

  test("exhaustive against a simple model with random traffic", () => {
    const w = new ReplayWindow();
    const seen = new Set<number>();
    let top = -1;
    let s = 12345;
    const next = () => (s = (s * 1103515245 + 12345) & 0x7fffffff);
    let base = 0;
    for (let i = 0; i < 50_000; i++) {
      base += next() % 3;
      const c = Math.max(0, base - (next() % 9000));
      const expected = !seen.has(c) && (c > top || top - c <= REPLAY_WINDOW);
      expect(w.accept(c, LIMIT)).toBe(expected);
      if (expected) {
        seen.add(c);
        top = Math.max(top, c);
      }
    }
  });

  test("counters near 2^53 work exactly; the limit is refused", () => {
    const w = new ReplayWindow();
    const high = 2 ** 52 + 31;
    expect(w.accept(high, LIMIT)).toBe(true);
    expect(w.accept(high - 1, LIMIT)).toBe(true);
    expect(w.accept(high, LIMIT)).toBe(false);
    expect(w.accept(high + 1, LIMIT)).toBe(true);
    expect(w.mayAccept(LIMIT, LIMIT)).toBe(false);
    expect(w.accept(LIMIT, LIMIT)).toBe(false);
    expect(w.accept(LIMIT - 1, LIMIT)).toBe(true);
  });
});
