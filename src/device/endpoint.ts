// A peer's UDP endpoint (§2: it follows the latest authenticated packet). Kept as the native library's 48-byte
// endpoint record (zig/src/udp.zig): family, port, remote address, and the local address the peer reached us at,
// which replies reuse as their source ("sticky sockets"). Records compare as ten 32-bit words per packet; the
// display strings are made only when the endpoint changes.
import { formatIp, parseIp } from "../text/codec.ts";

export const EP_SIZE = 48;
/** Byte 40 of a record after a batched send (zig/src/udp.zig): the pinned source had vanished and was dropped… */
export const SOURCE_DROPPED = 1;
/** …or the endpoint is IPv6 and the socket IPv4-only: nothing was sent. */
export const FAMILY_REFUSED = 2;
const V4_MAPPED = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

export class Endpoint {
  /** What sends use: as received, but the source may be cleared (clearSource). */
  readonly rec: Uint8Array;
  readonly words: Int32Array;
  /** The record as the peer's packet brought it, local address included: what later packets are matched against,
   *  what the route check asks about, and where a cleared source comes back from (restoreSource). */
  readonly seen: Uint8Array;
  private readonly seenWords: Int32Array;
  readonly family: 4 | 6;
  readonly port: number;
  readonly address: string;
  /** Set once the refusal to send to this endpoint (IPv6 on an IPv4-only socket) was logged. */
  refusedLogged = false;

  /** From a record at buf[off] (received datagram's source). */
  constructor(buf: Uint8Array, off: number) {
    // Both records in one buffer: one backing store per endpoint instead of two (bench/RESULTS.md, "Memory").
    // Signed word views: read as unsigned, the ::ffff: prefix of every IPv4 record (and a port ≥ 32768) is beyond
    // the 32-bit integers JavaScriptCore's optimising tier keeps matches() in; it left that code on each packet
    // (test/robust/udp-path.test.ts, "endpoint records"). Equality is the same either way.
    const mem = new ArrayBuffer(2 * EP_SIZE);
    this.rec = new Uint8Array(mem, 0, EP_SIZE);
    this.words = new Int32Array(mem, 0, EP_SIZE / 4);
    this.seen = new Uint8Array(mem, EP_SIZE, EP_SIZE);
    this.seenWords = new Int32Array(mem, EP_SIZE, EP_SIZE / 4);
    this.rec.set(buf.subarray(off, off + 40));
    this.seen.set(this.rec);
    this.family = this.rec[0] === 6 ? 6 : 4;
    this.port = this.rec[2] | (this.rec[3] << 8);
    this.address = formatIp(this.family === 4 ? this.rec.subarray(20, 24) : this.rec.subarray(8, 24));
  }

  /** From a validated configuration endpoint (src/uapi/set.ts checked the address). */
  static fromAddress(address: string, port: number, family: 4 | 6): Endpoint {
    const ip = parseIp(address);
    if (ip === null || ip.length !== (family === 4 ? 4 : 16)) throw new Error(`endpoint: expected an IPv${family} address, got "${address}"`);
    const rec = new Uint8Array(EP_SIZE);
    rec[0] = family;
    rec[2] = port & 0xff;
    rec[3] = port >>> 8;
    if (family === 4) {
      rec.set(V4_MAPPED, 8);
      rec.set(ip, 20);
    } else rec.set(ip, 8);
    return new Endpoint(rec, 0);
  }

  /** True when the record at words[w..w+10) (a received datagram's source and local address) is this one. The
   *  interface it came in on (word 1) counts only for an IPv6 link-local address, where it is part of the address:
   *  a peer that pins its reply source and interface (wireguard-go) may answer our address over another link after
   *  a route change, and learnt anew there the address would pass the route check (device.ts) on a link it does not
   *  belong to (test/robust/udp-path.test.ts, "endpoint records"). */
  matches(words: Int32Array, w: number): boolean {
    const a = this.seenWords;
    if (a[0] !== words[w]) return false;
    for (let i = 2; i < 10; i++) if (a[i] !== words[w + i]) return false;
    return a[1] === words[w + 1] || !this.linkLocalSource;
  }

  /** Whether the local address the peer reached (in `seen`) is IPv6 link-local: fe80::/10. */
  private get linkLocalSource(): boolean {
    return this.seen[24] === 0xfe && (this.seen[25] & 0xc0) === 0x80;
  }

  /** Stop using the local source address (gone, or no longer the way to the peer): the kernel chooses. Packets
   *  the peer keeps sending to that address match `seen` and do not pin it again; restoreSource does, once the
   *  route leads back through the interface it was learned on (device.ts). */
  clearSource(): void { this.rec.fill(0, 24, 41); }

  restoreSource(): void { this.rec.set(this.seen.subarray(24, 41), 24); }

  /** Forget the learned source for good (another socket, a configured endpoint): the peer's next packet pins a new one. */
  forgetSource(): void {
    this.clearSource();
    this.seen.fill(0, 24, 41);
  }

  /** Whether replies are pinned to a local source address. */
  hasSource(): boolean {
    const w = this.words;
    return (w[6] | w[7] | w[8] | w[9]) !== 0;
  }

  /** Whether the peer's packet told us a local address (kept in `seen`, used or not). */
  learnedSource(): boolean {
    const w = this.seenWords;
    return (w[6] | w[7] | w[8] | w[9]) !== 0;
  }

  /** The interface the pinned source was learned on (0 = unknown). */
  get sourceInterface(): number { return (this.rec[4] | (this.rec[5] << 8) | (this.rec[6] << 16) | (this.rec[7] << 24)) >>> 0; }

  toString(): string { return this.family === 6 ? `[${this.address}]:${this.port}` : `${this.address}:${this.port}`; }

  /** IP bytes ‖ port (big-endian): what the cookie MAC covers (§5.4.7) and what rate limiting keys on. */
  sourceBytes(): Uint8Array {
    const ip = this.family === 4 ? this.rec.subarray(20, 24) : this.rec.subarray(8, 24);
    const out = new Uint8Array(ip.length + 2);
    out.set(ip);
    out[ip.length] = this.port >>> 8;
    out[ip.length + 1] = this.port & 0xff;
    return out;
  }
}
