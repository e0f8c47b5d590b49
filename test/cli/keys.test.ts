// Key tools: wg(8)'s exact output format, clamping, agreement with `wg pubkey`, errors that name the bad key.
import { describe, expect, test } from "bun:test";
import { hasCommand, shell } from "../support/process.ts";
import { bunwg } from "../support/programs.ts";

const B64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=\n$/;
const haveWg = hasCommand("wg");

function bytesOf(line: string): Uint8Array {
  return new Uint8Array(Buffer.from(line.trim(), "base64"));
}

describe("genkey / genpsk", () => {
  test("genkey prints one clamped base64 key and a newline, a new one each time", async () => {
    const a = await bunwg(["genkey"]);
    const b = await bunwg(["genkey"]);
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(B64_KEY);
    expect(b.stdout).toMatch(B64_KEY);
    expect(a.stdout).not.toBe(b.stdout);
    for (const k of [bytesOf(a.stdout), bytesOf(b.stdout)]) {
      expect(k.length).toBe(32);
      expect(k[0] & 7).toBe(0); // RFC 7748 clamping, as wg genkey does
      expect(k[31] & 0xc0).toBe(0x40);
    }
  });

  test("genpsk prints 32 random bytes in base64 and a newline", async () => {
    const a = await bunwg(["genpsk"]);
    const b = await bunwg(["genpsk"]);
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(B64_KEY);
    expect(a.stdout).not.toBe(b.stdout);
    expect(bytesOf(a.stdout).length).toBe(32);
  });

  test.skipIf(!haveWg)("the format is byte-for-byte wg(8)'s (same length, same trailing newline)", async () => {
    const ours = await bunwg(["genkey"]);
    const theirs = shell("wg genkey");
    expect(ours.stdout.length).toBe(theirs.stdout.length);
    expect(ours.stdout.endsWith("\n")).toBe(theirs.stdout.endsWith("\n"));
    const psk = shell("wg genpsk");
    expect((await bunwg(["genpsk"])).stdout.length).toBe(psk.stdout.length);
  });
});

describe("pubkey", () => {
  test.skipIf(!haveWg)("agrees with wg pubkey for wg genkey keys and for unclamped random bytes", async () => {
    const keys = [shell("wg genkey").stdout, shell("wg genkey").stdout];
    for (let i = 0; i < 3; i++) keys.push(`${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64")}\n`);
    keys.push(`${Buffer.alloc(32, 0xff).toString("base64")}\n`); // every clamped bit wrong
    for (const key of keys) {
      const ours = await bunwg(["pubkey"], { stdin: key });
      const theirs = Bun.spawnSync(["wg", "pubkey"], { stdin: new TextEncoder().encode(key) });
      expect(ours.code).toBe(0);
      expect(ours.stdout).toMatch(B64_KEY);
      expect(ours.stdout).toBe(theirs.stdout.toString());
    }
  });

  test("`genkey | pubkey` round-trips, and a key is accepted without its newline", async () => {
    const priv = (await bunwg(["genkey"])).stdout;
    const a = await bunwg(["pubkey"], { stdin: priv });
    const b = await bunwg(["pubkey"], { stdin: priv.trim() });
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout).not.toBe(priv);
  });

  test("a bad key is named in the error and the exit status is non-zero", async () => {
    for (const bad of ["abc", "not base64 at all!!", `${Buffer.alloc(31).toString("base64")}`, `${Buffer.alloc(33).toString("base64")}`]) {
      const r = await bunwg(["pubkey"], { stdin: `${bad}\n` });
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("private key");
      expect(r.stderr).toContain(JSON.stringify(bad));
      expect(r.stderr).toContain("expected 32 bytes of base64");
    }
    const empty = await bunwg(["pubkey"], { stdin: "" });
    expect(empty.code).not.toBe(0);
    expect(empty.stderr).toContain("got nothing");
  });

  test("--help works on each key command", async () => {
    for (const cmd of ["genkey", "pubkey", "genpsk"]) {
      const r = await bunwg([cmd, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(cmd);
    }
  });
});
