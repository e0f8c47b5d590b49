// `bun run compile --target linux-arm64` on this (x86-64) machine → a standalone executable for 64-bit ARM Linux with
// the Zig library cross-built for aarch64 inside, run under qemu-user (Debian's qemu-user and libc6-arm64-cross, which
// .ci/run installs): --version names the aarch64 backend, genkey | pubkey round-trips, and the embedded library's
// AEAD agrees with @noble/ciphers on random cases (BUNWG_SELFTEST, src/cli/selftest.ts), and, as root, the executable
// runs as the daemon (TUN, UDP, handshake) and carries pings to wireguard-go. Also the library's own Zig unit tests
// (RFC 8439 vectors, vector vs scalar paths) built for aarch64 and run under qemu.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, openSync, readSync, closeSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nobleAead, zigAead, type Aead } from "../../src/crypto/aead.ts";
import { checkAead } from "../../src/crypto/aeadCheck.ts";
import { loadNative } from "../../src/native/lib.ts";
import { startDaemon } from "../support/daemon.ts";
import { ping, pingUntil } from "../support/net.ts";
import { hasCommand, run } from "../support/process.ts";
import { PEER_NAME, PEER_PROGRAM, REPO, genKey, isRoot, uniqueTag, wgTool } from "../support/programs.ts";
import { Scope } from "../support/scope.ts";

setDefaultTimeout(240_000);

const SYSROOT = "/usr/aarch64-linux-gnu"; // libc6-arm64-cross: the aarch64 glibc and its loader
const qemuMissing = !hasCommand("qemu-aarch64")
  ? "qemu-aarch64 is not installed (apt-get install qemu-user)"
  : !existsSync(join(SYSROOT, "lib", "ld-linux-aarch64.so.1"))
    ? `${SYSROOT}/lib/ld-linux-aarch64.so.1 is missing (apt-get install libc6-arm64-cross)`
    : null;
if (qemuMissing) console.log(`compile-arm64: skipping the runs under emulation: ${qemuMissing}`);

// Made in beforeAll, so a skipped run leaves nothing behind.
let dir = "";
let bin = "";

/** The arm64 executable under qemu-user, with the aarch64 glibc as its root for the loader and libc. */
function runArm(args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}) {
  return run(["qemu-aarch64", "-L", SYSROOT, bin, ...args], { check: false, cwd: dir, stdin: opts.stdin, env: { BUNWG_DAEMON: "", ...opts.env }, timeoutMs: 120_000 });
}

function elfMachine(path: string): number {
  const head = Buffer.alloc(20);
  const fd = openSync(path, "r");
  readSync(fd, head, 0, 20, 0);
  closeSync(fd);
  return head.readUInt16LE(18);
}

describe.skipIf(qemuMissing !== null)("standalone executable for linux-arm64, under qemu-user", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "bunwg-arm64-"));
    bin = join(dir, "bunwg-arm64");
    const r = await run([process.execPath, "run", "compile", "--target", "linux-arm64", "--outfile", bin], { check: false, cwd: REPO, timeoutMs: 230_000 });
    if (r.code !== 0) throw new Error(`bun run compile --target linux-arm64 failed:\n${r.stdout}${r.stderr}`);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("is an aarch64 ELF executable", () => {
    expect(elfMachine(bin)).toBe(183); // EM_AARCH64
  });

  test("--version names the embedded aarch64 AEAD backend", async () => {
    // TMPDIR missing: the embedded library is loaded from a memfd, never extracted (src/native/lib.ts).
    const v = await runArm(["--version"], { env: { TMPDIR: join(dir, "no-such-dir") } });
    expect(v.stderr).toBe("");
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^bunwg v\d+\.\d+\.\d+ \(bun [\d.]+, AEAD: zig aarch64 \(NEON\)\)\n$/);
  });

  test("genkey | pubkey round-trips and agrees with this machine's pubkey", async () => {
    const priv = await runArm(["genkey"]);
    expect(priv.code).toBe(0);
    expect(priv.stdout).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    const pub = await runArm(["pubkey"], { stdin: priv.stdout });
    expect(pub.code).toBe(0);
    expect(pub.stdout).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    expect(pub.stdout).not.toBe(priv.stdout);
    // The same key's public key computed natively: wg(8) where installed, else our own source checkout.
    const reference = hasCommand("wg")
      ? await run(["wg", "pubkey"], { check: false, stdin: priv.stdout })
      : await run([process.execPath, join(REPO, "wg.ts"), "pubkey"], { check: false, stdin: priv.stdout });
    expect(pub.stdout).toBe(reference.stdout);
    const bad = await runArm(["pubkey"], { stdin: "nope\n" });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('got "nope"');
  });

  test("the embedded library's AEAD agrees with @noble/ciphers on random cases", async () => {
    const r = await runArm([], { env: { BUNWG_SELFTEST: "aead:300" } });
    if (r.code !== 0) console.error(r.stderr);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^aead self-test: zig aarch64 \(NEON\) agrees with @noble\/ciphers on 300 random cases and 64 transport packets \(seed \d+\); /);
    console.log(`compile-arm64 (under qemu): ${r.stdout.trim()}`);
  });

  test.skipIf(!isRoot || !hasCommand("wg"))(`as the daemon, carries pings to ${PEER_NAME} across two namespaces`, async () => {
    const scope = new Scope();
    try {
      const t = uniqueTag();
      const nsA = await scope.netns(`bwarma${t}`);
      const nsB = await scope.netns(`bwarmb${t}`);
      scope.track(nsA);
      scope.track(nsB);
      // The underlay: a veth pair between the two namespaces; the tunnel runs over it.
      await run(["ip", "link", "add", `vea${t}`, "netns", nsA, "type", "veth", "peer", "name", `veb${t}`, "netns", nsB]);
      await run(["ip", "-n", nsA, "addr", "add", "10.231.0.1/24", "dev", `vea${t}`]);
      await run(["ip", "-n", nsB, "addr", "add", "10.231.0.2/24", "dev", `veb${t}`]);
      await run(["ip", "-n", nsA, "link", "set", `vea${t}`, "up"]);
      await run(["ip", "-n", nsB, "link", "set", `veb${t}`, "up"]);
      const ifA = `wga${t}`;
      const ifB = `wgb${t}`;
      await startDaemon(scope, ["qemu-aarch64", "-L", SYSROOT, bin], ifA, { netns: nsA, env: { BUNWG_DAEMON: "" } });
      await startDaemon(scope, PEER_PROGRAM, ifB, { netns: nsB });
      const a = genKey();
      const b = genKey();
      const keyA = scope.file("a.key", `${a.priv}\n`);
      const keyB = scope.file("b.key", `${b.priv}\n`);
      await wgTool(["set", ifA, "private-key", keyA, "listen-port", "51820", "peer", b.pub, "allowed-ips", "10.232.0.2/32", "endpoint", "10.231.0.2:51821"]);
      await wgTool(["set", ifB, "private-key", keyB, "listen-port", "51821", "peer", a.pub, "allowed-ips", "10.232.0.1/32", "endpoint", "10.231.0.1:51820"]);
      await run(["ip", "-n", nsA, "addr", "add", "10.232.0.1/24", "dev", ifA]);
      await run(["ip", "-n", nsB, "addr", "add", "10.232.0.2/24", "dev", ifB]);
      await run(["ip", "-n", nsA, "link", "set", ifA, "up"]);
      await run(["ip", "-n", nsB, "link", "set", ifB, "up"]);
      await pingUntil(nsA, "10.232.0.2", 30_000);
      // Full-size packets both ways, through the aarch64 library's seal and open.
      const big = await run(["ip", "netns", "exec", nsB, "ping", "-n", "-c", "5", "-W", "3", "-i", "0.2", "-s", "1372", "10.232.0.1"], { check: false, timeoutMs: 30_000 });
      expect(big.stdout).toContain("5 received");
      expect(await ping(nsA, "10.232.0.2", 3, 3)).toBe(true);
      const [peer, when] = (await wgTool(["show", ifA, "latest-handshakes"])).stdout.trim().split("\t");
      expect(peer).toBe(b.pub);
      expect(Number(when)).toBeGreaterThan(0);
    } finally {
      await scope.close();
    }
  });

  test("the Zig unit tests pass built for aarch64", async () => {
    const onPath = Bun.which("zig");
    const zig = onPath && (await run([onPath, "version"])).stdout.trim() === "0.14.1" ? [onPath] : ["python3", "-m", "ziglang"];
    // --glibc-runtimes /usr: Zig runs qemu with -L /usr/aarch64-linux-gnu, where libc6-arm64-cross puts glibc.
    const r = await run([...zig, "build", "test", "-Doptimize=ReleaseFast", "-Dtarget=aarch64-linux-gnu", "-fqemu", "--glibc-runtimes", "/usr", "--summary", "all"], {
      check: false,
      cwd: join(REPO, "zig"),
      timeoutMs: 230_000,
    });
    if (r.code !== 0) console.error(r.stdout, r.stderr);
    expect(r.code).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/run test \d+ passed/);
  });
});

describe("the AEAD self-test itself (natively)", () => {
  let native: ReturnType<typeof loadNative> | undefined;
  try {
    native = loadNative();
  } catch (e) {
    console.log(`compile-arm64: skipping the native self-test checks: ${(e as Error).message}`);
  }

  test.skipIf(native === undefined)("agrees for the real library and finds a backend that is wrong on some lengths", () => {
    const zig = zigAead(native!);
    const noble = nobleAead();
    const good = checkAead(zig, noble, 100, 7);
    expect(good.mismatches).toEqual([]);
    expect(good.failures).toBe(0);
    // A backend whose tag is wrong for some lengths only (odd single packets, batched payloads of 16 mod 32 bytes):
    // both paths must notice.
    const broken: Aead = {
      ...zig,
      seal(key, counter, pt, ad, out) {
        zig.seal(key, counter, pt, ad, out);
        if (pt.length % 2 === 1) out[pt.length] ^= 1;
      },
      sealTransport(n, buf, offs, lens, keys, keyIdx) {
        zig.sealTransport(n, buf, offs, lens, keys, keyIdx);
        for (let i = 0; i < n; i++) if (lens[i] % 32 === 16) buf[offs[i] + 16 + lens[i]] ^= 1;
      },
    };
    const result = checkAead(broken, noble, 200, 7);
    expect(result.failures).toBeGreaterThan(0);
    const found = result.mismatches;
    expect(found.some((m) => /\d*[13579]-byte plaintext.*: seal differs/.test(m))).toBe(true);
    expect(found.some((m) => /transport packet \d+ \(\d+ bytes\): sealTransport differs/.test(m))).toBe(true);
    expect(found.every((m) => /seal differs|sealTransport differs/.test(m))).toBe(true);
  });

  test("BUNWG_SELFTEST fails when the Zig library cannot be loaded, instead of comparing @noble with itself", async () => {
    const entry = join(REPO, "src", "cli", "compiledEntry.ts");
    const r = await run([process.execPath, entry], { check: false, env: { BUNWG_SELFTEST: "aead:3", BUNWG_NATIVE_VARIANT: "no_such_variant" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("aead self-test: the Zig library did not load");
    expect(r.stderr).toContain('"no_such_variant"');
    const bad = await run([process.execPath, entry], { check: false, env: { BUNWG_SELFTEST: "aed" } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('BUNWG_SELFTEST="aed"');
  });
});
