// The start-up warm-up (src/device/warmup.ts): two throw-away devices built like the daemon's carry a handshake and
// then transport packets both ways, so the data path's code is optimised before real traffic. What is checked is
// that packets really crossed (sealed, sent, received, opened, written) — a warm-up that moved nothing would warm
// nothing — and that it ends early when asked.
import { expect, test } from "bun:test";
import { loadAead, nobleAead } from "../src/crypto/aead.ts";
import { DEFAULT_DATA_PATH } from "../src/device/device.ts";
import { warmUp } from "../src/device/warmup.ts";

test("every request and every reply crosses: one to start the handshake, then 2 per round trip, 3 more every 16th", async () => {
  const r = await warmUp(loadAead(), DEFAULT_DATA_PATH, 1420, 160);
  expect(r.roundTrips).toBe(160);
  // The packet staged during the handshake, 160 replies, 160 requests plus 3 extra in each of the 10 small batches.
  expect(r.delivered).toBe(1 + 160 + 160 + 10 * 3);
});

test("with the reference AEAD and without GSO/GRO, at a larger MTU, packets cross as well", async () => {
  const r = await warmUp(nobleAead(), { gso: false, gro: false, pump: true }, 9000, 20);
  expect(r.delivered).toBe(1 + 20 + 20 + 3);
});

test("stop() ends it at the next turn", async () => {
  let turns = 0;
  const r = await warmUp(loadAead(), DEFAULT_DATA_PATH, 1420, 1_000_000, () => ++turns > 2);
  expect(r.roundTrips).toBeGreaterThan(0);
  expect(r.roundTrips).toBeLessThan(1_000_000);
});
