// The configuration socket: /var/run/wireguard/IFNAME.sock, speaking the cross-platform protocol that wg(8) and
// wg-quick use (framing in src/uapi/framing.ts, meaning in src/uapi/set.ts and get.ts). Requests are handled one at a time per device, so a `set` is
// validated and applied whole before the next request is looked at; a failed `set` changes nothing.
import { chmodSync, mkdirSync, unlinkSync, existsSync } from "node:fs";
import type { Socket, UnixSocketListener } from "bun";
import type { Device } from "./device.ts";
import type { Logger } from "./log.ts";
import { ConfigError, EIO } from "../config/errors.ts";
import { errnoAnswer, RequestParser, type Request } from "../uapi/framing.ts";
import { formatGetPieces } from "../uapi/get.ts";
import { applySet } from "../uapi/set.ts";
import { SOCKET_DIR, socketPath } from "../uapi/socket.ts";
import { formatCounters } from "./counters.ts";

/** A connection that sends nothing for this long is closed: a request cut off halfway must not hang anything. */
const IDLE_TIMEOUT_S = 10;
/** More than any answer (130,000 allowed IPs make ~4 MB) times a few pipelined requests. */
const MAX_UNREAD_BYTES = 64 << 20;

interface Conn { parser: RequestParser; out: Uint8Array[]; queued: number; endAfter: boolean }

const encoder = new TextEncoder();

/** Bun's socket write may take only part of a large answer (a get with 130,000 allowed IPs is megabytes): keep
 *  the rest, in the pieces it came in (a large get comes as pieces, src/uapi/get.ts formatGetPieces), and continue
 *  on drain. */
function send(s: Socket<Conn>, answer: string | Iterable<string>): void {
  try {
    queueAnswer(s, answer);
  } catch {
    // A piece could not be made after others went out: the answer cannot be completed, so end the connection
    // rather than leave it half-written (and keep the request queue going).
    s.data.out = [];
    s.data.queued = 0;
    s.end();
  }
}

/** A young-generation collection every this many pieces of an answer (256 peers each): the pieces' garbage (key
 *  text, lines) goes as it is made instead of piling up until an allocation-driven collection. A 20,000-peer get
 *  then peaks ~12 MiB above the heap instead of ~31 (in-process, same machine), for a few ms. */
const COLLECT_EVERY_PIECES = 16;

function queueAnswer(s: Socket<Conn>, answer: string | Iterable<string>): void {
  let pieces = 0;
  for (const text of typeof answer === "string" ? [answer] : answer) {
    if (++pieces % COLLECT_EVERY_PIECES === 0) Bun.gc(false);
    const bytes = encoder.encode(text);
    // A client that sends requests but never reads the answers is cut off rather than buffered without end.
    if (s.data.queued + bytes.length > MAX_UNREAD_BYTES) {
      s.data.out = [];
      s.data.queued = 0;
      s.end();
      return;
    }
    s.data.out.push(bytes);
    s.data.queued += bytes.length;
    flush(s);
  }
}

function flush(s: Socket<Conn>): void {
  const q = s.data.out;
  while (q.length > 0) {
    const head = q[0];
    const n = s.write(head);
    if (n < head.length) {
      if (n > 0) {
        q[0] = head.subarray(n);
        s.data.queued -= n;
      }
      return;
    }
    q.shift();
    s.data.queued -= head.length;
  }
  if (s.data.endAfter) s.end();
}

export async function startIpc(ifname: string, dev: Device, log: Logger): Promise<{ path: string; close(): void }> {
  mkdirSync(SOCKET_DIR, { recursive: true, mode: 0o755 });
  const path = socketPath(ifname);
  if (existsSync(path)) unlinkSync(path); // stale: the caller checked nobody answers on it
  let queue: Promise<void> = Promise.resolve();
  const old = process.umask(0o077);
  let server: UnixSocketListener<Conn>;
  try {
    server = Bun.listen<Conn>({
      unix: path,
      socket: {
        open(s) {
          s.data = { parser: new RequestParser(), out: [], queued: 0, endAfter: false };
          s.timeout(IDLE_TIMEOUT_S);
        },
        data(s, chunk) {
          const reqs = s.data.parser.feed(chunk);
          for (const req of reqs) {
            // Serialise all requests of the device: a set is applied whole before anything else is read.
            queue = queue.then(() => handle(dev, log, req)).then((answer) => send(s, answer),
              (e) => {
                log.error(`Configuration request failed: ${(e as Error).message}`);
                send(s, errnoAnswer(EIO, req.kind === "get" ? "get" : "set"));
              });
            if (req.kind === "error" && req.close) {
              queue = queue.then(() => {
                s.data.endAfter = true;
                if (s.data.out.length === 0) s.end();
              });
              break;
            }
          }
        },
        drain(s) { flush(s); },
        timeout(s) { if (s.data.out.length === 0) s.end(); },
        error(_s, e) { log.debug(`Configuration socket error: ${e.message}`); },
      },
    });
  } finally {
    process.umask(old);
  }
  chmodSync(path, 0o600);
  return {
    path,
    close() {
      server.stop(true);
      try { unlinkSync(path); } catch { /* already gone */ }
    },
  };
}

/** Lines of a set request from which it is worth a full collection between validating and applying it: ~2,500
 *  peers as wg setconf writes them; a collection then costs a few ms against the hundreds the request takes. */
const LARGE_SET_LINES = 10_000;

/** Validates a set request and lets go of its lines (the request object stays queued until answered). */
function validateSet(dev: Device, req: Extract<Request, { kind: "set" }>): ReturnType<typeof applySet> {
  const lines = req.lines;
  req.lines = [];
  return applySet(dev.config, lines, { derivePublicKey: (k) => dev.engine.publicKeyOf(k) });
}

async function handle(dev: Device, log: Logger, req: Request): Promise<string | Iterable<string>> {
  switch (req.kind) {
    case "get":
      if (req.counters) return formatCounters(dev.counters.snapshot(dev.peers.values()));
      return formatGetPieces(dev.snapshot(), (pub: Uint8Array) => dev.stats(pub), req.extensions);
    case "set": {
      const lines = req.lines.length;
      const result = validateSet(dev, req);
      // A large request's lines and the validation's working objects are garbage by now: collect them before the
      // device builds its peers, rather than let them raise the high-water mark, which the process keeps
      // (bench/RESULTS.md, "Memory": the peak of a 20,000-peer setconf).
      if (lines >= LARGE_SET_LINES) Bun.gc(true);
      if (!result.ok) {
        log.error(`Configuration request rejected: ${result.message}`);
        return errnoAnswer(result.errno);
      }
      try {
        dev.applyConfig(result.config, result.changes);
      } catch (e) {
        if (e instanceof ConfigError) {
          log.error(`Configuration request rejected: ${e.message}`);
          return errnoAnswer(e.errno);
        }
        throw e;
      }
      return errnoAnswer(0);
    }
    case "error":
      log.error(`Configuration request rejected: ${req.message}`);
      return errnoAnswer(req.errno, req.op);
  }
}
