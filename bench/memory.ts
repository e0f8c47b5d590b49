#!/usr/bin/env bun
// Memory benchmark: resident memory of one idle daemon with no peers, then with many peers (default 1,000 peers ×
// 4 allowed IPs, loaded with `wg setconf`), per implementation, alternated round by round.
//
//   bun run bench/memory.ts [--impl ours,wggo-debian,wggo-latest,boringtun] [--repeat N] [--peers N] [--json] [--append]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  appendResultsSection, cleanup, loadAverage, fmt, hex, keyPair, machineFacts, median, memKiB, requireRoot, run, sleep, table, timestamp, which,
} from "./lib/harness.ts";
import { createInterface, parseImpls, runnableImpls, type Implementation } from "./lib/implementations.ts";
import { addNamespace, freeUdpPort, moveIntoNamespace, wgConfig, WG_ENV } from "./lib/pair.ts";

const { values: opt } = parseArgs({
  options: {
    impl: { type: "string" },
    repeat: { type: "string", default: "2" },
    peers: { type: "string", default: "1000" },
    settle: { type: "string", default: "2" },
    subject: { type: "string" },
    json: { type: "boolean", default: false },
    append: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (opt.help) {
  console.log("usage: bun run bench/memory.ts [--impl a,b,…] [--repeat N] [--peers N] [--settle SECONDS] [--subject IMPL] [--json] [--append]");
  process.exit(0);
}
const int = (name: string, v: string | undefined, min: number, max: number) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name}: expected an integer ${min}–${max}, got "${v}"`);
  return n;
};
const ROUNDS = int("repeat", opt.repeat, 1, 50);
const PEERS = int("peers", opt.peers, 1, 65535);
const SETTLE_MS = int("settle", opt.settle, 0, 60) * 1000;
const ALLOWED_PER_PEER = 4;
const out = (s: string) => (opt.json ? console.error(s) : console.log(s));
const progress = (s: string) => console.error(s);

requireRoot("bench/memory.ts");
for (const tool of ["ip", "wg"]) if (!which(tool)) throw new Error(`bench/memory.ts: required tool "${tool}" not on PATH`);

// Peer i gets two IPv4 and two IPv6 ranges of its own; no endpoints, so an idle daemon sends nothing.
function allowedIps(i: number): string[] {
  const hi = (i >> 8) & 255, lo = i & 255, x = i.toString(16);
  return [`10.${hi}.${lo}.0/25`, `10.${hi}.${lo}.128/25`, `fd00:${x}::/64`, `fd01::${x}/128`];
}

const dir = mkdtempSync(join(tmpdir(), "bnm-"));
cleanup.add(`temporary directory ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
const me = keyPair();
const peers = Array.from({ length: PEERS }, (_, i) => ({ pub: keyPair().pub, allowed: allowedIps(i) }));

type Sample = { impl: string; round: number; rss0KiB: number; rssNKiB: number; hwmKiB: number; perPeerBytes: number; setconfMs: number };

async function measure(impl: Implementation, round: number): Promise<Sample> {
  const tag = hex(3);
  const scope = cleanup.child(`${impl.name} memory bnm${tag}`);
  try {
    const ns = `bnmns${tag}`;
    const ifname = `bnm${tag}`;
    await addNamespace(ns, scope);
    const { daemon } = await createInterface(impl, ifname, scope, dir);
    if (!daemon) throw new Error(`${impl.name}: has no daemon process to measure`);
    const port = await freeUdpPort();
    const empty = join(dir, `${ifname}-0.conf`);
    writeFileSync(empty, wgConfig(me.priv, port, []), { mode: 0o600 });
    await run(["wg", "setconf", ifname, empty], { timeoutMs: 10_000, env: WG_ENV });
    // Up in a namespace of its own, like a real interface, but with no routes anyone else could use.
    await moveIntoNamespace(impl, ifname, ns, 1420);
    await sleep(SETTLE_MS);
    const rss0 = memKiB(daemon.pid).rss;
    const full = join(dir, `${ifname}-${PEERS}.conf`);
    writeFileSync(full, wgConfig(me.priv, port, peers), { mode: 0o600 });
    const t0 = performance.now();
    await run(["wg", "setconf", ifname, full], { timeoutMs: 120_000, env: WG_ENV });
    const setconfMs = performance.now() - t0;
    // Check the daemon holds what we gave it, so the figure is the cost of real peers.
    const dump = (await run(["wg", "show", ifname, "allowed-ips"], { timeoutMs: 30_000, env: WG_ENV })).stdout;
    const lines = dump.trim().split("\n").filter(Boolean);
    const ranges = lines.reduce((s, l) => s + l.split(/\s+/).length - 1, 0);
    if (lines.length !== PEERS || ranges !== PEERS * ALLOWED_PER_PEER)
      throw new Error(`${impl.name}: expected ${PEERS} peers with ${PEERS * ALLOWED_PER_PEER} allowed IPs after setconf, got ${lines.length} peers with ${ranges}`);
    await sleep(SETTLE_MS);
    const m = memKiB(daemon.pid);
    return {
      impl: impl.name, round, rss0KiB: rss0, rssNKiB: m.rss, hwmKiB: m.hwm,
      perPeerBytes: ((m.rss - rss0) * 1024) / PEERS, setconfMs,
    };
  } finally {
    scope.close();
  }
}

const { runnable, notes, versions } = await runnableImpls(parseImpls(opt.impl).filter((i) => i.command), "bench/memory.ts", progress); // the kernel module has no process to measure

const loadBefore = loadAverage();
const samples: Sample[] = [];
const failures: string[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const impl of runnable.map((_, i) => runnable[(i + round - 1) % runnable.length])) {
    progress(`round ${round}/${ROUNDS}: ${impl.name}…`);
    try {
      const s = await measure(impl, round);
      samples.push(s);
      if (opt.json) console.log(JSON.stringify({ bench: "memory", kind: "sample", peers: PEERS, ...s }));
      progress(`  RSS ${fmt(s.rss0KiB / 1024, 1)} MiB → ${fmt(s.rssNKiB / 1024, 1)} MiB with ${PEERS} peers (${fmt(s.perPeerBytes, 0)} B/peer), setconf ${fmt(s.setconfMs, 0)} ms`);
    } catch (e) {
      failures.push(`${impl.name} round ${round}: ${(e as Error).message}`);
      progress(`  FAILED: ${failures.at(-1)}`);
    }
  }
}
cleanup.close();
const loadAfter = loadAverage();

const METRICS: { key: keyof Sample; label: string; scale: number; digits: number }[] = [
  { key: "rss0KiB", label: "RSS, no peers (MiB)", scale: 1 / 1024, digits: 1 },
  { key: "rssNKiB", label: `RSS, ${PEERS} peers (MiB)`, scale: 1 / 1024, digits: 1 },
  { key: "hwmKiB", label: "peak RSS (MiB)", scale: 1 / 1024, digits: 1 },
  { key: "perPeerBytes", label: "bytes per extra peer", scale: 1, digits: 0 },
  { key: "setconfMs", label: "setconf ms", scale: 1, digits: 0 },
];
const measured = runnable.filter((i) => samples.some((s) => s.impl === i.name));
const med: Record<string, Record<string, number>> = {};
for (const i of measured) {
  med[i.name] = {};
  for (const m of METRICS) med[i.name][m.key] = median(samples.filter((s) => s.impl === i.name).map((s) => s[m.key] as number));
}
const subject = opt.subject ?? (med.ours ? "ours" : measured[0]?.name);
const header = ["implementation", ...METRICS.map((m) => m.label)];
const rows = measured.map((i) => [i.name, ...METRICS.map((m) => fmt(med[i.name][m.key] * m.scale, m.digits))]);
const ratioRows = measured
  .filter((i) => i.name !== subject && med[subject])
  .map((i) => [`${subject} / ${i.name}`, ...METRICS.map((m) => fmt(med[subject][m.key] / med[i.name][m.key], 2))]);
let report = `Medians of ${ROUNDS} round(s); one daemon, interface up in its own namespace; ${PEERS} peers × ${ALLOWED_PER_PEER} allowed IPs via wg setconf; ` +
  `RSS read ${SETTLE_MS / 1000} s after each step.\n\n` + table(header, rows);
if (ratioRows.length) report += `\n\nRatios (${subject} / baseline; below 1 is better):\n\n` + table(["ratio", ...header.slice(1)], ratioRows);
out("\n" + report);
for (const l of [...notes, ...failures]) out(`note: ${l}`);
if (opt.json) {
  for (const i of measured) console.log(JSON.stringify({ bench: "memory", kind: "median", peers: PEERS, impl: i.name, version: versions[i.name], ...med[i.name] }));
  for (const i of measured.filter((i) => i.name !== subject && med[subject]))
    console.log(JSON.stringify({ bench: "memory", kind: "ratio", peers: PEERS, subject, baseline: i.name,
      ...Object.fromEntries(METRICS.map((m) => [m.key, med[subject][m.key] / med[i.name][m.key]])) }));
}
if (opt.append) {
  const facts = await machineFacts();
  const body = [
    `### ${timestamp()} — ${PEERS} peers${med.ours ? "" : " — baselines only (ours pending)"}`,
    "",
    `Machine: ${facts.cpu}; kernel ${facts.kernel}; Bun ${facts.bun}.`,
    `Implementations: ${measured.map((i) => `${i.name} = ${versions[i.name]}`).join("; ")}.`,
    `1-minute load average ${loadBefore} before, ${loadAfter} after (2 CPUs shared with other work: figures are noisy).`,
    `Command: \`bun run bench/memory.ts --impl ${measured.map((i) => i.name).join(",")} --repeat ${ROUNDS} --peers ${PEERS}\``,
    "",
    report,
    ...[...notes, ...failures].map((l) => `\nNote: ${l}`),
  ].join("\n");
  progress(`appended to ${appendResultsSection("Memory", body)}`);
}
if (failures.length && samples.length === 0) process.exitCode = 1;
