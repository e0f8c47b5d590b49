// What the status commands show about one daemon: its get answer, read by the protocol's own parser
// (src/uapi/get.ts parseGet), turned into base64 keys and plain numbers.
import { CliError } from "./errors.ts";
import { getAnswer } from "./configSocket.ts";
import { parseGet } from "../uapi/get.ts";
import { formatCidr, formatEndpoint, keyToBase64 } from "../text/codec.ts";
import { publicKeyOf } from "./keyText.ts";

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

/** Turns a get answer (the whole text, up to "errno=0\n\n") into a DeviceView. */
export function viewFromAnswer(answer: string, extensions: boolean): DeviceView {
  const r = parseGet(answer);
  if (!r.ok) throw new CliError(`configuration socket: ${r.message}`);
  const c = r.config;
  return {
    extensions,
    publicKey: c.privateKey ? keyToBase64(publicKeyOf(c.privateKey)) : null,
    hasPrivateKey: c.privateKey !== null,
    listenPort: c.listenPort,
    fwmark: c.fwmark,
    debug: c.debug,
    rdomain: c.rdomain,
    peers: c.peers.map((p, i) => {
      const s = r.stats[i];
      return {
        publicKey: keyToBase64(p.publicKey),
        hasPresharedKey: p.presharedKey !== null,
        endpoint: p.endpoint ? formatEndpoint(p.endpoint) : null,
        lastHandshake: s.lastHandshakeSec === 0 ? null : s.lastHandshakeSec + s.lastHandshakeNsec / 1e9,
        txBytes: Number(s.txBytes),
        rxBytes: Number(s.rxBytes),
        persistentKeepalive: p.persistentKeepalive,
        allowedIps: p.allowedIps.map(formatCidr),
        description: p.description,
      };
    }),
  };
}

export async function readDevice(ifname: string, timeoutMs?: number): Promise<DeviceView> {
  const { answer, extensions } = await getAnswer(ifname, timeoutMs);
  return viewFromAnswer(answer, extensions);
}
