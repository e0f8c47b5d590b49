#!/usr/bin/env bun
// Tunnel benchmark: the same two-namespace topology (lib/pair.ts) for every implementation, measured with iperf3
// and ping, implementations alternated round by round so that the noise of a shared machine falls on all of them.
//
//   bun run bench/tunnel.ts [--impl ours,wggo-debian,wggo-latest,boringtun] [--threads 1,2,4] [--repeat N] [--seconds S]
//                           [--mtu M] [--pings N] [--warmup N] [--udp-rate 0|800M|…] [--latency N] [--interval MS]
//                           [--latency-rate 200M|0]
//                           [--svg PATH] [--json] [--append]   (as root)
// --threads 1,2,4 (issue #14) adds our daemon once per data-plane thread count, as implementations ours-t1, ours-t2,
// ours-t4 started with BUNWG_THREADS=N (the JavaScript thread plus N−1 bunwg-dp* workers), alternated with the
// others like any implementation; without --impl the others are just wggo-latest, the same-run baseline.
// Every run reads each daemon's threads (/proc/PID/task/*/stat) before and after both TCP transfers and reports CPU
// seconds per GB per thread role, sender and receiver, the busiest thread and the ceiling it implies for one daemon
// (1 ÷ its s/GB), compared with ours-t1's main thread when it ran (lib/threads.ts).
// --latency N adds the latency runs: N pings at --interval ms, cold (right after the first handshake, on a fresh
// pair) and warm (after the flood warm-up), each idle and beside a concurrent single-stream TCP transfer; p50, p99
// and p99.9 per run. Beside an unpaced stream each implementation queues as much as its own stream pushes (a faster
// tunnel fills the receiving socket with more), so --latency-rate R (default 200M, 0 = none) adds a "warm + TCP at R"
// run: the stream paced to R with iperf3 -b, the same load through every implementation; the rate each stream reached
// is reported beside it. Each implementation's last run, "warm one-CPU idle", pins both daemons' threads and the ping
// to CPU 0: on a VM every wake-up of a task on another, idle vCPU costs tens of microseconds, and a round trip crosses
// CPUs up to four times, so this run shows each implementation's round trip without that cost (bench/RESULTS.md,
// "Latency tail", fourteenth round). After the rounds, "warm interleaved idle" sets up one warm pair per
// implementation, all at once, and pings them in turns of a few hundred pings: each implementation's percentiles then
// come from the same minutes of the host, not from minutes of its own. --latency-modes idle (or tcp) runs only the idle
// (or only the beside-a-stream) ones. The run's figures are also drawn as an SVG chart (lib/svg.ts; with --append,
// bench/charts/).
import { parseArgs } from "node:util";
import {
  appendResultsSection, cleanup, loadAverage, fmt, machineFacts, median, memKiB, percentile, requireRoot, run, sleep,
  table, timestamp, waitFor, which,
} from "./lib/harness.ts";
import { MAX_THREADS, parseImpls, runnableImpls, type Implementation } from "./lib/implementations.ts";
import { join } from "node:path";
import { setupPair, type Pair } from "./lib/pair.ts";
import { writeCharts, type Chart } from "./lib/svg.ts";
import {
  cpuBetween, pairBusiest, perGB, readCpu, summarise, threadReport, TRANSFERS, type CpuReading, type PairCpu, type ThreadImpl,
} from "./lib/threads.ts";

const { values: opt } = parseArgs({
  options: {
    impl: { type: "string" },
    threads: { type: "string" },
    repeat: { type: "string", default: "2" },
    seconds: { type: "string", default: "5" },
    mtu: { type: "string", default: "1420" },
    pings: { type: "string", default: "200" },
    warmup: { type: "string", default: "2000" },
    "udp-rate": { type: "string", default: "0" },
    latency: { type: "string", default: "0" },
    interval: { type: "string", default: "5" },
    "latency-rate": { type: "string", default: "200M" },
    "latency-modes": { type: "string", default: "all" },
    svg: { type: "string" },
    subject: { type: "string" },
    json: { type: "boolean", default: false },
    append: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (opt.help) {
  console.log("usage: bun run bench/tunnel.ts [--impl a,b,…] [--threads N,M,…] [--repeat N] [--seconds S] [--mtu M] [--pings N] [--warmup N]\n" +
    "                               [--udp-rate R] [--latency N] [--interval MS] [--latency-rate R|0] [--subject IMPL] [--svg PATH]\n" +
    "                               [--latency-modes idle|tcp|all] [--json] [--append]\n" +
    "implementations: ours, wggo-debian, wggo-latest, boringtun (default) and kernel (opt-in ceiling); variants of ours:\n" +
    "  ours-no-pump, ours-no-gso, ours-no-gro, ours-no-counters, ours-no-offload, ours-no-trim, ours-plain, ours-gc-timer,\n" +
    "  ours-ftl, ours-before\n" +
    "  (BUNWG_BENCH_BEFORE=DIR), ours-tN (BUNWG_THREADS=N)\n" +
    "--threads 1,2,4  ours once per data-plane thread count (ours-t1, ours-t2, ours-t4) beside --impl (default with\n" +
    "                 --threads: wggo-latest); the per-thread CPU table compares each busiest thread with ours-t1's main");
  process.exit(0);
}
const positive = (name: string, v: string | undefined, min: number, max: number) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name}: expected an integer ${min}–${max}, got "${v}"`);
  return n;
};
const ROUNDS = positive("repeat", opt.repeat, 1, 50);
const SECONDS = positive("seconds", opt.seconds, 1, 120);
const MTU = positive("mtu", opt.mtu, 1280, 65535);
const PINGS = positive("pings", opt.pings, 10, 10000);
// Flood pings before the latency pings, for every implementation alike: a JIT-compiled daemon (ours) is otherwise
// measured while still warming up. 0 measures cold.
const WARMUP = opt.warmup === "0" ? 0 : positive("warmup", opt.warmup, 1, 1_000_000);
const LATENCY_PINGS = opt.latency === "0" ? 0 : positive("latency", opt.latency, 100, 100_000);
const INTERVAL_MS = positive("interval", opt.interval, 2, 1000); // ping -i below 2 ms is a flood, not a latency probe
// --threads: a list of data-plane thread counts, each run as implementation ours-tN.
const THREADS = opt.threads === undefined ? [] : opt.threads.split(",").map((s) => s.trim()).filter(Boolean).map((v) => positive("threads", v, 1, MAX_THREADS));
if (opt.threads !== undefined && THREADS.length === 0) throw new Error(`--threads: expected a list of thread counts like 1,2,4, got "${opt.threads}"`);
if (new Set(THREADS).size !== THREADS.length) throw new Error(`--threads: each thread count once, got "${opt.threads}"`);
const iperfRate = (name: string, v: string, example: string) => {
  if (!/^\d+(\.\d+)?[KMG]?$/.test(v)) throw new Error(`--${name}: expected an iperf3 rate like ${example}, got "${v}"`);
  return v;
};
const UDP_RATE = iperfRate("udp-rate", opt["udp-rate"]!, "0, 800M or 2G"); // iperf3 -b: 0 = as fast as the sender can
const LATENCY_RATE = iperfRate("latency-rate", opt["latency-rate"]!, "200M or 1G, or 0 for none"); // the paced latency run's; 0 = none
const PACED = Number.parseFloat(LATENCY_RATE) > 0;
const out = (s: string) => (opt.json ? console.error(s) : console.log(s));
const progress = (s: string) => console.error(s);

requireRoot("bench/tunnel.ts");
for (const tool of ["ip", "wg", "iperf3", "ping", "ss"])
  if (!which(tool)) throw new Error(`bench/tunnel.ts: required tool "${tool}" not on PATH`);

// --------------------------------------------------------------------------------------------------------------
// One round of measurements on a ready pair.

type Sample = {
  impl: string; round: number;
  tcp1Gbps: number; tcp1Retr: number; tcp4Gbps: number; udpGbps: number; udpLossPct: number; udpSentGbps: number;
  pingMedMs: number; pingP99Ms: number; pingP999Ms: number; pingLossPct: number;
  cpuSecPerGB: number; rssIdleMiB: number; rssPeakMiB: number;
  threads: { tcp1: PairCpu; tcp4: PairCpu }; // per-thread CPU s/GB of each daemon (lib/threads.ts)
};

const IPERF_PORT = 5201; // inside our own namespace: nothing else listens there

async function iperf(p: Pair, args: string[], seconds = SECONDS): Promise<any> {
  const server = Bun.spawn(["ip", "netns", "exec", p.b.ns, "iperf3", "-s", "-1", "-B", p.b.addr, "-p", String(IPERF_PORT)], {
    stdin: "ignore", stdout: "ignore", stderr: "ignore",
  });
  const stop = cleanup.add(`iperf3 server in ${p.b.ns}`, () => server.kill("SIGKILL"));
  try {
    await waitFor(`iperf3 server listening in ${p.b.ns}`, async () => {
      if (server.exitCode !== null) throw new Error(`iperf3 server in ${p.b.ns} exited with ${server.exitCode}`);
      const r = await run(["ip", "netns", "exec", p.b.ns, "ss", "-Hltn", `sport = :${IPERF_PORT}`], { timeoutMs: 3000 });
      return r.stdout.trim() !== "";
    }, 5000);
    const r = await run(
      ["ip", "netns", "exec", p.a.ns, "iperf3", "-c", p.b.addr, "-p", String(IPERF_PORT), "-t", String(seconds), "-J", "--connect-timeout", "3000", ...args],
      { timeoutMs: (seconds + 30) * 1000, check: false },
    );
    let j: any;
    try {
      j = JSON.parse(r.stdout);
    } catch {
      throw new Error(`iperf3 ${args.join(" ")}: output is not JSON (exit ${r.code}): ${(r.stderr || r.stdout).slice(0, 300)}`);
    }
    if (j.error) throw new Error(`iperf3 ${args.join(" ")}: ${j.error}`);
    await Promise.race([server.exited, sleep(5000)]);
    return j;
  } finally {
    stop();
  }
}

// The flood pings that make a pair warm (--warmup; none with 0).
async function warmUp(p: Pair): Promise<void> {
  if (WARMUP === 0) return;
  await run(["ip", "netns", "exec", p.a.ns, "ping", "-n", "-q", "-f", "-c", String(WARMUP), "-W", "1", "-w", "30", p.b.addr],
    { timeoutMs: 40_000, check: false });
}

async function ping(p: Pair): Promise<{ med: number; p99: number; p999: number; lossPct: number }> {
  await warmUp(p);
  const deadline = Math.ceil(PINGS * 0.01 + 5);
  const r = await run(
    ["ip", "netns", "exec", p.a.ns, "ping", "-n", "-c", String(PINGS), "-i", "0.01", "-W", "1", "-w", String(deadline), p.b.addr],
    { timeoutMs: (deadline + 5) * 1000, check: false },
  );
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (rtts.length === 0) throw new Error(`ping through the ${p.impl.name} tunnel: no replies (${r.stdout.trim().split("\n").pop()})`);
  return { med: median(rtts), p99: percentile(rtts, 99), p999: percentile(rtts, 99.9), lossPct: (100 * (PINGS - rtts.length)) / PINGS };
}

// n pings at INTERVAL_MS; the round-trip times (ms) of those answered. `cpu`: the ping runs on that CPU alone.
async function pingRun(p: Pair, n: number, cpu?: number): Promise<number[]> {
  const deadline = Math.ceil((n * INTERVAL_MS) / 1000 + 5);
  const r = await run(
    [...(cpu === undefined ? [] : ["taskset", "-c", String(cpu)]), "ip", "netns", "exec", p.a.ns, "ping", "-n", "-c", String(n), "-i", String(INTERVAL_MS / 1000), "-W", "1", "-w", String(deadline), p.b.addr],
    { timeoutMs: (deadline + 5) * 1000, check: false },
  );
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (rtts.length === 0) throw new Error(`ping through the ${p.impl.name} tunnel: no replies (${r.stdout.trim().split("\n").pop()})`);
  return rtts;
}

const PACED_MODE = `warm + TCP at ${LATENCY_RATE}`;
const ONE_CPU_MODE = "warm one-CPU idle";
const INTERLEAVED_MODE = "warm interleaved idle";
/** Pings per slice of the interleaved run: short enough that a slow spell of the host (seconds) falls on every
 *  implementation, long enough that each slice's pings are steady. */
const SLICE_PINGS = 250;
const ALL_LATENCY_MODES = ["cold idle", "cold + TCP", "warm idle", "warm + TCP", ...(PACED ? [PACED_MODE] : []), ONE_CPU_MODE, INTERLEAVED_MODE];
// --latency-modes idle|tcp|all: only the idle runs (cold and warm), only those beside a stream, or every one.
if (!["all", "idle", "tcp"].includes(opt["latency-modes"]!)) throw new Error(`--latency-modes: expected idle, tcp or all, got "${opt["latency-modes"]}"`);
const LATENCY_MODES = ALL_LATENCY_MODES.filter((m) => opt["latency-modes"] === "all" || (opt["latency-modes"] === "idle") === m.endsWith("idle"));
const wanted = (mode: string) => LATENCY_MODES.includes(mode);
type Latency = { impl: string; round: number; mode: string; p50: number; p99: number; p999: number; lossPct: number; tcpGbps?: number };
// One latency run's record: percentiles of the round-trip times answered, loss against the LATENCY_PINGS sent.
const latencyOf = (impl: string, round: number, mode: string, rtts: number[], tcpGbps?: number): Latency =>
  ({ impl, round, mode, p50: median(rtts), p99: percentile(rtts, 99), p999: percentile(rtts, 99.9),
    lossPct: (100 * (LATENCY_PINGS - rtts.length)) / LATENCY_PINGS, tcpGbps });

// Pings beside a single TCP stream that outlasts them (paced to `rate` when given); the stream's received rate.
async function pingBesideTcp(p: Pair, n: number, rate?: string): Promise<{ rtts: number[]; gbps: number }> {
  const seconds = Math.ceil((n * INTERVAL_MS) / 1000) + 3;
  const tcp = iperf(p, rate ? ["-b", rate] : [], seconds);
  await sleep(1000); // the stream is up and at full rate
  const [rtts, j] = await Promise.all([pingRun(p, n), tcp]);
  return { rtts, gbps: j.end.sum_received.bits_per_second / 1e9 };
}

// The four latency runs of one implementation: cold runs on fresh pairs, right after setupPair's first handshake.
async function latencyRuns(impl: Implementation, round: number): Promise<Latency[]> {
  const res: Latency[] = [];
  const add = (mode: string, rtts: number[], tcpGbps?: number) => res.push(latencyOf(impl.name, round, mode, rtts, tcpGbps));
  const beside = async (mode: string, p: Pair, rate?: string) => {
    if (!wanted(mode)) return;
    const r = await pingBesideTcp(p, LATENCY_PINGS, rate);
    add(mode, r.rtts, r.gbps);
  };
  let pair: Pair;
  if (wanted("cold idle")) {
    pair = await setupPair(impl, MTU, cleanup);
    try {
      add("cold idle", await pingRun(pair, LATENCY_PINGS));
    } finally {
      pair.scope.close();
    }
  }
  pair = await setupPair(impl, MTU, cleanup);
  try {
    await beside("cold + TCP", pair);
    await warmUp(pair);
    if (wanted("warm idle")) add("warm idle", await pingRun(pair, LATENCY_PINGS));
    await beside("warm + TCP", pair);
    if (PACED) await beside(PACED_MODE, pair, LATENCY_RATE);
    if (wanted(ONE_CPU_MODE)) {
      // Last: the daemons stay pinned until the pair is gone. `taskset -a` pins every thread they have; threads they
      // start later inherit the mask from the thread that starts them.
      for (const pid of daemons(pair)) await run(["taskset", "-a", "-p", "-c", "0", String(pid)], { timeoutMs: 5000 });
      add(ONE_CPU_MODE, await pingRun(pair, LATENCY_PINGS, 0));
    }
  } finally {
    pair.scope.close();
  }
  return res;
}

const daemons = (p: Pair) => [p.a.daemon, p.b.daemon].filter((d) => d !== null).map((d) => d!.pid);

// Side a runs the iperf3 client: its daemon encrypts the data (sender), b's decrypts it (receiver).
type Readings = { sender: CpuReading | null; receiver: CpuReading | null };
const readPair = (p: Pair): Readings => ({ sender: p.a.daemon && readCpu(p.a.daemon.pid), receiver: p.b.daemon && readCpu(p.b.daemon.pid) });
const pairCpu = (p: Pair, r0: Readings, r1: Readings, bytes: number): PairCpu => {
  const one = (a: CpuReading | null, b: CpuReading | null) => (a && b ? perGB(cpuBetween(a, b, p.impl.runtime === "bun"), bytes) : null);
  return { sender: one(r0.sender, r1.sender), receiver: one(r0.receiver, r1.receiver) };
};

async function measure(p: Pair, round: number): Promise<Sample> {
  const pids = daemons(p);
  await sleep(1000); // settle after the handshake before reading idle memory
  const idle = pids.map((pid) => memKiB(pid).rss);
  const pg = await ping(p);
  const r0 = readPair(p);
  const t1 = await iperf(p, []);
  const r1 = readPair(p);
  const t4 = await iperf(p, ["-P", "4"]);
  const r4 = readPair(p);
  // Datagrams that fill the inner MTU exactly (IPv4 20 + UDP 8 bytes of headers), so nothing is fragmented.
  const u = await iperf(p, ["-u", "-b", UDP_RATE, "-l", String(Math.min(MTU - 28, 65507))]);
  const peak = pids.map((pid) => memKiB(pid).hwm);
  const tcp1Bytes = t1.end.sum_received.bytes as number;
  const tcp1 = pairCpu(p, r0, r1, tcp1Bytes);
  return {
    impl: p.impl.name,
    round,
    tcp1Gbps: t1.end.sum_received.bits_per_second / 1e9,
    tcp1Retr: t1.end.sum_sent.retransmits ?? NaN,
    tcp4Gbps: t4.end.sum_received.bits_per_second / 1e9,
    udpGbps: u.end.sum_received.bits_per_second / 1e9,
    udpSentGbps: u.end.sum_sent.bits_per_second / 1e9,
    udpLossPct: u.end.sum_received.lost_percent,
    pingMedMs: pg.med,
    pingP99Ms: pg.p99,
    pingP999Ms: pg.p999,
    pingLossPct: pg.lossPct,
    cpuSecPerGB: pids.length ? (tcp1.sender?.process ?? 0) + (tcp1.receiver?.process ?? 0) : NaN,
    rssIdleMiB: pids.length ? idle.reduce((s, x) => s + x, 0) / idle.length / 1024 : NaN,
    rssPeakMiB: pids.length ? Math.max(...peak) / 1024 : NaN,
    threads: { tcp1, tcp4: pairCpu(p, r1, r4, t4.end.sum_received.bytes) },
  };
}

// The interleaved run: one warm pair per implementation, all up at once, pinged in turn SLICE_PINGS at a time
// (the order rotated each turn) until each has had LATENCY_PINGS. The other runs give each implementation its own
// minutes of a shared host, whose slow spells last seconds (bench/RESULTS.md, "Latency tail", fifteenth round);
// here every implementation is sampled across the same minutes. Percentiles of all its pings together.
async function interleavedRun(impls: Implementation[]): Promise<Latency[]> {
  const scope = cleanup.child("interleaved latency run");
  try {
    const pairs: Pair[] = [];
    for (const impl of impls) pairs.push(await setupPair(impl, MTU, scope));
    for (const pair of pairs) await warmUp(pair);
    const rtts: number[][] = pairs.map(() => []);
    for (let turn = 0, left = LATENCY_PINGS; left > 0; turn++, left -= SLICE_PINGS) {
      progress(`interleaved idle latency: turn ${turn + 1} of ${Math.ceil(LATENCY_PINGS / SLICE_PINGS)}…`);
      for (let j = 0; j < pairs.length; j++) {
        const i = (j + turn) % pairs.length;
        rtts[i].push(...(await pingRun(pairs[i], Math.min(SLICE_PINGS, left))));
      }
    }
    return pairs.map((p, i) => latencyOf(p.impl.name, 0, INTERLEAVED_MODE, rtts[i]));
  } finally {
    scope.close();
  }
}

// --------------------------------------------------------------------------------------------------------------

// With --threads, ours once per thread count first, then --impl (by default only the newest wireguard-go).
const implNames = [...THREADS.map((n) => `ours-t${n}`), ...(opt.impl ?? (THREADS.length ? "wggo-latest" : "")).split(",")]
  .map((s) => s.trim()).filter((s, i, all) => s && all.indexOf(s) === i);
const { runnable, notes, versions } = await runnableImpls(parseImpls(implNames.length ? implNames.join(",") : undefined), "bench/tunnel.ts", progress);

const loadBefore = loadAverage();
const samples: Sample[] = [];
const latencies: Latency[] = [];
const failures: string[] = [];

// Runs `runs` and keeps its records (printed as they come; `named`: each line names its implementation), or notes
// the failure as `what`.
async function collectLatencies(what: string, runs: () => Promise<Latency[]>, named: boolean): Promise<void> {
  try {
    const ls = await runs();
    latencies.push(...ls);
    for (const l of ls) {
      if (opt.json) console.log(JSON.stringify({ bench: "tunnel", kind: "latency", mtu: MTU, pings: LATENCY_PINGS, intervalMs: INTERVAL_MS, ...l }));
      progress(`  ${named ? `${l.impl} ` : ""}${l.mode}: ${fmt(l.p50, 3)}/${fmt(l.p99, 3)}/${fmt(l.p999, 3)} ms (p50/p99/p99.9), ${fmt(l.lossPct, 1)}% lost`);
    }
  } catch (e) {
    failures.push(`${what}: ${(e as Error).message}`);
    progress(`  FAILED: ${failures.at(-1)}`);
  }
}

for (let round = 1; round <= ROUNDS; round++) {
  // Rotate the order each round so no implementation always runs first (cold caches) or last.
  const order = runnable.map((_, i) => runnable[(i + round - 1) % runnable.length]);
  for (const impl of order) {
    progress(`round ${round}/${ROUNDS}: ${impl.name} (MTU ${MTU}, ${SECONDS} s per test)…`);
    let pair: Pair | null = null;
    try {
      pair = await setupPair(impl, MTU, cleanup);
      const s = await measure(pair, round);
      samples.push(s);
      if (opt.json) console.log(JSON.stringify({ bench: "tunnel", kind: "sample", mtu: MTU, seconds: SECONDS, ...s }));
      progress(`  tcp ${fmt(s.tcp1Gbps)} Gbit/s, tcp×4 ${fmt(s.tcp4Gbps)}, udp ${fmt(s.udpGbps)} (${fmt(s.udpLossPct, 1)}% lost), ` +
        `ping ${fmt(s.pingMedMs, 3)}/${fmt(s.pingP99Ms, 3)} ms, ${fmt(s.cpuSecPerGB)} CPU s/GB, RSS ${fmt(s.rssIdleMiB, 1)}→${fmt(s.rssPeakMiB, 1)} MiB`);
      const busy = TRANSFERS.map((t) => ({ t: t.label, b: pairBusiest(s.threads[t.key]) })).filter((x) => Number.isFinite(x.b.seconds));
      if (busy.length) progress(`  busiest thread: ${busy.map((x) => `${x.t} ${x.b.label} ${fmt(x.b.seconds, 3)} s/GB`).join(", ")}`);
    } catch (e) {
      const msg = `${impl.name} round ${round}: ${(e as Error).message}`;
      failures.push(msg);
      progress(`  FAILED: ${msg}`);
    } finally {
      pair?.scope.close();
    }
    if (LATENCY_PINGS > 0) await collectLatencies(`${impl.name} round ${round} latency runs`, () => latencyRuns(impl, round), false);
  }
}
if (LATENCY_PINGS > 0 && wanted(INTERLEAVED_MODE) && runnable.length > 0) {
  await collectLatencies("interleaved latency run", () => interleavedRun(runnable), true);
}
cleanup.close();
const loadAfter = loadAverage();

// --------------------------------------------------------------------------------------------------------------
// Summary: medians per implementation, then ratios subject/baseline for each metric.

const METRICS: { key: keyof Sample; label: string; digits: number }[] = [
  { key: "tcp1Gbps", label: "TCP Gbit/s", digits: 2 },
  { key: "tcp4Gbps", label: "TCP×4 Gbit/s", digits: 2 },
  { key: "udpGbps", label: "UDP rx Gbit/s", digits: 2 },
  { key: "udpLossPct", label: "UDP loss %", digits: 1 },
  { key: "pingMedMs", label: "ping med ms", digits: 3 },
  { key: "pingP99Ms", label: "ping p99 ms", digits: 3 },
  { key: "pingP999Ms", label: "ping p99.9 ms", digits: 3 },
  { key: "cpuSecPerGB", label: "CPU s/GB", digits: 2 },
  { key: "rssIdleMiB", label: "RSS idle MiB", digits: 1 },
  { key: "rssPeakMiB", label: "RSS peak MiB", digits: 1 },
];
const measured = runnable.filter((i) => samples.some((s) => s.impl === i.name));
const med: Record<string, Record<string, number>> = {};
for (const impl of measured) {
  med[impl.name] = {};
  for (const m of METRICS) med[impl.name][m.key] = median(samples.filter((s) => s.impl === impl.name).map((s) => s[m.key] as number));
}
// With --threads and no plain ours, the most threads is the subject: its ratios to ours-t1 and to the baseline.
const mostThreads = measured.filter((i) => i.threads).sort((x, y) => y.threads! - x.threads!)[0]?.name;
const subject = opt.subject ?? (med.ours ? "ours" : mostThreads ?? measured[0]?.name);
const rows = measured.map((i) => [i.name, ...METRICS.map((m) => fmt(med[i.name][m.key], m.digits))]);
const ratioRows = measured
  .filter((i) => i.name !== subject && med[subject])
  .map((i) => [`${subject} / ${i.name}`, ...METRICS.map((m) => fmt(med[subject][m.key] / med[i.name][m.key], 2))]);
const header = ["implementation", ...METRICS.map((m) => m.label)];
const ratioHeader = ["ratio", ...header.slice(1)];
const n = (name: string) => samples.filter((s) => s.impl === name).length;

let report = `Medians of ${ROUNDS} round(s), ${SECONDS} s per iperf3 test, ${PINGS} pings at 10 ms${WARMUP ? ` after ${WARMUP} flood pings` : " (cold)"}, inner MTU ${MTU}.\n\n` +
  table(header, rows);
if (ratioRows.length) report += `\n\nRatios (${subject} / baseline; above 1 is better for Gbit/s, below 1 is better for ms, %, CPU s/GB and MiB):\n\n` + table(ratioHeader, ratioRows);
const latMed: Record<string, Record<string, { p50: number; p99: number; p999: number; lossPct: number; tcpGbps?: number }>> = {};
const latImpls = runnable.filter((i) => latencies.some((l) => l.impl === i.name));
if (latencies.length) {
  for (const i of latImpls) {
    latMed[i.name] = {};
    for (const mode of LATENCY_MODES) {
      const ls = latencies.filter((l) => l.impl === i.name && l.mode === mode);
      const rates = ls.flatMap((l) => (l.tcpGbps === undefined ? [] : [l.tcpGbps]));
      if (ls.length) latMed[i.name][mode] = { p50: median(ls.map((l) => l.p50)), p99: median(ls.map((l) => l.p99)), p999: median(ls.map((l) => l.p999)), lossPct: median(ls.map((l) => l.lossPct)), tcpGbps: rates.length ? median(rates) : undefined };
    }
  }
  const cell = (v: { p50: number; p99: number; p999: number } | undefined) => (v ? `${fmt(v.p50, 3)} / ${fmt(v.p99, 3)} / ${fmt(v.p999, 3)}` : "–");
  report += `\n\nLatency: ${LATENCY_PINGS} pings at ${INTERVAL_MS} ms, p50 / p99 / p99.9 in ms (medians over rounds). Cold: a fresh pair, ` +
    `right after its first handshake; warm: after ${WARMUP} flood pings; + TCP: beside a single iperf3 TCP stream through the same tunnel` +
    (PACED ? `, unpaced (as fast as it goes: the load differs between implementations) or paced to ${LATENCY_RATE}bit/s (the same load for all)` : "") +
    (wanted(INTERLEAVED_MODE) ? `; interleaved: one warm pair per implementation, all up at once, pinged in turns of ${SLICE_PINGS} (the ` +
      `order rotated each turn), so that the host's slow spells fall on all alike; percentiles of all its pings` : "") + ".\n\n" +
    table(["implementation", ...LATENCY_MODES], latImpls.map((i) => [i.name, ...LATENCY_MODES.map((m) => cell(latMed[i.name][m]))]));
  const besideModes = LATENCY_MODES.filter((m) => m.includes("+ TCP"));
  if (besideModes.length) report += `\n\nThe TCP stream's received rate beside those pings, Gbit/s:\n\n` +
    table(["implementation", ...besideModes], latImpls.map((i) => [i.name, ...besideModes.map((m) => fmt(latMed[i.name][m]?.tcpGbps ?? NaN, 2))]));
  const others = latImpls.filter((i) => i.name !== subject && !i.name.startsWith("ours")); // other implementations, not our variants
  if (latMed[subject] && others.length) {
    const best = (mode: string, k: "p50" | "p99" | "p999") => Math.min(...others.map((i) => latMed[i.name][mode]?.[k] ?? Infinity));
    report += `\n\n${subject} / the best of the others (below 1 is better), p50 / p99 / p99.9:\n\n` +
      table(["", ...LATENCY_MODES], [[`${subject} / best`, ...LATENCY_MODES.map((m) => latMed[subject][m]
        ? (["p50", "p99", "p999"] as const).map((k) => fmt(latMed[subject][m][k] / best(m, k), 2)).join(" / ") : "–")]]);
  }
}
// Per-thread CPU (lib/threads.ts): which thread is busiest, and the ceiling it implies.
const threadImpls: ThreadImpl[] = measured.map((i) => ({ name: i.name, roles: i.runtime === "bun", threads: i.threads }));
const threadSums = summarise(threadImpls, samples);
const threads = threadReport(threadImpls, threadSums);
if (threads.text) report += "\n\n" + threads.text;
notes.push(...threads.notes);
out("\n" + report);
for (const line of [...notes, ...failures]) out(`note: ${line}`);
if (opt.json) {
  for (const i of measured)
    console.log(JSON.stringify({ bench: "tunnel", kind: "median", mtu: MTU, seconds: SECONDS, impl: i.name, version: versions[i.name], rounds: n(i.name), ...med[i.name] }));
  for (const i of measured.filter((i) => i.name !== subject && med[subject]))
    console.log(JSON.stringify({
      bench: "tunnel", kind: "ratio", mtu: MTU, subject, baseline: i.name,
      ...Object.fromEntries(METRICS.map((m) => [m.key, med[subject][m.key] / med[i.name][m.key]])),
    }));
  for (const t of threadSums) console.log(JSON.stringify({ bench: "tunnel", kind: "threads", mtu: MTU, seconds: SECONDS, ...t }));
}

const stampFile = new Date().toISOString().slice(0, 16).replace(/[-:]/g, "").replace("T", "-");
const svgPath = opt.svg ?? (opt.append ? join(import.meta.dir, "charts", `tunnel-${stampFile}.svg`) : null);
if (svgPath && measured.length) {
  const charts: Chart[] = [{
    title: `Throughput through the tunnel (inner MTU ${MTU})`, unit: "Gbit/s", groups: ["TCP", "TCP ×4", "UDP received"],
    series: measured.map((i) => ({ name: i.name, values: [med[i.name].tcp1Gbps, med[i.name].tcp4Gbps, med[i.name].udpGbps] })),
    note: `medians of ${ROUNDS} round(s), ${SECONDS} s each, ${timestamp()}`,
  }, {
    title: `Ping round trip (${PINGS} pings at 10 ms${WARMUP ? `, after ${WARMUP} flood pings` : ""})`, unit: "ms", groups: ["p50", "p99", "p99.9"],
    series: measured.map((i) => ({ name: i.name, values: [med[i.name].pingMedMs, med[i.name].pingP99Ms, med[i.name].pingP999Ms] })),
  }];
  const sum = (impl: string, transfer: string) => threadSums.find((t) => t.impl === impl && t.transfer === transfer);
  const threadImplNames = measured.filter((i) => threadSums.some((t) => t.impl === i.name)).map((i) => i.name);
  if (threadImplNames.length) {
    const labels = TRANSFERS.map((t) => t.label);
    charts.push({
      title: "Busiest thread of a tunnel pair (lower scales further)", unit: "CPU s/GB", groups: labels,
      series: threadImplNames.map((name) => ({ name, values: labels.map((l) => sum(name, l)?.busiest.seconds ?? null) })),
      note: "the busiest thread's CPU seconds per GB received, from /proc/PID/task/*/stat",
    }, {
      title: "Implied single-daemon ceiling, enough cores given (1 ÷ busiest thread's s/GB)", unit: "Gbit/s", groups: labels,
      series: threadImplNames.map((name) => ({ name, values: labels.map((l) => (sum(name, l) ? sum(name, l)!.ceilingGBps * 8 : null)) })),
    });
    // Go's threads have no roles: its time is all "other" (lib/threads.ts).
    const roleGroups = ["main", "dp*", "other"] as const;
    const byRole = (c: NonNullable<ReturnType<typeof sum>>["sender"], r: (typeof roleGroups)[number]) =>
      !c ? null : r === "main" ? c.main : r === "dp*" ? c.workers : c.other + c.exited;
    charts.push({
      title: "CPU by thread role, single-stream TCP", unit: "CPU s/GB",
      groups: (["send", "recv"] as const).flatMap((side) => roleGroups.map((r) => `${side}: ${r}`)),
      series: threadImplNames.map((name) => {
        const t = sum(name, TRANSFERS[0].label);
        return { name, values: (["sender", "receiver"] as const).flatMap((side) => roleGroups.map((r) => byRole(t?.[side] ?? null, r))) };
      }),
      note: "send/recv: the encrypting/decrypting daemon; dp* = the bunwg-dp* workers; other includes exited threads; Go threads are not roles (all other)",
    });
  }
  for (const mode of LATENCY_MODES) {
    if (!latImpls.some((i) => latMed[i.name]?.[mode])) continue;
    charts.push({ title: `Latency, ${mode} (${LATENCY_PINGS} pings at ${INTERVAL_MS} ms)`, unit: "ms", groups: ["p50", "p99", "p99.9"],
      series: latImpls.map((i) => ({ name: i.name, values: latMed[i.name][mode] ? [latMed[i.name][mode].p50, latMed[i.name][mode].p99, latMed[i.name][mode].p999] : [null, null, null] })) });
  }
  progress(`chart: ${writeCharts(svgPath, charts)}`);
}

if (opt.append) {
  const facts = await machineFacts();
  const body = [
    `### ${timestamp()} — inner MTU ${MTU}${measured.some((i) => i.runtime === "bun") ? "" : " — baselines only (ours pending)"}`,
    "",
    `Machine: ${facts.cpu}; kernel ${facts.kernel}; Bun ${facts.bun}; ${facts.iperf3}.`,
    `Implementations: ${measured.map((i) => `${i.name} = ${versions[i.name]}`).join("; ")}.`,
    `Topology: two daemons with UDP sockets on 127.0.0.1 (root namespace), interfaces moved into two fresh namespaces, ` +
      `configured with wg(8). TCP: iperf3 single stream and -P 4; UDP: iperf3 -u -b ${UDP_RATE} with ${Math.min(MTU - 28, 65507)}-byte datagrams (received rate, loss); ` +
      `CPU s/GB: both daemons' utime+stime over the single-stream TCP run per GB received; per thread: /proc/PID/task/*/stat over each TCP run; RSS: per daemon, idle mean after setup, peak = max VmHWM.`,
    `1-minute load average ${loadBefore} before, ${loadAfter} after (2 CPUs shared with other work: figures are noisy).`,
    `Command: \`bun run bench/tunnel.ts --impl ${measured.map((i) => i.name).join(",")} --repeat ${ROUNDS} --seconds ${SECONDS}${MTU !== 1420 ? ` --mtu ${MTU}` : ""}${UDP_RATE !== "0" ? ` --udp-rate ${UDP_RATE}` : ""}${LATENCY_PINGS ? ` --latency ${LATENCY_PINGS} --interval ${INTERVAL_MS}${LATENCY_RATE !== "200M" ? ` --latency-rate ${LATENCY_RATE}` : ""}${opt["latency-modes"] !== "all" ? ` --latency-modes ${opt["latency-modes"]}` : ""}` : ""}\``,
    ...(svgPath ? ["", `Chart: [${svgPath.split("/bench/")[1] ?? svgPath}](${svgPath.split("/bench/")[1] ?? svgPath})`] : []),
    "",
    report,
    ...[...notes, ...failures].map((l) => `\nNote: ${l}`),
  ].join("\n");
  progress(`appended to ${appendResultsSection("Tunnel", body)}`);
}
if (failures.length && samples.length === 0) process.exitCode = 1;
