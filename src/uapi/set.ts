// A `set=1` request (docs/configuration-protocol.md) applied to a configuration: validated whole and applied all or
// nothing (wireguard-go applies the lines before a bad one). Each key is one row of DEVICE_KEYS or PEER_KEYS;
// nothing else knows the key names. The result is a new configuration value (src/config/model.ts) and what changed
// (src/config/diff.ts); the input is never changed.
import { clampPrivateKey } from "../noise/index.ts";
import { ConfigError, EINVAL, EPROTO } from "../config/errors.ts";
import { diffConfigs, type ConfigChanges } from "../config/diff.ts";
import {
  descriptionProblem, MAX_PEERS, noneIfZero, prefixKey, rdomainProblem, sameBytes,
  type DeviceConfig, type PeerConfig, type PrefixKey,
} from "../config/model.ts";
import {
  keyToHex, parseUint, quote, tryKeyFromHex, tryParseCidr, tryParseEndpoint,
  type AllowedIp, type EndpointAddress,
} from "../text/codec.ts";

export type SetResult =
  | { ok: true; config: DeviceConfig; changes: ConfigChanges }
  | { ok: false; errno: number; message: string };

export interface SetOptions {
  /** The public key of a (clamped) private key: a peer with our own public key is dropped or ignored. */
  derivePublicKey: (privateKey: Uint8Array) => Uint8Array;
  maxPeers?: number;
}

/** Applies a set request's lines to `current`, all or nothing. `current` is not changed. */
export function applySet(current: DeviceConfig, lines: string[], opts: SetOptions): SetResult {
  try {
    const next = new SetRun(current, opts).run(lines);
    return { ok: true, config: next, changes: diffConfigs(current, next) };
  } catch (e) {
    if (e instanceof ConfigError) return { ok: false, errno: e.errno, message: e.message };
    throw e;
  }
}

// A peer while a set is being applied. ips is null while unchanged (then base.allowedIps holds them).
interface WorkPeer {
  hex: string;
  base: PeerConfig | null; // the peer in the current configuration, null when (re)created by this request
  publicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  endpoint: EndpointAddress | null;
  persistentKeepalive: number;
  description: string;
  ips: Map<PrefixKey, AllowedIp> | null;
  dirty: boolean;
}

type DeviceKey = (run: SetRun, key: string, value: string) => void;
// Peer lines are validated even when the peer is being ignored (p = null: our own key, removed, update_only), so a
// bad request is refused whatever its order.
type PeerKey = (run: SetRun, p: WorkPeer | null, key: string, value: string) => void;

const DEVICE_KEYS = new Map<string, DeviceKey>([
  ["private_key", (r, k, v) => r.setPrivateKey(r.key(k, v))],
  ["listen_port", (r, k, v) => { r.listenPort = r.uint(k, v, 65535); }],
  ["fwmark", (r, k, v) => { r.fwmark = r.uint(k, v, 0xffffffff); }],
  ["replace_peers", (r, k, v) => { r.flag(k, v); r.replacePeers(); }],
  ["bunwg_debug", (r, k, v) => {
    if (v !== "true" && v !== "false") r.fail(k, `expected true or false, got ${quote(v)}`);
    r.debug = v === "true";
  }],
  ["bunwg_rdomain", (r, k, v) => {
    const problem = rdomainProblem(v);
    if (problem) r.fail(k, `${problem}, got ${quote(v)}`);
    r.rdomain = v;
  }],
]);

const PEER_KEYS = new Map<string, PeerKey>([
  ["remove", (r, p, k, v) => { r.flag(k, v); r.removePeer(p); }],
  ["update_only", (r, p, k, v) => { r.flag(k, v); r.updateOnly(p); }],
  ["preshared_key", (r, p, k, v) => {
    const key = r.key(k, v);
    if (p) r.touch(p).presharedKey = noneIfZero(key);
  }],
  ["endpoint", (r, p, k, v) => {
    const e = tryParseEndpoint(v);
    if (typeof e === "string") return r.fail(k, e);
    if (p) r.touch(p).endpoint = e;
  }],
  ["persistent_keepalive_interval", (r, p, k, v) => {
    const n = r.uint(k, v, 65535);
    if (p) r.touch(p).persistentKeepalive = n;
  }],
  ["replace_allowed_ips", (r, p, k, v) => { r.flag(k, v); if (p) r.replaceAllowed(p); }],
  ["allowed_ip", (r, p, k, v) => {
    const remove = v.startsWith("-");
    const a = tryParseCidr(remove ? v.slice(1) : v);
    if (typeof a === "string") return r.fail(k, a);
    if (p) {
      if (remove) r.removeAllowed(p, a);
      else r.addAllowed(p, a);
    }
  }],
  ["protocol_version", (r, _p, k, v) => { if (v !== "1") r.fail(k, `expected 1 (the only version), got ${quote(v)}`); }],
  ["bunwg_description", (r, p, k, v) => {
    const problem = descriptionProblem(v);
    if (problem) r.fail(k, `${problem}, got ${quote(v)}`);
    if (p) r.touch(p).description = v;
  }],
]);

const KNOWN_KEYS = ["public_key", ...DEVICE_KEYS.keys(), ...PEER_KEYS.keys()].join(", ");

class SetRun {
  privateKey: Uint8Array | null;
  private publicKey: Uint8Array | null | undefined; // undefined: not derived yet
  listenPort: number;
  fwmark: number;
  debug: boolean;
  rdomain: string;
  // The peers as this request leaves them, by hex key; null until a line needs them, and then made from
  // `current` (or empty after replace_peers): a request that replaces or does not touch a large peer set makes no
  // working copy of it (bench/RESULTS.md, "Memory": a setconf removing 20,000 peers).
  private peers_: Map<string, WorkPeer> | null = null;
  private readonly current: DeviceConfig;
  private owners: Map<PrefixKey, WorkPeer> | null = null; // prefix → peer, built on the first allowed_ip
  private peer: WorkPeer | null = null; // the peer being configured; null = ignored (own key, removed, update_only)
  private created = false;
  private inPeers = false;
  private lineNo = 0;
  private readonly derive: (k: Uint8Array) => Uint8Array;
  private readonly maxPeers: number;

  constructor(current: DeviceConfig, opts: SetOptions) {
    this.privateKey = current.privateKey;
    this.listenPort = current.listenPort;
    this.fwmark = current.fwmark;
    this.debug = current.debug;
    this.rdomain = current.rdomain;
    this.derive = opts.derivePublicKey;
    this.maxPeers = opts.maxPeers ?? MAX_PEERS;
    this.current = current;
  }

  private get peers(): Map<string, WorkPeer> {
    if (this.peers_ === null) {
      this.peers_ = new Map();
      for (const p of this.current.peers) {
        const hex = keyToHex(p.publicKey);
        this.peers_.set(hex, {
          hex, base: p, publicKey: p.publicKey, presharedKey: p.presharedKey, endpoint: p.endpoint,
          persistentKeepalive: p.persistentKeepalive, description: p.description, ips: null, dirty: false,
        });
      }
    }
    return this.peers_;
  }

  run(lines: string[]): DeviceConfig {
    for (let i = 0; i < lines.length; i++) {
      this.lineNo = i + 2; // the set=1 header is line 1
      const line = lines[i];
      const eq = line.indexOf("=");
      if (eq < 0) throw new ConfigError(EPROTO, `line ${this.lineNo}: expected KEY=VALUE, got ${quote(line)}`);
      const key = line.slice(0, eq);
      const value = line.slice(eq + 1);
      if (key === "public_key") {
        this.publicKeyLine(value);
        continue;
      }
      const device = DEVICE_KEYS.get(key);
      if (device) {
        if (this.inPeers) this.fail(key, "a device key must come before the first public_key line");
        device(this, key, value);
        continue;
      }
      const peer = PEER_KEYS.get(key);
      if (!peer) throw new ConfigError(EINVAL, `line ${this.lineNo}: unknown key ${quote(key)} (expected ${KNOWN_KEYS})`);
      if (!this.inPeers) this.fail(key, "a peer key must follow a public_key line");
      peer(this, this.peer, key, value);
    }
    return this.result();
  }

  fail(key: string, message: string): never {
    throw new ConfigError(EINVAL, `line ${this.lineNo}: ${key}: ${message}`);
  }

  key(key: string, value: string): Uint8Array {
    const k = tryKeyFromHex(value);
    if (k === null) this.fail(key, `expected 64 hex digits (a 32-byte key), got ${quote(value)}`);
    return k;
  }

  uint(key: string, value: string, max: number): number {
    const n = parseUint(value, max);
    if (n < 0) this.fail(key, `expected an integer 0-${max}, got ${quote(value)}`);
    return n;
  }

  flag(key: string, value: string): void {
    if (value !== "true") this.fail(key, `expected "true", got ${quote(value)}`);
  }

  private ownPublicKey(): Uint8Array | null {
    if (this.publicKey === undefined) this.publicKey = this.privateKey ? this.derive(this.privateKey) : null;
    return this.publicKey;
  }

  setPrivateKey(raw: Uint8Array): void {
    const k = noneIfZero(raw) && clampPrivateKey(raw);
    raw.fill(0);
    if (sameBytes(k, this.privateKey)) {
      k?.fill(0);
      return;
    }
    this.privateKey = k;
    this.publicKey = undefined;
    // A peer with our own new public key cannot be talked to: it goes (as in wireguard-go and the kernel).
    const own = this.ownPublicKey();
    // (Looked for in the configuration first, so that a key change alone makes no working copy of the peers.)
    if (own && (this.peers_ !== null || this.current.peers.some((p) => sameBytes(p.publicKey, own)))) {
      const p = this.peers.get(keyToHex(own));
      if (p) this.dropPeer(p);
    }
  }

  replacePeers(): void {
    this.peers_ = new Map();
    if (this.owners) this.owners.clear();
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

  removePeer(p: WorkPeer | null): void {
    if (p) this.dropPeer(p);
    this.peer = null;
  }

  updateOnly(p: WorkPeer | null): void {
    if (p && this.created) {
      this.dropPeer(p);
      this.peer = null;
    }
  }

  touch(p: WorkPeer): WorkPeer {
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

  replaceAllowed(p: WorkPeer): void {
    if (this.owners) for (const k of this.ipsOf(p).keys()) this.owners.delete(k);
    this.touch(p).ips = new Map();
  }

  // A prefix has one owner across the device: adding it to p takes it from whoever had it (§2, as wg does).
  addAllowed(p: WorkPeer, a: AllowedIp): void {
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

  removeAllowed(p: WorkPeer, a: AllowedIp): void {
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
    return {
      privateKey: this.privateKey,
      listenPort: this.listenPort,
      fwmark: this.fwmark,
      peers: this.peers_ === null ? this.current.peers : this.peerConfigs(this.peers_),
      debug: this.debug,
      rdomain: this.rdomain,
    };
  }

  private peerConfigs(work: Map<string, WorkPeer>): PeerConfig[] {
    const peers: PeerConfig[] = [];
    for (const p of work.values()) {
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
    return peers;
  }
}
