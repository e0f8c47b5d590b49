// scripts/failures.ts: what `bun run test` repeats at its end so a failure of the first pass survives in CI's tail.
import { expect, test } from "bun:test";
import { FailureLog, follow } from "../scripts/failures.ts";

test("each failure is kept with the error lines printed since the previous result, and nothing else", () => {
  const log = new FailureLog();
  for (const l of [
    "test/a.test.ts:", "noise before the first test", "(pass) first [1ms]",
    "error: expect(received).toBe(expected)", "Expected: 2", "Received: 1", "      at <anonymous> (test/a.test.ts:9:3)",
    "(fail) second [3ms]", "(skip) third", "test/b.test.ts:", "error: timed out", "(fail) fourth [5000ms]",
  ]) log.line(l);
  expect(log.count).toBe(2);
  expect(log.summary("pass one")).toBe([
    "== 2 failed in pass one:",
    "(fail) second [3ms]",
    "    error: expect(received).toBe(expected)", "    Expected: 2", "    Received: 1", "          at <anonymous> (test/a.test.ts:9:3)",
    "(fail) fourth [5000ms]",
    "    error: timed out",
  ].join("\n") + "\n");
  expect(new FailureLog().summary("pass two")).toBe("");
});

test("follow copies every byte and splits lines across chunk boundaries", async () => {
  const parts = ["(pa", "ss) a\nerr", "or: x\n(fail) b", ""];
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (const p of parts) c.enqueue(new TextEncoder().encode(p));
      c.close();
    },
  });
  const copied: string[] = [], lines: string[] = [];
  await follow(stream, (c) => copied.push(new TextDecoder().decode(c)), (l) => lines.push(l));
  expect(copied.join("")).toBe(parts.join(""));
  expect(lines).toEqual(["(pass) a", "error: x", "(fail) b"]);
});
