#!/usr/bin/env bun
// ChaCha20-Poly1305 throughput of the transport batch API (Aead.sealTransport/openTransport):
// the Zig library vs @noble/ciphers, with OpenSSL's `openssl speed` measured in the same run as the reference.
//
//   bun run bench/crypto.ts [--json] [--all-variants] [--time=SECONDS]
//
// Speeds are payload MB (10^6 bytes) per CPU-second of this process, like `openssl speed` (which counts user
// CPU time): on a shared machine CPU time is far steadier than wall time. --all-variants also measures the
// baseline and AVX2 builds. open is timed as (restore ciphertext + open) minus (restore alone).
import { loadNative, type Native } from "../src/native/lib.ts";
import { nobleAead, zigAead, type Aead } from "../src/crypto/aead.ts";
import { supportedVariants } from "../src/native/variants.ts";

const args = process.argv.slice(2);
const json = args.includes("--json");
const allVariants = args.includes("--all-variants");
const timeArg = args.find((a) => a.startsWith("--time="));
const SECONDS = timeArg ? Number(timeArg.slice(7)) : 0.25;
const SIZES = [64, 1420, 8192];
const BATCHES = [1, 16, 128];

interface Row {
  impl: "zig" | "noble" | "openssl";
  backend: string;
  op: "seal" | "open";
  size: number;
  batch: number;
  MBps: number;
}
const rows: Row[] = [];

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

// Runs fn repeatedly for about `seconds` of CPU time; returns CPU seconds per call.
function perCall(fn: () => void, seconds: number): number {
  let calls = 1;
  // Calibrate a round count that takes ~10 ms.
  for (;;) {
    const t0 = cpuSeconds();
    for (let i = 0; i < calls; i++) fn();
    const dt = cpuSeconds() - t0;
    if (dt > 0.01) break;
    calls *= 4;
  }
  let total = 0;
  let n = 0;
  const t0 = cpuSeconds();
  while (cpuSeconds() - t0 < seconds) {
    const a = cpuSeconds();
    for (let i = 0; i < calls; i++) fn();
    total += cpuSeconds() - a;
    n += calls;
  }
  return total / n;
}

function batchSetup(size: number, batch: number) {
  const stride = 16 + size + 16;
  const buf = new Uint8Array(stride * batch);
  const offs = new Uint32Array(batch);
  const lens = new Uint32Array(batch);
  const openLens = new Uint32Array(batch);
  const keyIdx = new Uint16Array(batch);
  const ok = new Uint8Array(batch);
  const keys = crypto.getRandomValues(new Uint8Array(32 * 4));
  const dv = new DataView(buf.buffer);
  for (let i = 0; i < batch; i++) {
    offs[i] = i * stride;
    lens[i] = size;
    openLens[i] = size + 16;
    keyIdx[i] = i % 4;
    buf[i * stride] = 4;
    dv.setBigUint64(i * stride + 8, BigInt(1000 + i), true);
  }
  for (let i = 0; i < buf.length; i += 65536) crypto.getRandomValues(buf.subarray(i, Math.min(buf.length, i + 65536)));
  for (let i = 0; i < batch; i++) {
    buf[i * stride] = 4;
    dv.setBigUint64(i * stride + 8, BigInt(1000 + i), true);
  }
  return { buf, offs, lens, openLens, keyIdx, ok, keys };
}

function measure(impl: "zig" | "noble", aead: Aead, size: number, batch: number, seconds: number) {
  const s = batchSetup(size, batch);
  const bytes = size * batch;
  const seal = perCall(() => aead.sealTransport(batch, s.buf, s.offs, s.lens, s.keys, s.keyIdx), seconds);
  rows.push({ impl, backend: aead.backend, op: "seal", size, batch, MBps: bytes / seal / 1e6 });
  // Ciphertext to restore before every open (open works in place).
  aead.sealTransport(batch, s.buf, s.offs, s.lens, s.keys, s.keyIdx);
  const pristine = s.buf.slice();
  aead.openTransport(batch, s.buf, s.offs, s.openLens, s.keys, s.keyIdx, s.ok);
  if (s.ok.some((v) => v !== 1)) throw new Error(`${aead.backend}: openTransport rejected its own sealed packets (size ${size}, batch ${batch})`);
  const restore = perCall(() => s.buf.set(pristine), seconds / 3);
  const both = perCall(() => {
    s.buf.set(pristine);
    aead.openTransport(batch, s.buf, s.offs, s.openLens, s.keys, s.keyIdx, s.ok);
  }, seconds);
  rows.push({ impl, backend: aead.backend, op: "open", size, batch, MBps: bytes / Math.max(both - restore, 1e-12) / 1e6 });
}

// `openssl speed -evp chacha20-poly1305` reports bytes per (user CPU) second in its "+F:" line with -mr.
function openssl(size: number): number | null {
  if (!Bun.which("openssl")) return null;
  const r = Bun.spawnSync(["openssl", "speed", "-evp", "chacha20-poly1305", "-bytes", String(size), "-seconds", "1", "-mr"], { stdout: "pipe", stderr: "pipe" });
  const m = /^\+F:\d+:[^:]+:([\d.]+)/m.exec(r.stdout.toString());
  return m ? Number(m[1]) / 1e6 : null;
}

// Each Zig configuration: its Aead, and for the v4 build whether Poly1305 uses IFMA (a run-time switch in the library).
const zigs: Aead[] = [];
const setups = new Map<Aead, () => void>();
let native: Native | null = null;
try {
  native = loadNative();
  const best = native;
  const ifmaOn = best.sym.bunwg_poly_ifma(-1) === 1;
  const first = zigAead(best);
  zigs.push(first);
  setups.set(first, () => best.sym.bunwg_poly_ifma(ifmaOn ? 1 : 0));
  if (allVariants) {
    if (ifmaOn) {
      best.sym.bunwg_poly_ifma(0);
      const noIfma = zigAead(best);
      best.sym.bunwg_poly_ifma(1);
      zigs.push(noIfma);
      setups.set(noIfma, () => best.sym.bunwg_poly_ifma(0));
    }
    for (const v of supportedVariants()) if (v.id !== best.variant.id) zigs.push(zigAead(loadNative(v.id)));
  }
} catch (e) {
  console.error(`bench: Zig library not loaded, measuring noble and OpenSSL only: ${(e as Error).message}`);
}
const noble = nobleAead();

for (const size of SIZES) {
  for (const batch of BATCHES) {
    for (const z of zigs) {
      setups.get(z)?.();
      measure("zig", z, size, batch, SECONDS);
      setups.get(zigs[0])?.();
    }
    measure("noble", noble, size, batch, Math.min(SECONDS, 0.15));
  }
  const o = openssl(size);
  if (o !== null) rows.push({ impl: "openssl", backend: "openssl speed -evp chacha20-poly1305", op: "seal", size, batch: 1, MBps: o });
}

const ref = (size: number) => rows.find((r) => r.impl === "openssl" && r.size === size)?.MBps;
const nobleRef = (r: Row) => rows.find((x) => x.impl === "noble" && x.op === r.op && x.size === r.size && x.batch === r.batch)?.MBps;

if (json) {
  for (const r of rows) console.log(JSON.stringify({ impl: r.impl, op: r.op, size: r.size, batch: r.batch, MBps: Math.round(r.MBps * 10) / 10, backend: r.backend }));
} else {
  const load = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
  console.log(`ChaCha20-Poly1305, MB per CPU-second (load average ${load})`);
  console.log(`${"impl".padEnd(34)} ${"op".padEnd(5)} ${"size".padStart(5)} ${"batch".padStart(5)} ${"MB/s".padStart(9)} ${"×noble".padStart(7)} ${"×openssl".padStart(9)}`);
  for (const r of rows) {
    const o = ref(r.size);
    const nb = r.impl === "zig" ? nobleRef(r) : undefined;
    const name = r.impl === "zig" ? r.backend : r.impl;
    console.log(
      `${name.padEnd(34)} ${r.op.padEnd(5)} ${String(r.size).padStart(5)} ${String(r.batch).padStart(5)} ${r.MBps.toFixed(1).padStart(9)} ` +
        `${nb ? (r.MBps / nb).toFixed(1).padStart(7) : "".padStart(7)} ${o && r.impl !== "openssl" ? (r.MBps / o).toFixed(2).padStart(9) : "".padStart(9)}`,
    );
  }
  const o1420 = ref(1420);
  if (o1420 && zigs.length > 0) {
    const bestName = zigs[0].backend;
    const at = (op: string, batch: number) => rows.find((r) => r.backend === bestName && r.op === op && r.size === 1420 && r.batch === batch)!.MBps;
    console.log(
      `\nZig/OpenSSL at 1420 bytes (${bestName}, OpenSSL ${o1420.toFixed(0)} MB/s): ` +
        `seal ×${(at("seal", 128) / o1420).toFixed(2)}, open ×${(at("open", 128) / o1420).toFixed(2)} (batch 128); ` +
        `seal ×${(at("seal", 1) / o1420).toFixed(2)}, open ×${(at("open", 1) / o1420).toFixed(2)} (batch 1)`,
    );
  }
}
