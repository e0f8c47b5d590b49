// What differs between two configurations, so the device applies a set to its live state cheaply and keeps the
// sessions of peers the set did not touch (model.ts: unchanged peers are shared by identity).
import { keyToHex, type AllowedIp } from "../text/codec.ts";
import { prefixKey, sameBytes, type DeviceConfig, type PeerConfig, type PrefixKey } from "./model.ts";

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
  // The common large cases without a map of every peer: the peers untouched (the same array), or all removed.
  if (old.peers === next.peers) return changes;
  if (next.peers.length === 0) {
    changes.removed = old.peers.slice();
    return changes;
  }
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
      // By identity, not value: an endpoint= line always makes a new one, and re-setting the configured value
      // after the peer roamed must apply (wireguard-go does; the live endpoint differs from the configured one).
      endpoint: o.endpoint !== p.endpoint,
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
