// Starting and stopping the daemon behind an interface. `ifconfig IF create` runs our own entry as
// `… IF` (wireguard-go's invocation): it detaches itself and returns once the TUN and the socket exist.
// BUNWG_DAEMON="wireguard-go" (any command) runs another daemon instead, e.g. to compare or to test without ours.
import { closeSync, existsSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CliError } from "./errors.ts";
import { daemonAnswers } from "./configSocket.ts";
import { socketPath } from "../uapi/socket.ts";
import { run } from "./iproute.ts";

const START_TIMEOUT_MS = 20_000;
const SOCKET_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 5_000;

/** True inside a `bun build --compile` executable, where the entry is the executable itself. */
export function isCompiled(): boolean {
  return import.meta.url.includes("$bunfs") || Bun.main.startsWith("/$bunfs/");
}

/** The command line that starts the daemon for `ifname`. */
export function daemonCommand(ifname: string): string[] {
  const override = process.env.BUNWG_DAEMON?.trim();
  if (override) return [...override.split(/\s+/), ifname];
  if (isCompiled()) return [process.execPath, ifname];
  return [process.execPath, fileURLToPath(new URL("../../wg.ts", import.meta.url)), ifname];
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every 50 ms until true or `timeoutMs` passed; returns its last value. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() >= end) return false;
    await sleep(50);
  }
}

/**
 * Starts the daemon and waits until its socket answers. The daemon's stderr goes to a temporary file, not a pipe:
 * its detached part keeps the descriptor, and a pipe would hold up whoever reads our output (`$(ifconfig …)`).
 */
export async function startDaemon(ifname: string): Promise<void> {
  const cmd = daemonCommand(ifname);
  const verbose = (process.env.LOG_LEVEL ?? "") !== "";
  const errPath = join(existsSync(tmpdir()) ? tmpdir() : "/tmp", `bunwg-start-${ifname}-${process.pid}.log`);
  const errFd = verbose ? null : openSync(errPath, "w", 0o600);
  let proc;
  try {
    proc = Bun.spawn(cmd, {
      stdin: "ignore",
      stdout: verbose ? "inherit" : "ignore",
      stderr: errFd ?? "inherit",
      env: process.env,
    });
  } catch (e) {
    if (errFd !== null) closeSync(errFd);
    rmSync(errPath, { force: true });
    throw new CliError(`create: cannot start the daemon (${cmd.join(" ")}): ${(e as Error).message}`);
  }
  if (errFd !== null) closeSync(errFd);
  const timer = setTimeout(() => proc.kill("SIGKILL"), START_TIMEOUT_MS);
  const code = await proc.exited;
  clearTimeout(timer);
  let errText = "";
  if (errFd !== null) {
    try {
      errText = readFileSync(errPath, "utf8").trim();
    } catch {
      // nothing written
    }
    rmSync(errPath, { force: true });
  }
  if (code !== 0) {
    const why = proc.signalCode === "SIGKILL" ? `did not get ready within ${START_TIMEOUT_MS} ms` : `exited with status ${code}`;
    throw new CliError(`create: the daemon (${cmd.join(" ")}) ${why}${errText ? `:\n${lastLines(errText)}` : ""}`);
  }
  if (!(await waitFor(() => daemonAnswers(ifname), SOCKET_TIMEOUT_MS))) {
    throw new CliError(`create: the daemon started but ${socketPath(ifname)} does not answer`);
  }
}

function lastLines(text: string): string {
  return text.split("\n").slice(-8).join("\n");
}

/** The pid of the process listening on the interface's socket (from ss), or null. */
export function daemonPid(ifname: string): number | null {
  const r = run(["ss", "-xlpnH", "src", socketPath(ifname)]);
  const m = r.stdout.match(/pid=(\d+)/);
  return m ? Number(m[1]) : null;
}

/** Waits for the daemon to go after its interface was deleted; removes a stale socket file it left behind. */
export async function waitDaemonGone(ifname: string, timeoutMs = STOP_TIMEOUT_MS): Promise<boolean> {
  const path = socketPath(ifname);
  const gone = await waitFor(async () => !existsSync(path) || !(await daemonAnswers(ifname)), timeoutMs);
  if (gone && existsSync(path)) rmSync(path, { force: true });
  return gone;
}
