// OpenBSD ifconfig's words for wg(4) interfaces, parsed and validated into one plan before anything is sent:
// a command either applies as a whole or fails naming the word that was wrong and what it expected.
import { CliError } from "./errors.ts";
import { canonicalNetwork, netmaskBits, parsePrefix, type Prefix } from "./cidr.ts";
import { keyFromBase64 } from "./keyText.ts";
import { rdomainProblem } from "../config/model.ts";
import { keyToHex, parseIp } from "../text/codec.ts";

export interface EndpointWord {
  host: string; // IP literal or a name to resolve
  port: number;
}

export type AllowedIpOp = { op: "add" | "remove"; cidr: string };

/** Everything one `wgpeer PUB …` (or `-wgpeer PUB`) says about one peer, in order. */
export interface PeerPlan {
  publicKey: string; // hex
  publicKeyText: string; // as typed, for messages
  remove: boolean;
  presharedKey?: string; // hex; 64 zeros = remove
  endpoint?: EndpointWord;
  allowedIps: AllowedIpOp[];
  persistentKeepalive?: number;
  description?: string;
}

export type LinkOp =
  | { kind: "address"; prefix: Prefix; text: string; broadcast?: string }
  | { kind: "description"; text: string }
  | { kind: "up" }
  | { kind: "down" }
  | { kind: "mtu"; mtu: number };

export interface Plan {
  create: boolean;
  destroy: boolean;
  privateKey?: string; // hex
  listenPort?: number;
  debug?: boolean;
  /** namespace to move the interface into; "" = back to the daemon's own (rdomain 0) */
  rdomain?: string;
  replacePeers: boolean;
  peers: PeerPlan[];
  link: LinkOp[];
  json: boolean;
  /** words that need our daemon's bunwg_* extensions */
  extensionWords: string[];
}

export const WORDS_HELP = `words (several per command, applied together):
  create                     start the daemon for IFNAME (error if it exists)
  destroy                    delete the interface; its daemon exits
  wgkey KEY                  private key: base64 of any 32 bytes (openssl rand -base64 32)
  wgport PORT                UDP listen port (0: any free port)
  rdomain NS                 move the interface into network namespace NS (created if absent; 0: back)
  wgpeer PUB                 add or change the peer with public key PUB; the words below apply to it:
    wgpsk KEY | -wgpsk         set / remove its preshared key
    wgendpoint ADDR PORT       its UDP endpoint
    wgaip CIDR | -wgaip CIDR   add / remove an allowed IP range (repeatable)
    wgpka SECONDS | -wgpka     persistent keepalive interval / off
    wgdescr TEXT | -wgdescr    description / none
  -wgpeer PUB                remove that peer
  -wgpeerall                 remove every peer
  A.B.C.D/N | X::Y/N         add an address (also "inet [alias] ADDR", "inet6 [alias] ADDR"); the interface comes up
    netmask MASK               the IPv4 address's netmask (255.255.255.0 or 0xffffff00) instead of /N
    prefixlen N                the IPv6 address's prefix length instead of /N
    broadcast ADDR             the IPv4 address's broadcast address
  description TEXT           the interface's description (-description: none)
  up | down                  bring the interface up / down
  mtu N                      set the MTU
  debug | -debug             switch the daemon's diagnostics on / off
with no words: show the interface (--json: as JSON)`;

const IFNAME = /^[^\s/:%]{1,15}$/;

export function checkIfname(name: string): void {
  if (!IFNAME.test(name) || name === "." || name === "..") {
    throw new CliError(`interface name: expected 1-15 characters without spaces, "/", ":" or "%", got ${JSON.stringify(name)}`);
  }
}

function intWord(word: string, value: string | undefined, min: number, max: number, what: string): number {
  if (value === undefined) throw new CliError(`${word}: missing value (expected ${what})`);
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new CliError(`${word}: expected ${what}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

function keyWord(word: string, value: string | undefined, what: string): string {
  if (value === undefined) throw new CliError(`${word}: missing value (expected ${what}: 32 bytes of base64)`);
  return keyToHex(keyFromBase64(value, `${word} ${what}`));
}

/** Parses the words after IFNAME into a plan, or throws a CliError naming the offending word. */
export function parseWords(words: string[]): Plan {
  const plan: Plan = { create: false, destroy: false, replacePeers: false, peers: [], link: [], json: false, extensionWords: [] };
  let peer: PeerPlan | null = null;
  let i = 0;
  const next = () => words[++i];
  const needPeer = (word: string): PeerPlan => {
    if (peer === null) throw new CliError(`${word}: needs a peer: put it after "wgpeer PUBLICKEY"`);
    if (peer.remove) throw new CliError(`${word}: the peer before it is being removed (-wgpeer); use "wgpeer PUBLICKEY"`);
    return peer;
  };
  for (; i < words.length; i++) {
    const word = words[i];
    switch (word) {
      case "create":
        plan.create = true;
        break;
      case "destroy":
        plan.destroy = true;
        break;
      case "--json":
      case "-j":
        plan.json = true;
        break;
      case "wgkey":
        plan.privateKey = keyWord(word, next(), "private key");
        break;
      case "wgport":
        plan.listenPort = intWord(word, next(), 0, 65535, "a UDP port number 0-65535");
        break;
      case "rdomain": {
        const ns = next();
        if (ns === undefined) throw new CliError(`rdomain: missing value (expected a network namespace name)`);
        const problem = ns === "0" ? null : rdomainProblem(ns);
        if (problem) throw new CliError(`rdomain: ${problem}, got ${JSON.stringify(ns)}`);
        plan.rdomain = ns === "0" ? "" : ns;
        break;
      }
      case "mtu":
        plan.link.push({ kind: "mtu", mtu: intWord(word, next(), 68, 65535, "an MTU of 68-65535 bytes") });
        break;
      case "up":
        plan.link.push({ kind: "up" });
        break;
      case "down":
        plan.link.push({ kind: "down" });
        break;
      case "debug":
      case "-debug":
        plan.debug = word === "debug";
        plan.extensionWords.push(word);
        break;
      case "wgpeer":
      case "-wgpeer": {
        const text = next();
        const hex = keyWord(word, text, "public key");
        peer = { publicKey: hex, publicKeyText: text!, remove: word === "-wgpeer", allowedIps: [] };
        plan.peers.push(peer);
        break;
      }
      case "-wgpeerall":
        // Earlier peer words in this command are overruled: the set request starts with replace_peers.
        plan.replacePeers = true;
        plan.peers = [];
        peer = null;
        break;
      case "wgpsk":
        needPeer(word).presharedKey = keyWord(word, next(), "preshared key");
        break;
      case "-wgpsk":
        needPeer(word).presharedKey = "0".repeat(64);
        break;
      case "wgendpoint": {
        const p = needPeer(word);
        const host = next();
        if (host === undefined) throw new CliError(`wgendpoint: missing address (expected "wgendpoint ADDRESS PORT")`);
        const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
        if (parseIp(bare) === null && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(bare)) {
          throw new CliError(`wgendpoint: expected an IPv4/IPv6 address or host name, got ${JSON.stringify(host)}`);
        }
        const port = intWord(word, next(), 1, 65535, `a UDP port 1-65535 after the address ("wgendpoint ${host} PORT")`);
        p.endpoint = { host: bare, port };
        break;
      }
      case "wgaip":
      case "-wgaip": {
        const p = needPeer(word);
        const text = next();
        if (text === undefined) throw new CliError(`${word}: missing value (expected an address range A.B.C.D/N or X::Y/N)`);
        const cidr = canonicalNetwork(text);
        if (!cidr) throw new CliError(`${word}: expected an address range A.B.C.D/N or X::Y/N, got ${JSON.stringify(text)}`);
        p.allowedIps.push({ op: word === "wgaip" ? "add" : "remove", cidr });
        break;
      }
      case "wgpka":
        needPeer(word).persistentKeepalive = intWord(word, next(), 0, 65535, "a keepalive interval of 0-65535 seconds");
        break;
      case "-wgpka":
        needPeer(word).persistentKeepalive = 0;
        break;
      case "wgdescr":
      case "wgdescription": {
        const p = needPeer(word);
        const text = next();
        if (text === undefined) throw new CliError(`${word}: missing value (expected a description)`);
        if (/[\n\r\0]/.test(text) || text.length > 64) {
          throw new CliError(`${word}: expected at most 64 characters without line breaks, got ${JSON.stringify(text)}`);
        }
        p.description = text;
        plan.extensionWords.push(word);
        break;
      }
      case "-wgdescr":
      case "-wgdescription":
        needPeer(word).description = "";
        plan.extensionWords.push(word);
        break;
      case "inet":
      case "inet6": {
        // "inet alias ADDR" (hostname.if(5)): every address here is added, so "alias" changes nothing.
        if (words[i + 1] === "alias") i++;
        const text = next();
        if (text === undefined) throw new CliError(`${word}: missing address (expected ${word === "inet" ? "A.B.C.D/N" : "X::Y/N"})`);
        const prefix = parsePrefix(text, true);
        if (!prefix || prefix.family !== (word === "inet" ? 4 : 6)) {
          throw new CliError(`${word}: expected an ${word === "inet" ? "IPv4 address A.B.C.D/N" : "IPv6 address X::Y/N"}, got ${JSON.stringify(text)}`);
        }
        plan.link.push({ kind: "address", prefix, text });
        break;
      }
      case "netmask":
      case "prefixlen":
      case "broadcast": {
        // OpenBSD ifconfig's parameters of the address before them (hostname.if(5)'s packed "inet ADDR MASK BCAST").
        const value = next();
        const last = plan.link.at(-1);
        if (last?.kind !== "address") throw new CliError(`${word}: needs an address before it (e.g. "inet 10.0.0.1 ${word} …")`);
        const v4 = last.prefix.family === 4;
        if (word === "broadcast") {
          if (!v4) throw new CliError(`broadcast: only for an IPv4 address, not ${last.text}`);
          if (value === undefined || parseIp(value)?.length !== 4) throw new CliError(`broadcast: expected an IPv4 address A.B.C.D, got ${JSON.stringify(value ?? "")}`);
          last.broadcast = value;
          break;
        }
        if (word === "netmask" && !v4) throw new CliError(`netmask: only for an IPv4 address (use prefixlen for ${last.text})`);
        if (word === "prefixlen" && v4) throw new CliError(`prefixlen: only for an IPv6 address (use netmask for ${last.text})`);
        if (last.text.includes("/")) throw new CliError(`${word}: the address ${last.text} already has a prefix length`);
        const bits = word === "netmask" ? netmaskBits(value ?? "") : /^\d{1,3}$/.test(value ?? "") && Number(value) <= 128 ? Number(value) : null;
        if (bits === null) {
          const what = word === "netmask" ? "a contiguous IPv4 netmask such as 255.255.255.0 or 0xffffff00" : "a prefix length 0-128";
          throw new CliError(`${word}: expected ${what}, got ${JSON.stringify(value ?? "")}`);
        }
        last.prefix = { ...last.prefix, bits };
        last.text = `${last.text}/${bits}`;
        break;
      }
      case "description": {
        const text = next();
        if (text === undefined) throw new CliError(`description: missing value (expected the interface's description)`);
        if (/[\n\r\0]/.test(text) || Buffer.byteLength(text) > 255) {
          throw new CliError(`description: expected at most 255 bytes without line breaks, got ${JSON.stringify(text)}`);
        }
        plan.link.push({ kind: "description", text });
        break;
      }
      case "-description":
        plan.link.push({ kind: "description", text: "" });
        break;
      default: {
        const prefix = parsePrefix(word, true);
        if (prefix) {
          plan.link.push({ kind: "address", prefix, text: word });
          break;
        }
        if (/^[\d.:/a-fA-F]+$/.test(word) && /[./:]/.test(word)) {
          throw new CliError(`address: expected A.B.C.D/N (N 0-32) or X::Y/N (N 0-128), got ${JSON.stringify(word)}`);
        }
        throw new CliError(`unknown word ${JSON.stringify(word)} (expected create, destroy, wgkey, wgport, rdomain, wgpeer, -wgpeer, -wgpeerall, wgpsk, -wgpsk, wgendpoint, wgaip, -wgaip, wgpka, wgdescr, an address, netmask, prefixlen, broadcast, description, up, down, mtu, debug or -debug; see --help)`);
      }
    }
  }
  if (plan.destroy && words.filter((w) => w !== "destroy").length > 0) {
    throw new CliError(`destroy: cannot be combined with other words (got ${words.filter((w) => w !== "destroy").map((w) => JSON.stringify(w)).join(" ")})`);
  }
  if (plan.json && words.some((w) => w !== "--json" && w !== "-j")) {
    throw new CliError(`--json: only for showing an interface ("ifconfig IFNAME --json"), not with configuration words`);
  }
  return plan;
}

/** True when the plan changes nothing: `ifconfig IFNAME` alone shows the interface. */
export function isStatusOnly(plan: Plan): boolean {
  return (
    !plan.create &&
    !plan.destroy &&
    plan.privateKey === undefined &&
    plan.listenPort === undefined &&
    plan.debug === undefined &&
    plan.rdomain === undefined &&
    !plan.replacePeers &&
    plan.peers.length === 0 &&
    plan.link.length === 0
  );
}
