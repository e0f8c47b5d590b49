// What /proc says about a process: identity across pid reuse, CPU time, memory. No side effects on import, so the
// tests (test/robust/) read processes the same way the benchmarks do.
import { readdirSync, readFileSync } from "node:fs";

const CLK_TCK = 100; // USER_HZ; Linux reports utime/stime in these on every architecture we run on

export type ProcStamp = { pid: number; start: string };

// A stat file of a process (/proc/PID/stat) or of one of its threads (/proc/PID/task/TID/stat): field #2, comm (the
// same name /proc/PID/task/TID/comm holds), and the fields from #3 (state) on. comm may hold spaces and parentheses,
// so it ends at the last ")".
function readStat(path: string): { comm: string; fields: string[] } | null {
  try {
    const s = readFileSync(path, "utf8");
    const close = s.lastIndexOf(")");
    return { comm: s.slice(s.indexOf("(") + 1, close), fields: s.slice(close + 2).split(" ") };
  } catch {
    return null;
  }
}

const statFields = (pid: number) => readStat(`/proc/${pid}/stat`)?.fields ?? null;
const ticksToSeconds = (f: string[]) => (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14 and 15, utime + stime

export function stamp(pid: number): ProcStamp {
  const f = statFields(pid);
  if (!f) throw new Error(`process ${pid}: no /proc/${pid}/stat (it exited)`);
  return { pid, start: f[19] }; // field 22, starttime: tells a reused pid from ours
}

export function alive(p: ProcStamp): boolean {
  const f = statFields(p.pid);
  return f !== null && f[19] === p.start && f[0] !== "Z";
}

// utime + stime of all the process's threads, in seconds (including threads that have exited).
export function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  if (!f) throw new Error(`process ${pid}: exited before its CPU time could be read`);
  return ticksToSeconds(f);
}

// One live thread of a process: its id, its name and its own utime + stime in seconds.
export type ThreadTime = { tid: number; comm: string; seconds: number };

// utime + stime of each live thread of the process (/proc/PID/task/*/stat). A thread that exits between the listing
// and its read is left out; its time stays in cpuSeconds(pid).
export function threadTimes(pid: number): ThreadTime[] {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    throw new Error(`process ${pid}: exited before its threads could be read (no /proc/${pid}/task)`);
  }
  const out: ThreadTime[] = [];
  for (const tid of tids) {
    const st = readStat(`/proc/${pid}/task/${tid}/stat`);
    if (st) out.push({ tid: Number(tid), comm: st.comm, seconds: ticksToSeconds(st.fields) });
  }
  return out;
}

// VmRSS (now) and VmHWM (peak), KiB.
export function memKiB(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const get = (k: string) => {
    const m = s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, "m"));
    if (!m) throw new Error(`/proc/${pid}/status: no ${k} line`);
    return Number(m[1]);
  };
  return { rss: get("VmRSS"), hwm: get("VmHWM") };
}

