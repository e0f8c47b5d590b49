// The cross-platform configuration protocol (wireguard.com/xplatform) that wg(8) and wg-quick speak over
// /var/run/wireguard/IFNAME.sock: `get=1` and `set=1` requests of key=value lines, each answer ending "errno=N\n\n".
// Everything here is pure: bytes in → requests; configuration + request → new configuration or an error.
//
// Differences from wireguard-go, on purpose:
// - a set is validated whole and applied all or nothing (wireguard-go applies the lines before a bad one);
// - a request cut off before its empty line is never applied (wireguard-go applies what it read at EOF);
// - `get=bunwg` answers the standard keys plus our extensions (bunwg_debug, bunwg_rdomain, bunwg_description).
import { formatCidr, formatIp, parseIp, quote, tryParseCidr, type AllowedIp } from "./allowedips.ts";
import { clampPrivateKey, keyToHex } from "../noise/keys.ts";
import { defaultX25519, type X25519 } from "../noise/x25519.ts";
import { isZero } from "../noise/primitives.ts";

// errno values as wireguard-go uses them (ipc/uapi_unix.go).
/** Where a daemon serves its interface's configuration (the cross-platform interface: wireguard-go, wg(8)). */
export const SOCKET_DIR = "/var/run/wireguard";
export function socketPath(ifname: string): string {
  return `${SOCKET_DIR}/${ifname}.sock`;
}

export const EIO = 5;
export const EINVAL = 22; // a key or value that is not valid
export const EPROTO = 71; // a request that is not the protocol (framing, binary junk)
export const EADDRINUSE = 98; // the daemon could not bind the new listen port

export interface Endpoint {
  address: string; // canonical text: dotted quad, or RFC 5952 IPv6 without brackets
  port: number;
  family: 4 | 6;
}

export interface PeerConfig {
  publicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  endpoint: Endpoint | null;
  persistentKeepalive: number; // seconds, 0 = off
  allowedIps: AllowedIp[];
  protocolVersion: number;
  description: string; // bunwg extension
}

// Configurations are values: applySet never changes its input and shares unchanged peers (and their arrays) with
// it, so nobody may mutate a configuration, a peer or a key in place.
export interface DeviceConfig {
  privateKey: Uint8Array | null; // clamped
  listenPort: number;
  fwmark: number;
  peers: PeerConfig[];
  debug: boolean; // bunwg extension
  rdomain: string; // bunwg extension, informational: the network namespace the interface lives in ("" = ours)
}

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

// ---- Keys --------------------------------------------------------------------------------------------------------

export { clampPrivateKey, keyToHex };

/** 64 hex digits (either case) → 32 bytes, or null. */
export function hexToKey(text: string): Uint8Array | null {
  if (text.length !== 64) return null;
  const out = new Uint8Array(32);
  for (let i = 0; i < 64; i++) {
    const c = text.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return null;
    out[i >>> 1]! |= i & 1 ? d : d << 4;
  }
  return out;
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === b) return true;
  if (a === null || b === null || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

let lastPriv: Uint8Array | null = null;
let lastPub: Uint8Array | null = null;
let dh: X25519 | null = null;
/** The default public-key derivation (the core's X25519: node:crypto, so the daemon need not load @noble/curves),
 *  remembering the last key: sets repeat the same one. */
export function derivePublicKey(privateKey: Uint8Array): Uint8Array {
  if (lastPriv === null || !sameBytes(lastPriv, privateKey)) {
    const key = (dh ??= defaultX25519()).privateKey(clampPrivateKey(privateKey));
    lastPub = key.publicKey;
    key.destroy();
    lastPriv = new Uint8Array(privateKey);
  }
  return lastPub!;
}

// ---- Endpoints -----------------------------------------------------------------------------------------------------

/** `1.2.3.4:51820` or `[2001:db8::1]:51820` (numeric addresses only) → Endpoint, or the "expected …" text. */
export function tryParseEndpoint(text: string): Endpoint | string {
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

export function formatEndpoint(e: Endpoint): string {
  return e.family === 6 ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

function sameEndpoint(a: Endpoint | null, b: Endpoint | null): boolean {
  if (a === null || b === null) return a === b;
  return a.address === b.address && a.port === b.port && a.family === b.family;
}

// Decimal digits only (leading zeros allowed, as Go's ParseUint); -1 when not a number or above max.
function parseUint(text: string, max: number): number {
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

// ---- Framing -------------------------------------------------------------------------------------------------------

/** Error messages end up in the daemon's log, and a bad line may hold a secret (a private or preshared key in the
 *  wrong form, one character too many, pasted into the wrong field): every run of 32 or more base64/hex characters
 *  is replaced by its length. No valid value of any other key is that long without a "." or ":". */
export function hideSecrets(message: string): string {
  return message.replace(/[A-Za-z0-9+/=]{32,}/g, (run) => `<${run.length} characters not shown>`);
}

export type Request =
  | { kind: "get"; extensions: boolean }
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
  private op: "get" | "getExt" | "set" | null = null;
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
          const bytes = this.partial.length === 1 ? this.partial[0]! : Buffer.concat(this.partial);
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
      if (line === "get=1" || line === "get=bunwg" || line === "set=1") {
        this.op = line === "set=1" ? "set" : line === "get=1" ? "get" : "getExt";
        this.lines = [];
        this.lineNo = 1;
        this.requestBytes = 0;
        this.failure = null;
        return;
      }
      const what = line === null ? `a line ${problem}` : quote(line);
      out.push({ kind: "error", op: "unknown", errno: EPROTO, message: hideSecrets(`unknown operation ${what}: expected get=1, get=bunwg or set=1`), close: true });
      this.done = true;
      return;
    }
    this.lineNo++;
    if (line === "") {
      const op = this.op === "set" ? "set" : "get";
      if (this.failure) out.push({ kind: "error", op, ...this.failure, close: false });
      else if (this.op === "set") out.push({ kind: "set", lines: this.lines });
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

// ---- set -----------------------------------------------------------------------------------------------------------

export interface PeerChange {
  old: PeerConfig;
  peer: PeerConfig;
  presharedKey: boolean;
  endpoint: boolean;
  persistentKeepalive: boolean;
  description: boolean;
  // Allowed IPs the peer gained and lost (a prefix moved between peers shows in both). Removing before or after
  // adding gives the same table, because AllowedIps.remove only removes what the peer owns.
  allowedIpsAdded: AllowedIp[];
  allowedIpsRemoved: AllowedIp[];
}

export interface ConfigChanges {
  privateKey: boolean;
  listenPort: boolean;
  fwmark: boolean;
  debug: boolean;
  rdomain: boolean;
  // Peers are matched by public key: one present before and after keeps its identity (and sessions), even when
  // the request removed and re-added it (replace_peers, as `wg setconf` does).
  added: PeerConfig[];
  removed: PeerConfig[];
  changed: PeerChange[];
}

export type SetResult =
  | { ok: true; config: DeviceConfig; changes: ConfigChanges }
  | { ok: false; errno: number; message: string };

export interface SetOptions {
  derivePublicKey?: (privateKey: Uint8Array) => Uint8Array;
  maxPeers?: number;
}

// A peer while a set is being applied. ips is null while unchanged (then base.allowedIps holds them).
interface WorkPeer {
  hex: string;
  base: PeerConfig | null; // the peer in the current configuration, null when (re)created by this request
  publicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  endpoint: Endpoint | null;
  persistentKeepalive: number;
  description: string;
  ips: Map<PrefixKey, AllowedIp> | null;
  dirty: boolean;
}

type PrefixKey = number | string;
function prefixKey(p: AllowedIp): PrefixKey {
  const a = p.addr;
  if (a.length === 4) return (((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0) * 64 + p.cidr;
  let s = "";
  for (let i = 0; i < 16; i += 2) s += String.fromCharCode((a[i]! << 8) | a[i + 1]!);
  return s + String.fromCharCode(p.cidr);
}

class SetError extends Error {
  constructor(readonly errno: number, message: string) {
    super(hideSecrets(message));
  }
}

const DEVICE_KEYS = ["private_key", "listen_port", "fwmark", "replace_peers", "bunwg_debug", "bunwg_rdomain"];
const PEER_KEYS = [
  "remove", "update_only", "preshared_key", "endpoint", "persistent_keepalive_interval", "replace_allowed_ips",
  "allowed_ip", "protocol_version", "bunwg_description",
];

/** Applies a set request's lines to `current`, all or nothing. `current` is not changed. */
export function applySet(current: DeviceConfig, lines: string[], opts: SetOptions = {}): SetResult {
  try {
    const next = new SetRun(current, opts).run(lines);
    return { ok: true, config: next, changes: diffConfigs(current, next) };
  } catch (e) {
    if (e instanceof SetError) return { ok: false, errno: e.errno, message: e.message };
    throw e;
  }
}

class SetRun {
  private privateKey: Uint8Array | null;
  private publicKey: Uint8Array | null | undefined; // undefined: not derived yet
  private listenPort: number;
  private fwmark: number;
  private debug: boolean;
  private rdomain: string;
  private readonly peers = new Map<string, WorkPeer>();
  private owners: Map<PrefixKey, WorkPeer> | null = null; // prefix → peer, built on the first allowed_ip
  private peer: WorkPeer | null = null; // the peer being configured; null = ignored (own key, removed, update_only)
  private created = false;
  private inPeers = false;
  private lineNo = 0;
  private readonly derive: (k: Uint8Array) => Uint8Array;
  private readonly maxPeers: number;

  constructor(private readonly current: DeviceConfig, opts: SetOptions) {
    this.privateKey = current.privateKey;
    this.listenPort = current.listenPort;
    this.fwmark = current.fwmark;
    this.debug = current.debug;
    this.rdomain = current.rdomain;
    this.derive = opts.derivePublicKey ?? derivePublicKey;
    this.maxPeers = opts.maxPeers ?? MAX_PEERS;
    for (const p of current.peers) {
      const hex = keyToHex(p.publicKey);
      this.peers.set(hex, {
        hex, base: p, publicKey: p.publicKey, presharedKey: p.presharedKey, endpoint: p.endpoint,
        persistentKeepalive: p.persistentKeepalive, description: p.description, ips: null, dirty: false,
      });
    }
  }

  run(lines: string[]): DeviceConfig {
    for (let i = 0; i < lines.length; i++) {
      this.lineNo = i + 2; // the set=1 header is line 1
      const line = lines[i]!;
      const eq = line.indexOf("=");
      if (eq < 0) throw new SetError(EPROTO, `line ${this.lineNo}: expected KEY=VALUE, got ${quote(line)}`);
      const key = line.slice(0, eq);
      const value = line.slice(eq + 1);
      if (key === "public_key") this.publicKeyLine(value);
      else if (DEVICE_KEYS.includes(key)) {
        if (this.inPeers) this.fail(key, "a device key must come before the first public_key line");
        this.deviceLine(key, value);
      } else if (PEER_KEYS.includes(key)) {
        if (!this.inPeers) this.fail(key, "a peer key must follow a public_key line");
        this.peerLine(key, value);
      } else {
        throw new SetError(EINVAL, `line ${this.lineNo}: unknown key ${quote(key)} (expected public_key, ${DEVICE_KEYS.join(", ")}, ${PEER_KEYS.join(", ")})`);
      }
    }
    return this.result();
  }

  private fail(key: string, message: string): never {
    throw new SetError(EINVAL, `line ${this.lineNo}: ${key}: ${message}`);
  }

  private key(key: string, value: string): Uint8Array {
    const k = hexToKey(value);
    if (k === null) this.fail(key, `expected 64 hex digits (a 32-byte key), got ${quote(value)}`);
    return k;
  }

  private uint(key: string, value: string, max: number): number {
    const n = parseUint(value, max);
    if (n < 0) this.fail(key, `expected an integer 0-${max}, got ${quote(value)}`);
    return n;
  }

  private flag(key: string, value: string): void {
    if (value !== "true") this.fail(key, `expected "true", got ${quote(value)}`);
  }

  private ownPublicKey(): Uint8Array | null {
    if (this.publicKey === undefined) this.publicKey = this.privateKey ? this.derive(this.privateKey) : null;
    return this.publicKey;
  }

  private deviceLine(key: string, value: string): void {
    switch (key) {
      case "private_key": {
        const raw = this.key(key, value);
        const k = isZero(raw) ? null : clampPrivateKey(raw);
        if (sameBytes(k, this.privateKey)) return;
        this.privateKey = k;
        this.publicKey = undefined;
        // A peer with our own new public key cannot be talked to: it goes (as in wireguard-go and the kernel).
        const own = this.ownPublicKey();
        if (own) {
          const p = this.peers.get(keyToHex(own));
          if (p) this.dropPeer(p);
        }
        return;
      }
      case "listen_port":
        this.listenPort = this.uint(key, value, 65535);
        return;
      case "fwmark":
        this.fwmark = this.uint(key, value, 0xffffffff);
        return;
      case "replace_peers":
        this.flag(key, value);
        this.peers.clear();
        if (this.owners) this.owners.clear();
        return;
      case "bunwg_debug":
        if (value !== "true" && value !== "false") this.fail(key, `expected true or false, got ${quote(value)}`);
        this.debug = value === "true";
        return;
      case "bunwg_rdomain":
        if (value !== "" && (!NETNS_NAME.test(value) || value === "." || value === "..")) {
          this.fail(key, `expected a network namespace name (1-64 letters, digits, "_", ".", "-") or nothing, got ${quote(value)}`);
        }
        this.rdomain = value;
        return;
    }
  }

  private publicKeyLine(value: string): void {
    const k = this.key("public_key", value);
    this.inPeers = true;
    this.created = false;
    const own = this.ownPublicKey();
    if (own && sameBytes(own, k)) {
      this.peer = null; // our own key: ignored, as wg does
      return;
    }
    const hex = keyToHex(k);
    let p = this.peers.get(hex);
    if (p === undefined) {
      if (this.peers.size >= this.maxPeers) this.fail("public_key", `too many peers (at most ${this.maxPeers})`);
      p = {
        hex, base: null, publicKey: k, presharedKey: null, endpoint: null, persistentKeepalive: 0, description: "",
        ips: new Map(), dirty: true,
      };
      this.peers.set(hex, p);
      this.created = true;
    }
    this.peer = p;
  }

  // Peer lines are validated even when the peer is being ignored, so a bad request is refused whatever its order.
  private peerLine(key: string, value: string): void {
    const p = this.peer;
    switch (key) {
      case "remove":
        this.flag(key, value);
        if (p) this.dropPeer(p);
        this.peer = null;
        return;
      case "update_only":
        this.flag(key, value);
        if (p && this.created) {
          this.dropPeer(p);
          this.peer = null;
        }
        return;
      case "preshared_key": {
        const k = this.key(key, value);
        if (p) this.touch(p).presharedKey = isZero(k) ? null : k;
        return;
      }
      case "endpoint": {
        const e = tryParseEndpoint(value);
        if (typeof e === "string") this.fail(key, e);
        if (p) this.touch(p).endpoint = e;
        return;
      }
      case "persistent_keepalive_interval": {
        const n = this.uint(key, value, 65535);
        if (p) this.touch(p).persistentKeepalive = n;
        return;
      }
      case "replace_allowed_ips":
        this.flag(key, value);
        if (p) {
          if (this.owners) for (const k of this.ipsOf(p).keys()) this.owners.delete(k);
          this.touch(p).ips = new Map();
        }
        return;
      case "allowed_ip": {
        const remove = value.startsWith("-");
        const a = tryParseCidr(remove ? value.slice(1) : value);
        if (typeof a === "string") this.fail(key, a);
        if (p) {
          if (remove) this.removeAllowed(p, a);
          else this.addAllowed(p, a);
        }
        return;
      }
      case "protocol_version":
        if (value !== "1") this.fail(key, `expected 1 (the only version), got ${quote(value)}`);
        return;
      case "bunwg_description":
        if (value.length > MAX_DESCRIPTION || value.includes("\r")) {
          this.fail(key, `expected at most ${MAX_DESCRIPTION} characters on one line, got ${quote(value)}`);
        }
        if (p) this.touch(p).description = value;
        return;
    }
  }

  private touch(p: WorkPeer): WorkPeer {
    p.dirty = true;
    return p;
  }

  private ipsOf(p: WorkPeer): Map<PrefixKey, AllowedIp> {
    if (p.ips === null) {
      p.ips = new Map();
      for (const a of p.base!.allowedIps) p.ips.set(prefixKey(a), a);
    }
    return p.ips;
  }

  // A prefix has one owner across the device: adding it to p takes it from whoever had it (§2, as wg does).
  private addAllowed(p: WorkPeer, a: AllowedIp): void {
    const k = prefixKey(a);
    if (this.owners === null) {
      this.owners = new Map();
      for (const q of this.peers.values()) {
        if (q.ips !== null) for (const qk of q.ips.keys()) this.owners.set(qk, q);
        else for (const qa of q.base!.allowedIps) this.owners.set(prefixKey(qa), q);
      }
    }
    const prev = this.owners.get(k);
    if (prev === p) return;
    if (prev !== undefined) {
      this.ipsOf(prev).delete(k);
      this.touch(prev);
    }
    this.owners.set(k, p);
    this.touch(p);
    this.ipsOf(p).set(k, a);
  }

  private removeAllowed(p: WorkPeer, a: AllowedIp): void {
    const k = prefixKey(a);
    const ips = this.ipsOf(p);
    if (!ips.has(k)) return; // only the owner removes a prefix
    ips.delete(k);
    this.touch(p);
    this.owners?.delete(k);
  }

  private dropPeer(p: WorkPeer): void {
    if (this.owners) for (const k of this.ipsOf(p).keys()) this.owners.delete(k);
    this.peers.delete(p.hex);
  }

  private result(): DeviceConfig {
    const peers: PeerConfig[] = [];
    for (const p of this.peers.values()) {
      if (!p.dirty && p.base) {
        peers.push(p.base);
        continue;
      }
      peers.push({
        publicKey: p.publicKey,
        presharedKey: p.presharedKey,
        endpoint: p.endpoint,
        persistentKeepalive: p.persistentKeepalive,
        allowedIps: p.ips ? [...p.ips.values()] : p.base!.allowedIps,
        protocolVersion: 1,
        description: p.description,
      });
    }
    return {
      privateKey: this.privateKey,
      listenPort: this.listenPort,
      fwmark: this.fwmark,
      peers,
      debug: this.debug,
      rdomain: this.rdomain,
    };
  }
}

/** What differs between two configurations, for applying a set to live state cheaply. */
export function diffConfigs(old: DeviceConfig, next: DeviceConfig): ConfigChanges {
  const changes: ConfigChanges = {
    privateKey: !sameBytes(old.privateKey, next.privateKey),
    listenPort: old.listenPort !== next.listenPort,
    fwmark: old.fwmark !== next.fwmark,
    debug: old.debug !== next.debug,
    rdomain: old.rdomain !== next.rdomain,
    added: [],
    removed: [],
    changed: [],
  };
  const before = new Map<string, PeerConfig>();
  for (const p of old.peers) before.set(keyToHex(p.publicKey), p);
  for (const p of next.peers) {
    const hex = keyToHex(p.publicKey);
    const o = before.get(hex);
    if (o === undefined) {
      changes.added.push(p);
      continue;
    }
    before.delete(hex);
    if (o === p) continue;
    const [allowedIpsAdded, allowedIpsRemoved] = diffAllowed(o.allowedIps, p.allowedIps);
    const c: PeerChange = {
      old: o,
      peer: p,
      presharedKey: !sameBytes(o.presharedKey, p.presharedKey),
      endpoint: !sameEndpoint(o.endpoint, p.endpoint),
      persistentKeepalive: o.persistentKeepalive !== p.persistentKeepalive,
      description: o.description !== p.description,
      allowedIpsAdded,
      allowedIpsRemoved,
    };
    if (c.presharedKey || c.endpoint || c.persistentKeepalive || c.description || allowedIpsAdded.length || allowedIpsRemoved.length) {
      changes.changed.push(c);
    }
  }
  changes.removed = [...before.values()];
  return changes;
}

function diffAllowed(a: AllowedIp[], b: AllowedIp[]): [AllowedIp[], AllowedIp[]] {
  if (a === b) return [[], []];
  const ka = new Set<PrefixKey>();
  for (const x of a) ka.add(prefixKey(x));
  const kb = new Set<PrefixKey>();
  const added: AllowedIp[] = [];
  for (const x of b) {
    const k = prefixKey(x);
    kb.add(k);
    if (!ka.has(k)) added.push(x);
  }
  const removed = a.filter((x) => !kb.has(prefixKey(x)));
  return [added, removed];
}

// ---- get -----------------------------------------------------------------------------------------------------------

/** The answer to `get=1` (extensions false) or `get=bunwg` (extensions true), in the order wireguard-go uses,
 *  ending "errno=0\n\n". config.listenPort should be the port actually bound (0 is not printed). */
export function formatGet(
  config: DeviceConfig,
  stats: (publicKey: Uint8Array, peer: PeerConfig) => PeerStats,
  extensions: boolean,
): string {
  const out: string[] = [];
  if (config.privateKey) out.push(`private_key=${keyToHex(config.privateKey)}`);
  if (config.listenPort) out.push(`listen_port=${config.listenPort}`);
  if (config.fwmark) out.push(`fwmark=${config.fwmark}`);
  if (extensions) out.push(`bunwg_debug=${config.debug}`, `bunwg_rdomain=${config.rdomain}`);
  const zero = "0".repeat(64);
  for (const p of config.peers) {
    const s = stats(p.publicKey, p);
    out.push(`public_key=${keyToHex(p.publicKey)}`);
    // wireguard-go always prints the preshared key, zero when there is none; wg(8) reads zero as none.
    out.push(`preshared_key=${p.presharedKey ? keyToHex(p.presharedKey) : zero}`);
    out.push(`protocol_version=${p.protocolVersion}`);
    if (p.endpoint) out.push(`endpoint=${formatEndpoint(p.endpoint)}`);
    out.push(
      `last_handshake_time_sec=${s.lastHandshakeSec}`,
      `last_handshake_time_nsec=${s.lastHandshakeNsec}`,
      `tx_bytes=${u64(s.txBytes)}`,
      `rx_bytes=${u64(s.rxBytes)}`,
      `persistent_keepalive_interval=${p.persistentKeepalive}`,
    );
    if (extensions && p.description) out.push(`bunwg_description=${p.description}`);
    for (const a of p.allowedIps) out.push(`allowed_ip=${formatCidr(a)}`);
  }
  out.push("errno=0", "", "");
  return out.join("\n");
}

// Counters beyond 2^53 print exactly (String(2 ** 60) would give "1152921504606847000").
function u64(v: number | bigint): string {
  return typeof v === "bigint" || Number.isSafeInteger(v) ? String(v) : BigInt(Math.trunc(v)).toString();
}

// A u64 counter: a number while exact, a bigint beyond 2^53; null if not a u64.
function parseU64(text: string): number | bigint | null {
  if (!/^[0-9]{1,20}$/.test(text)) return null;
  const n = Number(text);
  if (Number.isSafeInteger(n)) return n;
  const b = BigInt(text);
  return b < 1n << 64n ? b : null;
}

export type GetResult =
  | { ok: true; config: DeviceConfig; stats: PeerStats[] /* parallel to config.peers */ }
  | { ok: false; errno: number; message: string };

/** Reads a get answer (ours, wireguard-go's, the kernel-free wg(8) format). Unknown keys are skipped, as wg(8)
 *  does; a known key with a bad value, a missing errno line, or errno ≠ 0 is an error. */
export function parseGet(text: string): GetResult {
  const config = emptyDeviceConfig();
  const stats: PeerStats[] = [];
  let peer: PeerConfig | null = null;
  let st: PeerStats | null = null;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === "" && i === lines.length - 1) break; // the text ended
    const eq = line.indexOf("=");
    const bad = (what: string) => ({ ok: false as const, errno: EPROTO, message: hideSecrets(`get answer line ${i + 1}: ${what}, got ${quote(line)}`) });
    if (eq < 0) return bad("expected KEY=VALUE");
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    const num = (max: number) => parseUint(value, max);
    if (key === "errno") {
      const n = value.startsWith("-") ? parseUint(value.slice(1), 0x7fffffff) : num(0x7fffffff);
      if (n < 0) return bad("expected errno=NUMBER");
      if (lines[i + 1] !== "" || lines[i + 2] !== "" || lines.length !== i + 3) return bad("expected an empty line after errno, then nothing");
      if (n !== 0) return { ok: false, errno: n, message: `the daemon answered errno=${value}` };
      return { ok: true, config, stats };
    }
    if (key === "public_key") {
      const k = hexToKey(value);
      if (!k) return bad("expected 64 hex digits");
      peer = { publicKey: k, presharedKey: null, endpoint: null, persistentKeepalive: 0, allowedIps: [], protocolVersion: 1, description: "" };
      st = { lastHandshakeSec: 0, lastHandshakeNsec: 0, rxBytes: 0, txBytes: 0 };
      config.peers.push(peer);
      stats.push(st);
      continue;
    }
    if (peer === null || st === null) {
      switch (key) {
        case "private_key": {
          const k = hexToKey(value);
          if (!k) return bad("expected 64 hex digits");
          config.privateKey = isZero(k) ? null : k;
          break;
        }
        case "listen_port":
          if ((config.listenPort = num(65535)) < 0) return bad("expected a port 0-65535");
          break;
        case "fwmark":
          if ((config.fwmark = num(0xffffffff)) < 0) return bad("expected an integer 0-4294967295");
          break;
        case "bunwg_debug":
          config.debug = value === "true";
          break;
        case "bunwg_rdomain":
          config.rdomain = value;
          break;
      }
      continue;
    }
    switch (key) {
      case "preshared_key": {
        const k = hexToKey(value);
        if (!k) return bad("expected 64 hex digits");
        peer.presharedKey = isZero(k) ? null : k;
        break;
      }
      case "protocol_version":
        if ((peer.protocolVersion = num(0x7fffffff)) < 0) return bad("expected a number");
        break;
      case "endpoint": {
        const e = tryParseEndpoint(value);
        if (typeof e === "string") return bad("expected IPv4:PORT or [IPv6]:PORT");
        peer.endpoint = e;
        break;
      }
      case "last_handshake_time_sec":
      case "last_handshake_time_nsec": {
        const n = num(Number.MAX_SAFE_INTEGER);
        if (n < 0) return bad("expected a number");
        if (key === "last_handshake_time_sec") st.lastHandshakeSec = n;
        else st.lastHandshakeNsec = n;
        break;
      }
      case "tx_bytes":
      case "rx_bytes": {
        const n = parseU64(value);
        if (n === null) return bad("expected a number 0-2^64-1");
        if (key === "tx_bytes") st.txBytes = n;
        else st.rxBytes = n;
        break;
      }
      case "persistent_keepalive_interval":
        if ((peer.persistentKeepalive = num(65535)) < 0) return bad("expected an integer 0-65535");
        break;
      case "allowed_ip": {
        const a = tryParseCidr(value);
        if (typeof a === "string") return bad("expected ADDRESS/PREFIX");
        peer.allowedIps.push(a);
        break;
      }
      case "bunwg_description":
        peer.description = value;
        break;
    }
  }
  return { ok: false, errno: EPROTO, message: "get answer: ended without an errno= line" };
}
