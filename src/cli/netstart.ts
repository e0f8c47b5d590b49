// `wg.ts netstart [--dir DIR] [-n|--dry-run] [IFNAME…]`: OpenBSD netstart(8) for wg(4) interfaces. Brings up the
// interfaces described by DIR/hostname.IFNAME (hostname.if(5); DIR is --dir, else $BUNWG_CONFDIR, else /etc/bunwg),
// the named ones or every hostname.wg* file in name order, one after the other.
//
// Each file is all or nothing: it is parsed whole before anything is touched, and an interface this run created is
// destroyed again if any later step of its file fails (the others still come up). Running it again on an interface
// that is up applies the file as `wg syncconf` does: only what differs is sent, so peers the file leaves unchanged
// keep their sessions (src/config/diff.ts diffConfigs; wireguard-go does the same for peers it is not told about).
// The words of all lines are applied together (one set request, then the address/MTU/up-down steps in file order);
// "!command" lines run after that, in file order, and a command that fails fails its file.
import { defineCommand } from "citty";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { CliError, requireRoot, runReporting } from "./errors.ts";
import { daemonAnswers, getAnswer } from "./configSocket.ts";
import { socketPath } from "../uapi/socket.ts";
import { applyPlan, destroyInterface } from "./apply.ts";
import { locate, netnsExists, run } from "./iproute.ts";
import { endpointText } from "./setRequest.ts";
import { canonicalNetwork } from "./cidr.ts";
import { checkIfname, type EndpointWord, type LinkOp, type PeerPlan, type Plan } from "./words.ts";
import { HOSTNAME_FILE, parseHostnameFile, shellWord, type HostnameLine } from "./hostname.ts";
import { clampPrivateKey } from "../noise/index.ts";
import type { DeviceConfig } from "../config/model.ts";
import { parseGet } from "../uapi/get.ts";
import { formatCidr, formatEndpoint, keyFromHex, keyToHex } from "../text/codec.ts";

export const DEFAULT_CONFDIR = "/etc/bunwg";
const COMMAND_TIMEOUT_MS = 60_000;
const ZERO_KEY = "0".repeat(64);

export function confDir(flag: string | undefined): string {
  return flag || process.env.BUNWG_CONFDIR || DEFAULT_CONFDIR;
}

/** Every interface with a hostname.wg* file in `dir`, in name order. */
export function listHostnameInterfaces(dir: string): string[] {
  return readdirSync(dir)
    .map((f) => HOSTNAME_FILE.exec(f)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort();
}

interface DesiredPeer {
  publicKey: string; // hex
  publicKeyText: string;
  presharedKey: string | null; // hex
  endpoint: EndpointWord | null; // null: the file names none, whatever the peer roamed to stays
  persistentKeepalive: number;
  allowedIps: string[]; // canonical
  description: string;
}

/** What a whole file asks for, its lines folded in order as consecutive ifconfig commands would leave it. */
export interface Desired {
  privateKey?: string;
  listenPort?: number;
  debug?: boolean;
  rdomain?: string;
  peers: Map<string, DesiredPeer>;
  link: LinkOp[];
  extensionWords: string[];
}

export function desiredState(lines: HostnameLine[]): Desired {
  const d: Desired = { peers: new Map(), link: [], extensionWords: [] };
  for (const l of lines) {
    if (l.kind !== "words") continue;
    const p = l.plan;
    if (p.privateKey !== undefined) d.privateKey = p.privateKey;
    if (p.listenPort !== undefined) d.listenPort = p.listenPort;
    if (p.debug !== undefined) d.debug = p.debug;
    if (p.rdomain !== undefined) d.rdomain = p.rdomain;
    if (p.replacePeers) d.peers.clear();
    for (const peer of p.peers) {
      if (peer.remove) {
        d.peers.delete(peer.publicKey);
        continue;
      }
      const cur = d.peers.get(peer.publicKey) ?? {
        publicKey: peer.publicKey,
        publicKeyText: peer.publicKeyText,
        presharedKey: null,
        endpoint: null,
        persistentKeepalive: 0,
        allowedIps: [],
        description: "",
      };
      if (peer.presharedKey !== undefined) cur.presharedKey = peer.presharedKey === ZERO_KEY ? null : peer.presharedKey;
      if (peer.endpoint !== undefined) cur.endpoint = peer.endpoint;
      if (peer.persistentKeepalive !== undefined) cur.persistentKeepalive = peer.persistentKeepalive;
      if (peer.description !== undefined) cur.description = peer.description;
      for (const a of peer.allowedIps) {
        const at = cur.allowedIps.indexOf(a.cidr);
        if (a.op === "add" && at < 0) cur.allowedIps.push(a.cidr);
        if (a.op === "remove" && at >= 0) cur.allowedIps.splice(at, 1);
      }
      d.peers.set(peer.publicKey, cur);
    }
    d.link.push(...p.link);
    d.extensionWords.push(...p.extensionWords);
  }
  return d;
}

function clampedHex(hex: string): string {
  return keyToHex(clampPrivateKey(keyFromHex(hex)));
}

export interface SyncSummary {
  privateKey: boolean;
  listenPort: boolean;
  added: number;
  changed: number;
  removed: number;
}

/**
 * The ifconfig plan that takes the interface from `current` (null: it does not exist yet) to `d`, sending only what
 * differs — the difference `wg syncconf` would send. `where` is the namespace the interface is in now.
 */
export async function syncPlan(d: Desired, current: { config: DeviceConfig; extensions: boolean; where: string | null } | null): Promise<{ plan: Plan; summary: SyncSummary }> {
  const plan: Plan = { create: current === null, destroy: false, replacePeers: false, peers: [], link: d.link, json: false, extensionWords: d.extensionWords };
  const summary: SyncSummary = { privateKey: false, listenPort: false, added: 0, changed: 0, removed: 0 };
  const cfg = current?.config;
  if (d.privateKey !== undefined && (!cfg?.privateKey || keyToHex(clampPrivateKey(cfg.privateKey)) !== clampedHex(d.privateKey))) {
    plan.privateKey = d.privateKey;
    summary.privateKey = current !== null;
  }
  // wgport 0 asks for any free port: whichever the daemon picked is as good, so it is not asked to move.
  if (d.listenPort !== undefined && (cfg === undefined || (d.listenPort !== 0 && d.listenPort !== cfg.listenPort))) {
    plan.listenPort = d.listenPort;
    summary.listenPort = current !== null;
  }
  if (d.debug !== undefined && (cfg === undefined || !current!.extensions || cfg.debug !== d.debug)) plan.debug = d.debug;
  if (d.rdomain !== undefined && (current === null ? d.rdomain !== "" : (current.where ?? "") !== d.rdomain)) plan.rdomain = d.rdomain;

  const have = new Map((cfg?.peers ?? []).map((p) => [keyToHex(p.publicKey), p]));
  for (const [hex, p] of have) {
    if (d.peers.has(hex)) continue;
    plan.peers.push({ publicKey: hex, publicKeyText: hex, remove: true, allowedIps: [] });
    summary.removed++;
  }
  for (const want of d.peers.values()) {
    const old = have.get(want.publicKey);
    const oldAips = old ? old.allowedIps.map((a) => canonicalNetwork(formatCidr(a))!) : [];
    const oldPsk = old?.presharedKey ? keyToHex(old.presharedKey) : null;
    const endpoint = want.endpoint ? await endpointText(want.endpoint) : null;
    const peer: PeerPlan = { publicKey: want.publicKey, publicKeyText: want.publicKeyText, remove: false, allowedIps: [] };
    if (want.presharedKey !== oldPsk) peer.presharedKey = want.presharedKey ?? ZERO_KEY;
    if (want.endpoint && (!old?.endpoint || formatEndpoint(old.endpoint) !== endpoint)) peer.endpoint = want.endpoint;
    if (!old || want.persistentKeepalive !== old.persistentKeepalive) peer.persistentKeepalive = want.persistentKeepalive;
    if (current?.extensions !== false && want.description !== (old?.description ?? "")) peer.description = want.description;
    for (const a of want.allowedIps) if (!oldAips.includes(a)) peer.allowedIps.push({ op: "add", cidr: a });
    for (const a of oldAips) if (!want.allowedIps.includes(a)) peer.allowedIps.push({ op: "remove", cidr: a });
    const differs =
      peer.presharedKey !== undefined || peer.endpoint !== undefined || peer.persistentKeepalive !== undefined || peer.description !== undefined || peer.allowedIps.length > 0;
    if (old && !differs) continue; // unchanged: not mentioned at all, so nothing about its sessions moves
    plan.peers.push(peer);
    if (old) summary.changed++;
    else summary.added++;
  }
  return { plan, summary };
}

async function readCurrent(ifname: string): Promise<{ config: DeviceConfig; extensions: boolean; where: string | null } | null> {
  if (!existsSync(socketPath(ifname)) || !(await daemonAnswers(ifname))) return null;
  const { answer, extensions } = await getAnswer(ifname);
  const r = parseGet(answer);
  if (!r.ok) throw new CliError(`${ifname}: configuration socket: ${r.message}`);
  const where = locate(ifname, r.config.rdomain);
  return { config: r.config, extensions, where: where === undefined ? null : where };
}

/** Reads and parses DIR/hostname.IFNAME; warns when others may read it (it holds private keys). */
export function loadHostnameFile(dir: string, ifname: string, warn: (t: string) => void): { path: string; lines: HostnameLine[] } {
  const path = join(dir, `hostname.${ifname}`);
  let text: string;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new CliError(`${path}: not a regular file`);
    if ((st.mode & 0o077) !== 0) warn(`${path}: readable by others (mode ${(st.mode & 0o777).toString(8)}) but it holds private keys: chmod 600 it`);
    text = readFileSync(path, "utf8");
  } catch (e) {
    if (e instanceof CliError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(code === "ENOENT" ? `${path}: no such file` : `${path}: cannot read: ${(e as Error).message}`);
  }
  return { path, lines: parseHostnameFile(text, path) };
}

/** Runs a "!command" line with the shell, $if set to the interface name (hostname.if(5)). */
function runCommand(ifname: string, path: string, l: { line: number; command: string }): void {
  const r = Bun.spawnSync(["sh", "-c", l.command], {
    stdin: "ignore",
    stdout: "inherit",
    stderr: "pipe",
    env: { ...process.env, if: ifname },
    timeout: COMMAND_TIMEOUT_MS,
  });
  if (r.exitCode !== 0) {
    const why = r.exitCode === null ? `did not finish within ${COMMAND_TIMEOUT_MS / 1000} s` : `exited with status ${r.exitCode}`;
    const err = r.stderr.toString().trim();
    throw new CliError(`${path}:${l.line}: !${l.command}: ${why}${err ? `: ${err}` : ""}`);
  }
}

function summaryText(summary: SyncSummary): string {
  const parts: string[] = [];
  if (summary.privateKey) parts.push("new private key");
  if (summary.listenPort) parts.push("new port");
  for (const [n, what] of [[summary.added, "added"], [summary.changed, "changed"], [summary.removed, "removed"]] as const) {
    if (n > 0) parts.push(`${n} peer${n === 1 ? "" : "s"} ${what}`);
  }
  return parts.length === 0 ? "configuration unchanged" : parts.join(", ");
}

/** Brings up (or re-applies) one interface from its file; throws a CliError after undoing what it created. */
export async function startInterface(dir: string, ifname: string, print: (t: string) => void, warn: (t: string) => void): Promise<void> {
  const { path, lines } = loadHostnameFile(dir, ifname, warn);
  const d = desiredState(lines);
  const current = await readCurrent(ifname);
  const { plan, summary } = await syncPlan(d, current);
  const newNamespace = plan.rdomain && !netnsExists(plan.rdomain) ? plan.rdomain : null;
  try {
    await applyPlan(ifname, plan); // a creating plan removes its interface itself when it fails
    try {
      for (const l of lines) if (l.kind === "command") runCommand(ifname, path, l);
    } catch (e) {
      if (current === null) await destroyInterface(ifname).catch(() => {});
      throw e;
    }
  } catch (e) {
    if (current === null && newNamespace && netnsExists(newNamespace)) run(["ip", "netns", "del", newNamespace]);
    if (e instanceof CliError && !e.message.startsWith(path)) throw new CliError(`${path}: ${e.message}`);
    throw e;
  }
  print(`${ifname}: ${current === null ? "created" : summaryText(summary)}\n`);
}

/** --dry-run: the ifconfig words and commands the file stands for, as commands one could type. */
export async function dryRun(dir: string, ifname: string, print: (t: string) => void, warn: (t: string) => void): Promise<void> {
  const { path, lines } = loadHostnameFile(dir, ifname, warn);
  const running = existsSync(socketPath(ifname)) && (await daemonAnswers(ifname));
  print(`# ${path}${running ? ` (${ifname} is running: only what differs would be sent)` : ""}\n`);
  if (!running) print(`ifconfig ${ifname} create\n`);
  for (const l of lines) {
    if (l.kind === "words") print(`ifconfig ${ifname} ${l.words.map(shellWord).join(" ")}\n`);
    else print(`if=${ifname} sh -c ${shellWord(l.command)}\n`);
  }
}

export interface NetstartOptions {
  dir: string;
  dryRun: boolean;
  names: string[];
  print: (t: string) => void;
  warn: (t: string) => void;
}

/** Returns the exit status: 0 when every interface came up, 1 when any failed (the others still came up). */
export async function netstart(o: NetstartOptions): Promise<number> {
  for (const n of o.names) checkIfname(n);
  if (!existsSync(o.dir) || !statSync(o.dir).isDirectory()) {
    throw new CliError(`${o.dir}: no such directory (the hostname.IFNAME files are read from --dir DIR, else $BUNWG_CONFDIR, else ${DEFAULT_CONFDIR})`);
  }
  if (!o.dryRun) requireRoot("netstart");
  const names = o.names.length > 0 ? o.names : listHostnameInterfaces(o.dir);
  if (names.length === 0) o.warn(`no hostname.wg* files in ${o.dir}: nothing to bring up`);
  let status = 0;
  for (const ifname of names) {
    try {
      await (o.dryRun ? dryRun : startInterface)(o.dir, ifname, o.print, o.warn);
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      o.warn(e.message);
      status = 1;
    }
  }
  return status;
}

export const netstartCommand = defineCommand({
  meta: {
    name: "netstart",
    description: "Bring up interfaces from hostname.IFNAME files (every hostname.wg* in name order, or the named ones)",
  },
  args: {
    dir: { type: "string", description: `directory of the hostname.IFNAME files (default: $BUNWG_CONFDIR, else ${DEFAULT_CONFDIR})`, valueHint: "DIR" },
    "dry-run": { type: "boolean", alias: "n", description: "print the ifconfig words each file stands for; change nothing" },
    ifnames: { type: "positional", required: false, description: "interfaces to bring up (default: every hostname.wg* file)" },
  },
  async run({ args }) {
    await runReporting("netstart", async () => {
      process.exitCode = await netstart({
        dir: confDir(args.dir),
        dryRun: Boolean(args["dry-run"]),
        names: (args._ as string[]) ?? [],
        print: (t) => process.stdout.write(t),
        warn: (t) => process.stderr.write(`netstart: ${t}\n`),
      });
    });
  },
});
