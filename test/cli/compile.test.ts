// `bun run compile` → dist/bunwg, copied alone into an empty directory: the key tools, --version (with the
// embedded Zig library loaded), ifconfig, and — with our daemon — `./bunwg IFNAME` and wg-quick's userspace hook.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exec, hasCommand, isRoot, linkExists, Made, ourDaemon, ROOT, sh, socketExists, uid, waitUntil } from "./helpers.ts";

setDefaultTimeout(180_000);

const dir = mkdtempSync(join(tmpdir(), "bunwg-compiled-"));
const bin = join(dir, "bunwg");
const id = uid();
const made = new Made();
// The compiled binary is tested as itself: no BUNWG_DAEMON override reaches it.
const noOverride = { BUNWG_DAEMON: "" };

function runBin(args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}) {
  return exec([bin, ...args], { cwd: dir, stdin: opts.stdin, env: { ...noOverride, ...opts.env }, timeoutMs: 60_000 });
}

describe("standalone executable", () => {
  beforeAll(async () => {
    const r = await exec([process.execPath, "run", "compile"], { cwd: ROOT, timeoutMs: 170_000 });
    if (r.code !== 0) throw new Error(`bun run compile failed:\n${r.stdout}${r.stderr}`);
    copyFileSync(join(ROOT, "dist", "bunwg"), bin);
    sh(`chmod 755 ${bin}`);
  });
  afterAll(async () => {
    await made.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test("is one 64-bit ELF file, alone in its directory", () => {
    const file = sh(`file -b ${bin}`).stdout;
    if (file) expect(file).toContain("ELF 64-bit");
    expect(sh(`ls -A ${dir}`).stdout.trim()).toBe("bunwg");
  });

  test("genkey / pubkey / genpsk", async () => {
    const priv = await runBin(["genkey"]);
    expect(priv.code).toBe(0);
    expect(priv.stdout).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    const pub = await runBin(["pubkey"], { stdin: priv.stdout });
    expect(pub.code).toBe(0);
    if (hasCommand("wg")) {
      expect(pub.stdout).toBe(Bun.spawnSync(["wg", "pubkey"], { stdin: new TextEncoder().encode(priv.stdout) }).stdout.toString());
    }
    expect((await runBin(["genpsk"])).stdout).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    const bad = await runBin(["pubkey"], { stdin: "nope\n" });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('got "nope"');
  });

  test("--version names the version and the AEAD backend from the embedded library", async () => {
    // TMPDIR missing: the embedded library must not need to be extracted to disk (platform-facts).
    const v = await runBin(["--version"], { env: { TMPDIR: join(dir, "no-such-dir") } });
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^bunwg v\d+\.\d+\.\d+ \(bun [\d.]+, AEAD: .+\)\n$/);
    // Inside the executable the Zig library comes from the embedded copies (memfd), not from a file next to it.
    expect(v.stdout).toContain("zig");
    expect(v.stderr).toBe("");
  });

  test("ifconfig --help and an unknown interface", async () => {
    const h = await runBin(["ifconfig", "--help"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("wgpeer PUB");
    const missing = await runBin(["ifconfig", `nope${id}`]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain(`nope${id}: no such interface`);
  });

  test.skipIf(!isRoot || !ourDaemon)("`./bunwg IFNAME` runs the daemon; `./bunwg ifconfig` configures and destroys it", async () => {
    const ifname = `bwx${id}`;
    made.interfaces.push(ifname);
    const start = await runBin([ifname]);
    expect(start.code).toBe(0);
    expect(await waitUntil(() => socketExists(ifname), 5000)).toBe(true);
    const key = (await runBin(["genkey"])).stdout.trim();
    const set = await runBin(["ifconfig", ifname, "wgkey", key, "wgport", "0", "10.99.1.1/24"]);
    expect(set.stderr).toBe("");
    expect(set.code).toBe(0);
    const st = await runBin(["ifconfig", ifname]);
    expect(st.stdout).toContain(`\twgpubkey ${(await runBin(["pubkey"], { stdin: key })).stdout.trim()}\n`);
    expect((await runBin(["ifconfig", ifname, "destroy"])).code).toBe(0);
    expect(socketExists(ifname)).toBe(false);
    // `create` from the executable starts the executable itself as the daemon.
    const created = await runBin(["ifconfig", ifname, "create", "wgport", "0"]);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    const pid = sh(`ss -xlpnH src /var/run/wireguard/${ifname}.sock`).stdout.match(/pid=(\d+)/)?.[1];
    expect(pid).toBeDefined();
    expect(sh(`readlink /proc/${pid}/exe`).stdout.trim()).toBe(bin);
    expect((await runBin(["ifconfig", ifname, "destroy"])).code).toBe(0);
  });

  test.skipIf(!isRoot || !ourDaemon || !hasCommand("wg-quick"))("WG_QUICK_USERSPACE_IMPLEMENTATION=./bunwg wg-quick up / down", async () => {
    const ifname = `bwq${id}`;
    const ns = `bwqns${id}`;
    made.interfaces.push(ifname);
    made.namespaces.push(ns);
    sh(`ip netns add ${ns}`);
    const conf = join(dir, `${ifname}.conf`);
    const key = (await runBin(["genkey"])).stdout.trim();
    const peer = (await runBin(["pubkey"], { stdin: (await runBin(["genkey"])).stdout })).stdout.trim();
    writeFileSync(conf, `[Interface]\nPrivateKey = ${key}\nAddress = 10.98.0.1/24\nListenPort = 0\n\n[Peer]\nPublicKey = ${peer}\nAllowedIPs = 10.98.0.2/32\n`, { mode: 0o600 });
    const env = { WG_QUICK_USERSPACE_IMPLEMENTATION: "./bunwg", WG_ENDPOINT_RESOLUTION_RETRIES: "1" };
    // Inside a namespace of our own, so wg-quick's addresses and routes touch nothing else.
    const up = await exec(["ip", "netns", "exec", ns, "wg-quick", "up", conf], { cwd: dir, env: { ...noOverride, ...env }, timeoutMs: 60_000 });
    if (up.code !== 0) console.error(up.stdout, up.stderr);
    expect(up.code).toBe(0);
    expect(linkExists(ifname, ns)).toBe(true);
    const wgShow = sh(`wg show ${ifname}`).stdout;
    expect(wgShow).toContain(`peer: ${peer}`);
    expect(sh(`ip -n ${ns} -br addr show dev ${ifname}`).stdout).toContain("10.98.0.1/24");
    const down = await exec(["ip", "netns", "exec", ns, "wg-quick", "down", conf], { cwd: dir, env: { ...noOverride, ...env }, timeoutMs: 60_000 });
    expect(down.code).toBe(0);
    expect(await waitUntil(() => !socketExists(ifname), 5000)).toBe(true);
  });
});
