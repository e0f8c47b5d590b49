// Hostile configuration input: malformed requests on a running daemon's socket, bad command lines, bad
// configuration files for `wg setconf`. Every request gets an errno answer (never a hang, never a partial change),
// a request cut off halfway neither blocks other clients nor stays open forever, and `wg showconf` is byte-identical
// before and after.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, rmSync } from "node:fs";
import { Rng } from "./fuzzer.ts";
import { type Daemon, startDaemon, uapiRequest } from "../support/daemon.ts";
import { run } from "../support/process.ts";
import { BUNWG, WG_TS, genKey, isRoot, uniqueTag, wgTool } from "../support/programs.ts";
import { Scope, alive } from "../support/scope.ts";
import { SOCKET_DIR, socketPath } from "../../src/uapi/socket.ts";
import { keyFromBase64, keyToHex } from "../../src/text/codec.ts";
import { logPath } from "../../src/device/log.ts";

const ERRNO = /^errno=-?[1-9]\d*\n\n$/;

describe.skipIf(!isRoot)("hostile configuration input", () => {
  const scope = new Scope();
  const t = uniqueTag();
  const ifname = `bwr${t}c`;
  let d!: Daemon;
  let before = "";
  const me = genKey(), peer = genKey(), other = genKey();
  const pubHex = keyToHex(keyFromBase64(peer.pub));

  beforeAll(async () => {
    await scope.netns(ifname);
    d = await startDaemon(scope, BUNWG, ifname);
    const psk = Bun.spawnSync(["wg", "genpsk"]).stdout.toString().trim();
    await wgTool(["set", ifname, "private-key", scope.file("k", me.priv + "\n"), "listen-port", "0", "peer", peer.pub,
      "preshared-key", scope.file("psk", psk + "\n"), "endpoint", "127.0.0.1:4242", "allowed-ips", "10.99.0.0/24,fd99::/64",
      "persistent-keepalive", "25", "peer", other.pub, "allowed-ips", "10.98.0.1/32"]);
    before = (await wgTool(["showconf", ifname])).stdout;
  }, 30_000);
  afterAll(() => scope.close());

  const bin = (s: string) => new TextEncoder().encode(s);
  const junk = new Rng(0xbad).bytes(4096);
  const cases: [string, string | Uint8Array][] = [
    ["private key not hex", `set=1\nprivate_key=${"zz".repeat(32)}\n\n`],
    ["private key too short", "set=1\nprivate_key=abcd\n\n"],
    ["private key in base64 (people's form, not the socket's)", `set=1\nprivate_key=${me.priv}\n\n`],
    ["private key empty", "set=1\nprivate_key=\n\n"],
    ["public key of 65 hex digits", `set=1\npublic_key=${pubHex}0\n\n`],
    ["preshared key of 63 hex digits", `set=1\npublic_key=${pubHex}\npreshared_key=${pubHex.slice(1)}\n\n`],
    ["listen port 65536", "set=1\nlisten_port=65536\n\n"],
    ["listen port -1", "set=1\nlisten_port=-1\n\n"],
    ["listen port 2^64", "set=1\nlisten_port=18446744073709551616\n\n"],
    ["listen port in hex", "set=1\nlisten_port=0x10\n\n"],
    ["listen port empty", "set=1\nlisten_port=\n\n"],
    ["fwmark 2^32", "set=1\nfwmark=4294967296\n\n"],
    ["allowed_ip=300.1.1.1/33", `set=1\npublic_key=${pubHex}\nallowed_ip=300.1.1.1/33\n\n`],
    ["allowed_ip=10.0.0.0/33", `set=1\npublic_key=${pubHex}\nallowed_ip=10.0.0.0/33\n\n`],
    ["allowed_ip=::/129", `set=1\npublic_key=${pubHex}\nallowed_ip=::/129\n\n`],
    ["allowed_ip without prefix", `set=1\npublic_key=${pubHex}\nallowed_ip=10.0.0.1\n\n`],
    ["allowed_ip=-", `set=1\npublic_key=${pubHex}\nallowed_ip=-\n\n`],
    ["endpoint port 70000", `set=1\npublic_key=${pubHex}\nendpoint=1.2.3.4:70000\n\n`],
    ["endpoint with an open bracket", `set=1\npublic_key=${pubHex}\nendpoint=[::1:51820\n\n`],
    ["endpoint host name", `set=1\npublic_key=${pubHex}\nendpoint=localhost:51820\n\n`],
    ["endpoint without port", `set=1\npublic_key=${pubHex}\nendpoint=1.2.3.4\n\n`],
    ["keepalive 65536", `set=1\npublic_key=${pubHex}\npersistent_keepalive_interval=65536\n\n`],
    ["protocol version 2", `set=1\npublic_key=${pubHex}\nprotocol_version=2\n\n`],
    ["replace_peers=false", "set=1\nreplace_peers=false\n\n"],
    ["remove=yes", `set=1\npublic_key=${pubHex}\nremove=yes\n\n`],
    ["unknown key", "set=1\nfoo=bar\n\n"],
    ["a line without =", "set=1\nhello\n\n"],
    ["a key in a get", `get=1\nprivate_key=${keyToHex(keyFromBase64(me.priv))}\n\n`],
    ["a peer key before any public_key", "set=1\nallowed_ip=10.0.0.0/8\n\n"],
    ["a device key after a peer", `set=1\npublic_key=${pubHex}\nlisten_port=1\n\n`],
    ["a NUL byte", "set=1\nlisten_port=1\0\n\n"],
    ["invalid UTF-8", new Uint8Array([...bin("set=1\nfoo="), 0xc3, 0x28, 0xff, ...bin("\n\n")])],
    ["a 1 MB line", `set=1\nallowed_ip=${"1".repeat(1 << 20)}\n\n`],
    ["valid changes, then one bad line (applied all or nothing)",
      `set=1\nlisten_port=4444\nreplace_peers=true\npublic_key=${pubHex}\nallowed_ip=10.1.0.0/16\nallowed_ip=300.1.1.1/33\n\n`],
    ["an unknown operation", "hello=1\n\n"],
    ["binary junk", junk],
    ["get=2", "get=2\n\n"],
  ];

  test(`${cases.length} malformed requests: each answered with an errno, nothing changed`, async () => {
    // Cut off halfway, and left open: it must not block anyone, and the daemon closes it after its idle timeout.
    let cutClosedAt = 0;
    const cutStart = performance.now();
    const cut = await Bun.connect({
      unix: socketPath(ifname),
      socket: { data() {}, close() { cutClosedAt = performance.now(); }, error() {} },
    });
    cut.write(`set=1\nprivate_key=${keyToHex(keyFromBase64(genKey().priv))}\nlisten_port=`);
    // Idle connections too.
    const idle = await Promise.all(Array.from({ length: 32 }, () => Bun.connect({ unix: socketPath(ifname), socket: { data() {}, error() {} } })));
    try {
      const failures: string[] = [];
      for (const [name, req] of cases) {
        try {
          const r = await uapiRequest(ifname, req, 5000);
          if (!ERRNO.test(r.answer)) failures.push(`${name}: answered ${JSON.stringify(r.answer.slice(0, 120))}`);
        } catch (e) {
          failures.push(`${name}: ${(e as Error).message}`);
        }
        expect(alive(d.pid)).toBe(true);
      }
      expect(failures).toEqual([]);
      // Other clients are served while the cut-off request is pending.
      const t0 = performance.now();
      expect((await wgTool(["showconf", ifname])).stdout).toBe(before);
      expect(performance.now() - t0).toBeLessThan(2000);
      // The cut-off connection is closed by the daemon (idle timeout), and what it sent is not applied.
      const end = cutStart + 20_000;
      while (cutClosedAt === 0 && performance.now() < end) await Bun.sleep(100);
      expect(cutClosedAt).toBeGreaterThan(0);
      console.log(`  cut-off request closed by the daemon after ${((cutClosedAt - cutStart) / 1000).toFixed(1)} s`);
      expect((await wgTool(["showconf", ifname])).stdout).toBe(before);
    } finally {
      cut.end();
      for (const s of idle) s.end();
    }
  }, 60_000);

  test("after an unknown operation or junk the daemon answers once and hangs up", async () => {
    for (const req of [bin("hello=1\n\nget=1\n\n"), junk]) {
      const got = await new Promise<{ text: string; closed: boolean }>((resolve) => {
        let text = "";
        const timer = setTimeout(() => resolve({ text, closed: false }), 3000);
        Bun.connect({
          unix: socketPath(ifname),
          socket: {
            open(s) { s.write(req); },
            data(_s, d) { text += d.toString(); },
            close() { clearTimeout(timer); resolve({ text, closed: true }); },
            error() {},
          },
        });
      });
      expect(got.text).toMatch(ERRNO);
      expect(got.closed).toBe(true);
    }
  });

  test("bad configuration files for wg setconf: clear messages, non-zero exit, nothing changed", async () => {
    const good = (extra: string) => `[Interface]\nPrivateKey = ${me.priv}\n${extra}`;
    const files: [string, string | Uint8Array, RegExp][] = [
      ["PrivateKey = notakey", "[Interface]\nPrivateKey = notakey\n", /key/i],
      ["ListenPort = port", good("ListenPort = port\n"), /port|listen/i],
      ["AllowedIPs = 300.1.1.1/33", good(`[Peer]\nPublicKey = ${peer.pub}\nAllowedIPs = 300.1.1.1/33\n`), /300\.1\.1\.1|IP/i],
      ["unknown key", good("Foo = bar\n"), /Foo|key/i],
      ["a peer without a public key", good("[Peer]\nAllowedIPs = 10.0.0.0/8\n"), /public key|peer/i],
      ["Endpoint = [::1:51820", good(`[Peer]\nPublicKey = ${peer.pub}\nEndpoint = [::1:51820\n`), /endpoint|::1/i],
      ["PresharedKey too short", good(`[Peer]\nPublicKey = ${peer.pub}\nPresharedKey = abc\n`), /key/i],
      ["binary junk", junk, /.+/],
    ];
    for (const [name, text, msg] of files) {
      const r = await wgTool(["setconf", ifname, scope.file(`bad${files.findIndex((f) => f[0] === name)}.conf`, typeof text === "string" ? text : Buffer.from(text).toString("latin1"))], { check: false });
      expect(r.code, name).not.toBe(0);
      expect(r.stderr, name).toMatch(msg);
    }
    // The daemon refuses what wg(8) cannot check: a listen port that is taken.
    const taken = await Bun.udpSocket({ hostname: "::", port: 0 });
    try {
      const r = await wgTool(["setconf", ifname, scope.file("taken.conf", good(`ListenPort = ${taken.port}\n`))], { check: false });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/in use/i);
    } finally {
      taken.close();
    }
    expect((await wgTool(["showconf", ifname])).stdout).toBe(before);
  }, 30_000);

  test("bad command lines: a clear message and a non-zero exit", async () => {
    const daemonRun = (args: string[], env: Record<string, string> = {}, netns = ifname) =>
      run(["ip", "netns", "exec", netns, process.execPath, WG_TS, ...args], { check: false, env, timeoutMs: 20_000 });
    const cases: [string[], Record<string, string>, RegExp][] = [
      [["--bogus"], {}, /unknown|--bogus/i],
      [["-x"], {}, /unknown|-x/i],
      [["-f"], {}, /missing interface name/],
      [["a/b"], {}, /interface name "a\/b"/],
      [["waytoolonginterfacename"], {}, /interface name/],
      [[".."], {}, /interface name/],
      [["-f", "a", "b"], {}, /unexpected argument "b"/],
      [["--foreground", "--x", "wg0"], {}, /unknown option "--x"/],
      [[`bwr${t}z`], { LOG_LEVEL: "bogus" }, /LOG_LEVEL.*bogus/],
      [[ifname], {}, /already running/], // the daemon of this file
      [["lo"], {}, /interface lo/], // exists, and is not a TUN device
    ];
    const loLog = logPath("lo");
    if (!existsSync(loLog)) scope.add(() => rmSync(loLog, { force: true }));
    for (const [args, env, msg] of cases) {
      const r = await daemonRun(args, env);
      expect(r.code, args.join(" ")).not.toBe(0);
      expect(r.stderr, args.join(" ")).toMatch(msg);
    }
    // Nothing was left behind by the refused starts.
    expect((await run(["ip", "-n", ifname, "link", "show", "lo"])).stdout).toContain("lo");
    expect((await run(["ls", SOCKET_DIR])).stdout).not.toContain(`bwr${t}z`);
  }, 60_000);
});
