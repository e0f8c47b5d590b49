import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { x25519 } from "@noble/curves/ed25519.js";
import { EINVAL, EPROTO } from "../src/config/errors.ts";
import { diffConfigs } from "../src/config/diff.ts";
import { emptyDeviceConfig, type DeviceConfig, type PeerStats } from "../src/config/model.ts";
import { clampPrivateKey } from "../src/noise/index.ts";
import { formatCidr, keyToHex, parseCidr } from "../src/text/codec.ts";
import { errnoAnswer, RequestParser, type Request } from "../src/uapi/framing.ts";
import { formatGet, formatGetPieces, parseGet } from "../src/uapi/get.ts";
import { applySet as applySetWith, type SetOptions, type SetResult } from "../src/uapi/set.ts";
import { run } from "./support/process.ts";
import { isRoot, uniqueTag } from "./support/programs.ts";
import { SOCKET_DIR, socketPath } from "../src/uapi/socket.ts";

const enc = new TextEncoder();

// The reference X25519 (@noble) derives the public keys a set compares with its peers'.
const derivePublicKey = (k: Uint8Array) => x25519.getPublicKey(clampPrivateKey(k));
const applySet = (cfg: DeviceConfig, lines: string[], opts: SetOptions = { derivePublicKey }) => applySetWith(cfg, lines, opts);

// Deterministic keys: key(n) is 32 bytes derived from n.
function key(n: number): Uint8Array {
  const k = new Uint8Array(32);
  let s = (n * 2654435761) >>> 0 || 1;
  for (let i = 0; i < 32; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    k[i] = s;
  }
  return k;
}
const hex = (n: number) => keyToHex(key(n));
const ZERO = "0".repeat(64);

function parseAll(text: string | Uint8Array, parser = new RequestParser()): Request[] {
  return parser.feed(typeof text === "string" ? enc.encode(text) : text);
}

function set(cfg: DeviceConfig, body: string): SetResult {
  const reqs = parseAll(`set=1\n${body}\n\n`);
  expect(reqs.length).toBe(1);
  const r = reqs[0];
  if (r.kind === "error") return { ok: false, errno: r.errno, message: r.message };
  if (r.kind !== "set") throw new Error("expected a set request");
  return applySet(cfg, r.lines);
}

function ok(cfg: DeviceConfig, body: string) {
  const r = set(cfg, body);
  if (!r.ok) throw new Error(`set failed: ${r.message}`);
  return r;
}

// A failed set: errno and message as expected, and `cfg` exactly as it was.
function refused(cfg: DeviceConfig, body: string, errno: number, message: string | RegExp) {
  const before = structuredClone(cfg);
  const r = set(cfg, body);
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.errno).toBe(errno);
  if (typeof message === "string") expect(r.message).toBe(message);
  else expect(r.message).toMatch(message);
  expect(cfg).toEqual(before);
}

const noStats = (): PeerStats => ({ lastHandshakeSec: 0, lastHandshakeNsec: 0, rxBytes: 0, txBytes: 0 });
const ips = (c: DeviceConfig, i: number) => c.peers[i].allowedIps.map(formatCidr);

// A device with two peers used by many tests.
function base(): DeviceConfig {
  return ok(emptyDeviceConfig(), [
    `private_key=${hex(1)}`, "listen_port=51820",
    `public_key=${hex(2)}`, "endpoint=192.0.2.1:51820", "allowed_ip=10.0.0.0/24", "allowed_ip=10.0.1.0/24",
    `public_key=${hex(3)}`, `preshared_key=${hex(9)}`, "persistent_keepalive_interval=25", "allowed_ip=10.0.2.0/24",
  ].join("\n")).config;
}

describe("framing", () => {
  test("get, get=bunwg and set, several in one chunk and byte by byte", () => {
    const text = `get=1\n\nset=1\nlisten_port=1\nfwmark=2\n\nget=bunwg\n\n\nset=1\n\n`;
    const want: Request[] = [
      { kind: "get", extensions: false },
      { kind: "set", lines: ["listen_port=1", "fwmark=2"] },
      { kind: "get", extensions: true },
      { kind: "set", lines: [] },
    ];
    expect(parseAll(text)).toEqual(want);
    const p = new RequestParser();
    const got: Request[] = [];
    for (const b of enc.encode(text)) got.push(...p.feed(Uint8Array.of(b)));
    expect(got).toEqual(want);
    expect(p.pending).toBe(false);
  });

  test("a request cut off halfway stays pending and yields nothing", () => {
    const p = new RequestParser();
    expect(p.feed(enc.encode("set=1\nlisten_port=1\n"))).toEqual([]);
    expect(p.pending).toBe(true);
    expect(p.feed(enc.encode("fwmark=3"))).toEqual([]);
    expect(p.pending).toBe(true);
    expect(p.feed(enc.encode("\n\n"))).toEqual([{ kind: "set", lines: ["listen_port=1", "fwmark=3"] }]);
    expect(p.pending).toBe(false);
  });

  test("the caller may reuse its buffer between feeds (also a Buffer, whose slice is a view)", () => {
    const p = new RequestParser();
    const buf = Buffer.alloc(16);
    buf.set(enc.encode("set=1\nfwma"));
    expect(p.feed(buf.subarray(0, 10))).toEqual([]);
    buf.fill(0x41);
    buf.set(enc.encode("rk=7\n\n"));
    expect(p.feed(buf.subarray(0, 6))).toEqual([{ kind: "set", lines: ["fwmark=7"] }]);
  });

  test("an unknown operation is a protocol error that closes the connection", () => {
    const p = new RequestParser();
    const r = p.feed(enc.encode("hello=1\n\nget=1\n\n"));
    expect(r).toEqual([{ kind: "error", op: "unknown", errno: EPROTO, message: 'unknown operation "hello=1": expected get=1, get=bunwg, get=bunwg-counters or set=1', close: true }]);
    expect(p.closed).toBe(true);
    expect(p.feed(enc.encode("get=1\n\n"))).toEqual([]);
    expect(parseAll("get=2\n\n")[0]).toMatchObject({ kind: "error", errno: EPROTO, close: true });
    expect(parseAll("GET=1\n\n")[0]).toMatchObject({ kind: "error", errno: EPROTO, close: true });
  });

  test("get with keys is refused but the connection stays usable", () => {
    const r = parseAll("get=1\nfoo=bar\n\nget=1\n\n");
    expect(r).toEqual([
      { kind: "error", op: "get", errno: EINVAL, message: 'line 2: get takes no keys, got "foo=bar"', close: false },
      { kind: "get", extensions: false },
    ]);
  });

  test("a 1 MB line is refused without keeping it, whole or in pieces", () => {
    const huge = "allowed_ip=" + "1".repeat(1 << 20);
    for (const chunk of [1 << 30, 65536, 1000]) {
      const p = new RequestParser();
      const bytes = enc.encode(`set=1\nlisten_port=1\n${huge}\nfwmark=1\n\nget=1\n\n`);
      const out: Request[] = [];
      for (let i = 0; i < bytes.length; i += chunk) out.push(...p.feed(bytes.subarray(i, i + chunk)));
      expect(out).toEqual([
        { kind: "error", op: "set", errno: EPROTO, message: "line 3: longer than 65536 bytes", close: false },
        { kind: "get", extensions: false },
      ]);
    }
  });

  test("an over-long operation line closes the connection", () => {
    const r = parseAll("x".repeat(100_000) + "\n\n");
    expect(r).toEqual([{ kind: "error", op: "unknown", errno: EPROTO, message: "unknown operation a line longer than 65536 bytes: expected get=1, get=bunwg, get=bunwg-counters or set=1", close: true }]);
  });

  test("NUL bytes and bytes that are not UTF-8 are protocol errors", () => {
    const nul = parseAll("set=1\nlisten_port=1\0\n\n");
    expect(nul).toEqual([{ kind: "error", op: "set", errno: EPROTO, message: 'line 2: contains a NUL byte: "listen_port=1\\u0000"', close: false }]);
    const bad = Uint8Array.of(...enc.encode("set=1\nfwmark=1\nbunwg_description="), 0xff, 0xfe, 10, 10);
    expect(parseAll(bad)).toEqual([{ kind: "error", op: "set", errno: EPROTO, message: "line 3: not valid UTF-8 text", close: false }]);
    // Valid UTF-8 passes through.
    expect(parseAll("set=1\nbunwg_description=Grüße ✓\n\n")).toEqual([{ kind: "set", lines: ["bunwg_description=Grüße ✓"] }]);
  });

  test("a request over the size bound is refused", () => {
    const p = new RequestParser({ maxRequestBytes: 100 });
    const lines = Array.from({ length: 20 }, (_, i) => `allowed_ip=10.0.${i}.0/24`).join("\n");
    expect(p.feed(enc.encode(`set=1\n${lines}\n\nset=1\nfwmark=1\n\n`))).toEqual([
      { kind: "error", op: "set", errno: EPROTO, message: "line 6: request longer than 100 bytes", close: false },
      { kind: "set", lines: ["fwmark=1"] },
    ]);
  });

  test("random binary junk never throws", () => {
    let s = 12345;
    const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) & 255;
    for (let round = 0; round < 200; round++) {
      const p = new RequestParser({ maxLineBytes: 64 });
      const prefix = round % 2 ? "set=1\n" : "";
      const junk = Uint8Array.from({ length: 2000 }, () => (rnd() < 20 ? 10 : rnd()));
      const out = [...p.feed(enc.encode(prefix)), ...p.feed(junk.subarray(0, 1000)), ...p.feed(junk.subarray(1000))];
      for (const r of out) {
        if (r.kind === "set") applySet(emptyDeviceConfig(), r.lines); // must not throw either
        else if (r.kind === "error") expect([EPROTO, EINVAL]).toContain(r.errno);
      }
    }
  });
});

describe("set: device keys", () => {
  test("private_key is clamped; all-zero removes it; bad hex and lengths are refused", () => {
    const raw = new Uint8Array(32).fill(0xff);
    const r = ok(emptyDeviceConfig(), `private_key=${keyToHex(raw).toUpperCase()}`);
    expect(r.config.privateKey).toEqual(clampPrivateKey(raw));
    expect(r.changes.privateKey).toBe(true);
    expect(ok(r.config, `private_key=${ZERO}`).config.privateKey).toBeNull();
    const cfg = base();
    refused(cfg, "private_key=abc", EINVAL, 'line 2: private_key: expected 64 hex digits (a 32-byte key), got "abc"');
    refused(cfg, `private_key=${hex(1)}00`, EINVAL, /^line 2: private_key: expected 64 hex digits/);
    refused(cfg, `private_key=${"g".repeat(64)}`, EINVAL, /^line 2: private_key: expected 64 hex digits/);
    refused(cfg, `private_key= ${hex(1).slice(1)}`, EINVAL, /^line 2: private_key: expected 64 hex digits/);
    // Setting the same key again changes nothing.
    expect(ok(cfg, `private_key=${hex(1)}`).changes.privateKey).toBe(false);
  });

  test("listen_port and fwmark ranges", () => {
    const cfg = base();
    expect(ok(cfg, "listen_port=0").config.listenPort).toBe(0);
    expect(ok(cfg, "listen_port=65535").config.listenPort).toBe(65535);
    expect(ok(cfg, "listen_port=00080").config.listenPort).toBe(80);
    refused(cfg, "fwmark=1\nlisten_port=1\nlisten_port=70000", EINVAL, 'line 4: listen_port: expected an integer 0-65535, got "70000"');
    for (const v of ["-1", "", "0x10", "1.0", " 1", "+1", "1e3"]) refused(cfg, `listen_port=${v}`, EINVAL, /^line 2: listen_port: expected an integer 0-65535/);
    expect(ok(cfg, "fwmark=4294967295").config.fwmark).toBe(4294967295);
    const marked = ok(cfg, "fwmark=51").config;
    expect(ok(marked, "fwmark=0").config.fwmark).toBe(0);
    refused(cfg, "fwmark=4294967296", EINVAL, 'line 2: fwmark: expected an integer 0-4294967295, got "4294967296"');
  });

  test("replace_peers removes every peer; only true is accepted", () => {
    const cfg = base();
    const r = ok(cfg, "replace_peers=true");
    expect(r.config.peers).toEqual([]);
    expect(r.changes.removed.length).toBe(2);
    refused(cfg, "replace_peers=false", EINVAL, 'line 2: replace_peers: expected "true", got "false"');
  });

  test("unknown keys, lines without =, and keys in the wrong section", () => {
    const cfg = base();
    refused(cfg, "listen_port=1\nfoo=bar", EINVAL, /^line 3: unknown key "foo" \(expected public_key, private_key/);
    refused(cfg, "listen_port=1\njunk", EPROTO, 'line 3: expected KEY=VALUE, got "junk"');
    refused(cfg, "endpoint=1.2.3.4:5", EINVAL, "line 2: endpoint: a peer key must follow a public_key line");
    refused(cfg, "allowed_ip=10.0.0.0/8", EINVAL, "line 2: allowed_ip: a peer key must follow a public_key line");
    refused(cfg, `public_key=${hex(2)}\nlisten_port=1`, EINVAL, "line 3: listen_port: a device key must come before the first public_key line");
  });

  test("extension keys", () => {
    const cfg = base();
    const r = ok(cfg, `bunwg_debug=true\nbunwg_rdomain=vpn-1\npublic_key=${hex(2)}\nbunwg_description=office router`);
    expect(r.config.debug).toBe(true);
    expect(r.config.rdomain).toBe("vpn-1");
    expect(r.config.peers[0].description).toBe("office router");
    expect(r.changes).toMatchObject({ debug: true, rdomain: true });
    expect(r.changes.changed[0]).toMatchObject({ description: true, endpoint: false });
    expect(ok(r.config, "bunwg_rdomain=\nbunwg_debug=false").config).toMatchObject({ rdomain: "", debug: false });
    refused(cfg, "bunwg_debug=yes", EINVAL, 'line 2: bunwg_debug: expected true or false, got "yes"');
    refused(cfg, "bunwg_rdomain=a/b", EINVAL, /^line 2: bunwg_rdomain: expected a network namespace name/);
    refused(cfg, "bunwg_rdomain=..", EINVAL, /^line 2: bunwg_rdomain: expected a network namespace name/);
    refused(cfg, `public_key=${hex(2)}\nbunwg_description=${"x".repeat(65)}`, EINVAL, /^line 3: bunwg_description: expected at most 64 characters/);
  });
});

describe("set: peer keys", () => {
  test("a new peer with every key", () => {
    const r = ok(emptyDeviceConfig(), [
      `public_key=${hex(5)}`, `preshared_key=${hex(6)}`, "endpoint=[2001:DB8::0001]:4500", "persistent_keepalive_interval=65535",
      "replace_allowed_ips=true", "allowed_ip=10.1.2.3/16", "allowed_ip=fd00::1/64", "allowed_ip=10.1.0.0/16", "protocol_version=1",
    ].join("\n"));
    expect(r.config.peers).toEqual([{
      publicKey: key(5), presharedKey: key(6), endpoint: { address: "2001:db8::1", port: 4500, family: 6 },
      persistentKeepalive: 65535, allowedIps: [parseCidr("10.1.0.0/16"), parseCidr("fd00::/64")], protocolVersion: 1, description: "",
    }]);
    expect(r.changes.added.length).toBe(1);
  });

  test("endpoints", () => {
    const cfg = base();
    const ep = (v: string) => ok(cfg, `public_key=${hex(2)}\nendpoint=${v}`).config.peers[0].endpoint;
    expect(ep("1.2.3.4:0")).toEqual({ address: "1.2.3.4", port: 0, family: 4 });
    expect(ep("[::1]:51820")).toEqual({ address: "::1", port: 51820, family: 6 });
    expect(ep("[::ffff:1.2.3.4]:9")).toEqual({ address: "::ffff:1.2.3.4", port: 9, family: 6 });
    const pre = `public_key=${hex(2)}\nendpoint=`;
    refused(cfg, pre + "[fe80::1%eth0]:51820", EINVAL, 'line 3: endpoint: scoped IPv6 addresses (%zone) are not supported, got "[fe80::1%eth0]:51820"');
    const msg = (v: string) => `line 3: endpoint: expected IPv4:PORT or [IPv6]:PORT with a numeric address and a port 0-65535, got ${JSON.stringify(v)}`;
    for (const v of ["example.com:51820", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "::1:51820", "[::1]51820", "[1.2.3.4]:5", "[::1]:", "", "1.2.3.4:-1", "01.2.3.4:5"]) {
      refused(cfg, pre + v, EINVAL, msg(v));
    }
  });

  test("preshared_key: all-zero means none", () => {
    const cfg = base();
    expect(cfg.peers[1].presharedKey).toEqual(key(9));
    const r = ok(cfg, `public_key=${hex(3)}\npreshared_key=${ZERO}`);
    expect(r.config.peers[1].presharedKey).toBeNull();
    expect(r.changes.changed[0]).toMatchObject({ presharedKey: true, endpoint: false, persistentKeepalive: false });
    refused(cfg, `public_key=${hex(3)}\npreshared_key=xyz`, EINVAL, 'line 3: preshared_key: expected 64 hex digits (a 32-byte key), got "xyz"');
  });

  test("persistent_keepalive_interval and protocol_version", () => {
    const cfg = base();
    expect(ok(cfg, `public_key=${hex(3)}\npersistent_keepalive_interval=0`).config.peers[1].persistentKeepalive).toBe(0);
    refused(cfg, `public_key=${hex(3)}\npersistent_keepalive_interval=65536`, EINVAL, 'line 3: persistent_keepalive_interval: expected an integer 0-65535, got "65536"');
    refused(cfg, `public_key=${hex(3)}\nprotocol_version=2`, EINVAL, 'line 3: protocol_version: expected 1 (the only version), got "2"');
  });

  test("allowed_ip: add, normalise, duplicate, move between peers, remove one, replace", () => {
    const cfg = base();
    let r = ok(cfg, `public_key=${hex(2)}\nallowed_ip=10.0.0.7/24\nallowed_ip=10.0.9.0/24\nallowed_ip=10.0.9.0/24`);
    expect(ips(r.config, 0)).toEqual(["10.0.0.0/24", "10.0.1.0/24", "10.0.9.0/24"]);
    expect(r.changes.changed[0].allowedIpsAdded.map(formatCidr)).toEqual(["10.0.9.0/24"]);
    // Moving: 10.0.2.0/24 belongs to peer 3; giving it to peer 2 takes it away.
    r = ok(cfg, `public_key=${hex(2)}\nallowed_ip=10.0.2.0/24`);
    expect(ips(r.config, 0)).toEqual(["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]);
    expect(ips(r.config, 1)).toEqual([]);
    const moved = new Map(r.changes.changed.map((c) => [keyToHex(c.peer.publicKey), c]));
    expect(moved.get(hex(2))!.allowedIpsAdded.map(formatCidr)).toEqual(["10.0.2.0/24"]);
    expect(moved.get(hex(3))!.allowedIpsRemoved.map(formatCidr)).toEqual(["10.0.2.0/24"]);
    // Removing one: only the owner's removal counts.
    r = ok(cfg, `public_key=${hex(2)}\nallowed_ip=-10.0.1.0/24\nallowed_ip=-10.0.2.0/24\nallowed_ip=-10.9.9.9/32`);
    expect(ips(r.config, 0)).toEqual(["10.0.0.0/24"]);
    expect(ips(r.config, 1)).toEqual(["10.0.2.0/24"]);
    // Replacing, then adding back the same prefixes: no allowed-IP change at all.
    r = ok(cfg, `public_key=${hex(2)}\nreplace_allowed_ips=true\nallowed_ip=10.0.1.0/24\nallowed_ip=10.0.0.0/24`);
    expect(ips(r.config, 0)).toEqual(["10.0.1.0/24", "10.0.0.0/24"]);
    expect(r.changes.changed).toEqual([]);
    r = ok(cfg, `public_key=${hex(2)}\nreplace_allowed_ips=true`);
    expect(ips(r.config, 0)).toEqual([]);
    // After replace_allowed_ips, a re-added prefix moved from another peer still leaves that peer.
    r = ok(cfg, `public_key=${hex(3)}\nreplace_allowed_ips=true\npublic_key=${hex(2)}\nallowed_ip=10.0.2.0/24\npublic_key=${hex(3)}\nallowed_ip=10.0.0.0/24`);
    expect(ips(r.config, 0)).toEqual(["10.0.1.0/24", "10.0.2.0/24"]);
    expect(ips(r.config, 1)).toEqual(["10.0.0.0/24"]);
    refused(cfg, `public_key=${hex(2)}\nallowed_ip=10.0.0.0/8\nallowed_ip=300.1.1.1/33`, EINVAL, 'line 4: allowed_ip: expected ADDRESS/PREFIX with prefix 0-32 for IPv4, got "300.1.1.1/33"');
    refused(cfg, `public_key=${hex(2)}\nallowed_ip=-fe80::/129`, EINVAL, 'line 3: allowed_ip: expected ADDRESS/PREFIX with prefix 0-128 for IPv6, got "fe80::/129"');
    refused(cfg, `public_key=${hex(2)}\nreplace_allowed_ips=yes`, EINVAL, 'line 3: replace_allowed_ips: expected "true", got "yes"');
  });

  test("remove=true and update_only=true", () => {
    const cfg = base();
    let r = ok(cfg, `public_key=${hex(2)}\nremove=true\nendpoint=1.1.1.1:1\nallowed_ip=10.0.2.0/24`);
    expect(r.config.peers.map((p) => keyToHex(p.publicKey))).toEqual([hex(3)]);
    expect(ips(r.config, 0)).toEqual(["10.0.2.0/24"]); // lines after remove=true did nothing
    expect(r.changes.removed.map((p) => keyToHex(p.publicKey))).toEqual([hex(2)]);
    // Removing an unknown peer is not an error.
    expect(ok(cfg, `public_key=${hex(77)}\nremove=true`).config).toEqual(cfg);
    // update_only: a missing peer is skipped, an existing one is updated.
    r = ok(cfg, `public_key=${hex(77)}\nupdate_only=true\nallowed_ip=10.0.0.0/24\npublic_key=${hex(3)}\nupdate_only=true\nendpoint=1.1.1.1:1`);
    expect(r.config.peers.length).toBe(2);
    expect(ips(r.config, 0)).toEqual(["10.0.0.0/24", "10.0.1.0/24"]);
    expect(r.config.peers[1].endpoint).toEqual({ address: "1.1.1.1", port: 1, family: 4 });
    // Values after remove/update_only are still validated.
    refused(cfg, `public_key=${hex(2)}\nremove=true\nendpoint=nowhere`, EINVAL, /^line 4: endpoint: expected/);
    refused(cfg, `public_key=${hex(2)}\nremove=1`, EINVAL, 'line 3: remove: expected "true", got "1"');
    refused(cfg, `public_key=${hex(2)}\nupdate_only=false`, EINVAL, 'line 3: update_only: expected "true", got "false"');
    refused(cfg, `public_key=${hex(2).slice(2)}`, EINVAL, /^line 2: public_key: expected 64 hex digits/);
  });

  test("our own public key is ignored; a new private key drops the peer that has its public key", () => {
    const cfg = base();
    const own = keyToHex(derivePublicKey(key(1)));
    const r = ok(cfg, `public_key=${own}\nendpoint=1.1.1.1:1\nallowed_ip=10.0.0.0/24`);
    expect(r.config).toEqual(cfg);
    // A derive function given is used: here it says peer 3's key is ours.
    const r2 = applySet(cfg, [`public_key=${hex(3)}`, "endpoint=1.1.1.1:1"], { derivePublicKey: () => key(3) });
    expect(r2.ok && r2.config).toEqual(cfg);
    // Peer 3's key becomes our own: it goes.
    const peer3priv = key(300);
    const withPeer = ok(emptyDeviceConfig(), `public_key=${keyToHex(derivePublicKey(peer3priv))}\nallowed_ip=10.0.0.0/8`).config;
    const r3 = ok(withPeer, `private_key=${keyToHex(peer3priv)}`);
    expect(r3.config.peers).toEqual([]);
    expect(r3.changes.removed.length).toBe(1);
  });

  test("replace_peers and re-adding a peer keeps its identity, with the file's values", () => {
    const cfg = base();
    const r = ok(cfg, `replace_peers=true\npublic_key=${hex(3)}\nallowed_ip=10.0.2.0/24\npublic_key=${hex(4)}`);
    expect(r.changes.removed.map((p) => keyToHex(p.publicKey))).toEqual([hex(2)]);
    expect(r.changes.added.map((p) => keyToHex(p.publicKey))).toEqual([hex(4)]);
    expect(r.changes.changed.length).toBe(1);
    expect(r.changes.changed[0]).toMatchObject({ presharedKey: true, persistentKeepalive: true, endpoint: false, allowedIpsAdded: [], allowedIpsRemoved: [] });
    expect(r.config.peers[0]).toMatchObject({ presharedKey: null, persistentKeepalive: 0 });
    // Setting the same file twice: nothing changes the second time.
    const file = `replace_peers=true\npublic_key=${hex(3)}\npreshared_key=${hex(9)}\npersistent_keepalive_interval=25\nallowed_ip=10.0.2.0/24`;
    const again = ok(ok(cfg, file).config, file);
    expect(again.changes).toMatchObject({ added: [], removed: [], changed: [] });
  });

  test("untouched peers are shared with the old configuration", () => {
    const cfg = base();
    const r = ok(cfg, `public_key=${hex(3)}\nendpoint=1.1.1.1:1`);
    expect(r.config.peers[0]).toBe(cfg.peers[0]);
    expect(r.config.peers[1].allowedIps).toBe(cfg.peers[1].allowedIps);
    expect(diffConfigs(cfg, cfg)).toMatchObject({ added: [], removed: [], changed: [], privateKey: false });
  });
});

describe("get", () => {
  const stats = (pub: Uint8Array): PeerStats => ({
    lastHandshakeSec: 1_700_000_000 + pub[0], lastHandshakeNsec: 123456789, rxBytes: 1000 + pub[1], txBytes: 2 ** 60,
  });

  test("the standard answer, exactly", () => {
    let cfg = ok(base(), `fwmark=7\nbunwg_debug=true\npublic_key=${hex(2)}\nbunwg_description=hq\nendpoint=[2001:db8::9]:1`).config;
    const text = formatGet(cfg, stats, false);
    const k2 = key(2);
    expect(text).toBe([
      `private_key=${keyToHex(clampPrivateKey(key(1)))}`, "listen_port=51820", "fwmark=7",
      `public_key=${hex(2)}`, `preshared_key=${ZERO}`, "protocol_version=1", "endpoint=[2001:db8::9]:1",
      `last_handshake_time_sec=${1_700_000_000 + k2[0]}`, "last_handshake_time_nsec=123456789", "tx_bytes=1152921504606846976",
      `rx_bytes=${1000 + k2[1]}`, "persistent_keepalive_interval=0", "allowed_ip=10.0.0.0/24", "allowed_ip=10.0.1.0/24",
      `public_key=${hex(3)}`, `preshared_key=${hex(9)}`, "protocol_version=1",
      `last_handshake_time_sec=${1_700_000_000 + key(3)[0]}`, "last_handshake_time_nsec=123456789", "tx_bytes=1152921504606846976",
      `rx_bytes=${1000 + key(3)[1]}`, "persistent_keepalive_interval=25", "allowed_ip=10.0.2.0/24",
      "errno=0", "", "",
    ].join("\n"));
    expect(text).not.toContain("bunwg");
    const ext = formatGet(cfg, stats, true);
    expect(ext).toContain("\nbunwg_debug=true\nbunwg_rdomain=\n");
    expect(ext).toContain("persistent_keepalive_interval=0\nbunwg_description=hq\nallowed_ip=10.0.0.0/24");
    // Nothing configured: just the status; no private key, port or fwmark lines.
    expect(formatGet(emptyDeviceConfig(), noStats, false)).toBe("errno=0\n\n");
    cfg = { ...cfg, fwmark: 0 };
    expect(formatGet(cfg, stats, false)).not.toContain("fwmark");
  });

  test("a large answer comes in pieces of whole peers that concatenate to the answer", () => {
    const lines = Array.from({ length: 600 }, (_, i) => `public_key=${keyToHex(new Uint8Array(32).fill(0x5a).fill(i & 255, 0, 1).fill(i >> 8, 1, 2))}\nallowed_ip=10.${i >> 8}.${i & 255}.0/24`);
    const cfg = ok(base(), `replace_peers=true\n${lines.join("\n")}`).config;
    expect(cfg.peers.length).toBe(600);
    const pieces = [...formatGetPieces(cfg, stats, false, 256)];
    expect(pieces.length).toBe(3); // 256 + 256 + 88 peers, the last with the status
    for (const piece of pieces.slice(1)) expect(piece.startsWith("public_key=")).toBe(true);
    expect(pieces.at(-1)!.endsWith("\nerrno=0\n\n")).toBe(true);
    expect(pieces.join("")).toBe(formatGet(cfg, stats, false));
    const parsed = parseGet(pieces.join(""));
    if (!parsed.ok) throw new Error(parsed.message);
    expect(parsed.config.peers.map((p) => keyToHex(p.publicKey))).toEqual(cfg.peers.map((p) => keyToHex(p.publicKey)));
  });

  test("set → get → parse round trip", () => {
    const cfg = ok(base(), `bunwg_debug=true\nbunwg_rdomain=ns1\nfwmark=9\npublic_key=${hex(2)}\nbunwg_description=a = b\nallowed_ip=fd00::/8\nendpoint=[::ffff:10.1.1.1]:7`).config;
    const parsed = parseGet(formatGet(cfg, stats, true));
    if (!parsed.ok) throw new Error(parsed.message);
    expect(parsed.config).toEqual(cfg);
    expect(parsed.stats).toEqual(cfg.peers.map((p) => ({ ...stats(p.publicKey), txBytes: 1n << 60n })));
    const std = parseGet(formatGet(cfg, stats, false));
    expect(std.ok && std.config).toEqual({ ...cfg, debug: false, rdomain: "", peers: cfg.peers.map((p) => ({ ...p, description: "" })) });
  });

  test("parseGet errors", () => {
    expect(parseGet("errno=-22\n\n")).toEqual({ ok: false, errno: 22, message: "the daemon answered errno=-22" });
    expect(parseGet("errno=71\n\n")).toMatchObject({ ok: false, errno: 71 });
    expect(parseGet("listen_port=1\n")).toMatchObject({ ok: false, errno: EPROTO, message: "get answer: ended without an errno= line" });
    expect(parseGet("listen_port=x\nerrno=0\n\n")).toMatchObject({ ok: false, errno: EPROTO, message: 'get answer line 1: expected a port 0-65535, got "listen_port=x"' });
    expect(parseGet("unknown_future_key=1\nerrno=0\n\n")).toMatchObject({ ok: true });
    expect(parseGet("errno=0\n\nmore")).toMatchObject({ ok: false, errno: EPROTO });
  });

  test("errnoAnswer: negative after set, positive after get", () => {
    expect(errnoAnswer(0)).toBe("errno=0\n\n");
    expect(errnoAnswer(22)).toBe("errno=-22\n\n");
    expect(errnoAnswer(98, "set")).toBe("errno=-98\n\n");
    expect(errnoAnswer(22, "get")).toBe("errno=22\n\n");
    expect(errnoAnswer(71, "unknown")).toBe("errno=-71\n\n");
  });
});

describe("scale", () => {
  test("130,000 allowed IPs on one peer: parse, set, format, parse back", () => {
    const lines = [`public_key=${hex(2)}`];
    for (let i = 0; i < 130_000; i++) lines.push(`allowed_ip=${10 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}.0/24`);
    const bytes = enc.encode(`set=1\n${lines.join("\n")}\n\n`);
    let t = performance.now();
    const p = new RequestParser();
    const reqs: Request[] = [];
    for (let i = 0; i < bytes.length; i += 65536) reqs.push(...p.feed(bytes.subarray(i, i + 65536)));
    const r = applySet(emptyDeviceConfig(), (reqs[0] as { lines: string[] }).lines);
    const setMs = performance.now() - t;
    if (!r.ok) throw new Error(r.message);
    expect(r.config.peers[0].allowedIps.length).toBe(130_000);
    t = performance.now();
    const text = formatGet(r.config, noStats, false);
    const formatMs = performance.now() - t;
    expect(text.split("\n").length).toBe(8 + 130_000 + 3); // peer keys, allowed IPs, errno=0 and the empty line
    t = performance.now();
    const back = parseGet(text);
    const parseMs = performance.now() - t;
    expect(back.ok && back.config.peers[0].allowedIps.length).toBe(130_000);
    // A small change to a device this size stays cheap (nothing is copied but what changes) …
    t = performance.now();
    const small = ok(r.config, `public_key=${hex(2)}\nendpoint=1.2.3.4:5`);
    const smallMs = performance.now() - t;
    expect(small.config.peers[0].allowedIps).toBe(r.config.peers[0].allowedIps);
    // … and setting the same 130k again (as wg setconf does) is linear and reports no change.
    t = performance.now();
    const again = applySet(r.config, ["replace_peers=true", ...(reqs[0] as { lines: string[] }).lines]);
    const againMs = performance.now() - t;
    expect(again.ok && again.changes.changed).toEqual([]);
    console.log(`130k allowed IPs: frame+set ${setMs.toFixed(0)} ms, format ${formatMs.toFixed(0)} ms, parseGet ${parseMs.toFixed(0)} ms, small change ${smallMs.toFixed(1)} ms, same set again ${againMs.toFixed(0)} ms`);
    expect(setMs).toBeLessThan(2000);
    expect(formatMs).toBeLessThan(1000);
    expect(smallMs).toBeLessThan(50);
    expect(againMs).toBeLessThan(2000);
  });

  test("1,000 peers × 4 allowed IPs", () => {
    const lines: string[] = [];
    for (let i = 0; i < 1000; i++) {
      lines.push(`public_key=${keyToHex(key(1000 + i))}`, `endpoint=198.51.${i >>> 8}.${i & 255}:51820`, "persistent_keepalive_interval=25");
      lines.push(`allowed_ip=10.${i >>> 8}.${i & 255}.0/24`, `allowed_ip=172.16.${i >>> 8}.${i & 255}/32`, `allowed_ip=fd00::${i.toString(16)}:0/112`, `allowed_ip=2001:db8:${i.toString(16)}::/48`);
    }
    const t = performance.now();
    const r = applySet(emptyDeviceConfig(), lines);
    if (!r.ok) throw new Error(r.message);
    const text = formatGet(r.config, noStats, true);
    const back = parseGet(text);
    const ms = performance.now() - t;
    expect(r.config.peers.length).toBe(1000);
    expect(back.ok && back.config).toEqual(r.config);
    expect(ms).toBeLessThan(2000);
  });
});

// ---- wg(8) against our parser and answers, through a socket it believes is a daemon's --------------------------

const WG = Bun.which("wg");
const realWg = isRoot && WG ? describe : describe.skip;
if (!isRoot || !WG) console.log(`skipping the wg(8) checks: ${!isRoot ? "they need root (/var/run/wireguard)" : "wg(8) is not installed"}`);

interface FakeDaemon {
  name: string;
  config: DeviceConfig;
  received: string[]; // every request as text
  stats: (pub: Uint8Array) => PeerStats;
}

async function withFakeDaemon(fn: (d: FakeDaemon) => Promise<void>): Promise<void> {
  const d: FakeDaemon = { name: `bwg${uniqueTag()}`, config: emptyDeviceConfig(), received: [], stats: noStats };
  mkdirSync(SOCKET_DIR, { recursive: true, mode: 0o755 });
  const path = socketPath(d.name);
  const server = Bun.listen<{ parser: RequestParser }>({
    unix: path,
    socket: {
      open(s) { s.data = { parser: new RequestParser() }; },
      data(s, chunk) {
        for (const req of s.data.parser.feed(chunk)) {
          if (req.kind === "get") {
            d.received.push(req.extensions ? "get=bunwg\n" : "get=1\n");
            s.write(formatGet(d.config, d.stats, req.extensions));
          } else if (req.kind === "set") {
            d.received.push(["set=1", ...req.lines, ""].join("\n"));
            const r = applySet(d.config, req.lines);
            if (r.ok) d.config = r.config;
            s.write(errnoAnswer(r.ok ? 0 : r.errno, "set"));
          } else {
            s.write(errnoAnswer(req.errno, req.op));
            if (req.close) s.end();
          }
        }
      },
    },
  });
  try {
    await fn(d);
  } finally {
    server.stop(true);
    try { unlinkSync(path); } catch { /* already gone */ }
  }
}

const b64 = (k: Uint8Array) => Buffer.from(k).toString("base64");
const wg = (...args: string[]) => run([WG!, ...args], { check: false, timeoutMs: 10_000 });

realWg("wg(8) drives our protocol code", () => {
  test("setconf sends what the file says; showconf and show dump print what we answer", async () => {
    await withFakeDaemon(async (d) => {
      const priv = clampPrivateKey(key(1));
      const p2 = derivePublicKey(key(2)), p3 = derivePublicKey(key(3)), p4 = derivePublicKey(key(4));
      // In showconf's own layout, so its output can be compared with the file.
      const file = [
        "[Interface]", "ListenPort = 51820", "FwMark = 0x1234", `PrivateKey = ${b64(priv)}`, "",
        "[Peer]", `PublicKey = ${b64(p2)}`, `PresharedKey = ${b64(key(9))}`, "AllowedIPs = 10.0.0.0/24, fd00::/64",
        "Endpoint = 192.0.2.1:51820", "PersistentKeepalive = 25", "",
        "[Peer]", `PublicKey = ${b64(p3)}`, "AllowedIPs = 10.0.1.0/24", "Endpoint = [2001:db8::1]:4500", "",
        "[Peer]", `PublicKey = ${b64(p4)}`, "",
      ].join("\n");
      const dir = mkdtempSync(join(tmpdir(), "bwg-uapi-"));
      try {
        writeFileSync(join(dir, "wg.conf"), file);
        const r = await wg("setconf", d.name, join(dir, "wg.conf"));
        expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      expect(d.received).toEqual([[
        "set=1", `private_key=${keyToHex(priv)}`, "listen_port=51820", "fwmark=4660", "replace_peers=true",
        `public_key=${keyToHex(p2)}`, `preshared_key=${keyToHex(key(9))}`, "endpoint=192.0.2.1:51820",
        "persistent_keepalive_interval=25", "replace_allowed_ips=true", "allowed_ip=10.0.0.0/24", "allowed_ip=fd00::/64",
        `public_key=${keyToHex(p3)}`, "endpoint=[2001:db8::1]:4500", "replace_allowed_ips=true", "allowed_ip=10.0.1.0/24",
        `public_key=${keyToHex(p4)}`, "replace_allowed_ips=true", "",
      ].join("\n")]);
      expect(d.config.peers.length).toBe(3);

      const show = await wg("showconf", d.name);
      expect(show.stderr).toBe("");
      expect(show.stdout).toBe(file);

      d.stats = (pub) => ({ lastHandshakeSec: 1_700_000_000 + pub[0], lastHandshakeNsec: 5, rxBytes: 1234, txBytes: 2 ** 40 });
      const dump = await wg("show", d.name, "dump");
      expect(dump.stdout).toBe([
        [b64(priv), b64(derivePublicKey(priv)), "51820", "0x1234"].join("\t"),
        [b64(p2), b64(key(9)), "192.0.2.1:51820", "10.0.0.0/24,fd00::/64", String(1_700_000_000 + p2[0]), "1234", String(2 ** 40), "25"].join("\t"),
        [b64(p3), "(none)", "[2001:db8::1]:4500", "10.0.1.0/24", String(1_700_000_000 + p3[0]), "1234", String(2 ** 40), "off"].join("\t"),
        [b64(p4), "(none)", "(none)", "(none)", String(1_700_000_000 + p4[0]), "1234", String(2 ** 40), "off"].join("\t"),
        "",
      ].join("\n"));
    });
  });

  test("wg set: lines received, and our refusal printed as wg prints errno", async () => {
    await withFakeDaemon(async (d) => {
      const p2 = derivePublicKey(key(2));
      let r = await wg("set", d.name, "listen-port", "0", "peer", b64(p2), "allowed-ips", "10.9.0.0/24,10.8.0.0/16", "persistent-keepalive", "off");
      expect(r.code).toBe(0);
      r = await wg("set", d.name, "peer", b64(p2), "remove");
      expect(r.code).toBe(0);
      expect(d.received).toEqual([
        ["set=1", "listen_port=0", `public_key=${keyToHex(p2)}`, "persistent_keepalive_interval=0", "replace_allowed_ips=true",
          "allowed_ip=10.9.0.0/24", "allowed_ip=10.8.0.0/16", ""].join("\n"),
        ["set=1", `public_key=${keyToHex(p2)}`, "remove=true", ""].join("\n"),
      ]);
      expect(d.config.peers).toEqual([]);

      // wg accepts a scoped endpoint; we refuse it with EINVAL, and wg must say "Invalid argument".
      const before = structuredClone(d.config);
      r = await wg("set", d.name, "fwmark", "5", "peer", b64(p2), "endpoint", "[fe80::1%lo]:51820");
      expect(r.code).toBe(1);
      expect(r.stderr).toBe("Unable to modify interface: Invalid argument\n");
      expect(d.config).toEqual(before);
      expect(d.received.at(-1)).toContain("endpoint=[fe80::1%lo]:51820");

      // A get that an empty device answers.
      r = await wg("show", d.name, "dump");
      expect(r).toEqual({ code: 0, stdout: "(none)\t(none)\t0\toff\n", stderr: "" });
    });
  });
});
