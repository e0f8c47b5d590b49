// The ifconfig word parser, the set request it turns into, and the status formats — no daemon needed.
import { describe, expect, test } from "bun:test";
import { parseWords, isStatusOnly } from "../../src/cli/words.ts";
import { buildSetLines } from "../../src/cli/setRequest.ts";
import { canonicalNetwork, netmaskHex, parsePrefix } from "../../src/cli/cidr.ts";
import { viewFromAnswer, type DeviceView } from "../../src/cli/deviceView.ts";
import { formatStatus, statusJson, type InterfaceStatus } from "../../src/cli/status.ts";
import { ago, bytes, formatShow } from "../../src/cli/show.ts";
import { CliError } from "../../src/cli/errors.ts";

const KEY_A = Buffer.alloc(32, 0xa1).toString("base64");
const KEY_B = Buffer.alloc(32, 0xb2).toString("base64");
const HEX_A = Buffer.alloc(32, 0xa1).toString("hex");
const HEX_B = Buffer.alloc(32, 0xb2).toString("hex");

function parseError(words: string[]): string {
  try {
    parseWords(words);
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    return (e as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(words)} to be rejected`);
}

describe("parseWords", () => {
  test("the seed's create line", () => {
    const p = parseWords(["create", "wgport", "111", "wgkey", KEY_A, "rdomain", "1"]);
    expect(p.create).toBe(true);
    expect(p.listenPort).toBe(111);
    expect(p.privateKey).toBe(HEX_A);
    expect(p.rdomain).toBe("1");
    expect(isStatusOnly(p)).toBe(false);
  });

  test("peer words attach to the wgpeer before them, in order", () => {
    const p = parseWords([
      "wgpeer", KEY_A, "wgpsk", KEY_B, "wgendpoint", "127.0.0.1", "222", "wgaip", "192.168.5.2/32", "wgaip", "fd00::1/64",
      "wgpka", "25", "wgdescr", "the other side",
      "-wgpeer", KEY_B,
    ]);
    expect(p.peers).toHaveLength(2);
    const [a, b] = p.peers;
    expect(a!.publicKey).toBe(HEX_A);
    expect(a!.presharedKey).toBe(HEX_B);
    expect(a!.endpoint).toEqual({ host: "127.0.0.1", port: 222 });
    expect(a!.allowedIps).toEqual([{ op: "add", cidr: "192.168.5.2/32" }, { op: "add", cidr: "fd00::/64" }]);
    expect(a!.persistentKeepalive).toBe(25);
    expect(a!.description).toBe("the other side");
    expect(b!.remove).toBe(true);
    expect(p.extensionWords).toEqual(["wgdescr"]);
  });

  test("-wgpeerall overrules earlier peer words; addresses, mtu, up/down keep their order", () => {
    const p = parseWords(["wgpeer", KEY_A, "-wgpeerall", "wgpeer", KEY_B, "10.1.2.3/24", "inet6", "fd00::1/64", "mtu", "1380", "down", "up"]);
    expect(p.replacePeers).toBe(true);
    expect(p.peers.map((x) => x.publicKey)).toEqual([HEX_B]);
    expect(p.link.map((l) => l.kind)).toEqual(["address", "address", "mtu", "down", "up"]);
    expect(p.link[0]).toMatchObject({ prefix: { family: 4, address: "10.1.2.3", bits: 24 } });
    expect(p.link[1]).toMatchObject({ prefix: { family: 6, address: "fd00::1", bits: 64 } });
  });

  test("debug, -debug and rdomain 0", () => {
    expect(parseWords(["debug"]).debug).toBe(true);
    expect(parseWords(["-debug"]).debug).toBe(false);
    expect(parseWords(["rdomain", "0"]).rdomain).toBe("");
    expect(parseWords(["debug"]).extensionWords).toEqual(["debug"]);
  });

  test("no words, or only --json, is a status request", () => {
    expect(isStatusOnly(parseWords([]))).toBe(true);
    const j = parseWords(["--json"]);
    expect(isStatusOnly(j)).toBe(true);
    expect(j.json).toBe(true);
  });

  test("errors name the word and what was expected", () => {
    expect(parseError(["wgkey", "abc"])).toContain('wgkey private key: expected 32 bytes of base64 (44 characters), got "abc"');
    expect(parseError(["wgkey"])).toContain("wgkey: missing value");
    expect(parseError(["wgport", "65536"])).toContain('wgport: expected a UDP port number 0-65535, got "65536"');
    expect(parseError(["wgport", "-1"])).toContain("wgport: expected");
    expect(parseError(["wgpsk", KEY_A])).toContain("wgpsk: needs a peer");
    expect(parseError(["wgaip", "10.0.0.0/8"])).toContain("wgaip: needs a peer");
    expect(parseError(["wgpeer", KEY_A, "wgaip", "10.0.0.0/33"])).toContain('wgaip: expected an address range A.B.C.D/N or X::Y/N, got "10.0.0.0/33"');
    expect(parseError(["wgpeer", KEY_A, "wgaip", "10.0.0.0"])).toContain("wgaip: expected an address range");
    expect(parseError(["wgpeer", "short"])).toContain('wgpeer public key: expected 32 bytes of base64');
    expect(parseError(["wgpeer", KEY_A, "wgendpoint", "127.0.0.1"])).toContain("wgendpoint: missing value");
    expect(parseError(["wgpeer", KEY_A, "wgendpoint", "127.0.0.1", "0"])).toContain("wgendpoint: expected a UDP port 1-65535");
    expect(parseError(["wgpeer", KEY_A, "wgendpoint", "bad host!", "1"])).toContain("wgendpoint: expected an IPv4/IPv6 address or host name");
    expect(parseError(["wgpeer", KEY_A, "wgpka", "x"])).toContain("wgpka: expected a keepalive interval");
    expect(parseError(["-wgpeer", KEY_A, "wgaip", "10.0.0.0/8"])).toContain("being removed");
    expect(parseError(["wgpeer", KEY_A, "wgdescr", "a\nb"])).toContain("without line breaks");
    expect(parseError(["10.0.0.300/24"])).toContain('address: expected A.B.C.D/N');
    expect(parseError(["inet", "fd00::1/64"])).toContain("inet: expected an IPv4 address");
    expect(parseError(["mtu", "20"])).toContain("mtu: expected an MTU of 68-65535");
    expect(parseError(["rdomain", "a/b"])).toContain("rdomain: expected a network namespace name");
    expect(parseError(["destroy", "up"])).toContain("destroy: cannot be combined");
    expect(parseError(["frobnicate"])).toContain('unknown word "frobnicate"');
    expect(parseError(["up", "--json"])).toContain("--json");
  });
});

describe("cidr", () => {
  test("canonical networks clear host bits and compress IPv6", () => {
    expect(canonicalNetwork("10.1.2.3/8")).toBe("10.0.0.0/8");
    expect(canonicalNetwork("192.168.5.2/32")).toBe("192.168.5.2/32");
    expect(canonicalNetwork("FD00:0:0:0:0:0:0:1/64")).toBe("fd00::/64");
    expect(canonicalNetwork("2001:db8:0:1:0:0:0:1/128")).toBe("2001:db8:0:1::1/128");
    expect(canonicalNetwork("0.0.0.0/0")).toBe("0.0.0.0/0");
    expect(canonicalNetwork("10.0.0.0")).toBeNull();
    expect(canonicalNetwork("10.0.0.0/33")).toBeNull();
    expect(parsePrefix("10.0.0.1", true)).toEqual({ family: 4, address: "10.0.0.1", bits: 32 });
    expect(parsePrefix("10.0.0.1", false)).toBeNull();
    expect(parsePrefix("fe80::1%eth0/64", true)).toBeNull();
    expect(netmaskHex(24)).toBe("0xffffff00");
    expect(netmaskHex(0)).toBe("0x00000000");
    expect(netmaskHex(32)).toBe("0xffffffff");
  });
});

function view(partial: Partial<DeviceView>): DeviceView {
  return { extensions: true, publicKey: null, hasPrivateKey: false, listenPort: 0, fwmark: 0, debug: false, rdomain: "", peers: [], ...partial };
}

describe("set request", () => {
  test("device keys first, then one block per peer; host names resolved; extensions only for our daemon", async () => {
    const plan = parseWords(["wgkey", KEY_A, "wgport", "111", "debug", "wgpeer", KEY_B, "wgpsk", KEY_A, "wgendpoint", "::1", "222", "wgaip", "10.0.0.0/8", "wgpka", "5", "wgdescr", "x"]);
    const lines = await buildSetLines(plan, view({}), true);
    expect(lines).toEqual([
      `private_key=${HEX_A}`,
      "listen_port=111",
      "bunwg_debug=true",
      `public_key=${HEX_B}`,
      `preshared_key=${HEX_A}`,
      "endpoint=[::1]:222",
      "persistent_keepalive_interval=5",
      "bunwg_description=x",
      "allowed_ip=10.0.0.0/8",
    ]);
    const plain = await buildSetLines(plan, view({ extensions: false }), false);
    expect(plain.some((l) => l.startsWith("bunwg_"))).toBe(false);
    const named = await buildSetLines(parseWords(["wgpeer", KEY_B, "wgendpoint", "localhost", "1"]), null, false);
    expect(named[1]).toMatch(/^endpoint=(127\.0\.0\.1:1|\[::1\]:1)$/);
  });

  test("-wgaip sends the peer's remaining list with replace_allowed_ips", async () => {
    const current = view({
      peers: [{ publicKey: KEY_B, hasPresharedKey: false, endpoint: null, lastHandshake: null, txBytes: 0, rxBytes: 0, persistentKeepalive: 0, allowedIps: ["10.0.0.0/8", "192.168.5.2/32"], description: "" }],
    });
    const lines = await buildSetLines(parseWords(["wgpeer", KEY_B, "-wgaip", "10.9.9.9/8", "wgaip", "fd00::/64"]), current, false);
    expect(lines).toEqual([`public_key=${HEX_B}`, "replace_allowed_ips=true", "allowed_ip=192.168.5.2/32", "allowed_ip=fd00::/64"]);
    const removeAll = await buildSetLines(parseWords(["-wgpeerall"]), current, false);
    expect(removeAll).toEqual(["replace_peers=true"]);
    const removeOne = await buildSetLines(parseWords(["-wgpeer", KEY_B, "-debug"]), current, true);
    expect(removeOne).toEqual(["bunwg_debug=false", `public_key=${HEX_B}`, "remove=true"]);
    const psk = await buildSetLines(parseWords(["wgpeer", KEY_B, "-wgpsk", "-wgpka"]), current, false);
    expect(psk).toEqual([`public_key=${HEX_B}`, `preshared_key=${"0".repeat(64)}`, "persistent_keepalive_interval=0"]);
  });
});

// A private key whose public key is known from RFC 7748 §6.1 (Alice).
const ALICE_PRIV = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const ALICE_PUB = Buffer.from("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", "hex").toString("base64");

function sampleView(): DeviceView {
  const lines = [
    `private_key=${ALICE_PRIV}`,
    "listen_port=111",
    "bunwg_debug=true",
    "bunwg_rdomain=ns1",
    `public_key=${HEX_B}`,
    `preshared_key=${HEX_A}`,
    "protocol_version=1",
    "endpoint=[::1]:222",
    "last_handshake_time_sec=1000",
    "last_handshake_time_nsec=500000000",
    "tx_bytes=1234",
    "rx_bytes=5678",
    "persistent_keepalive_interval=25",
    "bunwg_description=peer two",
    "allowed_ip=192.168.5.2/32",
    "allowed_ip=fd00::2/128",
    `public_key=${HEX_A}`,
    `preshared_key=${"0".repeat(64)}`,
    "protocol_version=1",
    "last_handshake_time_sec=0",
    "last_handshake_time_nsec=0",
    "tx_bytes=0",
    "rx_bytes=0",
    "persistent_keepalive_interval=0",
    "errno=0",
  ];
  return viewFromAnswer(`${lines.join("\n")}\n\n`, true);
}

describe("status formats", () => {
  test("get answer → view: public key derived from the private key, times, counters", () => {
    expect(() => viewFromAnswer("listen_port=1\n", false)).toThrow(CliError);
    const v = sampleView();
    expect(v.publicKey).toBe(ALICE_PUB);
    expect(v.listenPort).toBe(111);
    expect(v.debug).toBe(true);
    expect(v.rdomain).toBe("ns1");
    expect(v.peers).toHaveLength(2);
    expect(v.peers[0]).toMatchObject({ publicKey: KEY_B, hasPresharedKey: true, endpoint: "[::1]:222", lastHandshake: 1000.5, txBytes: 1234, rxBytes: 5678, persistentKeepalive: 25, description: "peer two" });
    expect(v.peers[0].allowedIps).toEqual(["192.168.5.2/32", "fd00::2/128"]);
    expect(v.peers[1]).toMatchObject({ publicKey: KEY_A, hasPresharedKey: false, lastHandshake: null });
  });

  const status: InterfaceStatus = {
    name: "wg1",
    rdomain: "ns1",
    present: true,
    index: 12,
    flags: ["UP", "DEBUG", "POINTOPOINT", "RUNNING", "NOARP", "MULTICAST"],
    flagBits: 0x80d5,
    mtu: 1420,
    device: sampleView(),
    inet: [{ address: "192.168.5.1", prefixlen: 24, netmask: "0xffffff00" }],
    inet6: [{ address: "fe80::1", prefixlen: 64, scope: "link" }],
  };

  test("OpenBSD ifconfig layout; `grep wgpubkey | cut -d ' ' -f 2` gives exactly the key", () => {
    const text = formatStatus(status, 1010);
    const lines = text.split("\n");
    expect(lines[0]).toBe("wg1: flags=80d5<UP,DEBUG,POINTOPOINT,RUNNING,NOARP,MULTICAST> rdomain ns1 mtu 1420");
    expect(text).toContain("\twgport 111\n");
    expect(text).toContain(`\twgpeer ${KEY_B}\n\t\twgdescr: peer two\n\t\twgpsk (present)\n\t\twgpka 25 (sec)\n\t\twgendpoint ::1 222\n\t\ttx: 1234, rx: 5678\n\t\tlast handshake: 9 seconds ago\n\t\twgaip 192.168.5.2/32\n\t\twgaip fd00::2/128\n`);
    expect(text).toContain(`\twgpeer ${KEY_A}\n\t\ttx: 0, rx: 0\n\tgroups: wg\n`);
    expect(text).toContain("\tinet 192.168.5.1 netmask 0xffffff00\n");
    expect(text).toContain("\tinet6 fe80::1%wg1 prefixlen 64 scopeid 0xc\n");
    const pubLines = lines.filter((l) => l.includes("wgpubkey"));
    expect(pubLines).toHaveLength(1);
    expect(pubLines[0].split(" ")[1]).toBe(ALICE_PUB);
    const viaShell = Bun.spawnSync(["sh", "-c", "grep wgpubkey | cut -d ' ' -f 2"], { stdin: new TextEncoder().encode(text) });
    expect(viaShell.stdout.toString()).toBe(`${ALICE_PUB}\n`);
  });

  test("JSON carries the same facts and no secrets", () => {
    const j = statusJson(status) as Record<string, unknown>;
    expect(j).toMatchObject({ name: "wg1", rdomain: "ns1", debug: true, wgport: 111, wgpubkey: ALICE_PUB, mtu: 1420 });
    const peers = j.peers as Record<string, unknown>[];
    expect(peers[0]).toMatchObject({ wgpeer: KEY_B, wgdescr: "peer two", wgpsk: true, wgpka: 25, wgendpoint: { address: "::1", port: 222 }, tx: 1234, rx: 5678, lastHandshake: 1000.5 });
    expect(JSON.stringify(j)).not.toContain(ALICE_PRIV);
    expect(JSON.stringify(j)).not.toContain(Buffer.from(ALICE_PRIV, "hex").toString("base64"));
  });

  test("wg(8) show layout", () => {
    const text = formatShow("wg1", sampleView(), 1000.5 + 65);
    expect(text).toStartWith(`interface: wg1\n  public key: ${ALICE_PUB}\n  private key: (hidden)\n  listening port: 111\n`);
    expect(text).toContain(`\n\npeer: ${KEY_B}\n`);
    expect(text).toContain("  endpoint: [::1]:222\n  allowed ips: 192.168.5.2/32, fd00::2/128\n  latest handshake: 1 minute, 5 seconds ago\n");
    expect(text).toContain("  transfer: 5.54 KiB received, 1.21 KiB sent\n  persistent keepalive: every 25 seconds\n");
    expect(text).toContain(`peer: ${KEY_A}\n  allowed ips: (none)\n`);
    expect(text.indexOf(KEY_B)).toBeLessThan(text.indexOf(`peer: ${KEY_A}`)); // most recent handshake first
    expect(ago(3600 * 25 + 1)).toBe("1 day, 1 hour, 1 second ago");
    expect(bytes(1023)).toBe("1023 B");
    expect(bytes(3 * 1024 * 1024 * 1024)).toBe("3.00 GiB");
  });
});
