// Per-thread CPU of the daemons over one transfer (issue #14): which thread did the work, and the ceiling that
// implies. However many cores a daemon gets, its busiest thread cannot run more than one second per second, so
// 1 ÷ (that thread's CPU seconds per GB moved) bounds one daemon's throughput.
//
// Roles exist only where threads have fixed jobs. In bunwg the process's main thread (TID == PID) is the JavaScript
// thread, the data-plane workers are named `bunwg-dp0`, `bunwg-dp1`, … (--threads N / BUNWG_THREADS=N: the main
// thread plus N−1 workers), and everything else (JIT, GC, Zig poll threads) is "other". Go schedules goroutines on
// any of its OS threads, so wireguard-go's threads have no roles: all its time is "other" and its busiest OS thread
// is a measurement of that run's scheduling, not a fixed stage of its pipeline.
import { fmt, median, table } from "./harness.ts";
import { cpuSeconds, threadTimes, type ThreadTime } from "./proc.ts";

export type Role = "main" | "worker" | "other";
export const WORKER_COMM = /^bunwg-dp\d+$/;

export function role(pid: number, t: ThreadTime, roles: boolean): Role {
  if (!roles) return "other";
  if (t.tid === pid) return "main";
  return WORKER_COMM.test(t.comm) ? "worker" : "other";
}

// The process total read just before and just after its threads: a transfer's process time, from the earlier read
// before it to the later one after it, then includes every tick its threads showed, so the remainder credited to
// exited threads (below) is not made negative by a tick falling between the reads.
export type CpuReading = { pid: number; early: number; threads: ThreadTime[]; late: number };

export function readCpu(pid: number): CpuReading {
  const early = cpuSeconds(pid);
  const threads = threadTimes(pid);
  return { pid, early, threads, late: cpuSeconds(pid) };
}

// CPU seconds (or, after perGB, seconds per GB) of one daemon between two readings.
export type ThreadCpu = {
  process: number; // the whole process (utime + stime of /proc/PID/stat, as cpuSecPerGB)
  main: number;
  workers: number; // all bunwg-dp* threads together
  workerMax: number; // the busiest bunwg-dp* thread
  other: number;
  exited: number; // threads that exited during the transfer: in the process total, in no live thread
  workerCount: number; // bunwg-dp* threads alive at the end
  ran: number; // threads that used any CPU
  busiest: { label: string; seconds: number };
};

export function cpuBetween(before: CpuReading, after: CpuReading, roles: boolean): ThreadCpu {
  const prev = new Map(before.threads.map((t) => [t.tid, t.seconds]));
  const c: ThreadCpu = { process: after.late - before.early, main: 0, workers: 0, workerMax: 0, other: 0, exited: 0, workerCount: 0, ran: 0,
    busiest: { label: "–", seconds: 0 } };
  let live = 0;
  for (const t of after.threads) {
    const s = t.seconds - (prev.get(t.tid) ?? 0); // a thread born during the transfer spent all its time in it
    const r = role(after.pid, t, roles);
    live += s;
    if (r === "main") c.main += s;
    else if (r === "worker") (c.workers += s), (c.workerMax = Math.max(c.workerMax, s)), c.workerCount++;
    else c.other += s;
    if (s > 0) c.ran++;
    if (s > c.busiest.seconds) c.busiest = { label: roles ? (r === "main" ? "main" : t.comm) : "an OS thread", seconds: s };
  }
  // The kernel rounds each thread's utime/stime and the process's sum to ticks separately, so they can disagree by
  // about a tick per thread: a remainder below zero is that rounding, not time.
  c.exited = Math.max(0, c.process - live);
  return c;
}

const SECONDS_FIELDS = ["process", "main", "workers", "workerMax", "other", "exited"] as const;

export function perGB(c: ThreadCpu, bytes: number): ThreadCpu {
  const k = 1e9 / bytes;
  const out = { ...c, busiest: { ...c.busiest, seconds: c.busiest.seconds * k } };
  for (const f of SECONDS_FIELDS) out[f] = c[f] * k;
  return out;
}

// Both daemons of a pair over one transfer, in s/GB: the sender encrypts the data, the receiver decrypts it.
export type PairCpu = { sender: ThreadCpu | null; receiver: ThreadCpu | null };
export const SIDES = ["sender", "receiver"] as const;

// The busiest thread of the pair, and the busier of the two main threads.
export function pairBusiest(p: PairCpu): { label: string; seconds: number } {
  let b = { label: "–", seconds: NaN };
  for (const side of SIDES) {
    const c = p[side];
    if (c && !(c.busiest.seconds <= b.seconds)) b = { label: `${side}: ${c.busiest.label}`, seconds: c.busiest.seconds };
  }
  return b;
}
const pairMain = (p: PairCpu) => Math.max(...SIDES.map((s) => p[s]?.main ?? NaN).filter(Number.isFinite));

// ---------------------------------------------------------------------------------------------------------------
// Medians over rounds and the report.

export const TRANSFERS = [{ key: "tcp1", label: "TCP", gbps: "tcp1Gbps" }, { key: "tcp4", label: "TCP×4", gbps: "tcp4Gbps" }] as const;
export type ThreadSample = { impl: string; tcp1Gbps: number; tcp4Gbps: number; threads: { tcp1: PairCpu; tcp4: PairCpu } };
export type ThreadImpl = { name: string; roles: boolean; threads?: number };

const mostFrequent = (xs: string[]) => {
  const n = new Map<string, number>();
  for (const x of xs) n.set(x, (n.get(x) ?? 0) + 1);
  return [...n].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "–";
};

function medianCpu(cs: ThreadCpu[]): ThreadCpu | null {
  if (cs.length === 0) return null;
  const m = (f: (c: ThreadCpu) => number) => median(cs.map(f));
  return {
    process: m((c) => c.process), main: m((c) => c.main), workers: m((c) => c.workers), workerMax: m((c) => c.workerMax),
    other: m((c) => c.other), exited: m((c) => c.exited), workerCount: m((c) => c.workerCount), ran: m((c) => c.ran),
    busiest: { label: mostFrequent(cs.map((c) => c.busiest.label)), seconds: m((c) => c.busiest.seconds) },
  };
}

export type ThreadSummary = {
  impl: string; transfer: string; gbps: number;
  sender: ThreadCpu | null; receiver: ThreadCpu | null;
  busiest: { label: string; seconds: number }; // s/GB, median over rounds of the pair's busiest thread
  mainOfT1: number; // ours-t1's busier main thread in the same run, s/GB (NaN without ours-t1)
  ratio: number; // busiest ÷ mainOfT1: issue #14's target is ≤ 0.4
  ceilingGBps: number; // 1 ÷ busiest
};

export const BASELINE_T1 = "ours-t1";

export function summarise(impls: ThreadImpl[], samples: ThreadSample[]): ThreadSummary[] {
  const out: ThreadSummary[] = [];
  for (const tr of TRANSFERS) {
    const t1 = samples.filter((s) => s.impl === BASELINE_T1).map((s) => pairMain(s.threads[tr.key]));
    const mainOfT1 = median(t1);
    for (const impl of impls) {
      const ss = samples.filter((s) => s.impl === impl.name && SIDES.some((side) => s.threads[tr.key][side]));
      if (ss.length === 0) continue;
      const bs = ss.map((s) => pairBusiest(s.threads[tr.key]));
      const busiest = { label: mostFrequent(bs.map((b) => b.label)), seconds: median(bs.map((b) => b.seconds)) };
      out.push({
        impl: impl.name, transfer: tr.label, gbps: median(ss.map((s) => s[tr.gbps])),
        sender: medianCpu(ss.map((s) => s.threads[tr.key].sender).filter((c) => c !== null)),
        receiver: medianCpu(ss.map((s) => s.threads[tr.key].receiver).filter((c) => c !== null)),
        busiest, mainOfT1, ratio: busiest.seconds / mainOfT1, ceilingGBps: 1 / busiest.seconds,
      });
    }
  }
  return out;
}

// The two tables of the report, and notes where a daemon did not run the threads it was asked for.
export function threadReport(impls: ThreadImpl[], sums: ThreadSummary[]): { text: string; notes: string[] } {
  if (sums.length === 0) return { text: "", notes: [] };
  const byImpl = (name: string) => impls.find((i) => i.name === name)!;
  const dp = (s: ThreadSummary) => {
    if (!byImpl(s.impl).roles) return "–";
    const w = SIDES.map((side) => s[side]?.workerCount).filter((x) => x !== undefined);
    return w.length ? `1+${Math.max(...w)}` : "–";
  };
  const hasT1 = sums.some((s) => Number.isFinite(s.mainOfT1));
  const goals = targets(impls, sums);
  const scaling = table(
    ["implementation", "transfer", "Gbit/s", "dp threads", "sender s/GB", "receiver s/GB", "busiest thread", "busiest s/GB",
      ...(hasT1 ? [`÷ ${BASELINE_T1} main`] : []), "ceiling GB/s", "ceiling Gbit/s"],
    sums.map((s) => [s.impl, s.transfer, fmt(s.gbps), dp(s), fmt(s.sender?.process), fmt(s.receiver?.process), s.busiest.label,
      fmt(s.busiest.seconds, 3), ...(hasT1 ? [fmt(s.ratio)] : []), fmt(s.ceilingGBps), fmt(s.ceilingGBps * 8, 1)]),
  );
  const rows: string[][] = [];
  for (const s of sums) {
    const roles = byImpl(s.impl).roles;
    for (const side of SIDES) {
      const c = s[side];
      if (!c) continue;
      rows.push([s.impl, s.transfer, side, fmt(c.process, 3), roles ? fmt(c.main, 3) : "–",
        roles ? `${fmt(c.workers, 3)} (${c.workerCount})` : "–", roles && c.workerCount ? fmt(c.workerMax, 3) : "–",
        fmt(c.other, 3), fmt(c.exited, 3), String(c.ran), `${c.busiest.label} ${fmt(c.busiest.seconds, 3)}`]);
    }
  }
  const detail = table(["implementation", "transfer", "daemon", "process", "main", "bunwg-dp* (n)", "busiest dp", "other", "exited",
    "threads ran", "busiest thread"], rows);
  const text = `Per-thread CPU (issue #14), CPU seconds per GB received, from /proc/PID/task/*/stat (utime + stime) read ` +
    `before and after each TCP transfer, medians over rounds. Sender: the daemon that encrypts the iperf3 data; receiver: the one ` +
    `that decrypts it. "dp threads": the main (JavaScript) thread + the bunwg-dp* workers seen per daemon. Busiest thread: the ` +
    `pair's thread with the most CPU per GB; the ceiling is 1 ÷ its s/GB, the most one daemon could move with enough cores` +
    (hasT1 ? `; "÷ ${BASELINE_T1} main" compares it with the busier main thread of ${BASELINE_T1} in the same run (issue #14's target: ≤ 0.40)` : "") +
    "." + (impls.some((i) => !i.roles) ? ` Go runs goroutines on any of its OS threads, so Go threads are not roles: ` +
      `wireguard-go's time is all under "other" and its busiest OS thread reflects that run's scheduling, not a fixed stage ` +
      `(likewise any daemon not ours).` : "") + `\n\n` + scaling +
    `\n\nBy thread, s/GB per daemon: main = the process's first thread (JavaScript); bunwg-dp* = the data-plane workers ` +
    `(their sum, their count, the busiest one); other = every other live thread (JIT, GC, poll threads; all of a Go ` +
    `daemon's threads); exited = threads that ended during the transfer.\n\n` + detail +
    (goals.length ? `\n\nIssue #14's targets against ${BASELINE_T1} in this run (the throughput and CPU ones are for the default ` +
      `thread count; CPU s/GB here is both daemons' process time):\n\n` + goals.map((g) => `- ${g}`).join("\n") : "");
  const notes: string[] = [];
  for (const impl of impls) {
    if (!impl.threads) continue;
    const seen = sums.filter((s) => s.impl === impl.name).flatMap((s) => SIDES.map((side) => s[side]?.workerCount ?? NaN)).filter(Number.isFinite);
    if (seen.length && seen.some((w) => w !== impl.threads! - 1))
      notes.push(`${impl.name}: asked for ${impl.threads} data-plane thread(s) (BUNWG_THREADS=${impl.threads}), but a daemon showed ` +
        `${Math.min(...seen) === Math.max(...seen) ? Math.min(...seen) : `${Math.min(...seen)}–${Math.max(...seen)}`} bunwg-dp* worker(s) instead of ${impl.threads - 1} (a daemon that ignores BUNWG_THREADS runs everything on its main thread)`);
  }
  return { text, notes };
}

// Each of our other runs (more threads, or the default) against ours-t1, per transfer: the busiest thread at most
// 0.4× ours-t1's main thread; throughput no worse; CPU s/GB (both daemons) at most 1.15×.
function targets(impls: ThreadImpl[], sums: ThreadSummary[]): string[] {
  const lines: string[] = [];
  const met = (ok: boolean) => (ok ? "met" : "NOT met");
  const cpu = (s: ThreadSummary) => (s.sender?.process ?? 0) + (s.receiver?.process ?? 0);
  for (const s of sums) {
    if (!impls.find((i) => i.name === s.impl)?.roles || s.impl === BASELINE_T1) continue;
    const t1 = sums.find((b) => b.impl === BASELINE_T1 && b.transfer === s.transfer);
    if (!t1) continue;
    const gain = s.gbps / t1.gbps, cost = cpu(s) / cpu(t1);
    lines.push(`${s.impl}, ${s.transfer}: busiest thread ${fmt(s.ratio)}× ${BASELINE_T1}'s main (≤ 0.40: ${met(s.ratio <= 0.4)}); ` +
      `throughput ${fmt(gain)}× (≥ 1.00: ${met(gain >= 1)}); CPU s/GB ${fmt(cost)}× (≤ 1.15: ${met(cost <= 1.15)})`);
  }
  return lines;
}
