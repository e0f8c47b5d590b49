// `wg.ts ifconfig` and `wg.ts show` against a running daemon: ours once src/device/daemon.ts exists, Debian's
// wireguard-go before (then the bunwg_* extension checks are skipped, and their refusal is checked instead).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, linkExists, socketExists } from "../support/net.ts";
import { hasCommand, poll, shell } from "../support/process.ts";
import { REPO, bunwg, daemonName, isRoot, ourDaemon, uniqueTag } from "../support/programs.ts";
import { Scope } from "../support/scope.ts";
import { DROP_REASONS } from "../../src/device/counters.ts";

setDefaultTimeout(60_000);

const id = uniqueTag();
const A = `bwca${id}`;
const B = `bwcb${id}`;
const NS = `bwcns${id}`;
const scope = new Scope();
scope.interface(A); scope.interface(B);
scope.track(NS);

const rand = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
const keyA = rand();
const peer1 = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
const peer2 = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
let portA = 0;

async function status(ifname: string): Promise<string> {
  const r = await bunwg(["ifconfig", ifname]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout;
}

async function statusJson(ifname: string): Promise<any> {
  const r = await bunwg(["ifconfig", ifname, "--json"]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

async function ok(args: string[]): Promise<void> {
  const r = await bunwg(["ifconfig", ...args]);
  if (r.code !== 0) throw new Error(`ifconfig ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  expect(r.stdout).toBe("");
}

async function fails(args: string[], ...mentions: string[]): Promise<string> {
  const r = await bunwg(["ifconfig", ...args]);
  expect(r.code).not.toBe(0);
  for (const m of mentions) expect(r.stderr).toContain(m);
  return r.stderr;
}

describe.skipIf(!isRoot)(`ifconfig against ${daemonName}`, () => {
  beforeAll(async () => {
    console.error(`[ifconfig.test] daemon: ${daemonName}${ourDaemon ? "" : " (bunwg extensions: refusal checked, not the feature)"}`);
    portA = await freePort();
  });
  afterAll(async () => {
    await scope.close();
  });

  test("create with wgport and wgkey; the status shows them in OpenBSD's layout", async () => {
    await ok([A, "create", "wgport", String(portA), "wgkey", keyA]);
    expect(socketExists(A)).toBe(true);
    expect(linkExists(A)).toBe(true);
    const text = await status(A);
    expect(text).toMatch(new RegExp(`^${A}: flags=[0-9a-f]+<[A-Z,]*> mtu \\d+\\n`));
    expect(text).toContain(`\twgport ${portA}\n`);
    // The daemon clamps any 32 bytes; the shown key is the public key of the clamped private key, as wg pubkey says.
    const expected = Bun.spawnSync([process.execPath, "wg.ts", "pubkey"], { stdin: new TextEncoder().encode(keyA) }).stdout.toString().trim();
    const pub = Bun.spawnSync(["sh", "-c", "grep wgpubkey | cut -d ' ' -f 2"], { stdin: new TextEncoder().encode(text) }).stdout.toString();
    expect(pub).toBe(`${expected}\n`);
    if (hasCommand("wg")) expect(shell(`wg show ${A} public-key`).stdout.trim()).toBe(expected);
  });

  test("create on an existing interface fails and leaves it alone", async () => {
    await fails([A, "create"], `${A} create: interface already exists`);
    expect(await status(A)).toContain(`\twgport ${portA}\n`);
  });

  test("a second interface cannot take a port in use; the failed create leaves nothing behind", async () => {
    await fails([B, "create", "wgport", String(portA)], `wgport ${portA}: UDP port already in use`);
    expect(socketExists(B)).toBe(false);
    expect(linkExists(B)).toBe(false);
    await ok([B, "create"]);
    await fails([B, "wgport", String(portA)], `wgport ${portA}: UDP port already in use`);
  });

  test("peers: psk, endpoint, allowed IPs, keepalive in one command, shown per peer", async () => {
    await ok([A, "wgpeer", peer1, "wgpsk", rand(), "wgendpoint", "127.0.0.1", "5555", "wgaip", "10.9.0.0/16", "wgaip", "192.168.77.2/32", "wgpka", "25",
      "wgpeer", peer2, "wgendpoint", "::1", "6666", "wgaip", "fd00:77::2/128"]);
    const text = await status(A);
    expect(text).toContain(`\twgpeer ${peer1}\n`);
    const block1 = text.slice(text.indexOf(`\twgpeer ${peer1}`), text.indexOf(`\twgpeer ${peer2}`));
    expect(block1).toContain("\t\twgpsk (present)\n");
    expect(block1).toContain("\t\twgpka 25 (sec)\n");
    expect(block1).toContain("\t\twgendpoint 127.0.0.1 5555\n");
    expect(block1).toMatch(/\t\ttx: \d+, rx: \d+\n/); // keepalive 25 may already have sent an initiation
    expect(block1).toContain("\t\twgaip 10.9.0.0/16\n");
    expect(block1).toContain("\t\twgaip 192.168.77.2/32\n");
    expect(text).toContain("\t\twgendpoint ::1 6666\n");
    expect(text).toContain("\t\twgaip fd00:77::2/128\n");
    const j = await statusJson(A);
    expect(j.peers).toHaveLength(2);
    const p1 = j.peers.find((p: any) => p.wgpeer === peer1);
    expect(p1).toMatchObject({ wgpsk: true, wgpka: 25, wgendpoint: { address: "127.0.0.1", port: 5555 }, rx: 0, lastHandshake: null });
    expect(p1.wgaip.sort()).toEqual(["10.9.0.0/16", "192.168.77.2/32"]);
  });

  test("counters: the interface's and each peer's in the text, all of them in --json (our daemon; none for others)", async () => {
    const text = await status(A);
    const j = await statusJson(A);
    if (!ourDaemon) {
      expect(j.counters).toBeNull();
      expect(text).not.toContain("packets: tx");
      return;
    }
    expect(text).toMatch(/\n\tpackets: tx \d+, rx \d+ \(bytes: tx \d+, rx \d+\)\n\thandshakes: initiated \d+, completed \d+, failed \d+, cookies sent \d+\n\tdropped: \d+/);
    const block2 = text.slice(text.indexOf(`\twgpeer ${peer2}`));
    // Nothing went through yet: peer2 has no keepalive, so no handshake either.
    expect(block2).toContain("\t\tpackets: tx 0, rx 0 (bytes: tx 0, rx 0)\n\t\thandshakes: initiated 0, completed 0, failed 0\n\t\tdropped: 0\n");
    const p2 = j.peers.find((p: any) => p.wgpeer === peer2);
    expect(p2.counters).toMatchObject({ rx_packets: 0, tx_packets: 0, rx_bytes: 0, tx_bytes: 0, handshakes_completed: 0 });
    expect(Object.keys(j.counters.dropped)).toEqual([...DROP_REASONS]);
    expect(j.counters.cookies_sent).toBe(0);
  });

  test("-wgaip, -wgpsk, -wgpka change only what they name", async () => {
    await ok([A, "wgpeer", peer1, "-wgaip", "10.9.0.0/16", "-wgpsk", "-wgpka"]);
    const p1 = (await statusJson(A)).peers.find((p: any) => p.wgpeer === peer1);
    expect(p1).toMatchObject({ wgpsk: false, wgpka: 0, wgaip: ["192.168.77.2/32"], wgendpoint: { address: "127.0.0.1", port: 5555 } });
  });

  test("validation happens before anything is sent", async () => {
    await fails([A, "wgport", "4242", "wgpeer", peer1, "wgaip", "10.0.0.0/99"], 'wgaip: expected an address range A.B.C.D/N or X::Y/N, got "10.0.0.0/99"');
    await fails([A, "wgport", "4242", "wgaip", "10.0.0.0/8"], "wgaip: needs a peer");
    await fails([A, "wgport", "4242", "wgpeer", peer1, "wgendpoint", "no-such-host.invalid", "1"], "wgendpoint: cannot resolve host name");
    expect((await statusJson(A)).wgport).toBe(portA);
  });

  test("-wgpeer removes one peer, -wgpeerall the rest", async () => {
    await ok([A, "-wgpeer", peer2]);
    expect((await statusJson(A)).peers.map((p: any) => p.wgpeer)).toEqual([peer1]);
    await ok([A, "-wgpeerall"]);
    expect((await statusJson(A)).peers).toEqual([]);
  });

  test("addresses bring the interface up; mtu, down, up", async () => {
    await ok([A, "10.77.1.1/24", "inet6", "fd00:77::1/64"]);
    let text = await status(A);
    expect(text.split("\n")[0]).toMatch(/<UP,/);
    expect(text).toContain("\tinet 10.77.1.1 netmask 0xffffff00");
    expect(text).toContain("\tinet6 fd00:77::1 prefixlen 64");
    expect(shell(`ip -br addr show dev ${A}`).stdout).toContain("10.77.1.1/24");
    await ok([A, "mtu", "1380", "down"]);
    text = await status(A);
    expect(text.split("\n")[0]).toMatch(/ mtu 1380$/);
    expect(text.split("\n")[0]).not.toMatch(/<UP/);
    await ok([A, "up"]);
    expect((await statusJson(A)).flags).toContain("UP");
  });

  test("rdomain moves the interface into a namespace (created if absent); later commands find it there", async () => {
    await ok([A, "rdomain", NS]);
    expect(linkExists(A)).toBe(false);
    expect(linkExists(A, NS)).toBe(true);
    await ok([A, "10.77.2.1/24"]);
    expect(shell(`ip -n ${NS} -br addr show dev ${A}`).stdout).toContain("10.77.2.1/24");
    const text = await status(A);
    expect(text.split("\n")[0]).toContain(` rdomain ${NS} `);
    expect(text).toContain("\tinet 10.77.2.1 netmask 0xffffff00");
    // The UDP socket stays where the daemon runs: the default namespace.
    expect(shell(`ss -ulnH 'sport = :${portA}'`).stdout).toContain(`:${portA}`);
    expect(shell(`ip netns exec ${NS} ss -ulnH 'sport = :${portA}'`).stdout.trim()).toBe("");
    await ok([A, "rdomain", "0"]);
    expect(linkExists(A)).toBe(true);
    expect((await statusJson(A)).rdomain).toBeNull();
    await ok([A, "rdomain", NS]);
  });

  test.skipIf(!ourDaemon)("debug / -debug and wgdescr (bunwg extensions)", async () => {
    await ok([A, "debug", "wgpeer", peer1, "wgdescr", "seen from A"]);
    const text = await status(A);
    expect(text.split("\n")[0]).toMatch(/DEBUG/);
    expect(text).toContain(`\twgpeer ${peer1}\n\t\twgdescr: seen from A\n`);
    expect((await statusJson(A)).debug).toBe(true);
    await ok([A, "-debug", "wgpeer", peer1, "-wgdescr"]);
    const j = await statusJson(A);
    expect(j.debug).toBe(false);
    expect(j.peers[0].wgdescr).toBe("");
    expect(j.extensions).toBe(true);
  });

  test.skipIf(ourDaemon)("debug / wgdescr are refused with a clear message by a daemon without bunwg extensions", async () => {
    await fails([A, "debug"], "debug: needs bunwg's daemon");
    await fails([A, "wgpeer", peer1, "wgdescr", "x"], "wgdescr: needs bunwg's daemon");
    expect((await statusJson(A)).peers).toEqual([]);
  });

  test("show: wg(8)-like text for one or all, and JSON", async () => {
    const one = await bunwg(["show", A]);
    expect(one.code).toBe(0);
    expect(one.stdout).toStartWith(`interface: ${A}\n`);
    expect(one.stdout).toContain(`  listening port: ${portA}\n`);
    expect(one.stdout).toContain("  private key: (hidden)\n");
    const all = await bunwg(["show"]);
    expect(all.stdout).toContain(`interface: ${A}\n`);
    expect(all.stdout).toContain(`interface: ${B}\n`);
    const j = await bunwg(["show", A, "--json"]);
    expect(JSON.parse(j.stdout)).toMatchObject({ name: A, wgport: portA, rdomain: NS });
    const missing = await bunwg(["show", `nope${id}`]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain(`nope${id}: no such interface`);
  });

  test("errors: unknown interface, bad words, --help", async () => {
    await fails([`nope${id}`], `nope${id}: no such interface`);
    await fails([`nope${id}`, "wgport", "1"], `nope${id}: no such interface`);
    await fails([`nope${id}`, "destroy"], `nope${id}: no such interface`);
    await fails([A, "wgkey", "abc"], 'wgkey private key: expected 32 bytes of base64 (44 characters), got "abc"');
    await fails([A, "bogus"], 'unknown word "bogus"');
    await fails(["this-name-is-too-long"], "interface name: expected 1-15 characters");
    for (const cmd of ["ifconfig", "show", "demo"]) {
      const h = await bunwg([cmd, "--help"]);
      expect(h.code).toBe(0);
      expect(h.stdout).toContain(cmd);
    }
    expect((await bunwg(["ifconfig", "--help"])).stdout).toContain("wgendpoint ADDR PORT");
  });

  test.skipIf(!hasCommand("setpriv"))("not root: named as such", async () => {
    // The checkout may sit where only root can read it (e.g. under /root, mode 0700): the unprivileged run gets
    // wg.ts bundled into a directory of its own that everyone can read.
    const dir = mkdtempSync(join(tmpdir(), "bunwg-nonroot-"));
    try {
      chmodSync(dir, 0o755);
      const built = await Bun.build({ entrypoints: [join(REPO, "wg.ts")], target: "bun", outdir: dir });
      expect(built.success).toBe(true);
      const r = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, join(dir, "wg.js"), "ifconfig", A, "up"], {
        cwd: dir,
        env: { ...process.env, HOME: "/tmp", BUN_INSTALL_CACHE_DIR: "/tmp" },
        stdout: "pipe",
        stderr: "pipe",
        timeout: 20_000,
      });
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr.toString()).toContain("must be root");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("destroy removes the interface (from its namespace) and the daemon exits", async () => {
    await ok([A, "destroy"]);
    expect(await poll(() => !socketExists(A), 5000)).toBe(true);
    expect(linkExists(A, NS)).toBe(false);
    await ok([B, "destroy"]);
    expect(socketExists(B)).toBe(false);
    expect(linkExists(B)).toBe(false);
    await fails([A, "destroy"], `${A}: no such interface`);
  });
});
