// What /proc says about a process: identity across pid reuse, CPU time, memory. No side effects on import, so the
// tests (test/robust/) read processes the same way the benchmarks do.
import { readFileSync } from "node:fs";

const CLK_TCK = 100; // USER_HZ; Linux reports utime/stime in these on every architecture we run on

export type ProcStamp = { pid: number; start: string };

function statFields(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2).split(" "); // fields from #3 (state) on; comm may hold spaces
  } catch {
    return null;
  }
}

export function stamp(pid: number): ProcStamp {
  const f = statFields(pid);
  if (!f) throw new Error(`process ${pid}: no /proc/${pid}/stat (it exited)`);
  return { pid, start: f[19] }; // field 22, starttime: tells a reused pid from ours
}

export function alive(p: ProcStamp): boolean {
  const f = statFields(p.pid);
  return f !== null && f[19] === p.start && f[0] !== "Z";
}

// utime + stime of all the process's threads, in seconds.
export function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  if (!f) throw new Error(`process ${pid}: exited before its CPU time could be read`);
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14 and 15
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

