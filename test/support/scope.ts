// Everything a test makes — a temporary directory, files, network namespaces, interfaces and the daemons behind
// them — registered with one Scope and removed by close() in reverse order, also when the test failed. Names are
// unique per run (programs.ts uniqueTag), so close() may remove by name.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { socketPath } from "../../src/uapi/socket.ts";
import { logPath } from "../../src/device/log.ts";
import { run, runSync } from "./process.ts";

export class Scope {
  readonly dir = mkdtempSync(join(tmpdir(), "bunwg-test-"));
  private undo: (() => unknown)[] = [];
  private readonly nsList: string[] = [];

  /** Runs fn at close(), before what was registered earlier. */
  add(fn: () => unknown): void {
    this.undo.push(fn);
  }

  file(name: string, text: string, mode = 0o600): string {
    const p = join(this.dir, name);
    writeFileSync(p, text, { mode });
    return p;
  }

  /** A new network namespace with its loopback up. */
  async netns(name: string): Promise<string> {
    await run(["ip", "netns", "add", name]);
    this.track(name);
    await run(["ip", "-n", name, "link", "set", "lo", "up"]);
    return name;
  }

  /** A namespace made by what is under test (e.g. `ifconfig … rdomain NS`): removed at close, and searched for
   *  this scope's interfaces. */
  track(ns: string): void {
    if (!this.nsList.includes(ns)) this.nsList.push(ns);
  }

  namespaces(): readonly string[] {
    return this.nsList;
  }

  /** An interface made by what is under test (e.g. `ifconfig IFNAME create`): at close its daemon is stopped and
   *  the interface, its socket and its log are removed, wherever it moved. */
  interface(ifname: string): string {
    this.add(() => this.forget(ifname));
    return ifname;
  }

  /** Starts a daemon that detaches like wireguard-go (`PROGRAM IFNAME`, in netns if given); removed at close. */
  async daemon(program: string[], ifname: string, env: Record<string, string> = {}, netns?: string): Promise<void> {
    this.interface(ifname);
    await run([...(netns ? ["ip", "netns", "exec", netns] : []), ...program, ifname], { timeoutMs: 20_000, env });
  }

  private forget(ifname: string): void {
    const sock = socketPath(ifname);
    // The daemon still listening on the socket, by its process id; the pattern catches one that lost its socket.
    const pid = runSync(["ss", "-xlpnH", "src", sock], { check: false }).stdout.match(/pid=(\d+)/)?.[1];
    if (pid) stopPid(Number(pid));
    runSync(["pkill", "-f", ` ${ifname}$`], { check: false });
    for (const ns of [undefined, ...this.nsList]) {
      runSync(ns ? ["ip", "-n", ns, "link", "del", ifname] : ["ip", "link", "del", ifname], { check: false });
    }
    rmSync(sock, { force: true });
    rmSync(logPath(ifname), { force: true });
  }

  async close(): Promise<void> {
    for (const fn of this.undo.reverse()) {
      try {
        await fn();
      } catch {
        /* keep cleaning */
      }
    }
    this.undo = [];
    for (const ns of this.nsList) if (existsSync(`/var/run/netns/${ns}`)) runSync(["ip", "netns", "del", ns], { check: false });
    this.nsList.length = 0;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** True while the process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].startsWith("Z");
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after 3 s. Synchronous, for clean-up paths. */
export function stopPid(pid: number): void {
  if (!alive(pid)) return;
  try { process.kill(pid, "SIGTERM"); } catch { /* gone */ }
  const end = Date.now() + 3000;
  while (alive(pid) && Date.now() < end) Bun.sleepSync(20);
  if (alive(pid)) try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
}
