// A `get` answer (docs/configuration-protocol.md), both ways: formatGet writes it from a configuration and its
// statistics (the daemon), parseGet reads one back (the CLI, the tests; also wireguard-go's). The two sit side by
// side so that every key is written and read in one place.
import { EPROTO, hideSecrets } from "../config/errors.ts";
import { emptyDeviceConfig, emptyPeerConfig, noneIfZero, type DeviceConfig, type PeerConfig, type PeerStats } from "../config/model.ts";
import { formatCidr, formatEndpoint, keyToHex, parseUint, quote, tryKeyFromHex, tryParseCidr, tryParseEndpoint } from "../text/codec.ts";

/** The answer to `get=1` (extensions false) or `get=bunwg` (extensions true), in the order wireguard-go uses,
 *  ending "errno=0\n\n". config.listenPort should be the port actually bound (0 is not printed). */
export function formatGet(
  config: DeviceConfig,
  stats: (publicKey: Uint8Array, peer: PeerConfig) => PeerStats,
  extensions: boolean,
): string {
  return [...formatGetPieces(config, stats, extensions)].join("");
}

/** formatGet's answer in pieces of `peersPerPiece` peers, which concatenated are that answer: the daemon encodes
 *  and queues them one at a time, so the answer for 20,000 peers never exists as one string beside its bytes and
 *  its lines (tens of MiB of high-water mark otherwise, bench/RESULTS.md "Memory"). */
export function* formatGetPieces(
  config: DeviceConfig,
  stats: (publicKey: Uint8Array, peer: PeerConfig) => PeerStats,
  extensions: boolean,
  peersPerPiece = 256,
): Generator<string> {
  let piece = "";
  if (config.privateKey) piece += `private_key=${keyToHex(config.privateKey)}\n`;
  if (config.listenPort) piece += `listen_port=${config.listenPort}\n`;
  if (config.fwmark) piece += `fwmark=${config.fwmark}\n`;
  if (extensions) piece += `bunwg_debug=${config.debug}\nbunwg_rdomain=${config.rdomain}\n`;
  const zero = "0".repeat(64);
  let n = 0;
  for (const p of config.peers) {
    const s = stats(p.publicKey, p);
    // wireguard-go always prints the preshared key, zero when there is none; wg(8) reads zero as none.
    piece += `public_key=${keyToHex(p.publicKey)}\npreshared_key=${p.presharedKey ? keyToHex(p.presharedKey) : zero}\n` +
      `protocol_version=${p.protocolVersion}\n${p.endpoint ? `endpoint=${formatEndpoint(p.endpoint)}\n` : ""}` +
      `last_handshake_time_sec=${s.lastHandshakeSec}\nlast_handshake_time_nsec=${s.lastHandshakeNsec}\n` +
      `tx_bytes=${u64(s.txBytes)}\nrx_bytes=${u64(s.rxBytes)}\npersistent_keepalive_interval=${p.persistentKeepalive}\n`;
    if (extensions && p.description) piece += `bunwg_description=${p.description}\n`;
    for (const a of p.allowedIps) piece += `allowed_ip=${formatCidr(a)}\n`;
    if (++n === peersPerPiece) {
      yield piece;
      piece = "";
      n = 0;
    }
  }
  yield piece + "errno=0\n\n";
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
    const line = lines[i];
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
      const k = tryKeyFromHex(value);
      if (!k) return bad("expected 64 hex digits");
      peer = emptyPeerConfig(k);
      st = { lastHandshakeSec: 0, lastHandshakeNsec: 0, rxBytes: 0, txBytes: 0 };
      config.peers.push(peer);
      stats.push(st);
      continue;
    }
    if (peer === null || st === null) {
      switch (key) {
        case "private_key": {
          const k = tryKeyFromHex(value);
          if (!k) return bad("expected 64 hex digits");
          config.privateKey = noneIfZero(k);
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
        const k = tryKeyFromHex(value);
        if (!k) return bad("expected 64 hex digits");
        peer.presharedKey = noneIfZero(k);
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
