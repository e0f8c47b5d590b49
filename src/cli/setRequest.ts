// A plan's configuration part as one `set=1` request (device keys first, then one block per peer, in the order
// the words came), so a daemon applies the whole command at once.
import { lookup } from "node:dns/promises";
import { CliError } from "./errors.ts";
import { canonicalNetwork } from "./cidr.ts";
import { formatEndpoint, formatIp, keyToHex, parseIp } from "../text/codec.ts";
import { keyFromBase64 } from "./keyText.ts";
import type { DeviceView } from "./deviceView.ts";
import type { EndpointWord, Plan } from "./words.ts";

/** Endpoint text for the socket: "1.2.3.4:51820" or "[::1]:51820"; host names are resolved here, before sending. */
export async function endpointText(e: EndpointWord): Promise<string> {
  let ip = parseIp(e.host);
  if (ip === null) {
    try {
      ip = parseIp((await lookup(e.host)).address);
    } catch {
      ip = null;
    }
    if (ip === null) throw new CliError(`wgendpoint: cannot resolve host name ${JSON.stringify(e.host)}`);
  }
  return formatEndpoint({ address: formatIp(ip), port: e.port, family: ip.length === 4 ? 4 : 6 });
}

function canonicalAip(text: string): string {
  return canonicalNetwork(text) ?? text;
}

/**
 * The set request's lines. `current` is the daemon's configuration before the change: removing a single allowed
 * IP is done by sending the peer's remaining list with replace_allowed_ips, which every daemon understands.
 */
export async function buildSetLines(plan: Plan, current: DeviceView | null, extensions: boolean): Promise<string[]> {
  const lines: string[] = [];
  if (plan.privateKey !== undefined) lines.push(`private_key=${plan.privateKey}`);
  if (plan.listenPort !== undefined) lines.push(`listen_port=${plan.listenPort}`);
  if (plan.replacePeers) lines.push("replace_peers=true");
  if (extensions && plan.debug !== undefined) lines.push(`bunwg_debug=${plan.debug}`);
  if (extensions && plan.rdomain !== undefined) lines.push(`bunwg_rdomain=${plan.rdomain}`);

  // The allowed IPs each peer has as the request goes along (for -wgaip): start from the daemon's answer.
  const aipState = new Map<string, string[]>();
  if (current && !plan.replacePeers) {
    for (const p of current.peers) aipState.set(keyToHex(keyFromBase64(p.publicKey, "daemon public_key")), p.allowedIps.map(canonicalAip));
  }

  for (const peer of plan.peers) {
    lines.push(`public_key=${peer.publicKey}`);
    if (peer.remove) {
      lines.push("remove=true");
      aipState.delete(peer.publicKey);
      continue;
    }
    if (peer.presharedKey !== undefined) lines.push(`preshared_key=${peer.presharedKey}`);
    if (peer.endpoint !== undefined) lines.push(`endpoint=${await endpointText(peer.endpoint)}`);
    if (peer.persistentKeepalive !== undefined) lines.push(`persistent_keepalive_interval=${peer.persistentKeepalive}`);
    if (extensions && peer.description !== undefined) lines.push(`bunwg_description=${peer.description}`);
    if (peer.allowedIps.some((a) => a.op === "remove")) {
      const list = [...(aipState.get(peer.publicKey) ?? [])];
      for (const a of peer.allowedIps) {
        const at = list.indexOf(a.cidr);
        if (a.op === "add" && at < 0) list.push(a.cidr);
        if (a.op === "remove" && at >= 0) list.splice(at, 1);
      }
      lines.push("replace_allowed_ips=true", ...list.map((c) => `allowed_ip=${c}`));
      aipState.set(peer.publicKey, list);
    } else {
      for (const a of peer.allowedIps) lines.push(`allowed_ip=${a.cidr}`);
      aipState.set(peer.publicKey, [...(aipState.get(peer.publicKey) ?? []), ...peer.allowedIps.map((a) => a.cidr)]);
    }
  }
  return lines;
}
