// `wg.ts show [IFNAME] [--json]`: wg(8) show's layout for every interface a daemon serves
// (the sockets in /var/run/wireguard), or for one.
import { defineCommand } from "citty";
import { runReporting } from "./errors.ts";
import { forEachInterface, LIST_TIMEOUT_MS } from "./configSocket.ts";
import { readDevice, type DeviceView, type PeerView } from "./deviceView.ts";
import { gatherStatus, statusJson } from "./status.ts";
import { checkIfname } from "./words.ts";

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

/** "1 minute, 5 seconds ago", as wg(8) writes ages. */
export function ago(seconds: number): string {
  if (seconds < 0) return "System clock wound backward!";
  if (seconds === 0) return "Now";
  const parts: string[] = [];
  let s = Math.floor(seconds);
  const units: [string, number][] = [["year", 365 * 86400], ["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [unit, size] of units) {
    if (s >= size) {
      parts.push(plural(Math.floor(s / size), unit));
      s %= size;
    }
  }
  if (s > 0 || parts.length === 0) parts.push(plural(s, "second"));
  return `${parts.join(", ")} ago`;
}

/** "1.23 KiB", as wg(8) writes byte counts. */
export function bytes(n: number): string {
  const units = ["KiB", "MiB", "GiB", "TiB"];
  if (n < 1024) return `${n} B`;
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(2)} ${units[i]}`;
}

function peerText(p: PeerView, nowSec: number): string {
  const out = [`peer: ${p.publicKey}`];
  if (p.description) out.push(`  description: ${p.description}`);
  if (p.hasPresharedKey) out.push("  preshared key: (hidden)");
  if (p.endpoint) out.push(`  endpoint: ${p.endpoint}`);
  out.push(`  allowed ips: ${p.allowedIps.length ? p.allowedIps.join(", ") : "(none)"}`);
  if (p.lastHandshake !== null) out.push(`  latest handshake: ${ago(Math.floor(nowSec - p.lastHandshake))}`);
  if (p.txBytes || p.rxBytes) out.push(`  transfer: ${bytes(p.rxBytes)} received, ${bytes(p.txBytes)} sent`);
  if (p.persistentKeepalive) out.push(`  persistent keepalive: every ${plural(p.persistentKeepalive, "second")}`);
  return out.join("\n");
}

export function formatShow(name: string, d: DeviceView, nowSec = Date.now() / 1000): string {
  const head = [`interface: ${name}`];
  if (d.publicKey) head.push(`  public key: ${d.publicKey}`);
  if (d.hasPrivateKey) head.push("  private key: (hidden)");
  if (d.listenPort) head.push(`  listening port: ${d.listenPort}`);
  if (d.fwmark) head.push(`  fwmark: 0x${d.fwmark.toString(16)}`);
  if (d.rdomain) head.push(`  rdomain: ${d.rdomain}`);
  if (d.debug) head.push("  debug: on");
  // wg(8) lists the most recently active peers first.
  const peers = [...d.peers].sort((a, b) => (b.lastHandshake ?? 0) - (a.lastHandshake ?? 0));
  return [head.join("\n"), ...peers.map((p) => peerText(p, nowSec))].join("\n\n") + "\n";
}

export async function show(names: string[], json: boolean, print: (t: string) => void): Promise<void> {
  for (const n of names) checkIfname(n);
  const one = async (name: string, timeoutMs?: number) =>
    json ? JSON.stringify(statusJson(await gatherStatus(name, timeoutMs))) : formatShow(name, await readDevice(name, timeoutMs));
  let results: string[];
  if (names.length > 0) {
    results = [];
    for (const name of names) results.push(await one(name));
  } else {
    results = [];
    for (const r of await forEachInterface((name) => one(name, LIST_TIMEOUT_MS))) {
      if ("value" in r) results.push(r.value);
      else {
        // A hung or stale daemon among many is reported, not fatal for the others (as wg show does).
        console.error(`show: ${r.error.message}`);
        process.exitCode = 1;
      }
    }
  }
  if (json) print(`${names.length === 1 ? results[0] : `[${results.join(",")}]`}\n`);
  else print(results.join("\n"));
}

export const showCommand = defineCommand({
  meta: { name: "show", description: "Show WireGuard interfaces like wg show (every running one, or IFNAME)" },
  args: {
    ifname: { type: "positional", required: false, description: "interface name (none: all)" },
    json: { type: "boolean", description: "print JSON (the same fields as ifconfig --json)" },
  },
  async run({ args }) {
    await runReporting("show", async () => {
      const names = (args._ as string[]).filter((a) => a !== "");
      await show(names, Boolean(args.json), (t) => process.stdout.write(t));
    });
  },
});
