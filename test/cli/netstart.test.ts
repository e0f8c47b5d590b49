// hostname.if(5) files and `wg.ts netstart`: the file format (through the ifconfig word parser), bad files and
// directories, and — as root — the seed's EXAMPLES as two files brought up and pinged across, a re-run that keeps
// sessions, and a failing file that leaves nothing behind while the others come up.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseHostnameFile, splitWords, unpackLine } from "../../src/cli/hostname.ts";
import { desiredState } from "../../src/cli/netstart.ts";
import { parseWords } from "../../src/cli/words.ts";
import { CliError } from "../../src/cli/errors.ts";
import { freePort, linkExists, socketExists } from "../support/net.ts";
import { hasCommand, shell, runSync } from "../support/process.ts";
import { bunwg, daemonName, isRoot, uniqueTag } from "../support/programs.ts";
import { Scope } from "../support/scope.ts";
import { socketPath } from "../../src/uapi/socket.ts";

setDefaultTimeout(120_000);

const KEY_A = Buffer.alloc(32, 0xa1).toString("base64");
const KEY_B = Buffer.alloc(32, 0xb2).toString("base64");

const dirs: string[] = [];
function confDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "bunwg-netstart-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o600 });
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function fileError(text: string, path = "/etc/bunwg/hostname.wg0"): string {
  try {
    parseHostnameFile(text, path);
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    return (e as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be refused`);
}

describe("hostname.if(5) lines", () => {
  test("packed address lines become the words ifconfig takes, and mean what those words mean", () => {
    expect(unpackLine(["inet", "10.0.0.1", "255.255.255.0"])).toEqual(["inet", "10.0.0.1", "netmask", "255.255.255.0"]);
    expect(unpackLine(["inet", "alias", "10.0.0.2", "0xffffff00", "10.0.0.255", "description", "x"])).toEqual([
      "inet", "alias", "10.0.0.2", "netmask", "0xffffff00", "broadcast", "10.0.0.255", "description", "x",
    ]);
    expect(unpackLine(["inet", "10.0.0.1", "255.255.255.255", "NONE"])).toEqual(["inet", "10.0.0.1", "netmask", "255.255.255.255"]);
    expect(unpackLine(["inet6", "fd00::1", "64"])).toEqual(["inet6", "fd00::1", "prefixlen", "64"]);
    expect(unpackLine(["inet", "10.0.0.1/24"])).toEqual(["inet", "10.0.0.1/24"]);
    expect(unpackLine(["wgport", "111"])).toEqual(["wgport", "111"]);

    // "inet A MASK", "inet A/LEN", "A/LEN" and "inet6 A LEN" / "inet6 A/LEN" all give the same address.
    const addr = (words: string[]) => parseWords(unpackLine(words)).link[0];
    for (const w of [["inet", "192.168.5.1", "255.255.255.0"], ["inet", "192.168.5.1/24"], ["192.168.5.1/24"], ["inet", "192.168.5.1", "0xffffff00"]]) {
      expect(addr(w)).toMatchObject({ kind: "address", prefix: { family: 4, address: "192.168.5.1", bits: 24 } });
    }
    for (const w of [["inet6", "fd00::1", "64"], ["inet6", "fd00::1/64"]]) {
      expect(addr(w)).toMatchObject({ kind: "address", prefix: { family: 6, address: "fd00::1", bits: 64 } });
    }
    expect(addr(["inet", "10.0.0.1", "255.255.255.0", "10.0.0.255"])).toMatchObject({ broadcast: "10.0.0.255" });
  });

  test("quotes, comments and !commands", () => {
    expect(splitWords(`description "Bob's uplink" up # the rest is a comment`, "f:1")).toEqual(["description", "Bob's uplink", "up"]);
    const lines = parseHostnameFile(
      [
        "# a comment line",
        "",
        `wgkey ${KEY_A} wgport 111   # trailing comment`,
        `wgpeer ${KEY_B} wgendpoint 127.0.0.1 222 wgaip 192.168.5.2/32`,
        "inet 192.168.5.1 255.255.255.0",
        `description "Bob's uplink"`,
        "up",
        "!ip route add 10.9.0.0/16 dev $if # shell comment",
      ].join("\n"),
      "f",
    );
    expect(lines.map((l) => l.line)).toEqual([3, 4, 5, 6, 7, 8]);
    expect(lines[0]).toMatchObject({ kind: "words", words: ["wgkey", KEY_A, "wgport", "111"] });
    expect(lines[5]).toEqual({ line: 8, kind: "command", command: "ip route add 10.9.0.0/16 dev $if # shell comment" });
    const d = desiredState(lines);
    expect(d.listenPort).toBe(111);
    expect([...d.peers.values()].map((p) => p.allowedIps)).toEqual([["192.168.5.2/32"]]);
    expect(d.link.map((l) => l.kind)).toEqual(["address", "description", "up"]);
  });

  test("a bad file names the file, the line and the word", () => {
    const path = "/etc/bunwg/hostname.wg0";
    expect(fileError(`wgport 111\n\nwgkey ${KEY_A} wgport 70000\n`)).toBe(`${path}:3: wgport: expected a UDP port number 0-65535, got "70000"`);
    expect(fileError("up\nbogus 1\n")).toStartWith(`${path}:2: unknown word "bogus"`);
    expect(fileError("inet 10.0.0.1 255.0.255.0\n")).toBe(`${path}:1: netmask: expected a contiguous IPv4 netmask such as 255.255.255.0 or 0xffffff00, got "255.0.255.0"`);
    expect(fileError("inet6 fd00::1 129\n")).toBe(`${path}:1: prefixlen: expected a prefix length 0-128, got "129"`);
    expect(fileError("inet 10.0.0.1/24 netmask 255.255.255.0\n")).toContain(":1: netmask: the address 10.0.0.1/24 already has a prefix length");
    expect(fileError(`description "unterminated\n`)).toStartWith(`${path}:1: unterminated double quote`);
    expect(fileError("destroy\n")).toStartWith(`${path}:1: destroy: not allowed`);
    expect(fileError(`wgaip 10.0.0.0/8\n`)).toStartWith(`${path}:1: wgaip: needs a peer`);
    expect(fileError("up\n!\n")).toBe(`${path}:2: "!" without a command`);
  });

  test("a peer's words are folded in file order: -wgaip, -wgpeer, -wgpeerall", () => {
    const d = desiredState(
      parseHostnameFile(
        [
          `wgpeer ${KEY_A} wgaip 10.1.0.0/16 wgaip 10.2.0.0/16`,
          `wgpeer ${KEY_A} -wgaip 10.1.0.0/16 wgpka 25`,
          `wgpeer ${KEY_B} wgaip 10.3.0.0/16`,
          `-wgpeer ${KEY_B}`,
        ].join("\n"),
        "f",
      ),
    );
    expect([...d.peers.values()].map((p) => [p.publicKeyText, p.allowedIps, p.persistentKeepalive])).toEqual([[KEY_A, ["10.2.0.0/16"], 25]]);
    expect(desiredState(parseHostnameFile(`wgpeer ${KEY_A}\n-wgpeerall\nwgpeer ${KEY_B}\n`, "f")).peers.size).toBe(1);
  });
});

describe("wg.ts netstart: directories and files", () => {
  test("a missing directory is named, from --dir and from BUNWG_CONFDIR", async () => {
    const missing = join(tmpdir(), `bunwg-no-such-dir-${uniqueTag()}`);
    const r = await bunwg(["netstart", "--dir", missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`netstart: ${missing}: no such directory`);
    const e = await bunwg(["netstart", "-n"], { env: { BUNWG_CONFDIR: missing } });
    expect(e.code).toBe(1);
    expect(e.stderr).toContain(`${missing}: no such directory`);
  });

  test("an empty directory brings up nothing and says so; a named interface without a file fails", async () => {
    const dir = confDir({ "hostname.wg0.bak": "up\n", "hostname.wg0~": "up\n", "hostname.eth0": "up\n" });
    const r = await bunwg(["netstart", "--dir", dir, "--dry-run"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`no hostname.wg* files in ${dir}`);
    const named = await bunwg(["netstart", "-n", "--dir", dir, "wgnone"]);
    expect(named.code).toBe(1);
    expect(named.stderr).toContain(`${join(dir, "hostname.wgnone")}: no such file`);
  });

  test("--dry-run prints each file's ifconfig words in name order and the bad file's error; changes nothing", async () => {
    const id = uniqueTag();
    const dir = confDir({
      [`hostname.wgb${id}`]: `wgport 0 wgkey ${KEY_B}\ninet6 fd00::2 64\n!echo "$if"\n`,
      [`hostname.wga${id}`]: `wgport 0 wgkey ${KEY_A}\ninet 192.168.5.1 255.255.255.0\ndescription "Bob's uplink"\n`,
      [`hostname.wgc${id}`]: `up\nwgpka 25\n`,
    });
    chmodSync(join(dir, `hostname.wgb${id}`), 0o644);
    const r = await bunwg(["netstart", "--dir", dir, "--dry-run"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      [
        `# ${dir}/hostname.wga${id}`,
        `ifconfig wga${id} create`,
        `ifconfig wga${id} wgport 0 wgkey ${KEY_A}`,
        `ifconfig wga${id} inet 192.168.5.1 netmask 255.255.255.0`,
        `ifconfig wga${id} description 'Bob'\\''s uplink'`,
        `# ${dir}/hostname.wgb${id}`,
        `ifconfig wgb${id} create`,
        `ifconfig wgb${id} wgport 0 wgkey ${KEY_B}`,
        `ifconfig wgb${id} inet6 fd00::2 prefixlen 64`,
        `if=wgb${id} sh -c 'echo "$if"'`,
        "",
      ].join("\n"),
    );
    expect(r.stderr).toContain(`hostname.wgb${id}: readable by others (mode 644)`);
    expect(r.stderr).toContain(`hostname.wgc${id}:2: wgpka: needs a peer`);
    expect(socketExists(`wga${id}`) || linkExists(`wga${id}`)).toBe(false);
  });
});

/** The seed's EXAMPLES as two hostname.if files (keys scope with wg genkey instead of openssl rand: both are 32 random
 *  bytes in base64; the peers' public keys are written in, where the script reads them back with ifconfig). */
function seedFiles(o: { if1: string; if2: string; ns1: string; ns2: string; port1: number; port2: number }) {
  const k = () => {
    const priv = shell("wg genkey").stdout.trim();
    return { priv, pub: shell(`echo ${priv} | wg pubkey`).stdout.trim() };
  };
  const k1 = k();
  const k2 = k();
  return {
    k1,
    k2,
    file1: (extra = "") => `# bunwg(4) EXAMPLES, wg1\nwgport ${o.port1} wgkey ${k1.priv} rdomain ${o.ns1}\nwgpeer ${k2.pub} wgendpoint 127.0.0.1 ${o.port2} wgaip 192.168.5.2/32\n${extra}inet 192.168.5.1 255.255.255.0\n`,
    file2: `# bunwg(4) EXAMPLES, wg2\nwgport ${o.port2} wgkey ${k2.priv} rdomain ${o.ns2}\nwgpeer ${k1.pub} wgendpoint 127.0.0.1 ${o.port1} wgaip 192.168.5.1/32\ninet 192.168.5.2/24\n`,
  };
}

function ping(ns: string, addr: string): boolean {
  const r = shell(`ip netns exec ${ns} ping -c 2 -i 0.2 -W 3 ${addr}`);
  if (r.code !== 0) console.error(r.stdout, r.stderr);
  return r.code === 0;
}

function handshakes(ifname: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of shell(`wg show ${ifname} latest-handshakes`).stdout.trim().split("\n")) {
    const [peer, t] = line.split("\t");
    if (peer) out[peer] = Number(t);
  }
  return out;
}

describe.skipIf(!isRoot)(`wg.ts netstart brings interfaces up (${daemonName})`, () => {
  const id = uniqueTag();
  const scope = new Scope();
  afterAll(async () => {
    await scope.close();
  });

  // Against wireguard-go too: it drops a peer's session when the peer is removed and added again (as a setconf-like
  // re-apply with replace_peers would), so there the session check shows that unchanged peers are left alone.
  const daemons: [string, Record<string, string>][] = [[daemonName, {}]];
  if (hasCommand("wireguard-go") && !process.env.BUNWG_TEST_DAEMON) daemons.push(["wireguard-go", { BUNWG_DAEMON: "wireguard-go" }]);
  test.each(daemons)("the seed's EXAMPLES as two hostname.if files (%s): the ping crosses; a re-run keeps the session and syncs changes", async (tag, env) => {
    const n = tag === "wireguard-go" ? "g" : "1";
    const o = { if1: `wg${n}a${id}`, if2: `wg${n}b${id}`, ns1: `bwns${n}a${id}`, ns2: `bwns${n}b${id}`, port1: await freePort(), port2: await freePort() };
    scope.interface(o.if1); scope.interface(o.if2);
    scope.track(o.ns1); scope.track(o.ns2);
    const seed = seedFiles(o);
    const dir = confDir({ [`hostname.${o.if1}`]: seed.file1(), [`hostname.${o.if2}`]: seed.file2 });

    const up = await bunwg(["netstart"], { env: { ...env, BUNWG_CONFDIR: dir }, timeoutMs: 60_000 });
    expect(up.stderr).toBe("");
    expect(up.stdout).toBe(`${o.if1}: created\n${o.if2}: created\n`);
    expect(up.code).toBe(0);
    expect(linkExists(o.if1, o.ns1) && linkExists(o.if2, o.ns2)).toBe(true);
    expect(shell(`ip -n ${o.ns1} -br addr show dev ${o.if1}`).stdout).toContain("192.168.5.1/24");
    // route -T1 exec ping 192.168.5.2
    expect(ping(o.ns1, "192.168.5.2")).toBe(true);
    const before = handshakes(o.if1)[seed.k2.pub];
    expect(before).toBeGreaterThan(0);

    // Unchanged files: nothing is sent; the session survives (a new handshake would carry a later time).
    await Bun.sleep(1100);
    const again = await bunwg(["netstart", "--dir", dir, o.if1, o.if2], { env, timeoutMs: 60_000 });
    expect(again.stderr).toBe("");
    expect(ping(o.ns1, "192.168.5.2")).toBe(true);
    expect(handshakes(o.if1)[seed.k2.pub]).toBe(before);
    expect(again.stdout).toBe(`${o.if1}: configuration unchanged\n${o.if2}: configuration unchanged\n`);

    // A second peer added, then changed, then removed: the first peer's session is untouched throughout.
    const other = shell("wg genkey | wg pubkey").stdout.trim();
    const write = (extra: string) => writeFileSync(join(dir, `hostname.${o.if1}`), seed.file1(extra), { mode: 0o600 });
    write(`wgpeer ${other} wgaip 10.77.0.0/16 wgaip 10.78.0.0/16\n`);
    let r = await bunwg(["netstart", "--dir", dir, o.if1], { env });
    expect(r.stdout).toBe(`${o.if1}: 1 peer added\n`);
    write(`wgpeer ${other} wgaip 10.77.0.0/16 wgaip 10.79.0.0/16 wgpka 25\n`);
    r = await bunwg(["netstart", "--dir", dir, o.if1], { env });
    expect(r.stdout).toBe(`${o.if1}: 1 peer changed\n`);
    expect(shell(`wg show ${o.if1} allowed-ips`).stdout).toContain(`${other}\t10.77.0.0/16 10.79.0.0/16`);
    expect(shell(`wg show ${o.if1} persistent-keepalive`).stdout).toContain(`${other}\t25`);
    // A mistake on the last line: nothing of the file is applied to the running interface (the peer stays as it was).
    write(`wgpeer ${other} wgaip 10.80.0.0/16\nmtu 9\n`);
    r = await bunwg(["netstart", "--dir", dir, o.if1], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`hostname.${o.if1}:5: mtu: expected an MTU of 68-65535 bytes, got "9"`);
    expect(shell(`wg show ${o.if1} allowed-ips`).stdout).toContain(`${other}\t10.77.0.0/16 10.79.0.0/16`);
    write("");
    r = await bunwg(["netstart", "--dir", dir, o.if1], { env });
    expect(r.stdout).toBe(`${o.if1}: 1 peer removed\n`);
    expect(shell(`wg show ${o.if1} peers`).stdout.trim()).toBe(seed.k2.pub);
    expect(ping(o.ns1, "192.168.5.2")).toBe(true);
    expect(handshakes(o.if1)[seed.k2.pub]).toBe(before);
  });

  test("a failing file leaves no daemon, interface or namespace of its own; the files around it still come up", async () => {
    const [a, b, c, d] = ["a", "b", "c", "d"].map((x) => `wgf${x}${id}`) as [string, string, string, string];
    const nsB = `bwnsf${id}`;
    scope.interface(a); scope.interface(b); scope.interface(c); scope.interface(d);
    scope.track(nsB);
    const portA = await freePort();
    const dir = confDir({
      [`hostname.${a}`]: `wgport ${portA} wgkey ${KEY_A}\ninet 10.91.0.1 255.255.255.0 10.91.0.127 description "Bob's uplink"\n`,
      // Parses, then fails half-way: its daemon, its interface and the namespace it scope must go again.
      [`hostname.${b}`]: `wgport 0 wgkey ${KEY_B} rdomain ${nsB}\ninet 10.92.0.1/24\n!test "$if" = ${b} && exit 3\n`,
      // Fails to parse on line 3: nothing is started for it.
      [`hostname.${c}`]: `wgport 0\ninet 10.93.0.1/24\nwgpeer ${KEY_A} wgendpoint 127.0.0.1 notaport\n`,
      // Fails when its port is taken (by a, brought up first).
      [`hostname.${d}`]: `wgport ${portA}\n`,
    });
    const r = await bunwg(["netstart", "--dir", dir], { timeoutMs: 90_000 });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`${a}: created\n`);
    expect(r.stderr).toContain(`${dir}/hostname.${b}:3: !test "$if" = ${b} && exit 3: exited with status 3`);
    expect(r.stderr).toContain(`${dir}/hostname.${c}:3: wgendpoint: expected a UDP port 1-65535 after the address`);
    expect(r.stderr).toContain(`${dir}/hostname.${d}: wgport ${portA}: UDP port already in use`);
    expect(socketExists(a) && linkExists(a)).toBe(true);
    expect(shell(`ip -br addr show dev ${a}`).stdout).toContain("10.91.0.1/24");
    expect(shell(`ip -o -4 addr show dev ${a}`).stdout).toContain("brd 10.91.0.127");
    expect(shell(`ip -d link show dev ${a}`).stdout).toContain("alias Bob's uplink");
    for (const x of [b, c, d]) {
      expect(socketExists(x)).toBe(false);
      expect(linkExists(x) || linkExists(x, nsB)).toBe(false);
      expect(runSync(["ss", "-xlpnH", "src", socketPath(x)], { check: false }).stdout.trim()).toBe("");
    }
    expect(shell("ip netns list").stdout).not.toContain(nsB);
  });
});
