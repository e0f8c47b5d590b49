// Client side of the cross-platform configuration socket (docs/configuration-protocol.md): one stream UNIX socket per
// interface, /var/run/wireguard/IFNAME.sock; `get=1` / `set=1` requests, every answer ending "errno=N\n\n".
// Our daemon also answers `get=bunwg` (the standard answer plus bunwg_* lines); other daemons (wireguard-go)
// close the connection on it, which is how we learn to fall back to `get=1` and not to send bunwg_* keys.
import { createConnection } from "node:net";
import { existsSync, readdirSync } from "node:fs";
import { CliError } from "./errors.ts";
import { SOCKET_DIR, socketPath } from "../uapi/socket.ts";

const REQUEST_TIMEOUT_MS = 5000;
/** When listing every interface, one hung daemon must not hold up the others for long. */
export const LIST_TIMEOUT_MS = 3000;

/** Interface names with a socket file, sorted: every interface a userspace daemon serves. */
export function listSocketInterfaces(): string[] {
  if (!existsSync(SOCKET_DIR)) return [];
  return readdirSync(SOCKET_DIR)
    .filter((f) => f.endsWith(".sock"))
    .map((f) => f.slice(0, -".sock".length))
    .sort();
}

const ERRNO_TEXT: Record<number, string> = {
  1: "operation not permitted (EPERM)",
  2: "no such file or directory (ENOENT)",
  5: "input/output error (EIO)",
  12: "out of memory (ENOMEM)",
  13: "permission denied (EACCES)",
  22: "invalid argument (EINVAL): the daemon rejected a key or value",
  71: "protocol error (EPROTO): the daemon did not understand the request",
  98: "address already in use (EADDRINUSE)",
  99: "cannot assign requested address (EADDRNOTAVAIL)",
};

export function errnoText(errno: number): string {
  return ERRNO_TEXT[errno] ?? `errno ${errno}`;
}

export class DaemonErrno extends CliError {
  constructor(
    readonly ifname: string,
    readonly errno: number,
  ) {
    super(`${ifname}: the daemon refused the configuration: ${errnoText(errno)}`);
  }
}

/**
 * Sends `bytes` (one request, or several, or anything at all) and reads until an answer ends ("errno=N" and an empty
 * line) or the daemon closes the connection. `closed` tells which; a connection error or the timeout rejects.
 */
export function exchange(ifname: string, bytes: string | Uint8Array, timeoutMs = REQUEST_TIMEOUT_MS): Promise<{ answer: string; closed: boolean }> {
  const path = socketPath(ifname);
  return new Promise((resolve, reject) => {
    let answer = "";
    let settled = false;
    const sock = createConnection(path);
    const finish = (err: Error | null, closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve({ answer, closed });
    };
    const timer = setTimeout(
      () => finish(new CliError(`${ifname}: the daemon did not answer on ${path} within ${timeoutMs} ms`), false),
      timeoutMs,
    );
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(bytes));
    sock.on("data", (chunk: string) => {
      answer += chunk;
      // Every answer ends with "errno=N\n\n"; nothing else in it has an empty line.
      if (/(^|\n)errno=-?\d+\n\n$/.test(answer)) finish(null, false);
    });
    sock.on("end", () => finish(null, true));
    sock.on("close", () => finish(null, true));
    sock.on("error", (e: NodeJS.ErrnoException) => finish(socketError(ifname, path, e), false));
  });
}

/**
 * Sends one request and returns the answer up to and including its terminating empty line, or null when the daemon
 * closed the connection without answering (the sign of a request it does not know).
 */
export async function request(ifname: string, text: string, timeoutMs = REQUEST_TIMEOUT_MS): Promise<string | null> {
  const { answer } = await exchange(ifname, text, timeoutMs);
  return answer === "" ? null : answer;
}

function socketError(ifname: string, path: string, e: NodeJS.ErrnoException): CliError {
  switch (e.code) {
    case "ENOENT":
      return new CliError(`${ifname}: no such interface (no configuration socket ${path}; create it with "ifconfig ${ifname} create")`);
    case "ECONNREFUSED":
      return new CliError(`${ifname}: no daemon is serving ${path} (stale socket: the daemon has exited)`);
    case "EACCES":
    case "EPERM":
      return new CliError(`${ifname}: permission denied on ${path}: must be root`);
    default:
      return new CliError(`${ifname}: cannot talk to the daemon on ${path}: ${e.message}`);
  }
}

/** The errno an answer ends with (wireguard-go 2022 writes it negative; the sign carries nothing). */
export function answerErrno(answer: string): number {
  const m = answer.match(/(?:^|\n)errno=(-?\d+)\n\n$/);
  if (!m) throw new CliError(`configuration socket: answer without a final errno= line: ${JSON.stringify(answer.slice(-80))}`);
  return Math.abs(Number(m[1]));
}

/** Reads the configuration: `get=bunwg` first, `get=1` when the daemon is not ours (it closes on get=bunwg). */
export async function getAnswer(ifname: string, timeoutMs = REQUEST_TIMEOUT_MS): Promise<{ answer: string; extensions: boolean }> {
  let extensions = true;
  let answer = await request(ifname, "get=bunwg\n\n", timeoutMs);
  if (answer === null) {
    extensions = false;
    answer = await request(ifname, "get=1\n\n", timeoutMs);
    if (answer === null) throw new CliError(`${ifname}: the daemon closed the connection without answering get=1`);
  }
  const errno = answerErrno(answer);
  if (errno !== 0) throw new DaemonErrno(ifname, errno);
  return { answer, extensions };
}

/** Sends a set request built from key=value lines; throws DaemonErrno on a non-zero errno. */
export async function setLines(ifname: string, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  const answer = await request(ifname, `set=1\n${lines.join("\n")}\n\n`);
  if (answer === null) throw new CliError(`${ifname}: the daemon closed the connection without answering the set request`);
  const errno = answerErrno(answer);
  if (errno !== 0) throw new DaemonErrno(ifname, errno);
}

/** True when something answers on the interface's socket. */
export async function daemonAnswers(ifname: string): Promise<boolean> {
  try {
    return (await request(ifname, "get=1\n\n", 2000)) !== null;
  } catch {
    return false;
  }
}

/**
 * Runs `read` for every interface with a socket, all at once (a hung daemon costs LIST_TIMEOUT_MS, not that many
 * times over). Interfaces whose socket vanished meanwhile are dropped; other failures are returned in order.
 */
export async function forEachInterface<T>(read: (ifname: string) => Promise<T>): Promise<({ name: string; value: T } | { name: string; error: CliError })[]> {
  const names = listSocketInterfaces();
  const settled = await Promise.allSettled(names.map(read));
  const out: ({ name: string; value: T } | { name: string; error: CliError })[] = [];
  settled.forEach((r, i) => {
    const name = names[i];
    if (r.status === "fulfilled") out.push({ name, value: r.value });
    else if (!(r.reason instanceof CliError)) throw r.reason;
    else if (existsSync(socketPath(name))) out.push({ name, error: r.reason });
  });
  return out;
}
