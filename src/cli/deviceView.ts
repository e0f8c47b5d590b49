// What the status commands show about one daemon: its get answer turned into base64 keys and plain numbers.
import { CliError } from "./errors.ts";
import { getRaw } from "./configSocket.ts";
import { hexToBase64, isZeroHex, keyFromHex, keyToBase64, publicKeyOf } from "./keyText.ts";

export interface PeerView {
  publicKey: string; // base64
  hasPresharedKey: boolean;
  endpoint: string | null; // "1.2.3.4:51820" or "[::1]:51820"
  lastHandshake: number | null; // Unix seconds (with fraction), null: never
  txBytes: number;
  rxBytes: number;
  persistentKeepalive: number; // seconds, 0 = off
  allowedIps: string[];
  description: string;
}

export interface DeviceView {
  /** the daemon answered get=bunwg: bunwg_* keys are understood */
  extensions: boolean;
  publicKey: string | null;
  hasPrivateKey: boolean;
  listenPort: number;
  fwmark: number;
  debug: boolean;
  /** network namespace the daemon recorded for the interface; "" = the daemon's own */
  rdomain: string;
  peers: PeerView[];
}

function num(key: string, value: string): number {
  if (!/^\d+$/.test(value)) throw new CliError(`configuration socket: ${key}=${JSON.stringify(value)} is not a number`);
  return Number(value);
}

/** Turns a get answer's lines into a DeviceView. */
export function viewFromLines(lines: [string, string][], extensions: boolean): DeviceView {
  const dev: DeviceView = {
    extensions,
    publicKey: null,
    hasPrivateKey: false,
    listenPort: 0,
    fwmark: 0,
    debug: false,
    rdomain: "",
    peers: [],
  };
  let peer: PeerView | null = null;
  let hsSec = 0;
  const closePeer = () => {
    if (peer && hsSec !== 0) peer.lastHandshake = hsSec + (peer.lastHandshake ?? 0);
    else if (peer) peer.lastHandshake = null;
  };
  for (const [key, value] of lines) {
    if (key === "public_key") {
      closePeer();
      hsSec = 0;
      peer = {
        publicKey: hexToBase64(value, "public_key"),
        hasPresharedKey: false,
        endpoint: null,
        lastHandshake: null,
        txBytes: 0,
        rxBytes: 0,
        persistentKeepalive: 0,
        allowedIps: [],
        description: "",
      };
      dev.peers.push(peer);
      continue;
    }
    if (peer === null) {
      switch (key) {
        case "private_key":
          if (!isZeroHex(value)) {
            dev.hasPrivateKey = true;
            dev.publicKey = keyToBase64(publicKeyOf(keyFromHex(value, "private_key")));
          }
          break;
        case "listen_port":
          dev.listenPort = num(key, value);
          break;
        case "fwmark":
          dev.fwmark = num(key, value);
          break;
        case "bunwg_debug":
          dev.debug = value === "true";
          break;
        case "bunwg_rdomain":
          dev.rdomain = value;
          break;
        default:
          break; // keys a newer daemon adds are not errors for a status display
      }
      continue;
    }
    switch (key) {
      case "preshared_key":
        peer.hasPresharedKey = !isZeroHex(value);
        break;
      case "endpoint":
        peer.endpoint = value;
        break;
      case "last_handshake_time_sec":
        hsSec = num(key, value);
        break;
      case "last_handshake_time_nsec":
        peer.lastHandshake = num(key, value) / 1e9; // fraction; the seconds are added when the peer closes
        break;
      case "tx_bytes":
        peer.txBytes = num(key, value);
        break;
      case "rx_bytes":
        peer.rxBytes = num(key, value);
        break;
      case "persistent_keepalive_interval":
        peer.persistentKeepalive = num(key, value);
        break;
      case "allowed_ip":
        peer.allowedIps.push(value);
        break;
      case "bunwg_description":
        peer.description = value;
        break;
      default:
        break;
    }
  }
  closePeer();
  return dev;
}

export async function readDevice(ifname: string, timeoutMs?: number): Promise<DeviceView> {
  const { lines, extensions } = await getRaw(ifname, timeoutMs);
  return viewFromLines(lines, extensions);
}
