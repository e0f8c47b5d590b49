// Test hosts are network namespaces made here, with unique names, and removed again (also on failure).
// Daemons are started the way wg-quick and test suites start wireguard-go: `PROGRAM IFNAME`.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";

export const ROOT = process.getuid?.() === 0;
export const WG_TS = join(import.meta.dir, "..", "..", "wg.ts");
export const OURS = [process.execPath, WG_TS];
export const WGGO_DEBIAN = Bun.which("wireguard-go") ? ["/usr/bin/wireguard-go"] : null;
export const WGGO_LATEST = existsSync("/opt/wggo-latest/wireguard") ? ["/opt/wggo-latest/wireguard"] : null;

export function tag(): string {
  return Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, "0");
}

export interface Result { code: number; stdout: string; stderr: string }

/** Runs a command with a bound on its time; throws unless it exits 0 (check=false returns the result). */
export async function sh(cmd: string[], opts: { timeoutMs?: number; check?: boolean; env?: Record<string, string>; stdin?: string } = {}): Promise<Result> {
  const p = Bun.spawn(cmd, {
    stdout: "pipe", stderr: "pipe",
    stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
    env: { ...process.env, WG_HIDE_KEYS: "never", ...opts.env },
  });
  const t = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 10_000);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(t);
  if (opts.check !== false && code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}: ${stderr.trim() || stdout.trim()}`);
  return { code, stdout, stderr };
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await Bun.sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export function genKey(): { priv: string; pub: string } {
  const priv = Bun.spawnSync(["wg", "genkey"]).stdout.toString().trim();
  const pub = Bun.spawnSync(["wg", "pubkey"], { stdin: new TextEncoder().encode(priv + "\n") }).stdout.toString().trim();
  return { priv, pub };
}

/** Everything a test made, removed in reverse order by close(). */
export class Scope {
  private undo: (() => void)[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), "bunwg-test-"));

  constructor() { this.add(() => rmSync(this.dir, { recursive: true, force: true })); }

  add(fn: () => void): void { this.undo.push(fn); }

  async netns(name: string): Promise<string> {
    await sh(["ip", "netns", "add", name]);
    this.add(() => { Bun.spawnSync(["ip", "netns", "del", name]); });
    await sh(["ip", "-n", name, "link", "set", "lo", "up"]);
    return name;
  }

  /** Starts a daemon (detaching like wireguard-go) for ifname; it is stopped by deleting the interface. */
  async daemon(program: string[], ifname: string, env: Record<string, string> = {}, netns?: string): Promise<void> {
    const cmd = netns ? ["ip", "netns", "exec", netns, ...program, ifname] : [...program, ifname];
    this.add(() => {
      for (const ns of [undefined, ...this.namespaces()]) Bun.spawnSync(ns ? ["ip", "-n", ns, "link", "del", ifname] : ["ip", "link", "del", ifname]);
      Bun.spawnSync(["pkill", "-f", ` ${ifname}$`]); // interface names are unique to this test run
      rmSync(`/var/run/wireguard/${ifname}.sock`, { force: true });
      rmSync(`/var/log/bunwg/${ifname}.log`, { force: true });
    });
    await sh(cmd, { timeoutMs: 20_000, env });
  }

  private nsList: string[] = [];
  namespaces(): string[] { return this.nsList; }
  track(ns: string): void { this.nsList.push(ns); }

  file(name: string, text: string): string {
    const p = join(this.dir, name);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  }

  close(): void {
    for (const fn of this.undo.reverse()) {
      try { fn(); } catch { /* keep cleaning */ }
    }
    this.undo = [];
  }
}

/** wg(8) against a daemon's socket. */
export function wg(args: string[], opts: { check?: boolean; stdin?: string } = {}): Promise<Result> {
  return sh(["wg", ...args], { ...opts, timeoutMs: 30_000 });
}

export async function ping(ns: string, addr: string, count = 3, timeoutS = 2): Promise<boolean> {
  const cmd = addr.includes(":") ? ["ping", "-6"] : ["ping"];
  const r = await sh(["ip", "netns", "exec", ns, ...cmd, "-n", "-c", String(count), "-W", String(timeoutS), "-i", "0.2", addr], { check: false, timeoutMs: (count * timeoutS + 5) * 1000 });
  return r.code === 0;
}

/** Pings until one gets through (the first packet triggers the handshake), bounded. */
export async function pingUntil(ns: string, addr: string, timeoutMs = 15_000): Promise<void> {
  await waitFor(`ping ${addr} from ${ns}`, () => ping(ns, addr, 1, 1), timeoutMs);
}
