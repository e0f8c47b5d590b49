// The WireGuard implementations the benchmarks compare, and how to start one interface of each.
// Every userspace daemon here starts like wireguard-go: `PROGRAM IFNAME` creates the TUN interface and the
// configuration socket /var/run/wireguard/IFNAME.sock, detaches, and is configured with wg(8).
import { closeSync, existsSync, openSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { socketPath } from "../../src/uapi/socket.ts";
import { Cleanup, run, runSync, stamp, stopProcess, tunOwners, waitFor, which, type ProcStamp } from "./harness.ts";

const REPO = join(import.meta.dir, "..", "..");

export type Implementation = {
  name: string;
  // null when it can run here, else why it is skipped.
  unavailable(): string | null;
  version(): Promise<string>;
  // The command before IFNAME (absent for the kernel module, which has no daemon).
  command?: string[];
  env?: Record<string, string>;
  cwd?: string;
  // The daemon re-reads the interface MTU by polling (boringtun: every second, by name, in the namespace it started
  // in): wait this long after setting the MTU before moving the interface away.
  mtuPollMs?: number;
  // Files the daemon writes on its own for an interface (logs), removed with the interface.
  leaves?: (ifname: string) => string[];
  // What its threads are (lib/threads.ts): "bun" threads have roles (the JavaScript main thread, bunwg-dp* workers);
  // Go and Rust threads are reported per OS thread only.
  runtime?: "bun" | "go" | "rust";
  // The data-plane threads it was started with (BUNWG_THREADS), for the ours-tN variants.
  threads?: number;
};

const firstLine = async (cmd: string[]) => {
  try {
    const r = await run(cmd, { timeoutMs: 10_000, check: false });
    return (r.stdout || r.stderr).split("\n").find((l) => l.trim() !== "")?.trim() ?? "?";
  } catch {
    return "?";
  }
};

const binary = (path: string, what: string) => () => (existsSync(path) ? null : `${what}: ${path} not found`);

const BORINGTUN = join(homedir(), ".cargo", "bin", "boringtun-cli");

export const IMPLEMENTATIONS: Record<string, Implementation> = {
  ours: {
    name: "ours",
    unavailable: () =>
      existsSync(join(REPO, "src", "device", "daemon.ts")) ? null : "bunwg daemon not written yet (no src/device/daemon.ts)",
    version: async () => {
      const commit = await firstLine(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]);
      const dirty = (await run(["git", "-C", REPO, "status", "--porcelain", "--", "src", "zig", "wg.ts"], { timeoutMs: 10_000, check: false })).stdout.trim();
      return `${await firstLine(["bun", "run", join(REPO, "wg.ts"), "--version"])}, commit ${commit}${dirty ? " + uncommitted changes" : ""}`;
    },
    command: ["bun", "run", join(REPO, "wg.ts")],
    cwd: REPO,
    env: { LOG_LEVEL: "error" },
    leaves: (ifname) => [`/var/log/bunwg/${ifname}.log`],
    runtime: "bun",
  },
  "wggo-debian": {
    name: "wggo-debian",
    unavailable: binary("/usr/bin/wireguard-go", "Debian wireguard-go"),
    version: () => firstLine(["/usr/bin/wireguard-go", "--version"]),
    command: ["/usr/bin/wireguard-go"],
    env: { LOG_LEVEL: "error" },
    runtime: "go",
  },
  "wggo-latest": {
    name: "wggo-latest",
    unavailable: binary("/opt/wggo-latest/wireguard", "newest wireguard-go (GOBIN=/opt/wggo-latest go install golang.zx2c4.com/wireguard@latest)"),
    version: () => firstLine(["/opt/wggo-latest/wireguard", "--version"]),
    command: ["/opt/wggo-latest/wireguard"],
    env: { LOG_LEVEL: "error" },
    runtime: "go",
  },
  boringtun: {
    name: "boringtun",
    unavailable: binary(BORINGTUN, "boringtun (cargo install boringtun-cli)"),
    version: () => firstLine([BORINGTUN, "--version"]),
    // It would otherwise drop to an unprivileged user and lose the right to configure its own interface.
    command: [BORINGTUN, "--disable-drop-privileges"],
    env: { WG_SUDO: "1", WG_LOG_LEVEL: "error", WG_LOG_FILE: "/dev/null" },
    mtuPollMs: 1300,
    runtime: "rust",
  },
  // Not a baseline for a userspace router, but the ceiling on this machine: opt-in with --impl kernel.
  kernel: {
    name: "kernel",
    unavailable: () => (runSync(["modprobe", "-n", "wireguard"]) === 0 || existsSync("/sys/module/wireguard") ? null : "no wireguard kernel module"),
    version: async () => `Linux ${(await firstLine(["uname", "-r"]))} wireguard module`,
  },
};

// Ours with one step of the fast data path switched off, to measure what each step gives (src/device/device.ts
// DataPathOptions), or its counters (src/device/counters.ts) and trimming (src/device/trim.ts), to measure what
// they cost. Opt-in: --impl ours,ours-no-pump,…
for (const [suffix, variable] of [["no-pump", "BUNWG_NO_PUMP"], ["no-gso", "BUNWG_NO_GSO"], ["no-gro", "BUNWG_NO_GRO"], ["no-counters", "BUNWG_NO_COUNTERS"],
  ["no-offload", "BUNWG_NO_OFFLOAD"], ["no-trim", "BUNWG_NO_TRIM"], ["no-warmup", "BUNWG_NO_WARMUP"], ["plain", "BUNWG_NO_PUMP BUNWG_NO_GSO BUNWG_NO_GRO BUNWG_NO_OFFLOAD"]] as const) {
  const env: Record<string, string> = { LOG_LEVEL: "error" };
  for (const v of variable.split(" ")) env[v] = "1";
  IMPLEMENTATIONS[`ours-${suffix}`] = { ...IMPLEMENTATIONS.ours!, name: `ours-${suffix}`, env };
}
// …and with what the detached daemon turns off in its runtime (src/device/daemon.ts) back on: Bun's GC timer,
// JavaScriptCore's FTL tier.
for (const [suffix, variable, value] of [["gc-timer", "BUN_GC_TIMER_DISABLE", "0"], ["ftl", "BUN_JSC_useFTLJIT", "1"]] as const) {
  IMPLEMENTATIONS[`ours-${suffix}`] = { ...IMPLEMENTATIONS.ours!, name: `ours-${suffix}`, env: { LOG_LEVEL: "error", [variable]: value } };
}

// Ours at another checkout (e.g. `git worktree add /tmp/before <commit>`, then `bun install` there), to measure a
// change against what came before in the same run. Opt-in: BUNWG_BENCH_BEFORE=/tmp/before … --impl ours,ours-before
const BEFORE = process.env.BUNWG_BENCH_BEFORE;
if (BEFORE) {
  IMPLEMENTATIONS["ours-before"] = {
    ...IMPLEMENTATIONS.ours!,
    name: "ours-before",
    unavailable: () => (existsSync(join(BEFORE, "wg.ts")) ? null : `BUNWG_BENCH_BEFORE=${BEFORE}: no wg.ts there`),
    version: async () => `bunwg at ${BEFORE}, commit ${await firstLine(["git", "-C", BEFORE, "rev-parse", "--short", "HEAD"])}`,
    command: ["bun", "run", join(BEFORE, "wg.ts")],
    cwd: BEFORE,
  };
}

// Ours with N data-plane threads in total (BUNWG_THREADS=N: the JavaScript thread plus N−1 bunwg-dp* workers; issue
// #14), named ours-tN: --impl ours-t1,ours-t2 or bench/tunnel.ts --threads 1,2. Plain `ours` takes the daemon's default.
export const THREADS_NAME = /^ours-t(\d+)$/;
export const MAX_THREADS = 256;

export function oursWithThreads(n: number): Implementation {
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) throw new Error(`threads: expected an integer 1–${MAX_THREADS}, got ${n}`);
  const ours = IMPLEMENTATIONS.ours!;
  return {
    ...ours, name: `ours-t${n}`, threads: n, env: { ...ours.env, BUNWG_THREADS: String(n) },
    version: async () => `${await ours.version()}, BUNWG_THREADS=${n}`,
  };
}

export const DEFAULT_IMPLS = ["ours", "wggo-debian", "wggo-latest", "boringtun"];

export function parseImpls(list: string | undefined): Implementation[] {
  const names = list ? list.split(",").map((s) => s.trim()).filter(Boolean) : DEFAULT_IMPLS;
  return names.map((n) => {
    const t = n.match(THREADS_NAME);
    if (t) return oursWithThreads(Number(t[1]));
    const impl = IMPLEMENTATIONS[n];
    if (!impl) throw new Error(`--impl: unknown implementation "${n}", expected some of ${Object.keys(IMPLEMENTATIONS).join(",")} or ours-tN (N data-plane threads)`);
    return impl;
  });
}

/** The implementations of `list` that can run here, notes on the skipped ones, and every runnable one's version.
 *  Exits with a message when none can run. */
export async function runnableImpls(list: Implementation[], bench: string, progress: (s: string) => void) {
  const notes: string[] = [];
  const runnable: Implementation[] = [];
  for (const impl of list) {
    const why = impl.unavailable();
    if (why) notes.push(`${impl.name} skipped: ${why}`), progress(`skip ${impl.name}: ${why}`);
    else runnable.push(impl);
  }
  if (runnable.length === 0) {
    console.error(`${bench}: no implementation available to measure`);
    process.exit(1);
  }
  const versions: Record<string, string> = {};
  for (const impl of runnable) versions[impl.name] = await impl.version();
  return { runnable, notes, versions };
}

export type Interface = { ifname: string; daemon: ProcStamp | null };

// Creates interface `ifname` in the root namespace with `impl`; its removal is registered on `scope`.
export async function createInterface(impl: Implementation, ifname: string, scope: Cleanup, logDir: string): Promise<Interface> {
  if (!impl.command) {
    scope.add(`kernel interface ${ifname}`, () => void runSync(["ip", "link", "del", ifname]));
    await run(["ip", "link", "add", ifname, "type", "wireguard"], { timeoutMs: 5000 });
    return { ifname, daemon: null };
  }
  const sock = socketPath(ifname);
  // Registered first so it runs last: a daemon that never started still leaves nothing behind.
  scope.add(`socket ${sock}`, () => rmSync(sock, { force: true }));
  for (const f of impl.leaves?.(ifname) ?? []) scope.add(`${impl.name} file ${f}`, () => rmSync(f, { force: true }));
  scope.add(`interface ${ifname}`, () => void runSync(["ip", "link", "del", ifname]));
  const logPath = join(logDir, `${ifname}.log`);
  const log = openSync(logPath, "a");
  const launcher = Bun.spawn([...impl.command, ifname], {
    stdin: "ignore",
    stdout: log,
    stderr: log,
    cwd: impl.cwd,
    env: { ...process.env, ...impl.env },
  });
  closeSync(log);
  let daemon: ProcStamp | null = null;
  scope.add(`${impl.name} daemon for ${ifname}`, () => {
    if (daemon) stopProcess(daemon);
    try {
      launcher.kill("SIGKILL");
    } catch {}
  });
  const logTail = async () => (await Bun.file(logPath).text().catch(() => "")).trim().split("\n").slice(-5).join(" / ");
  // The launcher returns once the interface and the socket exist (it detaches); a foreground-only program would
  // not return, so wait for the effects instead of the exit.
  const exited = launcher.exited.then((code) => code);
  let launcherCode: number | null = null;
  void exited.then((c) => (launcherCode = c));
  try {
    await waitFor(
      `${impl.name}: interface ${ifname} and socket ${sock}`,
      () => {
        if (launcherCode !== null && launcherCode !== 0) throw new Error(`${impl.name} ${ifname} exited with ${launcherCode}`);
        return existsSync(sock) && existsSync(`/sys/class/net/${ifname}`);
      },
      20_000,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; log: ${await logTail()}`);
  }
  // wireguard-go's launcher still holds the TUN fd for a moment after the socket appears (its detached child
  // inherited it): wait until exactly one process holds it.
  let pids: number[] = [];
  try {
    await waitFor(`${impl.name}: exactly one process holding ${ifname}'s TUN`, () => (pids = tunOwners(ifname)).length === 1, 10_000);
  } catch (e) {
    throw new Error(`${(e as Error).message} (found ${pids.join(", ") || "none"})`);
  }
  daemon = stamp(pids[0]);
  return { ifname, daemon };
}
