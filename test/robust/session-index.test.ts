// Session indices are 32 random bits (§5.4.2), so half of them are ≥ 2^31. Read unsigned, such an index is not a
// 32-bit integer to JavaScriptCore: the receive path's optimised code, compiled for the indices it had seen, left its
// code on every message of such a session and was compiled again (docs/threads.md, "Session indices read signed").
// The data path now reads indices signed (noise/messages.ts readIndex; noise/indextable.ts keys on that form).
import { expect, test } from "bun:test";
import { join } from "node:path";
import { run } from "../support/process.ts";

test("a session index ≥ 2^31 is received by the code compiled for smaller ones: nothing is compiled again", async () => {
  // In a process of its own: the suite's other tests have run this path with indices of both kinds already.
  const r = await run(["bun", join(import.meta.dir, "session-index-run.ts")], { timeoutMs: 60_000 });
  const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Record<string, number>;
  expect(out.smallIndex).toBeLessThan(2 ** 31);
  expect(out.largeIndex).toBeGreaterThanOrEqual(2 ** 31);
  expect(out.compiled).toBeGreaterThanOrEqual(1); // the receive path was compiled by the optimising tier in time
  expect(out.delivered).toBe(out.rounds * 64); // every message reached the TUN, under either session
  expect(out.largeDelivered).toBe(out.rounds * 640);
  expect(out.compiledAfter).toBe(out.compiled);
  expect(out.retries).toBe(0);
});
