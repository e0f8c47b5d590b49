#!/usr/bin/env bun
// Memory benchmark, per implementation, alternated round by round:
//  1. one idle daemon (interface up in a namespace of its own, a private key, no peers);
//  2. the same daemon with many peers (default 1,000 then 20,000, 2 allowed IPs each, loaded with `wg setconf`);
//  3. after `wg setconf` removed them all again (does it return to idle?);
//  4. a tunnel pair (lib/pair.ts): idle after the handshake, right after a TCP burst through it (iperf3), and some
//     time later (does the burst's memory return?).
// For ours it also splits the idle figure into the runtime's floor (a bare Bun process measured in the same run), the
// daemon's modules, the native library, the preallocated buffers and the data path's warm-up (lib/memprobe.ts), and the
// rest (TUN, sockets, poll threads, configuration socket). Writes an SVG chart of the run (lib/svg.ts) beside the text.
//
//   bun run bench/memory.ts [--impl ours,wggo-latest,boringtun] [--repeat N] [--peers 1000,20000] [--burst S]
//                           [--after S] [--settle S] [--svg PATH] [--json] [--append]   (as root)
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  appendResultsSection, cleanup, loadAverage, fmt, hex, keyPair, machineFacts, median, memKiB, requireRoot, run, sleep, table, timestamp,
  waitFor, which,
} from "./lib/harness.ts";
import { createInterface, parseImpls, runnableImpls, type Implementation } from "./lib/implementations.ts";
import { addNamespace, freeUdpPort, moveIntoNamespace, setupPair, wgConfig, WG_ENV } from "./lib/pair.ts";
import { writeCharts, type Chart } from "./lib/svg.ts";

const { values: opt } = parseArgs({
  options: {
    impl: { type: "string" },
    repeat: { type: "string", default: "1" },
    peers: { type: "string", default: "1000,20000" },
    burst: { type: "string", default: "10" },
    after: { type: "string", default: "30" },
    settle: { type: "string", default: "7" }, // longer than ours' quiet time before it trims (src/device/daemon.ts): the steady state
    subject: { type: "string" },
    svg: { type: "string" },
    json: { type: "boolean", default: false },
    append: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (opt.help) {
  console.log("usage: bun run bench/memory.ts [--impl a,b,…] [--repeat N] [--peers N,M,…] [--burst SECONDS (0: no burst)] [--after SECONDS] " +
    "[--settle SECONDS] [--subject IMPL] [--svg PATH] [--json] [--append]");
  process.exit(0);
}
const int = (name: string, v: string | undefined, min: number, max: number) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name}: expected an integer ${min}–${max}, got "${v}"`);
  return n;
};
const ROUNDS = int("repeat", opt.repeat, 1, 50);
const LEVELS = opt.peers!.split(",").map((s) => int("peers", s.trim(), 1, 65535));
const BURST_S = int("burst", opt.burst, 0, 120);
const AFTER_S = int("after", opt.after, 0, 600);
const SETTLE_MS = int("settle", opt.settle, 0, 60) * 1000;
const ALLOWED_PER_PEER = 2;
const MAX_PEERS = Math.max(...LEVELS);
const out = (s: string) => (opt.json ? console.error(s) : console.log(s));
const progress = (s: string) => console.error(s);

requireRoot("bench/memory.ts");
for (const tool of ["ip", "wg", ...(BURST_S > 0 ? ["iperf3", "ss"] : [])])
  if (!which(tool)) throw new Error(`bench/memory.ts: required tool "${tool}" not on PATH`);

// Peer i owns one IPv4 /24 and one IPv6 /64 of its own; no endpoints, so an idle daemon sends nothing.
function allowedIps(i: number): string[] {
  return [`10.${(i >> 8) & 255}.${i & 255}.0/24`, `fd00:${i.toString(16)}::/64`];
}

const dir = mkdtempSync(join(tmpdir(), "bnm-"));
cleanup.add(`temporary directory ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
const me = keyPair();
progress(`generating ${MAX_PEERS} peer keys…`);
const peers = Array.from({ length: MAX_PEERS }, (_, i) => ({ pub: keyPair().pub, allowed: allowedIps(i) }));

type Sample = Record<string, number> & { round: number };
const rssKey = (n: number) => `rss${n}`;
const perPeerKey = (n: number) => `perPeer${n}`;

async function setconf(ifname: string, port: number, list: typeof peers, tag: string): Promise<number> {
  const file = join(dir, `${ifname}-${tag}.conf`);
  writeFileSync(file, wgConfig(me.priv, port, list), { mode: 0o600 });
  const t0 = performance.now();
  await run(["wg", "setconf", ifname, file], { timeoutMs: 300_000, env: WG_ENV });
  rmSync(file, { force: true });
  return performance.now() - t0;
}

// Phase 1-3: one daemon, its peer set grown level by level, then emptied.
async function peerPhase(impl: Implementation, s: Sample): Promise<void> {
  const tag = hex(3);
  const scope = cleanup.child(`${impl.name} memory bnm${tag}`);
  try {
    const ns = `bnmns${tag}`;
    const ifname = `bnm${tag}`;
    await addNamespace(ns, scope);
    const { daemon } = await createInterface(impl, ifname, scope, dir);
    if (!daemon) throw new Error(`${impl.name}: has no daemon process to measure`);
    const port = await freeUdpPort();
    await setconf(ifname, port, [], "0");
    await moveIntoNamespace(impl, ifname, ns, 1420);
    await sleep(SETTLE_MS);
    s.idle = memKiB(daemon.pid).rss;
    for (const n of LEVELS) {
      s[`setconfMs${n}`] = await setconf(ifname, port, peers.slice(0, n), String(n));
      // Check the daemon holds what we gave it, so the figure is the cost of real peers.
      const dump = (await run(["wg", "show", ifname, "allowed-ips"], { timeoutMs: 60_000, env: WG_ENV })).stdout;
      const lines = dump.trim().split("\n").filter(Boolean);
      const ranges = lines.reduce((a, l) => a + l.split(/\s+/).length - 1, 0);
      if (lines.length !== n || ranges !== n * ALLOWED_PER_PEER)
        throw new Error(`${impl.name}: expected ${n} peers with ${n * ALLOWED_PER_PEER} allowed IPs after setconf, got ${lines.length} peers with ${ranges}`);
      await sleep(SETTLE_MS);
      s[rssKey(n)] = memKiB(daemon.pid).rss;
      s[perPeerKey(n)] = ((s[rssKey(n)] - s.idle) * 1024) / n;
    }
    s.peak = memKiB(daemon.pid).hwm;
    await setconf(ifname, port, [], "empty");
    await sleep(SETTLE_MS);
    s.removed = memKiB(daemon.pid).rss;
  } finally {
    scope.close();
  }
}

const IPERF_PORT = 5201; // inside our own namespace: nothing else listens there

// Phase 4: a tunnel pair, a TCP burst through it; the mean of the two daemons' RSS at each point.
async function burstPhase(impl: Implementation, s: Sample): Promise<void> {
  const scope = cleanup.child(`${impl.name} burst pair`);
  try {
    const p = await setupPair(impl, 1420, scope);
    const pids = [p.a.daemon, p.b.daemon].filter((d) => d !== null).map((d) => d!.pid);
    const rss = () => pids.reduce((a, pid) => a + memKiB(pid).rss, 0) / pids.length;
    await sleep(SETTLE_MS);
    s.pairIdle = rss();
    const server = Bun.spawn(["ip", "netns", "exec", p.b.ns, "iperf3", "-s", "-1", "-B", p.b.addr, "-p", String(IPERF_PORT)],
      { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    scope.add(`iperf3 server in ${p.b.ns}`, () => server.kill("SIGKILL"));
    await waitFor(`iperf3 server in ${p.b.ns}`, async () =>
      (await run(["ip", "netns", "exec", p.b.ns, "ss", "-Hltn", `sport = :${IPERF_PORT}`], { timeoutMs: 3000 })).stdout.trim() !== "", 5000);
    const r = await run(["ip", "netns", "exec", p.a.ns, "iperf3", "-c", p.b.addr, "-p", String(IPERF_PORT), "-t", String(BURST_S), "-J",
      "--connect-timeout", "3000"], { timeoutMs: (BURST_S + 30) * 1000, check: false });
    try {
      s.burstGbps = JSON.parse(r.stdout).end.sum_received.bits_per_second / 1e9;
    } catch {
      throw new Error(`${impl.name}: iperf3 burst failed (exit ${r.code}): ${(r.stderr || r.stdout).slice(0, 300)}`);
    }
    s.burst = rss();
    s.burstPeak = pids.reduce((a, pid) => a + memKiB(pid).hwm, 0) / pids.length;
    await sleep(AFTER_S * 1000);
    s.later = rss();
  } finally {
    scope.close();
  }
}

// Ours only: the idle figure split by start-up stage, each stage a process of its own (lib/memprobe.ts).
const PROBES = ["floor", "modules", "native", "buffers", "warmup"] as const;
async function probe(stage: string, trimmed: boolean): Promise<{ rss: number; bufferBytes: number }> {
  const p = Bun.spawn([process.execPath, "run", join(import.meta.dir, "lib", "memprobe.ts"), stage, ...(trimmed ? ["trim"] : [])],
    { stdout: "pipe", stderr: "pipe" });
  const stop = cleanup.add(`memprobe ${stage}`, () => p.kill("SIGKILL"));
  try {
    const reader = p.stdout.getReader();
    const first = await Promise.race([reader.read(), sleep(20_000).then(() => null)]);
    if (!first || first.done) throw new Error(`memprobe ${stage}: no ready line within 20 s`);
    const info = JSON.parse(new TextDecoder().decode(first.value).split("\n")[0]) as { bufferBytes: number };
    await sleep(SETTLE_MS);
    return { rss: memKiB(p.pid).rss, bufferBytes: info.bufferBytes };
  } finally {
    stop();
  }
}

const { runnable, notes, versions } = await runnableImpls(parseImpls(opt.impl).filter((i) => i.command), "bench/memory.ts", progress); // the kernel module has no process to measure

const loadBefore = loadAverage();
const samples: Record<string, Sample[]> = {};
const probes: Record<string, number[]> = {};
let bufferBytes = 0;
const failures: string[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  if (runnable.some((i) => i.name.startsWith("ours"))) {
    for (const st of [...PROBES, "bare"]) {
      try {
        // Every stage as an idle daemon is after its quiet time (trimmed), and the bare runtime as it starts.
        const r = await probe(st === "bare" ? "floor" : st, st !== "bare");
        (probes[st] ??= []).push(r.rss);
        bufferBytes = r.bufferBytes || bufferBytes;
      } catch (e) {
        failures.push(`round ${round}: ${(e as Error).message}`);
      }
    }
    progress(`round ${round}: stages ${[...PROBES, "bare"].map((st) => `${st} ${fmt((probes[st]?.at(-1) ?? NaN) / 1024, 1)}`).join(", ")} MiB`);
  }
  for (const impl of runnable.map((_, i) => runnable[(i + round - 1) % runnable.length])) {
    progress(`round ${round}/${ROUNDS}: ${impl.name}…`);
    const s: Sample = { round };
    try {
      await peerPhase(impl, s);
      progress(`  idle ${fmt(s.idle! / 1024, 1)} MiB; ${LEVELS.map((n) => `${n} peers ${fmt(s[rssKey(n)] / 1024, 1)} MiB (${fmt(s[perPeerKey(n)], 0)} B/peer)`).join("; ")}; ` +
        `all removed ${fmt(s.removed! / 1024, 1)} MiB`);
      if (BURST_S > 0) {
        await burstPhase(impl, s);
        progress(`  pair idle ${fmt(s.pairIdle! / 1024, 1)} MiB; after ${BURST_S} s TCP (${fmt(s.burstGbps, 2)} Gbit/s) ${fmt(s.burst! / 1024, 1)} MiB; ` +
          `${AFTER_S} s later ${fmt(s.later! / 1024, 1)} MiB`);
      }
      (samples[impl.name] ??= []).push(s);
      if (opt.json) console.log(JSON.stringify({ bench: "memory", kind: "sample", impl: impl.name, ...s }));
    } catch (e) {
      failures.push(`${impl.name} round ${round}: ${(e as Error).message}`);
      progress(`  FAILED: ${failures.at(-1)}`);
    }
  }
}
cleanup.close();
const loadAfter = loadAverage();

type Metric = { key: string; label: string; scale: number; digits: number };
const MiB = 1 / 1024;
const METRICS: Metric[] = [
  { key: "idle", label: "idle", scale: MiB, digits: 1 },
  ...LEVELS.map((n) => ({ key: rssKey(n), label: `${n} peers`, scale: MiB, digits: 1 })),
  { key: "removed", label: "all removed", scale: MiB, digits: 1 },
  ...(BURST_S > 0 ? [
    { key: "pairIdle", label: "pair idle", scale: MiB, digits: 1 },
    { key: "burst", label: `after ${BURST_S} s TCP`, scale: MiB, digits: 1 },
    { key: "later", label: `${AFTER_S} s later`, scale: MiB, digits: 1 },
  ] : []),
];
const PER_PEER: Metric[] = LEVELS.map((n) => ({ key: perPeerKey(n), label: `B/peer at ${n}`, scale: 1, digits: 0 }));
const OTHER: Metric[] = [
  { key: "peak", label: "peak RSS (MiB)", scale: MiB, digits: 1 },
  ...LEVELS.map((n) => ({ key: `setconfMs${n}`, label: `setconf ${n} (ms)`, scale: 1, digits: 0 })),
  ...(BURST_S > 0 ? [{ key: "burstGbps", label: "burst Gbit/s", scale: 1, digits: 2 }] : []),
];
const measured = runnable.filter((i) => samples[i.name]?.length);
const med: Record<string, Record<string, number>> = {};
for (const i of measured) {
  med[i.name] = {};
  for (const m of [...METRICS, ...PER_PEER, ...OTHER]) med[i.name][m.key] = median(samples[i.name].map((s) => s[m.key]).filter((v) => v !== undefined));
}
const probeMed = Object.fromEntries([...PROBES, "bare"].map((st) => [st, probes[st]?.length ? median(probes[st]) : NaN]));
const subject = opt.subject ?? (med.ours ? "ours" : measured[0]?.name);
const mk = (ms: Metric[]) => measured.map((i) => [i.name, ...ms.map((m) => fmt(med[i.name][m.key] * m.scale, m.digits))]);
let report = `Medians of ${ROUNDS} round(s). RSS in MiB: one daemon, interface up in its own namespace, a private key; then ` +
  `${LEVELS.join(" and ")} peers × ${ALLOWED_PER_PEER} allowed IPs via wg setconf; then setconf with no peers; RSS read ${SETTLE_MS / 1000} s after each step.` +
  (BURST_S > 0 ? ` Pair: the mean of a tunnel pair's two daemons, idle after the handshake, right after ${BURST_S} s of iperf3 TCP through it, and ${AFTER_S} s later.` : "") +
  "\n\n" + table(["implementation", ...METRICS.map((m) => m.label)], mk(METRICS)) +
  "\n\n" + table(["implementation", ...PER_PEER.map((m) => m.label), ...OTHER.map((m) => m.label)], mk([...PER_PEER, ...OTHER]));
const ratioRows = measured
  .filter((i) => i.name !== subject && med[subject!])
  .map((i) => [`${subject} / ${i.name}`, ...[...METRICS, ...PER_PEER].map((m) => fmt(med[subject!][m.key] / med[i.name][m.key], 2))]);
if (ratioRows.length) report += `\n\nRatios (${subject} / baseline; below 1 is better):\n\n` + table(["ratio", ...[...METRICS, ...PER_PEER].map((m) => m.label)], ratioRows);
if (med.ours && Number.isFinite(probeMed.floor)) {
  const idle = med.ours.idle!;
  const steps: [string, number][] = [
    ["runtime floor (a Bun process that only waits, trimmed as an idle daemon is)", probeMed.floor!],
    ["+ the daemon's modules loaded", probeMed.modules! - probeMed.floor!],
    ["+ native library and crypto set up", probeMed.native! - probeMed.modules!],
    [`+ Device and its packet buffers (${fmt(bufferBytes / 1048576, 2)} MiB allocated, untouched)`, probeMed.buffers! - probeMed.native!],
    ["+ the data path's warm-up at start (src/device/warmup.ts)", probeMed.warmup! - probeMed.buffers!],
    ["+ the rest: TUN, UDP socket, poll threads, configuration socket, a key", idle - probeMed.warmup!],
  ];
  report += `\n\nWhere ours' idle RSS goes (each stage a process of its own, same run, each trimmed as the daemon trims itself after 5 s ` +
    `of quiet, src/device/trim.ts):\n\n` +
    table(["stage", "MiB"], [...steps.map(([k, v]) => [k, fmt(v / 1024, 1)]), ["= idle daemon", fmt(idle / 1024, 1)]]) +
    `\n\nA bare Bun process that only waits (not trimmed): ${fmt(probeMed.bare! / 1024, 1)} MiB; idle / that floor: ${fmt(idle / probeMed.bare!, 2)}; all removed / idle: ${fmt(med.ours.removed! / idle, 2)}` +
    (BURST_S > 0 ? `; ${AFTER_S} s after the burst / pair idle: ${fmt(med.ours.later! / med.ours.pairIdle!, 2)}` : "") + ".";
}
out("\n" + report);
for (const l of [...notes, ...failures]) out(`note: ${l}`);

const stampFile = new Date().toISOString().slice(0, 16).replace(/[-:]/g, "").replace("T", "-");
const svgPath = opt.svg ?? (opt.append ? join(import.meta.dir, "charts", `memory-${stampFile}.svg`) : null);
if (svgPath && measured.length) {
  const series = measured.map((i) => ({ name: i.name, values: METRICS.map((m) => med[i.name][m.key] * MiB) }));
  if (Number.isFinite(probeMed.bare)) series.push({ name: "bare Bun", values: METRICS.map((m) => (m.key === "idle" ? probeMed.bare! * MiB : null)) as number[] });
  const charts: Chart[] = [
    { title: "Resident memory (RSS) per daemon", unit: "MiB", groups: METRICS.map((m) => m.label), series, note: `medians of ${ROUNDS} round(s), ${timestamp()}` },
    { title: "Memory per configured peer", unit: "bytes", groups: PER_PEER.map((m) => m.label),
      series: measured.map((i) => ({ name: i.name, values: PER_PEER.map((m) => med[i.name][m.key]) })) },
  ];
  progress(`chart: ${writeCharts(svgPath, charts)}`);
}
if (opt.json) {
  for (const i of measured) console.log(JSON.stringify({ bench: "memory", kind: "median", impl: i.name, version: versions[i.name], ...med[i.name] }));
  if (med.ours) console.log(JSON.stringify({ bench: "memory", kind: "stages", bufferBytes, ...probeMed }));
}
if (opt.append) {
  const facts = await machineFacts();
  const body = [
    `### ${timestamp()} — ${LEVELS.join(" and ")} peers${BURST_S > 0 ? `, ${BURST_S} s TCP burst` : ""}`,
    "",
    `Machine: ${facts.cpu}; kernel ${facts.kernel}; Bun ${facts.bun}.`,
    `Implementations: ${measured.map((i) => `${i.name} = ${versions[i.name]}`).join("; ")}.`,
    `1-minute load average ${loadBefore} before, ${loadAfter} after (2 CPUs shared with other work: figures are noisy).`,
    `Command: \`bun run bench/memory.ts --impl ${measured.map((i) => i.name).join(",")} --repeat ${ROUNDS} --peers ${LEVELS.join(",")} --burst ${BURST_S} --after ${AFTER_S}\``,
    ...(svgPath ? ["", `Chart: [${svgPath.split("/bench/")[1] ?? svgPath}](${(svgPath.split("/bench/")[1] ?? svgPath)})`] : []),
    "",
    report,
    ...[...notes, ...failures].map((l) => `\nNote: ${l}`),
  ].join("\n");
  progress(`appended to ${appendResultsSection("Memory", body)}`);
}
if (failures.length && measured.length === 0) process.exitCode = 1;
