// `bun run compile` → dist/bunwg, copied alone into an empty directory: the key tools, --version (with the
// embedded Zig library loaded), ifconfig, and — with our daemon — `./bunwg IFNAME` and wg-quick's userspace hook.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { linkExists, socketExists } from "../support/net.ts";
import { type RunOptions, hasCommand, poll, run, runSync, shell } from "../support/process.ts";
import { REPO, daemonEnv, isRoot, ourDaemon, uniqueTag } from "../support/programs.ts";
import { Scope } from "../support/scope.ts";
import { socketPath } from "../../src/uapi/socket.ts";
// A program run as the CLI tests run one: from the repository, with the daemon choice, whatever its exit code.
const runIn = (cmd: string[], opts: RunOptions = {}) => run(cmd, { check: false, cwd: REPO, ...opts, env: { ...daemonEnv, ...opts.env } });

setDefaultTimeout(180_000);

const dir = mkdtempSync(join(tmpdir(), "bunwg-compiled-"));
const bin = join(dir, "bunwg");
const id = uniqueTag();
const scope = new Scope();
// The compiled binary is tested as itself: no BUNWG_DAEMON override reaches it.
const noOverride = { BUNWG_DAEMON: "" };

function runBin(args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}) {
  return runIn([bin, ...args], { cwd: dir, stdin: opts.stdin, env: { ...noOverride, ...opts.env }, timeoutMs: 60_000 });
}

describe("standalone executable", () => {
  beforeAll(async () => {
    const r = await runIn([process.execPath, "run", "compile"], { cwd: REPO, timeoutMs: 170_000 });
    if (r.code !== 0) throw new Error(`bun run compile failed:\n${r.stdout}${r.stderr}`);
    copyFileSync(join(REPO, "dist", "bunwg"), bin);
    shell(`chmod 755 ${bin}`);
  });
  afterAll(async () => {
    await scope.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("is one 64-bit ELF file, alone in its directory", () => {
    const file = shell(`file -b ${bin}`).stdout;
    if (file) expect(file).toContain("ELF 64-bit");
    expect(shell(`ls -A ${dir}`).stdout.trim()).toBe("bunwg");
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
    // TMPDIR missing: the embedded library must not need to be extracted to disk (docs/platform.md).
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
    scope.interface(ifname);
    const start = await runBin([ifname]);
    expect(start.code).toBe(0);
    expect(await poll(() => socketExists(ifname), 5000)).toBe(true);
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
    const pid = runSync(["ss", "-xlpnH", "src", socketPath(ifname)], { check: false }).stdout.match(/pid=(\d+)/)?.[1];
    expect(pid).toBeDefined();
    expect(shell(`readlink /proc/${pid}/exe`).stdout.trim()).toBe(bin);
    expect((await runBin(["ifconfig", ifname, "destroy"])).code).toBe(0);
  });

  test.skipIf(!isRoot || !ourDaemon || !hasCommand("wg-quick"))("WG_QUICK_USERSPACE_IMPLEMENTATION=./bunwg wg-quick up / down", async () => {
    const ifname = `bwq${id}`;
    const ns = `bwqns${id}`;
    scope.interface(ifname);
    scope.track(ns);
    shell(`ip netns add ${ns}`);
    const conf = join(dir, `${ifname}.conf`);
    const key = (await runBin(["genkey"])).stdout.trim();
    const peer = (await runBin(["pubkey"], { stdin: (await runBin(["genkey"])).stdout })).stdout.trim();
    writeFileSync(conf, `[Interface]\nPrivateKey = ${key}\nAddress = 10.98.0.1/24\nListenPort = 0\n\n[Peer]\nPublicKey = ${peer}\nAllowedIPs = 10.98.0.2/32\n`, { mode: 0o600 });
    const env = { WG_QUICK_USERSPACE_IMPLEMENTATION: "./bunwg", WG_ENDPOINT_RESOLUTION_RETRIES: "1" };
    // Inside a namespace of our own, so wg-quick's addresses and routes touch nothing else.
    const up = await runIn(["ip", "netns", "exec", ns, "wg-quick", "up", conf], { cwd: dir, env: { ...noOverride, ...env }, timeoutMs: 60_000 });
    if (up.code !== 0) console.error(up.stdout, up.stderr);
    expect(up.code).toBe(0);
    expect(linkExists(ifname, ns)).toBe(true);
    const wgShow = shell(`wg show ${ifname}`).stdout;
    expect(wgShow).toContain(`peer: ${peer}`);
    expect(shell(`ip -n ${ns} -br addr show dev ${ifname}`).stdout).toContain("10.98.0.1/24");
    const down = await runIn(["ip", "netns", "exec", ns, "wg-quick", "down", conf], { cwd: dir, env: { ...noOverride, ...env }, timeoutMs: 60_000 });
    expect(down.code).toBe(0);
    expect(await poll(() => !socketExists(ifname), 5000)).toBe(true);
  });
});
