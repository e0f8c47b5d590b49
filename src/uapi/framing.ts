// The configuration protocol's framing (docs/configuration-protocol.md): a connection's bytes → requests
// (`get=1`, `get=bunwg`, `set=1` and their key=value lines up to an empty line), and the status line that ends
// every answer. Pure: bytes in, requests out; set.ts and get.ts give the requests their meaning.
//
// Differences from wireguard-go, on purpose:
// - a request cut off before its empty line is never applied (wireguard-go applies what it read at EOF);
// - `get=bunwg` answers the standard keys plus our extensions (bunwg_debug, bunwg_rdomain, bunwg_description).
import { EINVAL, EPROTO, hideSecrets } from "../config/errors.ts";
import { quote } from "../text/codec.ts";

/** bunwg's counters (src/device/counters.ts): a request wg(8) never sends; wireguard-go closes the connection on it. */
export const COUNTERS_REQUEST = "get=bunwg-counters";

type Operation = "get" | "getExt" | "counters" | "set";
/** The first line of each request the protocol knows, and what it starts. */
const OPERATIONS = new Map<string, Operation>([["get=1", "get"], ["get=bunwg", "getExt"], [COUNTERS_REQUEST, "counters"], ["set=1", "set"]]);
const KNOWN_OPERATIONS = ((names) => `${names.slice(0, -1).join(", ")} or ${names.at(-1)}`)([...OPERATIONS.keys()]);

export type Request =
  // counters: `get=bunwg-counters`, answered by src/device/counters.ts (a request wg(8) never sends)
  | { kind: "get"; extensions: boolean; counters?: true }
  // lines: the key=value lines without the `set=1` header; line numbers in errors count that header as line 1.
  | { kind: "set"; lines: string[] }
  // A request that could not be read. op says how to answer it (errnoAnswer); after close, nothing more can be
  // read from the connection (unknown operation: we no longer know where requests start).
  | { kind: "error"; op: "get" | "set" | "unknown"; errno: number; message: string; close: boolean };

export interface ParserLimits {
  maxLineBytes: number;
  maxRequestBytes: number;
}

/** Splits a connection's bytes into requests. Never throws; hostile input becomes `error` requests. A request
 *  without its final empty line stays pending (the server times the connection out; nothing is applied). */
export class RequestParser {
  private readonly limits: ParserLimits;
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  private op: Operation | null = null;
  private lines: string[] = [];
  private lineNo = 0;
  private requestBytes = 0;
  private failure: { errno: number; message: string } | null = null;
  private partial: Uint8Array[] = [];
  private partialBytes = 0;
  private overlong = false; // the current (unfinished) line passed maxLineBytes: its bytes are being dropped
  private done = false;

  constructor(limits: Partial<ParserLimits> = {}) {
    // 64 KiB lines; 64 MiB requests hold ~1M allowed IPs (a line is ≤ 56 bytes).
    this.limits = { maxLineBytes: 65536, maxRequestBytes: 64 << 20, ...limits };
  }

  /** True while a request (or a line) has started and not ended. */
  get pending(): boolean {
    return !this.done && (this.op !== null || this.partialBytes > 0 || this.overlong);
  }

  /** True after an error that ends the connection. */
  get closed(): boolean {
    return this.done;
  }

  feed(chunk: Uint8Array): Request[] {
    const out: Request[] = [];
    let pos = 0;
    while (pos < chunk.length && !this.done) {
      const nl = chunk.indexOf(10, pos);
      if (nl < 0) {
        this.stash(chunk.subarray(pos));
        break;
      }
      if (this.partialBytes > 0 || this.overlong) {
        // Finish the line begun in an earlier chunk.
        this.stash(chunk.subarray(pos, nl));
        if (this.overlong) this.take(null, `longer than ${this.limits.maxLineBytes} bytes`, out);
        else {
          const bytes = this.partial.length === 1 ? this.partial[0] : Buffer.concat(this.partial);
          this.takeBytes(bytes, out);
        }
        this.partial = [];
        this.partialBytes = 0;
        this.overlong = false;
        pos = nl + 1;
        continue;
      }
      // All complete lines of this chunk at once: one decode and one split is several times faster than a
      // decode per line (a 130,000-line set is ~4 MB).
      const last = chunk.lastIndexOf(10);
      const run = chunk.subarray(pos, last);
      let text: string | null = null;
      try {
        text = this.decoder.decode(run);
      } catch {
        text = null; // some line is not UTF-8: find it line by line
      }
      if (text !== null) {
        for (const line of text.split("\n")) {
          if (this.done) break;
          if (line.length > this.limits.maxLineBytes) this.take(null, `longer than ${this.limits.maxLineBytes} bytes`, out);
          else this.take(line, null, out);
        }
      } else {
        for (let s = pos; s <= last && !this.done; ) {
          const e = chunk.indexOf(10, s);
          this.takeBytes(chunk.subarray(s, e), out);
          s = e + 1;
        }
      }
      pos = last + 1;
    }
    return out;
  }

  private stash(bytes: Uint8Array): void {
    if (this.overlong || bytes.length === 0) return;
    if (this.partialBytes + bytes.length > this.limits.maxLineBytes) {
      this.overlong = true;
      this.partial = [];
      this.partialBytes = 0;
      return;
    }
    this.partial.push(new Uint8Array(bytes)); // a copy: the caller may reuse its buffer
    this.partialBytes += bytes.length;
  }

  private takeBytes(bytes: Uint8Array, out: Request[]): void {
    if (bytes.length > this.limits.maxLineBytes) return this.take(null, `longer than ${this.limits.maxLineBytes} bytes`, out);
    let line: string;
    try {
      line = this.decoder.decode(bytes);
    } catch {
      return this.take(null, "not valid UTF-8 text", out);
    }
    this.take(line, null, out);
  }

  // One complete line (or the reason it is unusable).
  private take(line: string | null, problem: string | null, out: Request[]): void {
    if (this.op === null) {
      if (line === "") return; // stray empty lines between requests are harmless
      const op = line === null ? undefined : OPERATIONS.get(line);
      if (op !== undefined) {
        this.op = op;
        this.lines = [];
        this.lineNo = 1;
        this.requestBytes = 0;
        this.failure = null;
        return;
      }
      const what = line === null ? `a line ${problem}` : quote(line);
      out.push({ kind: "error", op: "unknown", errno: EPROTO, message: hideSecrets(`unknown operation ${what}: expected ${KNOWN_OPERATIONS}`), close: true });
      this.done = true;
      return;
    }
    this.lineNo++;
    if (line === "") {
      const op = this.op === "set" ? "set" : "get";
      if (this.failure) out.push({ kind: "error", op, ...this.failure, close: false });
      else if (this.op === "set") out.push({ kind: "set", lines: this.lines });
      else if (this.op === "counters") out.push({ kind: "get", extensions: true, counters: true });
      else out.push({ kind: "get", extensions: this.op === "getExt" });
      this.op = null;
      this.lines = [];
      return;
    }
    if (this.failure) return; // already refused: read on to the end of the request, keeping nothing
    const fail = (errno: number, message: string) => {
      this.failure = { errno, message: hideSecrets(`line ${this.lineNo}: ${message}`) };
      this.lines = [];
    };
    if (line === null) return fail(EPROTO, problem!);
    if (line.includes("\0")) return fail(EPROTO, `contains a NUL byte: ${quote(line)}`);
    if (this.op !== "set") return fail(EINVAL, `get takes no keys, got ${quote(line)}`);
    this.requestBytes += line.length + 1;
    if (this.requestBytes > this.limits.maxRequestBytes) return fail(EPROTO, `request longer than ${this.limits.maxRequestBytes} bytes`);
    this.lines.push(line);
  }
}

/** The status line that ends an answer. wg(8) v1.0.20210914 (measured, see test/uapi.test.ts) reads a set's
 *  status with scanf and reports errno = −N, but a get's with an unsigned parser, where a sign becomes
 *  "Protocol error". So a set answer carries −N (as wireguard-go's; wg prints e.g. "Invalid argument") and a get
 *  answer N (wireguard-go sends −N there too, and wg then prints "Protocol error"). */
export function errnoAnswer(errno: number, op: "get" | "set" | "unknown" = "set"): string {
  const n = Math.abs(errno);
  return `errno=${n === 0 || op === "get" ? n : -n}\n\n`;
}
