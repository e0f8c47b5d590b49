// Addresses and prefixes as typed on the command line (wgaip, interface addresses), validated before anything is
// sent. Allowed IPs are put in the daemon's own canonical form (src/text/codec.ts: host bits cleared,
// RFC 5952 text), so "10.0.0.1/8" and "10.0.0.0/8" compare equal, as the allowed-IPs table treats them (§3).
import { formatCidr, parseIp, parsePrefixLength, tryParseCidr } from "../text/codec.ts";

export interface Prefix {
  family: 4 | 6;
  /** the address as typed (host bits kept: an interface address needs them) */
  address: string;
  bits: number;
}

/** Parses "A.B.C.D/N" or "X::Y/N"; without "/N" the prefix is the whole address when `hostDefault`. */
export function parsePrefix(text: string, hostDefault: boolean): Prefix | null {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const bitsText = slash < 0 ? null : text.slice(slash + 1);
  const ip = parseIp(addr);
  if (ip === null) return null;
  const max = ip.length * 8;
  const bits = bitsText === null ? (hostDefault ? max : -1) : parsePrefixLength(bitsText, max);
  if (bits < 0) return null;
  return { family: ip.length === 4 ? 4 : 6, address: addr, bits };
}

/** The network a prefix names in the daemon's canonical text, or null when it is not a valid prefix. */
export function canonicalNetwork(text: string): string | null {
  const a = tryParseCidr(text);
  return typeof a === "string" ? null : formatCidr(a);
}

/** IPv4 netmask in OpenBSD ifconfig's style: 0xffffff00. */
export function netmaskHex(bits: number): string {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return `0x${mask.toString(16).padStart(8, "0")}`;
}

/** Prefix length of an IPv4 netmask as OpenBSD ifconfig takes it ("255.255.255.0" or "0xffffff00"), or null when the
 *  text is no netmask or its one-bits are not contiguous. */
export function netmaskBits(text: string): number | null {
  let mask: number;
  const ip = parseIp(text);
  if (/^0x[0-9a-fA-F]{8}$/.test(text)) mask = Number.parseInt(text.slice(2), 16);
  else if (ip !== null && ip.length === 4) mask = ip.reduce((m, o) => m * 256 + o, 0);
  else return null;
  const inverted = ~mask >>> 0;
  if ((inverted & (inverted + 1)) !== 0) return null; // ones must be contiguous from the top
  return 32 - Math.log2(inverted + 1);
}
