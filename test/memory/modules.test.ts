// The daemon path loads only what it runs: @noble (the reference crypto) and citty (the CLI parser) are loaded on
// first use, because each costs megabytes of resident memory in an idle daemon (bench/RESULTS.md, "Memory").
import { expect, test } from "bun:test";
import { join } from "node:path";
import { REPO } from "../support/programs.ts";


const FOREGROUND = ["crypto/aead.ts", "crypto/suite.ts", "native/lib.ts", "device/device.ts", "device/tun.ts",
  "device/ipc.ts", "device/trim.ts"].map((m) => join(REPO, "src", m));

// Runs `wg.ts ARGS` in a fresh Bun with a preamble and prints the loaded module paths.
function loadedBy(args: string[]): string[] {
  const script = `process.argv = [process.argv[0], ${JSON.stringify(join(REPO, "wg.ts"))}, ...${JSON.stringify(args)}];
    await import(${JSON.stringify(join(REPO, "wg.ts"))});
    // What a foreground daemon imports before it creates its TUN (src/device/daemon.ts runForeground).
    for (const m of ${JSON.stringify(FOREGROUND)}) await import(m);
    process.stdout.write(JSON.stringify(Object.keys(require.cache)));`;
  const r = Bun.spawnSync([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe", timeout: 30_000 });
  const out = r.stdout.toString();
  if (!out.startsWith("[")) throw new Error(`wg.ts ${args.join(" ")}: no module list (exit ${r.exitCode}): ${r.stderr.toString().slice(0, 400)}`);
  return JSON.parse(out) as string[];
}

test("the daemon path loads neither @noble nor citty", () => {
  // An invalid interface name stops after the daemon's modules are loaded and before anything is created.
  const mods = loadedBy(["-f", "bad/name!"]);
  expect(mods.some((m) => m.endsWith(join("src", "device", "daemon.ts")))).toBe(true);
  expect(mods.filter((m) => m.includes("@noble") || m.includes("citty"))).toEqual([]);
});

test("the reference crypto still loads when asked for", async () => {
  const { nobleX25519 } = await import("../../src/crypto/x25519.ts");
  const { nobleAead } = await import("../../src/crypto/aead.ts");
  const { nobleXAead } = await import("../../src/crypto/xchacha.ts");
  const a = nobleX25519(), b = nobleX25519();
  const ka = a.privateKey(new Uint8Array(32).fill(7)), kb = b.privateKey(new Uint8Array(32).fill(9));
  const s1 = new Uint8Array(32), s2 = new Uint8Array(32);
  expect(a.sharedSecret(ka, kb.publicKey, s1)).toBe(true);
  expect(b.sharedSecret(kb, ka.publicKey, s2)).toBe(true);
  expect(s1).toEqual(s2);
  const key = new Uint8Array(32).fill(1), pt = new Uint8Array([1, 2, 3]), out = new Uint8Array(19), back = new Uint8Array(3);
  const aead = nobleAead();
  aead.seal(key, 5, pt, new Uint8Array(0), out);
  expect(aead.open(key, 5, out, new Uint8Array(0), back)).toBe(true);
  expect(back).toEqual(pt);
  const nonce = new Uint8Array(24).fill(3);
  const x = nobleXAead(), sealed = new Uint8Array(19), opened = new Uint8Array(3);
  x.seal(key, nonce, pt, pt, sealed);
  expect(x.open(key, nonce, sealed, pt, opened)).toBe(true);
  expect(opened).toEqual(pt);
});
