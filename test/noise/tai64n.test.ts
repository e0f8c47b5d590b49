// TAI64N (§5.1): our timestamps must be byte-identical to the reference implementations' for the same time, or a
// peer that last saw an initiation from wireguard-go or the kernel with the same keys refuses ours as a replay.
// Checked three ways: vectors from wireguard-go's formula (tai64n/tai64n.go: 0x400000000000000a + Unix seconds,
// nanoseconds with the low 24 bits cleared), wireguard-go's own package run by Go on this machine, and a
// newest-wireguard-go peer that takes over from a wireguard-go initiator to a bunwg one with the same keys.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tai64n, tai64nAfter } from "../../src/noise/tai64n.ts";
import { hex } from "./helpers.ts";
import { ping, pingUntil } from "../support/net.ts";
import { run } from "../support/process.ts";
import { BUNWG, WGGO_LATEST, genKey, isRoot, uniqueTag, wgTool } from "../support/programs.ts";
import { Scope } from "../support/scope.ts";

/** wireguard-go's stamp(): a BigInt transcription of its formula, independent of ours. */
function referenceStamp(unixMs: number): string {
  const ns = BigInt(Math.round(unixMs)) * 1_000_000n;
  const secs = 0x400000000000000an + ns / 1_000_000_000n;
  const nano = (ns % 1_000_000_000n) & ~0xffffffn;
  return secs.toString(16).padStart(16, "0") + nano.toString(16).padStart(8, "0");
}

describe("TAI64N", () => {
  test("layout: 2^62 + 10 + Unix seconds, big-endian; nanoseconds rounded down to 2^24", () => {
    const out = new Uint8Array(12);
    tai64n(0, out);
    expect(hex(out)).toBe("400000000000000a00000000");
    tai64n(1500, out); // 1 s + 500,000,000 ns → 29 × 2^24 = 486,539,264 = 0x1d000000
    expect(hex(out)).toBe("400000000000000b1d000000");
    tai64n(Date.UTC(2026, 10, 25), out); // 1795564800 s = 0x6b062500, + 10
    expect(hex(out)).toBe("400000006b06250a00000000");
    tai64n(0xfffffff6 * 1000, out); // the +10 carries into the high word
    expect(hex(out)).toBe("400000010000000000000000");
  });

  test("equals wireguard-go's formula on 10,000 random times (whole milliseconds, 1970..2200)", () => {
    const out = new Uint8Array(12);
    for (let i = 0; i < 10_000; i++) {
      const ms = Math.floor(Math.random() * 7.3e12);
      tai64n(ms, out);
      expect(hex(out)).toBe(referenceStamp(ms));
    }
  });

  test("ordering", () => {
    const a = new Uint8Array(12), b = new Uint8Array(12);
    tai64n(10_000, a);
    tai64n(10_020, b);
    expect(tai64nAfter(b, a)).toBe(true);
    expect(tai64nAfter(a, b)).toBe(false);
    expect(tai64nAfter(a, a)).toBe(false);
    tai64n(10_005, b); // same 2^24-ns slot: not newer
    expect(tai64nAfter(b, a)).toBe(false);
  });
});

// wireguard-go's tai64n package from the Go module cache (.ci/run installs the newest wireguard-go with `go install`).
const GO = Bun.which("go");
const MODDIR = join(process.env.GOMODCACHE ?? join(process.env.HOME ?? "/root", "go", "pkg", "mod"), "golang.zx2c4.com");
const WGGO_MODULE = existsSync(MODDIR) ? readdirSync(MODDIR).find((d) => d.startsWith("wireguard@")) : undefined;

describe.skipIf(GO === null || WGGO_MODULE === undefined)("TAI64N against wireguard-go's tai64n.Now()", () => {
  const dir = mkdtempSync(join(tmpdir(), "bunwg-tai64n-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("ours for the wall clock just before and just after bracket wireguard-go's", async () => {
    writeFileSync(join(dir, "go.mod"), `module tai64ncheck\ngo 1.21\nrequire golang.zx2c4.com/wireguard ${WGGO_MODULE!.slice("wireguard@".length)}\n`);
    writeFileSync(join(dir, "main.go"), [
      "package main",
      'import ("encoding/hex"; "fmt"; "time"; "golang.zx2c4.com/wireguard/tai64n")',
      "func main() {",
      "  for i := 0; i < 20; i++ {",
      "    before := time.Now().UnixMilli(); t := tai64n.Now(); after := time.Now().UnixMilli()",
      "    fmt.Println(before, hex.EncodeToString(t[:]), after + 1)",
      "    time.Sleep(7 * time.Millisecond)",
      "  }",
      "}",
    ].join("\n"));
    const r = await run([GO!, "-C", dir, "run", "."], {
      timeoutMs: 120_000,
      env: { GOFLAGS: "-mod=mod", GOPROXY: "off", GOSUMDB: "off", GOTOOLCHAIN: "local" },
    });
    const lines = r.stdout.trim().split("\n");
    expect(lines.length).toBe(20);
    const lo = new Uint8Array(12), hi = new Uint8Array(12);
    for (const line of lines) {
      const [before, theirs, after] = line.split(" ");
      const t = Buffer.from(theirs!, "hex");
      tai64n(Number(before), lo);
      tai64n(Number(after), hi);
      // lo ≤ theirs ≤ hi, byte order being time order
      expect({ line, loAfterTheirs: tai64nAfter(lo, t) }).toEqual({ line, loAfterTheirs: false });
      expect({ line, theirsAfterHi: tai64nAfter(t, hi) }).toEqual({ line, theirsAfterHi: false });
    }
  }, 130_000);
});

describe.skipIf(!isRoot || WGGO_LATEST === null)("TAI64N interop", () => {
  const scope = new Scope();
  afterAll(() => scope.close());

  test("a wireguard-go peer that last saw a wireguard-go initiation with the same keys answers ours at once", async () => {
    const t = uniqueTag();
    const n = parseInt(t.slice(0, 2), 16), m = parseInt(t.slice(2, 4), 16);
    const nsA = await scope.netns(`bwti${t}a`), nsW = await scope.netns(`bwti${t}w`);
    scope.track(nsA);
    scope.track(nsW);
    const a = { key: genKey(), v4: `10.${n}.${m}.1` }, w = { key: genKey(), v4: `10.${n}.${m}.2`, ifname: `bwti${t}w` };
    const keyFile = (k: string) => scope.file(`${t}-${Math.random()}.key`, k + "\n");

    // The responder: the newest wireguard-go.
    await scope.daemon(WGGO_LATEST!, w.ifname);
    await wgTool(["set", w.ifname, "private-key", keyFile(w.key.priv), "listen-port", "0", "peer", a.key.pub, "allowed-ips", `${a.v4}/32`]);
    const wPort = Number((await wgTool(["show", w.ifname, "listen-port"])).stdout.trim());
    await run(["ip", "link", "set", w.ifname, "netns", nsW]);
    await run(["ip", "-n", nsW, "addr", "add", `${w.v4}/24`, "dev", w.ifname]);
    await run(["ip", "-n", nsW, "link", "set", w.ifname, "up"]);

    const initiator = async (program: string[], ifname: string) => {
      await scope.daemon(program, ifname);
      await wgTool(["set", ifname, "private-key", keyFile(a.key.priv), "listen-port", "0",
        "peer", w.key.pub, "endpoint", `127.0.0.1:${wPort}`, "allowed-ips", `${w.v4}/32`]);
      await run(["ip", "link", "set", ifname, "netns", nsA]);
      await run(["ip", "-n", nsA, "addr", "add", `${a.v4}/24`, "dev", ifname]);
      await run(["ip", "-n", nsA, "link", "set", ifname, "up"]);
    };

    // 1. A wireguard-go initiator with a's keys handshakes: the responder records its timestamp.
    await initiator(WGGO_LATEST!, `bwti${t}g`);
    await pingUntil(nsA, w.v4, 10_000);
    await run(["ip", "-n", nsA, "link", "del", `bwti${t}g`]);

    // 2. bunwg with the same keys: its first initiation is newer than wireguard-go's last, so it is answered at
    // once and the first ping gets through (a timestamp 10 s behind would be refused until 10 s had passed).
    await initiator(BUNWG, `bwti${t}b`);
    expect(await ping(nsA, w.v4, 1, 3)).toBe(true);
  }, 60_000);
});
