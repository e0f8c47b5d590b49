// trim.ts gives back the code pages start-up left resident, and everything still runs afterwards (the pages map
// back in when used).
import { expect, test } from "bun:test";
import { join } from "node:path";

const SRC = join(import.meta.dir, "..", "..", "src");

test("trimCode lowers the RSS of a process that loaded the daemon, which keeps working", () => {
  const script = `
    const rss = () => Number(require("fs").readFileSync("/proc/self/status", "utf8").match(/VmRSS:\\s+(\\d+)/)[1]);
    for (const m of ["device/daemon.ts", "device/device.ts", "device/ipc.ts", "crypto/aead.ts"]) await import(${JSON.stringify(SRC)} + "/" + m);
    const { trimCode } = await import(${JSON.stringify(SRC)} + "/device/trim.ts");
    const before = rss();
    const advised = trimCode();
    const after = rss();
    // Work after the trim: the X25519 of RFC 7748 §6.1 and an AEAD round trip.
    const { defaultX25519 } = await import(${JSON.stringify(SRC)} + "/crypto/x25519.ts");
    const { loadAead } = await import(${JSON.stringify(SRC)} + "/crypto/aead.ts");
    const x = defaultX25519(), out = new Uint8Array(32);
    x.sharedSecret(x.privateKey(Buffer.from("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", "hex")),
      Buffer.from("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", "hex"), out);
    const aead = loadAead(), key = new Uint8Array(32).fill(5), pt = new Uint8Array([1, 2, 3]), ct = new Uint8Array(19), back = new Uint8Array(3);
    aead.seal(key, 9, pt, new Uint8Array(0), ct);
    const opened = aead.open(key, 9, ct, new Uint8Array(0), back);
    console.log(JSON.stringify({ before, after, advised, shared: Buffer.from(out).toString("hex"), opened, back: [...back] }));`;
  const r = Bun.spawnSync([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe", timeout: 30_000 });
  const line = r.stdout.toString().trim();
  if (!line.startsWith("{")) throw new Error(`trim probe failed (exit ${r.exitCode}): ${r.stderr.toString().slice(0, 400)}`);
  const j = JSON.parse(line);
  expect(j.advised).toBeGreaterThan(0);
  expect(j.before - j.after).toBeGreaterThan(1024); // KiB: start-up leaves several MiB of code pages mapped
  expect(j.shared).toBe("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  expect(j.opened).toBe(true);
  expect(j.back).toEqual([1, 2, 3]);
});

test("releasePages gives back a buffer's touched pages; it then reads as zeros and takes writes", async () => {
  const { releasePages } = await import("../../src/device/trim.ts");
  const anon = () => Number(require("node:fs").readFileSync("/proc/self/status", "utf8").match(/RssAnon:\s+(\d+)/)[1]);
  const buf = new Uint8Array(32 << 20);
  buf.fill(7);
  const before = anon();
  const advised = releasePages([buf]);
  const after = anon();
  expect(advised).toBeGreaterThan(31 << 20);
  expect(before - after).toBeGreaterThan(16 << 10); // KiB: most of the 32 MiB
  expect(buf[buf.length >> 1]).toBe(0);
  buf[12345] = 9;
  expect(buf[12345]).toBe(9);
});
