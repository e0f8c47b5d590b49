// The device's configuration as a value: what `set` requests build (src/uapi/set.ts), what the device applies
// (src/device/device.ts) and what `get` reports (src/uapi/get.ts). Configurations are values: nobody mutates a
// configuration, a peer or a key in place, so a new configuration shares unchanged peers (and their arrays) with
// the old one and the diff (diff.ts) can compare peers by identity first.
import { type AllowedIp, type EndpointAddress } from "../text/codec.ts";

export interface PeerConfig {
  publicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  endpoint: EndpointAddress | null;
  persistentKeepalive: number; // seconds, 0 = off
  allowedIps: AllowedIp[];
  protocolVersion: number;
  description: string; // bunwg extension
}

export interface DeviceConfig {
  privateKey: Uint8Array | null; // clamped
  listenPort: number;
  fwmark: number;
  peers: PeerConfig[];
  debug: boolean; // bunwg extension
  rdomain: string; // bunwg extension, informational: the network namespace the interface lives in ("" = ours)
}

/** What `get` reports beside the configuration, per peer. */
export interface PeerStats {
  lastHandshakeSec: number;
  lastHandshakeNsec: number;
  rxBytes: number | bigint;
  txBytes: number | bigint;
}

export const MAX_PEERS = 1 << 16; // as wireguard-go
export const MAX_DESCRIPTION = 64;
const NETNS_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export function emptyDeviceConfig(): DeviceConfig {
  return { privateKey: null, listenPort: 0, fwmark: 0, peers: [], debug: false, rdomain: "" };
}

export function emptyPeerConfig(publicKey: Uint8Array): PeerConfig {
  return { publicKey, presharedKey: null, endpoint: null, persistentKeepalive: 0, allowedIps: [], protocolVersion: 1, description: "" };
}

/** Why `name` cannot name the interface's network namespace (rdomain), or null when it can ("" = none). */
export function rdomainProblem(name: string): string | null {
  if (name === "" || (NETNS_NAME.test(name) && name !== "." && name !== "..")) return null;
  return `expected a network namespace name (1-64 letters, digits, "_", ".", "-") or nothing`;
}

/** Why `text` cannot be a peer's description, or null when it can. */
export function descriptionProblem(text: string): string | null {
  return text.length > MAX_DESCRIPTION || text.includes("\r") || text.includes("\n")
    ? `expected at most ${MAX_DESCRIPTION} characters on one line`
    : null;
}

export function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === b) return true;
  if (a === null || b === null || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A prefix's identity: one number for IPv4 (address × 64 + length), a short string for IPv6. */
export type PrefixKey = number | string;
export function prefixKey(p: AllowedIp): PrefixKey {
  const a = p.addr;
  if (a.length === 4) return (((a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3]) >>> 0) * 64 + p.cidr;
  let s = "";
  for (let i = 0; i < 16; i += 2) s += String.fromCharCode((a[i] << 8) | a[i + 1]);
  return s + String.fromCharCode(p.cidr);
}

/** The all-zero key stands for "none" (no private key, no preshared key), as wg(8) and wireguard-go read it. */
export function noneIfZero(key: Uint8Array): Uint8Array | null {
  for (let i = 0; i < key.length; i++) if (key[i] !== 0) return key;
  return null;
}
