#!/usr/bin/env bun
// Cryptokey-routing table (src/device/allowedips.ts): insert time and longest-prefix lookups per second.
//
//   bun run bench/allowedips.ts [--json] [--time=SECONDS]
//
// Baselines measured in the same run on the same addresses:
//   - map: `Map<number, T>.get` of the IPv4 address as a u32 — an exact hash lookup, the cheapest keyed lookup JS
//     offers; the ratio says what longest-prefix matching costs over it.
//   - linear: scanning every prefix (the brute-force matcher the tests use) — only for the small table.
// Lookups read the address from a packet-like buffer, as the daemon does.
import { AllowedIps } from "../src/device/allowedips.ts";

const args = process.argv.slice(2);
const json = args.includes("--json");
const timeArg = args.find((a) => a.startsWith("--time="));
const SECONDS = timeArg ? Number(timeArg.slice(7)) : 0.3;
const N_ADDRS = 1 << 16;

let seed = 0x9e3779b9;
function rand(): number {
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed;
}

// Runs body(count) until SECONDS have passed; returns operations per second.
function rate(body: (n: number) => number): number {
  let n = 1024;
  for (;;) {
    const t0 = performance.now();
    body(n);
    const dt = performance.now() - t0;
    if (dt > 20) break;
    n *= 4;
  }
  let ops = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) ops += body(n);
  return ops / ((performance.now() - t0) / 1000);
}

interface Peer { id: number }
interface Row { table: string; prefixes: number; family: string; what: string; perSecond: number; ratio: string }
const rows: Row[] = [];
let sink = 0;

function lookups(table: string, t: AllowedIps<Peer>, prefixes: number, v4: Uint8Array, v6: Uint8Array | null, small: Array<{ a: Uint8Array; c: number; p: Peer }> | null) {
  const map = new Map<number, Peer>();
  const dv = new DataView(v4.buffer);
  for (let i = 0; i < N_ADDRS; i += 2) map.set(dv.getUint32(i * 4) | 0, { id: i });
  const mask = N_ADDRS - 1;
  const mapRate = rate((n) => {
    for (let i = 0; i < n; i++) {
      const o = (i & mask) * 4;
      const k = (v4[o] << 24) | (v4[o + 1] << 16) | (v4[o + 2] << 8) | v4[o + 3];
      if (map.get(k) !== undefined) sink++;
    }
    return n;
  });
  const trie4 = rate((n) => {
    for (let i = 0; i < n; i++) if (t.lookupV4(v4, (i & mask) * 4) !== undefined) sink++;
    return n;
  });
  rows.push({ table, prefixes, family: "IPv4", what: "Map.get (baseline)", perSecond: mapRate, ratio: "1.00" });
  rows.push({ table, prefixes, family: "IPv4", what: "trie lookupV4", perSecond: trie4, ratio: (trie4 / mapRate).toFixed(2) });
  if (v6) {
    const trie6 = rate((n) => {
      for (let i = 0; i < n; i++) if (t.lookupV6(v6, (i & mask) * 16) !== undefined) sink++;
      return n;
    });
    rows.push({ table, prefixes, family: "IPv6", what: "trie lookupV6", perSecond: trie6, ratio: (trie6 / mapRate).toFixed(2) });
  }
  if (small) {
    const linear = rate((n) => {
      n = Math.min(n, 4096);
      for (let i = 0; i < n; i++) {
        const o = (i & mask) * 4;
        const a = ((v4[o] << 24) | (v4[o + 1] << 16) | (v4[o + 2] << 8) | v4[o + 3]) >>> 0;
        let best = -1;
        let who: Peer | undefined;
        for (const e of small) {
          if (e.a.length !== 4 || e.c <= best) continue;
          const pa = ((e.a[0] << 24) | (e.a[1] << 16) | (e.a[2] << 8) | e.a[3]) >>> 0;
          const m = e.c === 0 ? 0 : (~0 << (32 - e.c)) >>> 0;
          if (((a & m) >>> 0) === pa) { best = e.c; who = e.p; }
        }
        if (who !== undefined) sink++;
      }
      return n;
    });
    rows.push({ table, prefixes, family: "IPv4", what: "linear scan", perSecond: linear, ratio: (linear / mapRate).toFixed(4) });
  }
}

function timedInsert(table: string, family: string, entries: Array<{ a: Uint8Array; c: number; p: Peer }>): AllowedIps<Peer> {
  const t = new AllowedIps<Peer>();
  const t0 = performance.now();
  for (const e of entries) t.insert(e.a, e.c, e.p);
  const ms = performance.now() - t0;
  rows.push({ table, prefixes: entries.length, family, what: `insert all (${ms.toFixed(1)} ms)`, perSecond: entries.length / (ms / 1000), ratio: "" });
  return t;
}

// Lookup addresses: half drawn from inside the table's prefixes, half uniformly random.
function addresses(entries: Array<{ a: Uint8Array; c: number }>, len: 4 | 16): Uint8Array {
  const out = new Uint8Array(N_ADDRS * len);
  const fam = entries.filter((e) => e.a.length === len);
  for (let i = 0; i < N_ADDRS; i++) {
    for (let j = 0; j < len; j++) out[i * len + j] = rand();
    if (i & 1 && fam.length > 0) {
      const e = fam[rand() % fam.length];
      for (let j = 0; j < len && j * 8 < e.c; j++) {
        const keep = e.c - j * 8;
        const m = keep >= 8 ? 0xff : 0xff00 >>> keep;
        out[i * len + j] = (e.a[j] & m) | (out[i * len + j] & ~m & 0xff);
      }
    }
  }
  return out;
}

// 1. A full-table-sized peer: 130,000 IPv4 prefixes with lengths 8-24, like an Internet routing table.
{
  const p: Peer = { id: 0 };
  const entries = Array.from({ length: 130_000 }, () => {
    const c = 8 + (rand() % 17);
    const x = rand();
    return { a: Uint8Array.of(x >>> 24, x >>> 16, x >>> 8, x), c, p };
  });
  const t = timedInsert("1 peer × 130k", "IPv4", entries);
  lookups("1 peer × 130k", t, entries.length, addresses(entries, 4), null, null);
}

// 2. A hub: 1,000 peers × (2 IPv4 + 2 IPv6).
{
  const entries: Array<{ a: Uint8Array; c: number; p: Peer }> = [];
  for (let i = 0; i < 1000; i++) {
    const p = { id: i };
    entries.push({ a: Uint8Array.of(10, i >>> 8, i & 255, 0), c: 24, p });
    entries.push({ a: Uint8Array.of(172, 16, i >>> 8, i & 255), c: 32, p });
    const v6a = new Uint8Array(16); v6a.set([0xfd, 0, 0, 0, 0, 0, i >>> 8, i & 255]);
    const v6b = new Uint8Array(16); v6b.set([0x20, 0x01, 0x0d, 0xb8, i >>> 8, i & 255]);
    entries.push({ a: v6a, c: 64, p }, { a: v6b, c: 48, p });
  }
  const t = timedInsert("1,000 peers × 4", "both", entries);
  lookups("1,000 peers × 4", t, entries.length, addresses(entries, 4), addresses(entries, 16), entries);
}

if (json) {
  for (const r of rows) console.log(JSON.stringify({ bench: "allowedips", ...r, perSecond: Math.round(r.perSecond) }));
} else {
  const head = ["table", "prefixes", "family", "what", "per second", "ratio to Map.get"];
  const body = rows.map((r) => [r.table, String(r.prefixes), r.family, r.what, Math.round(r.perSecond).toLocaleString("en-US"), r.ratio]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (c: string[]) => `| ${c.map((x, i) => (i >= 4 ? x.padStart(w[i]) : x.padEnd(w[i]))).join(" | ")} |`;
  console.log(line(head));
  console.log(`|${w.map((n, i) => (i >= 4 ? "-".repeat(n + 1) + ":" : "-".repeat(n + 2))).join("|")}|`);
  for (const b of body) console.log(line(b));
}
if (sink === -1) console.log(sink);
