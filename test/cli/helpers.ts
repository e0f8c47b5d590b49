// Shared by the CLI tests: run `bun wg.ts …` as a user would, unique names, and removal of everything a test made.
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "..", "..");
export const WG_TS = join(ROOT, "wg.ts");
export const isRoot = process.getuid?.() === 0;

/**
 * Which daemon the tests drive. Ours once src/device/daemon.ts exists (then every check, extensions included, must
 * pass); Debian's wireguard-go before that. BUNWG_TEST_DAEMON=wireguard-go forces another daemon.
 */
export const ourDaemon = existsSync(join(ROOT, "src", "device", "daemon.ts")) && !process.env.BUNWG_TEST_DAEMON;
export const daemonEnv: Record<string, string> = ourDaemon
  ? {}
  : { BUNWG_DAEMON: process.env.BUNWG_TEST_DAEMON ?? "wireguard-go" };
export const daemonName = ourDaemon ? "bunwg (src/device/daemon.ts)" : daemonEnv.BUNWG_DAEMON!;

export function hasCommand(name: string): boolean {
  return Bun.spawnSync(["sh", "-c", `command -v ${name}`]).exitCode === 0;
}

export function uid(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(3))).toString("hex");
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command with a bounded wait; the process is killed when the time is up. */
export async function exec(cmd: string[], opts: { stdin?: string; env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {}): Promise<Result> {
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd ?? ROOT,
    stdin: opts.stdin === undefined ? "ignore" : new TextEncoder().encode(opts.stdin),
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...daemonEnv, ...opts.env },
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** `bun wg.ts ARGS…` */
export function wg(args: string[], opts: { stdin?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Result> {
  return exec([process.execPath, WG_TS, ...args], opts);
}

export function sh(cmd: string): Result {
  const r = Bun.spawnSync(["sh", "-c", cmd], { stdout: "pipe", stderr: "pipe", timeout: 20_000 });
  return { code: r.exitCode ?? 1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

export function linkExists(ifname: string, ns?: string): boolean {
  return sh(`ip ${ns ? `-n ${ns} ` : ""}link show dev ${ifname}`).code === 0;
}

export function socketExists(ifname: string): boolean {
  return existsSync(`/var/run/wireguard/${ifname}.sock`);
}

export async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await Bun.sleep(50);
  }
  return cond();
}

/** Everything a test made: interfaces (by name, wherever they moved) and namespaces. */
export class Made {
  interfaces: string[] = [];
  namespaces: string[] = [];

  async cleanup(): Promise<void> {
    for (const ifname of this.interfaces) {
      if (socketExists(ifname)) await wg(["ifconfig", ifname, "destroy"], { timeoutMs: 15_000 });
      for (const ns of [undefined, ...this.namespaces]) if (linkExists(ifname, ns)) sh(`ip ${ns ? `-n ${ns} ` : ""}link del dev ${ifname}`);
      // A daemon that outlived everything: its pid from the socket it still listens on.
      const pid = sh(`ss -xlpnH src /var/run/wireguard/${ifname}.sock`).stdout.match(/pid=(\d+)/)?.[1];
      if (pid) sh(`kill ${pid}`);
      rmSync(`/var/log/bunwg/${ifname}.log`, { force: true }); // the detached daemon's log
    }
    for (const ns of this.namespaces) if (existsSync(`/var/run/netns/${ns}`)) sh(`ip netns del ${ns}`);
  }
}

export async function udpPortFree(port: number): Promise<boolean> {
  for (const hostname of ["0.0.0.0", "::"]) {
    try {
      const s = await Bun.udpSocket({ hostname, port });
      s.close();
    } catch {
      return false;
    }
  }
  return true;
}

/** A UDP port nothing uses right now (from the kernel's ephemeral range). */
export async function freePort(): Promise<number> {
  const s = await Bun.udpSocket({ hostname: "0.0.0.0", port: 0 });
  const p = s.port;
  s.close();
  return p;
}
