// A fast slice of bench/fuzz.ts (which runs ≥ 1,000,000 cases): hostile wire input against the protocol core and
// against the daemon's inbound path. Each slice must see no exception, no invalid message accepted, no plaintext
// released and bounded state — and the oracle itself is shown able to fail on a deliberately weakened engine.
import { describe, expect, test } from "bun:test";
import { loadAead } from "../../src/crypto/aead.ts";
import { ReplayWindow } from "../../src/noise/replay.ts";
import { type FuzzReport, WireFuzzer, summarise } from "./fuzzer.ts";
import { ReceiverFuzzer } from "./receiver-fuzzer.ts";

const aead = loadAead();
const SEED = Number(process.env.BUNWG_FUZZ_SEED ?? 0x5eed);

function show(r: FuzzReport): string {
  return summarise(r).map((row) => `  ${row.cls.padEnd(15)} ${String(row.cases).padStart(6)}  ${row.outcomes}`).join("\n");
}

describe("wire fuzzing", () => {
  test("protocol core: 12,000 cases over types 1–4 (two seeds)", () => {
    for (const seed of [SEED, SEED + 1]) {
      const f = new WireFuzzer(seed, aead, 1_500);
      const r = f.run(6_000);
      if (r.failures.length > 0) console.error(show(r), r.failures.slice(0, 3));
      expect(r.failures).toEqual([]);
      expect(r.cases).toBe(6_000);
      // Every class ran, and the controls show the oracle sees acceptance when it is due.
      expect(summarise(r).length).toBe(13);
      expect(r.genuineAccepted).toBeGreaterThan(50);
      // Bounded state: a handful of live indices, no heap growth to speak of.
      expect(r.maxIndices).toBeLessThanOrEqual(8);
      expect(r.heapGrowthBytes).toBeLessThan(16 << 20);
      // Each parser was reached: something died at every stage of each path.
      const outcomes = [...r.outcomes.keys()].map((k) => k.split(" ")[1]);
      for (const o of ["rejected:malformed", "rejected:invalid-mac1", "rejected:invalid-initiation", "rejected:unknown-index",
        "rejected:invalid-cookie", "cookie-reply", "dropped:unknown-index", "dropped:replay-window", "dropped:aead"]) {
        expect(outcomes).toContain(o);
      }
    }
  });

  test("daemon inbound path (receive.ts with fake socket and TUN): 8,000 cases in batches", async () => {
    const f = new ReceiverFuzzer(SEED, aead, 1_000);
    await f.setup();
    try {
      const r = f.run(8_000);
      if (r.failures.length > 0) console.error(r.failures.slice(0, 3));
      expect(r.failures).toEqual([]);
      expect(r.cases).toBe(8_000);
      expect(r.genuineDelivered).toBeGreaterThan(100);
      expect(r.spoofedSent).toBeGreaterThan(50);
      expect(r.maxIndices).toBeLessThanOrEqual(4);
      expect(r.heapGrowthBytes).toBeLessThan(16 << 20);
    } finally {
      f.close();
    }
  });

  test("the oracle fails when replay protection is switched off", () => {
    const accept = ReplayWindow.prototype.accept;
    const mayAccept = ReplayWindow.prototype.mayAccept;
    ReplayWindow.prototype.accept = () => true;
    ReplayWindow.prototype.mayAccept = () => true;
    try {
      const r = new WireFuzzer(SEED, aead, 1_500).run(3_000);
      expect(r.failures.some((f) => f.what.includes("replay"))).toBe(true);
    } finally {
      ReplayWindow.prototype.accept = accept;
      ReplayWindow.prototype.mayAccept = mayAccept;
    }
  });

  test("the oracle fails when the allowed-IPs source check is switched off", async () => {
    const f = new ReceiverFuzzer(SEED, aead, 1_000);
    await f.setup();
    try {
      const peer = [...f.dev.peers.values()][0];
      const table = f.dev.allowedIps;
      table.lookupV4 = () => peer;
      table.lookupV6 = () => peer;
      const r = f.run(3_000);
      expect(r.failures.some((x) => x.what.includes("not a genuine allowed packet"))).toBe(true);
    } finally {
      f.close();
    }
  });
});
