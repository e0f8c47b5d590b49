// A peer's UDP endpoint (§2: it follows the latest authenticated packet). Kept as the native library's 48-byte
// endpoint record (zig/src/udp.zig): family, port, remote address, and the local address the peer reached us at,
// which replies reuse as their source ("sticky sockets"). Records compare as ten 32-bit words per packet; the
// display strings are made only when the endpoint changes.

export const EP_SIZE = 48;
const V4_MAPPED = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

export class Endpoint {
  readonly rec = new Uint8Array(EP_SIZE);
  readonly words = new Uint32Array(this.rec.buffer);
  readonly family: 4 | 6;
  readonly port: number;
  readonly address: string;

  /** From a record at buf[off] (received datagram's source). */
  constructor(buf: Uint8Array, off: number) {
    this.rec.set(buf.subarray(off, off + 40));
    this.family = this.rec[0] === 6 ? 6 : 4;
    this.port = this.rec[2]! | (this.rec[3]! << 8);
    this.address = this.family === 4 ? Array.from(this.rec.subarray(20, 24)).join(".") : formatIPv6(this.rec.subarray(8, 24));
  }

  static fromAddress(address: string, port: number, family: 4 | 6): Endpoint {
    const rec = new Uint8Array(EP_SIZE);
    rec[0] = family;
    rec[2] = port & 0xff;
    rec[3] = port >>> 8;
    if (family === 4) {
      rec.set(V4_MAPPED, 8);
      rec.set(parseIPv4(address), 20);
    } else rec.set(parseIPv6(address), 8);
    return new Endpoint(rec, 0);
  }

  /** True when the record at words[w..w+10) (a received datagram's source and local address) is this one. */
  matches(words: Uint32Array, w: number): boolean {
    const a = this.words;
    for (let i = 0; i < 10; i++) if (a[i] !== words[w + i]) return false;
    return true;
  }

  /** Forget the local source address (it no longer exists); the kernel chooses again. */
  clearSource(): void { this.rec.fill(0, 24, 41); }

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

export function formatIPv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  // RFC 5952: the longest run (≥ 2) of zero groups becomes "::".
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = (g: number) => g.toString(16);
  if (bestStart < 0) return groups.map(hex).join(":");
  const head = groups.slice(0, bestStart).map(hex).join(":");
  const tail = groups.slice(bestStart + bestLen).map(hex).join(":");
  return `${head}::${tail}`;
}

export function parseIPv4(s: string): Uint8Array {
  const parts = s.split(".");
  if (parts.length !== 4) throw new Error(`IPv4 address: expected a.b.c.d, got "${s}"`);
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`IPv4 address: expected a.b.c.d with parts 0-255, got "${s}"`);
    out[i] = Number(p);
  }
  return out;
}

export function parseIPv6(s: string): Uint8Array {
  const bad = () => new Error(`IPv6 address: expected eight groups of hex digits, or fewer with "::", got "${s}"`);
  let text = s;
  const out = new Uint8Array(16);
  let tail4: Uint8Array | null = null;
  const lastColon = text.lastIndexOf(":");
  if (lastColon < 0) throw bad();
  if (text.includes(".", lastColon)) {
    tail4 = parseIPv4(text.slice(lastColon + 1));
    text = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = text.split("::");
  if (halves.length > 2) throw bad();
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const groups = head.length + tail.length;
  if (halves.length === 1 ? groups !== 8 : groups > 7) throw bad();
  const put = (g: string, i: number) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw bad();
    const v = parseInt(g, 16);
    out[2 * i] = v >>> 8;
    out[2 * i + 1] = v & 0xff;
  };
  head.forEach((g, i) => put(g, i));
  tail.forEach((g, i) => put(g, 8 - tail.length + i));
  if (tail4) out.set(tail4, 12);
  return out;
}
