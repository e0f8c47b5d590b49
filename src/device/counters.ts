// What an interface and each of its peers carried, and what they dropped and why: the counters `ifconfig IFNAME`
// shows and the metrics endpoint serves (metrics.ts). The data path increments slots of a preallocated Float64Array
// per peer (exact up to 2^53) — no allocation per packet. Interface totals are not incremented on the data path:
// they are the sum over the peers plus what removed peers had counted (so they never go backwards) plus the drops
// no peer can be blamed for. The configuration socket carries them to the CLI as a `get=bunwg-counters` request
// (formatCounters/parseCounters below), a request wg(8) never sends; `get=1` stays as wg(8) knows it.

/** Why a packet was dropped. Every drop site in the data path names one of these. */
export const DROP_REASONS = [
  "no_route", // §2: no peer's allowed IPs hold the destination of a packet read from the TUN
  "unallowed_source", // §2: a decrypted packet's source is not among the sending peer's allowed IPs
  "bad_mac", // a transport message did not authenticate, or a handshake message's mac1 was wrong (§5.4.4)
  "replay", // §5.4.6: the counter was already seen or is behind the window
  "invalid_handshake", // a handshake message that does not verify (§5.4.2-5.4.7), or names no handshake of ours
  "queue_full", // a packet staged while its peer had no session pushed out the oldest (queue.ts: 128 per peer)
  "tun_write", // the kernel refused a decrypted packet on the TUN
  "interface_down", // the interface was down: a datagram received, a packet read to be sent, or a decrypted one to be written
  "malformed", // too short, unknown message type, reserved bytes set, or not an IPv4/IPv6 packet inside
  "unknown_session", // a transport message names a receiver index with no session (expired, or never ours)
  "rate_limited", // §5.3: under load, a source over its handshake budget
  "handshake_timeout", // §6.4: packets staged for a peer that never answered were discarded
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

// Slots of one counter array. The same layout serves a peer and the interface.
export const RX_PACKETS = 0; // IP packets delivered to the TUN (keepalives and handshake messages not counted)
export const RX_BYTES = 1; // their IP lengths
export const TX_PACKETS = 2; // IP packets sealed for a peer
export const TX_BYTES = 3; // their IP lengths (before §5.4.6 padding)
export const HS_INITIATED = 4; // handshake initiations sent
export const HS_COMPLETED = 5; // handshakes that gave a session: our initiation answered, or a response sent
export const HS_FAILED = 6; // initiations left unanswered for REKEY_TIMEOUT (each retry, and the last at give-up)
export const COOKIES_SENT = 7; // §5.4.7 cookie replies sent (interface only: under load the peer is not looked up)
export const WIRE_RX_BYTES = 8; // every datagram from the peer, handshakes included: wg(8)'s "transfer"
export const WIRE_TX_BYTES = 9;
export const DROP_BASE = 10;
export const SLOTS = DROP_BASE + DROP_REASONS.length;

/** Index of a drop reason in DROP_REASONS. */
export const Drop = Object.fromEntries(DROP_REASONS.map((r, i) => [r, i])) as { readonly [K in DropReason]: number };

/** The drop reason for a handshake message the engine rejected (engine.ts RejectReason). */
export function dropForRejection(reason: string): number {
  switch (reason) {
    case "invalid-mac1": return Drop.bad_mac;
    case "rate-limited": return Drop.rate_limited;
    case "malformed": return Drop.malformed;
    default: return Drop.invalid_handshake;
  }
}

/** Counter names as the configuration socket and --json carry them, slot by slot. */
export const COUNTER_NAMES: readonly string[] = [
  "rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "handshakes_initiated", "handshakes_completed",
  "handshakes_failed", "cookies_sent", "wire_rx_bytes", "wire_tx_bytes", ...DROP_REASONS.map((r) => `drop_${r}`),
];

/** One peer's counters. The data path calls these (one line per site); with counting switched off
 *  (BUNWG_NO_COUNTERS, to measure its cost) the peer gets an instance whose methods do nothing. The slots are
 *  allocated at the first count: most peers of a large set never carry a packet, and a Float64Array is several
 *  hundred bytes of resident memory each (bench/RESULTS.md, "Memory"). Once per peer, not per packet. */
export class PeerCounters {
  private v_: Float64Array | null = null;
  /** The slots as counted so far (all zero before the first count). */
  get v(): Float64Array { return this.v_ ?? ZERO_SLOTS; }
  private slots(): Float64Array { return (this.v_ ??= new Float64Array(SLOTS)); }
  received(bytes: number): void {
    const v = this.slots();
    v[RX_PACKETS]++;
    v[RX_BYTES] += bytes;
  }
  /** A packet sealed for the peer; len 0 is a keepalive and not counted. */
  sent(len: number): void {
    if (len === 0) return;
    const v = this.slots();
    v[TX_PACKETS]++;
    v[TX_BYTES] += len;
  }
  /** An initiation went out; a retry means the previous one went unanswered. */
  initiated(retry: boolean): void {
    const v = this.slots();
    v[HS_INITIATED]++;
    if (retry) v[HS_FAILED]++;
  }
  completed(): void { this.slots()[HS_COMPLETED]++; }
  /** §6.4 give-up: the last initiation went unanswered; `staged` packets are discarded. */
  gaveUp(staged: number): void {
    const v = this.slots();
    v[HS_FAILED]++;
    v[DROP_BASE + Drop.handshake_timeout] += staged;
  }
  drop(reason: number): void { this.slots()[DROP_BASE + reason]++; }
}

/** What an uncounted peer reads as (never written: `v` hands it out, slots() never does). */
const ZERO_SLOTS = new Float64Array(SLOTS);

class UncountedPeer extends PeerCounters {
  override received(): void {}
  override sent(): void {}
  override initiated(): void {}
  override completed(): void {}
  override gaveUp(): void {}
  override drop(): void {}
}

/** What the counters need to see of a device peer (peer.ts), without importing it. */
export interface CountedPeer {
  readonly counters: PeerCounters;
  readonly publicKeyHex: string;
  readonly rxBytes: number;
  readonly txBytes: number;
  readonly staged: { readonly dropped: number };
}

/** A peer's counters as read: every slot, the live fields (wire bytes, staging drops) filled in. */
function readPeer(p: CountedPeer, into: Float64Array): Float64Array {
  into.set(p.counters.v);
  into[WIRE_RX_BYTES] = p.rxBytes;
  into[WIRE_TX_BYTES] = p.txBytes;
  into[DROP_BASE + Drop.queue_full] = p.staged.dropped;
  return into;
}

export interface CounterSnapshot {
  device: Float64Array;
  peers: { publicKeyHex: string; values: Float64Array }[];
}

/** The interface's counters: drops without a peer, cookie replies, and what removed peers had counted. */
export class DeviceCounters {
  private readonly own = new Float64Array(SLOTS);
  private readonly scratch = new Float64Array(SLOTS); // retire: removing 20,000 peers makes no array per peer
  /** Read by the receive path to tell a TUN refusal apart from a down interface; set by whoever sees the link. */
  linkDown = false;

  constructor(readonly enabled = true) {}

  newPeer(): PeerCounters { return this.enabled ? new PeerCounters() : new UncountedPeer(); }

  drop(reason: number, n = 1): void { if (this.enabled) this.own[DROP_BASE + reason] += n; }

  /** A drop caused by a known peer's packet counts for that peer (and so for the interface). */
  dropFrom(peer: CountedPeer | undefined, reason: number): void {
    if (peer !== undefined) peer.counters.drop(reason);
    else this.drop(reason);
  }

  cookieSent(): void { if (this.enabled) this.own[COOKIES_SENT]++; }

  /** The TUN took `took` of `tried` decrypted packets; the rest are drops. */
  tunWritten(tried: number, took: number): void {
    if (took < tried) this.drop(this.linkDown ? Drop.interface_down : Drop.tun_write, tried - took);
  }

  /** A peer is being removed: keep what it counted in the interface's totals. */
  retire(peer: CountedPeer): void {
    const v = readPeer(peer, this.scratch);
    for (let i = 0; i < SLOTS; i++) this.own[i] += v[i];
  }

  snapshot(peers: Iterable<CountedPeer>): CounterSnapshot {
    const device = Float64Array.from(this.own);
    const out: CounterSnapshot["peers"] = [];
    for (const p of peers) {
      const values = readPeer(p, new Float64Array(SLOTS));
      for (let i = 0; i < SLOTS; i++) device[i] += values[i];
      out.push({ publicKeyHex: p.publicKeyHex, values });
    }
    return { device, peers: out };
  }
}

// ---- the configuration socket's text form --------------------------------------------------------------------------
// `get=bunwg-counters` is answered like a get: the interface's NAME=VALUE lines, then for each peer `public_key=HEX`
// and its lines, then "errno=0" and an empty line.

export function formatCounters(s: CounterSnapshot): string {
  const out: string[] = [];
  const lines = (v: Float64Array) => { for (let i = 0; i < SLOTS; i++) out.push(`${COUNTER_NAMES[i]}=${v[i]}`); };
  lines(s.device);
  for (const p of s.peers) {
    out.push(`public_key=${p.publicKeyHex}`);
    lines(p.values);
  }
  out.push("errno=0", "", "");
  return out.join("\n");
}

/** Counters by name (COUNTER_NAMES), as the CLI and --json show them. */
export type Counts = Record<string, number>;

/** Reads a get=bunwg-counters answer. Unknown names are skipped (a newer daemon may count more). */
export function parseCounters(text: string): { device: Counts; peers: Map<string, Counts> } {
  const device: Counts = {};
  const peers = new Map<string, Counts>();
  let cur = device;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === "") continue;
    const eq = line.indexOf("=");
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (eq < 0 || (key !== "public_key" && key !== "errno" && !/^[0-9]{1,20}$/.test(value))) {
      throw new Error(`counters answer line ${i + 1}: expected NAME=NUMBER, got ${JSON.stringify(line)}`);
    }
    if (key === "errno") {
      if (value !== "0") throw new Error(`counters answer: the daemon answered errno=${value}`);
      for (const c of [device, ...peers.values()]) for (const n of COUNTER_NAMES) c[n] ??= 0;
      return { device, peers };
    }
    if (key === "public_key") {
      if (!/^[0-9a-f]{64}$/.test(value)) throw new Error(`counters answer line ${i + 1}: expected 64 hex digits, got ${JSON.stringify(value)}`);
      cur = {};
      peers.set(value, cur);
    } else if (COUNTER_NAMES.includes(key)) cur[key] = Number(value);
  }
  throw new Error("counters answer: ended without an errno= line");
}
