// Shared machinery of the tunnel and memory benchmarks: bounded commands, one cleanup stack that also runs on
// Ctrl-C and on failure, /proc readings, medians, tables, machine facts and the RESULTS.md section writer.
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { join } from "node:path";

// ---------------------------------------------------------------------------------------------------------------
// Cleanup: every thing a benchmark creates registers how to remove it, at once, before anything else can fail.

type Step = { what: string; undo: () => void };

export class Cleanup {
  private steps: Step[] = [];
  private remove: (() => void) | null = null;

  // Registers an undo step (run synchronously, newest first). Returns a function that runs it early.
  add(what: string, undo: () => void): () => void {
    const step: Step = { what, undo };
    this.steps.push(step);
    return () => {
      const i = this.steps.indexOf(step);
      if (i >= 0) this.steps.splice(i, 1), runStep(step);
    };
  }

  // A nested stack (one tunnel pair, one daemon) that can be closed early and is closed with its parent.
  child(what: string): Cleanup {
    const c = new Cleanup();
    c.remove = this.add(what, () => c.close());
    return c;
  }

  // Runs every step; the stack stays usable (a later step is run by a later close()).
  close(): void {
    while (this.steps.length > 0) runStep(this.steps.pop()!);
    const r = this.remove;
    this.remove = null;
    r?.();
  }
}

function runStep(step: Step): void {
  try {
    step.undo();
  } catch (e) {
    console.error(`cleanup: ${step.what}: ${(e as Error).message}`);
  }
}

export const cleanup = new Cleanup();
let exiting = false;
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    if (exiting) return;
    exiting = true;
    console.error(`\n${sig}: removing what the benchmark created…`);
    cleanup.close();
    process.exit(130);
  });
}
process.on("exit", () => cleanup.close());

// ---------------------------------------------------------------------------------------------------------------
// Commands, always bounded.

export type RunResult = { code: number; stdout: string; stderr: string };

export async function run(
  cmd: string[],
  opts: { timeoutMs: number; env?: Record<string, string>; cwd?: string; check?: boolean; stdin?: string },
): Promise<RunResult> {
  const p = Bun.spawn(cmd, {
    stdin: opts.stdin === undefined ? "ignore" : new TextEncoder().encode(opts.stdin),
    stdout: "pipe",
    stderr: "pipe",
    env: opts.env ? { ...process.env, ...opts.env } : undefined,
    cwd: opts.cwd,
  });
  // Killed on Ctrl-C too: a process inside a namespace outlives the namespace's deletion.
  const release = cleanup.add(`\`${cmd.join(" ")}\``, () => p.kill("SIGKILL"));
  let timedOut = false;
  const timer = setTimeout(() => ((timedOut = true), p.kill("SIGKILL")), opts.timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  release(); // it has exited: the kill is a no-op
  if (timedOut) throw new Error(`\`${cmd.join(" ")}\` did not finish within ${opts.timeoutMs / 1000} s`);
  if (opts.check !== false && code !== 0)
    throw new Error(`\`${cmd.join(" ")}\` exited with ${code}: ${(stderr || stdout).trim().slice(0, 400)}`);
  return { code, stdout, stderr };
}

// Synchronous and bounded, for cleanup steps (they must also run inside a signal handler).
export function runSync(cmd: string[], timeoutMs = 5000): number {
  const r = Bun.spawnSync(cmd, { stdout: "ignore", stderr: "ignore", timeout: timeoutMs });
  return r.exitCode ?? -1;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitFor(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 50) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await ok()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(stepMs);
  }
}

export function hex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}

export function requireRoot(program: string): void {
  if (process.getuid?.() !== 0) {
    console.error(`${program}: must run as root (it creates network namespaces and TUN interfaces)`);
    process.exit(2);
  }
}

export function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    const p = join(dir, cmd);
    if (existsSync(p)) return p;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------------
// Keys for wg(8): base64 X25519 pairs.

export function keyPair(): { priv: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  const b64 = (u: string | undefined) => Buffer.from(u ?? "", "base64url").toString("base64");
  return { priv: b64(privateKey.export({ format: "jwk" }).d), pub: b64(publicKey.export({ format: "jwk" }).x) };
}

// ---------------------------------------------------------------------------------------------------------------
// /proc readings.

// Readings of /proc (no side effects, so tests share them): bench/lib/proc.ts.
import { alive, type ProcStamp } from "./proc.ts";
export { alive, cpuSeconds, memKiB, stamp, type ProcStamp } from "./proc.ts";

// Processes holding a TUN fd attached to `ifname` (the kernel shows "iff:\tNAME" in the fd's fdinfo). This finds
// a daemon that detached, whatever its command line.
export function tunOwners(ifname: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${d}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${d}/fd/${fd}`) !== "/dev/net/tun") continue;
        if (readFileSync(`/proc/${d}/fdinfo/${fd}`, "utf8").includes(`iff:\t${ifname}\n`)) {
          pids.push(Number(d));
          break;
        }
      } catch {
        /* fd closed meanwhile */
      }
    }
  }
  return pids;
}

// SIGTERM, then SIGKILL after a bounded wait; only the exact process we started (pid + start time).
export function stopProcess(p: ProcStamp, graceMs = 3000): void {
  if (!alive(p)) return;
  try {
    process.kill(p.pid, "SIGTERM");
  } catch {
    return;
  }
  const end = Date.now() + graceMs;
  while (Date.now() < end && alive(p)) Bun.sleepSync(20);
  if (alive(p)) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {}
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Statistics and presentation.

export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// Nearest-rank percentile.
export function percentile(xs: number[], p: number): number {
  const v = [...xs].sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))];
}

export function fmt(x: number | undefined, digits = 2): string {
  if (x === undefined || !Number.isFinite(x)) return "–";
  return x.toFixed(digits);
}

// A Markdown table: readable on a terminal and pasteable into RESULTS.md.
export function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => "| " + r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(" | ") + " |";
  const sep = "|" + w.map((n, i) => (i === 0 ? "-".repeat(n + 2) : "-".repeat(n + 1) + ":")).join("|") + "|";
  return [line(header), sep, ...rows.map(line)].join("\n");
}

// ---------------------------------------------------------------------------------------------------------------
// Machine facts for a results section.

export async function machineFacts(): Promise<Record<string, string>> {
  const out = async (cmd: string[]) => {
    try {
      return (await run(cmd, { timeoutMs: 5000 })).stdout;
    } catch {
      return "";
    }
  };
  const lscpu = await out(["lscpu"]);
  const field = (k: string) => lscpu.match(new RegExp(`^${k}:\\s*(.+)$`, "m"))?.[1]?.trim() ?? "?";
  return {
    cpu: `${field("Model name")}, ${field("CPU\\(s\\)")} CPUs${/avx512f/.test(lscpu) ? " (AVX-512)" : ""}, ${field("Hypervisor vendor")} guest`,
    kernel: (await out(["uname", "-r"])).trim(),
    bun: Bun.version,
    iperf3: (await out(["iperf3", "--version"])).split("\n")[0].trim(),
  };
}

// The 1-minute load average: on a shared machine it says how much the figures were disturbed.
export function loadAverage(): number {
  return Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
}

export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

// "2026-11-25 23:58 UTC": the heading of a results section.
export function timestamp(): string {
  return new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

// Inserts `body` at the end of the `## heading` section of bench/RESULTS.md (creating the file or the section),
// leaving every other section as it is.
export function appendResultsSection(heading: string, body: string): string {
  const path = join(import.meta.dir, "..", "RESULTS.md");
  const text = existsSync(path) ? readFileSync(path, "utf8") : "# bunwg benchmark results\n";
  const lines = text.replace(/\n*$/, "").split("\n");
  const start = lines.findIndex((l) => l.trim() === `## ${heading}`);
  let insertAt: number;
  if (start < 0) {
    lines.push("", `## ${heading}`);
    insertAt = lines.length;
  } else {
    const next = lines.findIndex((l, i) => i > start && /^## /.test(l));
    insertAt = next < 0 ? lines.length : next;
    while (insertAt > start + 1 && lines[insertAt - 1].trim() === "") insertAt--;
  }
  const add = ["", ...body.replace(/\n*$/, "").split("\n")];
  if (insertAt < lines.length && lines[insertAt].trim() !== "") add.push("");
  lines.splice(insertAt, 0, ...add);
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}
