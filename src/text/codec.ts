// The text forms bunwg reads and writes, one codec each, used by the daemon, the CLI and the tests alike:
// keys (base64 for people, lowercase hex on the configuration socket: docs/configuration-protocol.md), IP
// addresses, prefixes (allowed IPs, §2), UDP endpoints, decimal integers, and the quoting of a bad value in an
// error message. Nothing here imports anything: every layer may use it, the protocol core included.

// ---- Quoting -------------------------------------------------------------------------------------------------------

/** A value for an error message: JSON-quoted (control bytes escaped), shortened when long. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 64)}…(${text.length} characters)` : text);
}

// ---- Integers ------------------------------------------------------------------------------------------------------

/** Decimal digits only (leading zeros allowed, as Go's ParseUint); -1 when not a number or above max. */
export function parseUint(text: string, max: number): number {
  if (text.length === 0) return -1;
  let v = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
    if (v > max) return -1;
  }
  return v;
}

// ---- Keys (whitepaper §5.4: 32-byte Curve25519 keys) ----------------------------------------------------------------

export const KEY_BYTES = 32;
// 32 bytes are 43 base64 digits and one '=': the last digit carries 4 bits, so its 2 low bits must be zero.
const BASE64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

function hexDigit(c: number): number {
  return c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
}

/** 64 hex digits (either case) → 32 bytes, or null. */
export function tryKeyFromHex(text: string): Uint8Array | null {
  if (text.length !== 2 * KEY_BYTES) return null;
  const out = new Uint8Array(KEY_BYTES);
  for (let i = 0; i < text.length; i++) {
    const d = hexDigit(text.charCodeAt(i));
    if (d < 0) return null;
    out[i >>> 1] |= i & 1 ? d : d << 4;
  }
  return out;
}

/** 44 characters of base64 → 32 bytes, or null. */
export function tryKeyFromBase64(text: string): Uint8Array | null {
  return BASE64_KEY.test(text) ? new Uint8Array(Buffer.from(text, "base64")) : null;
}

function shownKey(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

/** Decodes a base64 key; `what` names it in the error (e.g. "public key"). */
export function keyFromBase64(text: string, what = "key"): Uint8Array {
  const k = tryKeyFromBase64(text);
  if (k === null) throw new Error(`${what}: expected 32 bytes of base64 (44 characters), got ${shownKey(text)}`);
  return k;
}

/** Decodes a key from hex (either case); `what` names it in the error. */
export function keyFromHex(text: string, what = "key"): Uint8Array {
  const k = tryKeyFromHex(text);
  if (k === null) throw new Error(`${what}: expected 32 bytes of hex (64 characters), got ${shownKey(text)}`);
  return k;
}

// Through the Uint8Array methods, not Buffer.from(key.buffer): reading `.buffer` gives a small typed array an
// ArrayBuffer object and moves its bytes to a separate allocation for good, a few hundred bytes per peer key
// (bench/RESULTS.md, "Memory").
type Encodable = Uint8Array & { toBase64(): string; toHex(): string };

export function keyToBase64(key: Uint8Array): string {
  return (key as Encodable).toBase64();
}

/** Lowercase hex, as the configuration socket speaks it. */
export function keyToHex(key: Uint8Array): string {
  return (key as Encodable).toHex();
}

// ---- IP addresses ----------------------------------------------------------------------------------------------------

/** Parses a dotted-quad IPv4 or an RFC 4291 IPv6 address (with `::` and a trailing dotted quad); null if invalid.
 *  Like inet_pton and Go's netip: no leading zeros in IPv4 octets, no zones. */
export function parseIp(text: string): Uint8Array | null {
  return text.includes(":") ? parseIp6(text) : parseIp4(text);
}

function parseIp4(text: string, out = new Uint8Array(4), at = 0): Uint8Array | null {
  let part = 0, val = 0, digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46; // a virtual '.' ends the last octet
    if (c === 46) {
      if (digits === 0 || part > 3) return null;
      out[at + part++] = val;
      val = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && val === 0) return null; // leading zero
      val = val * 10 + (c - 48);
      if (val > 255) return null;
      digits++;
    } else return null;
  }
  return part === 4 ? out : null;
}

function parseIp6(text: string): Uint8Array | null {
  const out = new Uint8Array(16);
  const gap = text.indexOf("::");
  if (gap !== -1 && text.indexOf("::", gap + 1) !== -1) return null;
  const head = gap === -1 ? text : text.slice(0, gap);
  const tail = gap === -1 ? "" : text.slice(gap + 2);
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === "" ? [] : tail.split(":");
  // The last group of the whole address may be a dotted quad worth two groups.
  const last = gap === -1 ? headGroups : tailGroups;
  let v4: Uint8Array | null = null;
  if (last.length > 0 && last[last.length - 1].includes(".")) {
    v4 = parseIp4(last.pop()!);
    if (v4 === null) return null;
  }
  const total = headGroups.length + tailGroups.length + (v4 ? 2 : 0);
  if (gap === -1 ? total !== 8 : total > 7) return null;
  let at = 0;
  for (const g of headGroups) {
    const v = parseHexGroup(g);
    if (v < 0) return null;
    out[at++] = v >>> 8;
    out[at++] = v & 255;
  }
  at = 16 - 2 * tailGroups.length - (v4 ? 4 : 0);
  for (const g of tailGroups) {
    const v = parseHexGroup(g);
    if (v < 0) return null;
    out[at++] = v >>> 8;
    out[at++] = v & 255;
  }
  if (v4) out.set(v4, 12);
  return out;
}

function parseHexGroup(g: string): number {
  if (g.length === 0 || g.length > 4) return -1;
  let v = 0;
  for (let i = 0; i < g.length; i++) {
    const d = hexDigit(g.charCodeAt(i));
    if (d < 0) return -1;
    v = (v << 4) | d;
  }
  return v;
}

/** Canonical text of a 4- or 16-byte address: dotted quad, or RFC 5952 IPv6 (IPv4-mapped as ::ffff:a.b.c.d). */
export function formatIp(addr: Uint8Array): string {
  if (addr.length === 4) return `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}`;
  if (addr.length !== 16) throw new RangeError(`address: expected 4 or 16 bytes, got ${addr.length}`);
  let mapped = addr[10] === 0xff && addr[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) mapped = addr[i] === 0;
  if (mapped) return `::ffff:${addr[12]}.${addr[13]}.${addr[14]}.${addr[15]}`;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((addr[i] << 8) | addr[i + 1]);
  // Longest run of two or more zero groups (the first on ties) becomes "::" (RFC 5952 §4.2).
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

// ---- Prefixes (allowed IPs, whitepaper §2) ---------------------------------------------------------------------------

export interface AllowedIp {
  addr: Uint8Array; // 4 or 16 bytes, host bits zero
  cidr: number;
}

/** Parses ADDRESS/PREFIX; host bits are cleared (10.0.0.1/24 → 10.0.0.0/24), as wg does. Returns the part of an
 *  error message after the subject ("expected …, got "…"") when the text is not a valid prefix. */
export function tryParseCidr(text: string): AllowedIp | string {
  const slash = text.indexOf("/");
  const six = text.includes(":");
  const fail = () => `expected ADDRESS/PREFIX with prefix ${six ? "0-128 for IPv6" : "0-32 for IPv4"}, got ${quote(text)}`;
  if (slash < 0) return fail();
  const addr = six ? parseIp6(text.slice(0, slash)) : parseIp4(text.slice(0, slash));
  if (addr === null) return fail();
  const cidr = parsePrefixLength(text.slice(slash + 1), addr.length * 8);
  if (cidr < 0) return fail();
  maskInPlace(addr, cidr);
  return { addr, cidr };
}

/** A prefix length 0..max: decimal without sign or leading zeros (as Go's netip.ParsePrefix); -1 otherwise. */
export function parsePrefixLength(bits: string, max: number): number {
  if (bits.length === 0 || bits.length > 3 || (bits.length > 1 && bits.charCodeAt(0) === 48)) return -1;
  return parseUint(bits, max);
}

/** Parses ADDRESS/PREFIX (see tryParseCidr); throws an Error naming the text and what was expected. */
export function parseCidr(text: string): AllowedIp {
  const r = tryParseCidr(text);
  if (typeof r === "string") throw new Error(`allowed IP: ${r}`);
  return r;
}

export function formatCidr(a: AllowedIp): string {
  return `${formatIp(a.addr)}/${a.cidr}`;
}

/** Clears the bits of addr after the first cidr. */
export function maskInPlace(addr: Uint8Array, cidr: number): void {
  for (let i = 0; i < addr.length; i++) {
    const keep = cidr - 8 * i;
    if (keep >= 8) continue;
    addr[i] = keep <= 0 ? 0 : addr[i] & (0xff00 >>> keep);
  }
}

// ---- UDP endpoints ---------------------------------------------------------------------------------------------------

/** A peer's UDP endpoint as configured: numeric address in canonical text (dotted quad, or RFC 5952 IPv6 without
 *  brackets), port, family. */
export interface EndpointAddress {
  address: string;
  port: number;
  family: 4 | 6;
}

/** `1.2.3.4:51820` or `[2001:db8::1]:51820` (numeric addresses only) → EndpointAddress, or the "expected …" text. */
export function tryParseEndpoint(text: string): EndpointAddress | string {
  const fail = `expected IPv4:PORT or [IPv6]:PORT with a numeric address and a port 0-65535, got ${quote(text)}`;
  let host: string, portText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text.charCodeAt(close + 1) !== 58 /* : */) return fail;
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (host.includes("%")) return `scoped IPv6 addresses (%zone) are not supported, got ${quote(text)}`;
    if (!host.includes(":")) return fail;
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) return fail;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(":")) return fail; // IPv6 needs brackets
  }
  const addr = parseIp(host);
  const port = parseUint(portText, 65535);
  if (addr === null || port < 0) return fail;
  return { address: formatIp(addr), port, family: addr.length === 4 ? 4 : 6 };
}

export function formatEndpoint(e: EndpointAddress): string {
  return e.family === 6 ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}
