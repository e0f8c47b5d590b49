// Secrets do not linger once replaced or refused (issue 10, item 8): the handshake's scratch memory after an
// initiation is refused, the per-batch key table of the data path after its batch, and the configuration socket's
// public-key derivation, which must keep no copy of a private key it was shown (checked by scanning the memory of a
// process that used it).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { closeSync, openSync, readSync } from "node:fs";
import { KeyTable } from "../../src/device/batch.ts";
import { scratchForTests } from "../../src/noise/handshake.ts";
import { SRC_A, makePair } from "./helpers.ts";
import { isRoot } from "../support/programs.ts";

const allZero = () => scratchForTests.every((b) => b.every((x) => x === 0));

describe("handshake scratch memory", () => {
  test("is all zero after an initiation is answered, refused as a replay, or refused as a flood", () => {
    const p = makePair();
    const init = p.pa.createInitiation(0)!;
    expect(allZero()).toBe(true);
    expect(p.b.consumeHandshake(0, init, SRC_A, false).kind).toBe("response");
    expect(allZero()).toBe(true);
    // The same initiation again: it authenticates (so the responder's chaining key was derived), then the
    // timestamp check refuses it.
    expect(p.b.consumeHandshake(10_000, init, SRC_A, false)).toMatchObject({ kind: "rejected", detail: "replayed-timestamp" });
    expect(allZero()).toBe(true);
    // A newer one within INITIATIONS_MIN_INTERVAL of the last one answered: refused as a flood.
    expect(p.b.consumeHandshake(20_000, p.pa.createInitiation(20_000)!, SRC_A, false).kind).toBe("response");
    const third = p.pa.createInitiation(30_000)!;
    expect(p.b.consumeHandshake(20_010, third, SRC_A, false)).toMatchObject({ kind: "rejected", detail: "flood" });
    expect(allZero()).toBe(true);
  });
});

describe("the data path's per-batch key table", () => {
  test("holds no key once the batch is over", () => {
    const t = new KeyTable(8);
    const k1 = new Uint8Array(32).fill(7), k2 = new Uint8Array(32).fill(9);
    expect([t.slot(k1), t.slot(k1), t.slot(k2)]).toEqual([0, 0, 1]);
    expect(t.keys.some((b) => b !== 0)).toBe(true);
    t.reset();
    expect(t.keys.every((b) => b === 0)).toBe(true);
  });
});

// The child derives the public key of a private key given in hex (so the bytes arrive only through the function
// under test), wipes its own copy, collects garbage and waits; we then look for the key in its writable memory.
// What the daemon does with a set's private key (src/device/ipc.ts): applySet derives its public key through the
// engine's X25519 (Engine.publicKeyOf) to compare it with the peers' keys.
const src = (path: string) => JSON.stringify(new URL(`../../src/${path}`, import.meta.url).pathname);
const CHILD = `
  const { Engine } = await import(${src("noise/index.ts")});
  const { defaultSuite } = await import(${src("crypto/suite.ts")});
  const { applySet } = await import(${src("uapi/set.ts")});
  const { emptyDeviceConfig } = await import(${src("config/model.ts")});
  const engine = new Engine({ crypto: defaultSuite() });
  const line = (await new Response(Bun.stdin.stream()).text()).trim();
  let pub = null;
  const r = applySet(emptyDeviceConfig(), ["private_key=" + line], { derivePublicKey: (k) => (pub = engine.publicKeyOf(k)) });
  if (!r.ok || pub === null) throw new Error("no derivation");
  Bun.gc(true);
  process.stdout.write(Buffer.from(pub).toString("hex") + "\\n");
  await Bun.sleep(30_000);
`;

function occurrences(pid: number, needle: Buffer): number {
  const maps = readFileSync(`/proc/${pid}/maps`, "utf8").trim().split("\n");
  const fd = openSync(`/proc/${pid}/mem`, "r");
  const chunk = Buffer.alloc(1 << 20);
  let found = 0;
  try {
    for (const line of maps) {
      const [range, perms, , , , path] = line.split(/\s+/);
      if (!perms!.startsWith("rw") || (path && path.startsWith("["))) continue; // heap-like anonymous memory; skip [vvar]…
      const [lo, hi] = range!.split("-").map((h) => parseInt(h, 16)) as [number, number];
      for (let at = lo; at < hi; at += chunk.length - 31) {
        const len = Math.min(chunk.length, hi - at);
        let n = 0;
        try {
          n = readSync(fd, chunk, 0, len, at);
        } catch {
          break; // unreadable (guard pages)
        }
        for (let i = chunk.subarray(0, n).indexOf(needle); i !== -1 && i < n; i = chunk.indexOf(needle, i + 1)) {
          if (i + 32 <= n) found++;
        }
        if (n < len) break;
      }
    }
  } finally {
    closeSync(fd);
  }
  return found;
}

describe.skipIf(!isRoot)("the configuration socket's public-key derivation", () => {
  test("keeps no copy of the private key it derived from", async () => {
    // Clamping changes bytes 0 and 31 of this key, so the unclamped 32 bytes can only be a copy of the input.
    const key = crypto.getRandomValues(new Uint8Array(32));
    key[0] |= 7;
    key[31] |= 0x80;
    const child = Bun.spawn([process.execPath, "-e", CHILD], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    try {
      child.stdin.write(Buffer.from(key).toString("hex") + "\n");
      child.stdin.end();
      const reader = child.stdout.getReader();
      const { value } = await reader.read();
      expect(new TextDecoder().decode(value).trim()).toMatch(/^[0-9a-f]{64}$/); // it derived, and is waiting
      expect(occurrences(child.pid, Buffer.from(key))).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }
  }, 30_000);
});
