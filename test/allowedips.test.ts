import { describe, expect, test } from "bun:test";
import { AllowedIps } from "../src/device/allowedips.ts";
import { formatCidr, formatIp, parseCidr, parseIp, tryParseCidr, type AllowedIp } from "../src/text/codec.ts";

// Deterministic PRNG (xorshift32) so failures reproduce.
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
  return { next, int: (n: number) => next() % n, bytes: (n: number) => Uint8Array.from({ length: n }, () => next() & 255) };
}

function masked(addr: Uint8Array, cidr: number): Uint8Array {
  const a = addr.slice();
  for (let i = 0; i < a.length; i++) {
    const keep = cidr - 8 * i;
    if (keep < 8) a[i] = keep <= 0 ? 0 : a[i] & (0xff00 >>> keep);
  }
  return a;
}

function prefixMatches(addr: Uint8Array, p: AllowedIp): boolean {
  if (addr.length !== p.addr.length) return false;
  for (let i = 0, bits = p.cidr; bits > 0; i++, bits -= 8) {
    const m = bits >= 8 ? 0xff : 0xff00 >>> bits;
    if ((addr[i] & m) !== p.addr[i]) return false;
  }
  return true;
}

// The reference: a list scanned linearly, plus per-value insertion order, with wg's ownership rules.
class Brute<T> {
  owner = new Map<string, { p: AllowedIp; v: T }>();
  order = new Map<T, Map<string, AllowedIp>>();
  key = (a: Uint8Array, c: number) => `${formatIp(masked(a, c))}/${c}`;
  insert(addr: Uint8Array, cidr: number, v: T) {
    const k = this.key(addr, cidr);
    const prev = this.owner.get(k);
    if (prev && prev.v === v) return;
    if (prev) this.order.get(prev.v)!.delete(k);
    const p = { addr: masked(addr, cidr), cidr };
    this.owner.set(k, { p, v });
    if (!this.order.has(v)) this.order.set(v, new Map());
    this.order.get(v)!.set(k, p);
  }
  remove(addr: Uint8Array, cidr: number, v: T) {
    const k = this.key(addr, cidr);
    const prev = this.owner.get(k);
    if (!prev || prev.v !== v) return false;
    this.owner.delete(k);
    this.order.get(v)!.delete(k);
    return true;
  }
  removeValue(v: T) {
    for (const k of this.order.get(v)?.keys() ?? []) this.owner.delete(k);
    this.order.delete(v);
  }
  lookup(addr: Uint8Array): T | undefined {
    let best = -1, val: T | undefined;
    for (const { p, v } of this.owner.values()) {
      if (p.cidr > best && prefixMatches(addr, p)) { best = p.cidr; val = v; }
    }
    return val;
  }
  entries(v: T) { return [...(this.order.get(v)?.values() ?? [])]; }
}

function randomized(family: 4 | 6, seed: number, nPrefixes: number, nLookups: number) {
  const r = rng(seed);
  const len = family === 4 ? 4 : 16;
  const maxBits = len * 8;
  // Few roots so prefixes nest and collide; cidr biased to the interesting range.
  const roots = Array.from({ length: 12 }, () => r.bytes(len));
  const peers = Array.from({ length: 16 }, (_, i) => ({ name: `peer${i}` }));
  const randAddr = () => {
    const a = roots[r.int(roots.length)].slice();
    const flips = r.int(4);
    for (let i = 0; i < flips; i++) a[r.int(len)] ^= 1 << r.int(8);
    return r.int(10) === 0 ? r.bytes(len) : a;
  };
  const randCidr = () => (r.int(20) === 0 ? r.int(maxBits + 1) : r.int(20) === 0 ? maxBits : Math.max(0, maxBits - r.int(maxBits / 2 + 1)));
  const t = new AllowedIps<{ name: string }>();
  const b = new Brute<{ name: string }>();
  const inserted: Array<[Uint8Array, number]> = [];
  for (let i = 0; i < nPrefixes; i++) {
    const a = randAddr(), c = randCidr(), v = peers[r.int(peers.length)];
    t.insert(a, c, v);
    b.insert(a, c, v);
    inserted.push([a, c]);
    // Re-insert an earlier prefix for another peer now and then: moves it.
    if (r.int(8) === 0) {
      const [pa, pc] = inserted[r.int(inserted.length)];
      const pv = peers[r.int(peers.length)];
      t.insert(pa, pc, pv);
      b.insert(pa, pc, pv);
    }
  }
  const check = () => {
    const buf = new Uint8Array(len + 7);
    for (let i = 0; i < nLookups; i++) {
      const a = randAddr();
      buf.set(a, 7);
      const want = b.lookup(a);
      const got = family === 4 ? t.lookupV4(buf, 7) : t.lookupV6(buf, 7);
      if (got !== want) throw new Error(`lookup ${formatIp(a)}: got ${got?.name}, want ${want?.name}`);
    }
    for (const p of peers) {
      expect(t.entries(p).map(formatCidr)).toEqual(b.entries(p).map(formatCidr));
    }
    expect(t.size).toBe(b.owner.size);
  };
  check();
  // Removals: by the owner (effective) and by someone else (no-op), then whole values.
  for (let i = 0; i < nPrefixes / 2; i++) {
    const [a, c] = inserted[r.int(inserted.length)];
    const v = peers[r.int(peers.length)];
    const owner = b.owner.get(b.key(a, c))?.v;
    const who = r.int(2) === 0 && owner ? owner : v;
    expect(t.remove(a, c, who)).toBe(b.remove(a, c, who));
  }
  check();
  for (let i = 0; i < 5; i++) {
    const v = peers[r.int(peers.length)];
    t.removeValue(v);
    b.removeValue(v);
  }
  check();
  // Re-fill after removals: exercises re-creating nodes where glue was pruned.
  for (let i = 0; i < nPrefixes / 2; i++) {
    const a = randAddr(), c = randCidr(), v = peers[r.int(peers.length)];
    t.insert(a, c, v);
    b.insert(a, c, v);
  }
  check();
  for (const p of peers) { t.removeValue(p); b.removeValue(p); }
  check();
  expect(t.size).toBe(0);
  // Pruning left no branching nodes behind.
  expect(Reflect.get(t, family === 4 ? "root4" : "root6")).toBeNull();
}

describe("AllowedIps against a linear longest-prefix matcher", () => {
  // 3000 prefixes put the IPv4 table over the jump-index threshold (1024); 500 keep it under.
  for (const seed of [1, 2, 3]) {
    test(`IPv4, seed ${seed}`, () => randomized(4, seed, 3000, 3000));
    test(`IPv6, seed ${seed}`, () => randomized(6, seed * 7919, 3000, 3000));
  }
  test("IPv4, small table", () => randomized(4, 42, 500, 3000));
});

describe("AllowedIps edge cases", () => {
  const A = { n: "A" }, B = { n: "B" }, C = { n: "C" };
  const ip = (s: string) => parseIp(s)!;

  test("/0 matches everything of its family only", () => {
    const t = new AllowedIps<object>();
    t.insert(ip("0.0.0.0"), 0, A);
    expect(t.lookup(ip("255.255.255.255"))).toBe(A);
    expect(t.lookup(ip("0.0.0.0"))).toBe(A);
    expect(t.lookup(ip("::1"))).toBeUndefined();
    t.insert(ip("::"), 0, B);
    expect(t.lookup(ip("ffff::1"))).toBe(B);
    expect(t.lookup(ip("1.2.3.4"))).toBe(A);
    t.insert(ip("1.2.3.4"), 32, C);
    expect(t.lookup(ip("1.2.3.4"))).toBe(C);
    expect(t.lookup(ip("1.2.3.5"))).toBe(A);
    expect(t.remove(ip("1.2.3.4"), 32, C)).toBe(true);
    expect(t.lookup(ip("1.2.3.4"))).toBe(A);
  });

  test("/32 and /128 are exact; host bits are ignored on insert and remove", () => {
    const t = new AllowedIps<object>();
    t.insert(ip("10.1.2.3"), 24, A);
    expect(t.entries(A).map(formatCidr)).toEqual(["10.1.2.0/24"]);
    t.insert(ip("10.1.2.3"), 32, B);
    t.insert(ip("2001:db8::1"), 128, C);
    expect(t.lookup(ip("10.1.2.3"))).toBe(B);
    expect(t.lookup(ip("10.1.2.4"))).toBe(A);
    expect(t.lookup(ip("10.1.3.3"))).toBeUndefined();
    expect(t.lookup(ip("2001:db8::1"))).toBe(C);
    expect(t.lookup(ip("2001:db8::2"))).toBeUndefined();
    expect(t.remove(ip("10.1.2.99"), 24, A)).toBe(true);
    expect(t.lookup(ip("10.1.2.4"))).toBeUndefined();
    expect(t.lookup(ip("10.1.2.3"))).toBe(B);
  });

  test("an existing prefix moves to the new value; remove only by its owner", () => {
    const t = new AllowedIps<object>();
    t.insert(ip("192.168.0.0"), 16, A);
    t.insert(ip("192.168.1.0"), 24, A);
    t.insert(ip("192.168.0.0"), 16, B);
    expect(t.entries(A).map(formatCidr)).toEqual(["192.168.1.0/24"]);
    expect(t.entries(B).map(formatCidr)).toEqual(["192.168.0.0/16"]);
    expect(t.lookup(ip("192.168.2.1"))).toBe(B);
    expect(t.remove(ip("192.168.0.0"), 16, A)).toBe(false);
    expect(t.lookup(ip("192.168.2.1"))).toBe(B);
    expect(t.owner(ip("192.168.0.0"), 16)).toBe(B);
    expect(t.owner(ip("192.168.0.0"), 17)).toBeUndefined();
    // Re-inserting for the same owner keeps its place in the order.
    t.insert(ip("192.168.1.0"), 24, A);
    t.insert(ip("10.0.0.0"), 8, A);
    t.insert(ip("192.168.1.0"), 24, A);
    expect(t.entries(A).map(formatCidr)).toEqual(["192.168.1.0/24", "10.0.0.0/8"]);
    t.removeValue(A);
    expect(t.entries(A)).toEqual([]);
    expect(t.lookup(ip("192.168.1.1"))).toBe(B);
    expect(t.lookup(ip("10.1.1.1"))).toBeUndefined();
  });

  test("lookups read straight from a packet buffer at an offset", () => {
    const t = new AllowedIps<object>();
    t.insert(ip("10.0.0.0"), 8, A);
    t.insert(ip("fd00::"), 8, B);
    const v4 = new Uint8Array(20);
    v4.set([10, 9, 8, 7], 12); // source address of an IPv4 header
    expect(t.lookupV4(v4, 12)).toBe(A);
    expect(t.lookupV4(v4, 16)).toBeUndefined();
    const v6 = new Uint8Array(40);
    v6.set(ip("fd12::5"), 24); // destination address of an IPv6 header
    expect(t.lookupV6(v6, 24)).toBe(B);
    expect(t.lookupV6(v6, 8)).toBeUndefined();
  });

  test("bad arguments throw", () => {
    const t = new AllowedIps<object>();
    expect(() => t.insert(new Uint8Array(5), 1, A)).toThrow("expected a 4- or 16-byte address, got 5 bytes");
    expect(() => t.insert(new Uint8Array(4), 33, A)).toThrow("expected a prefix length 0-32, got 33");
    expect(() => t.insert(new Uint8Array(16), -1, A)).toThrow("expected a prefix length 0-128, got -1");
  });

  test("130,000 prefixes on one peer, and 1,000 peers × 4", () => {
    const t = new AllowedIps<object>();
    const P = { n: "big" };
    const a = new Uint8Array(4);
    let t0 = performance.now();
    for (let i = 0; i < 130_000; i++) {
      a[0] = 10 + (i >>> 16); a[1] = i >>> 8; a[2] = i; a[3] = 0;
      t.insert(a, 24, P);
    }
    const insertMs = performance.now() - t0;
    expect(t.size).toBe(130_000);
    expect(insertMs).toBeLessThan(1000);
    const buf = new Uint8Array([11, 1, 2, 3]);
    expect(t.lookupV4(buf, 0)).toBe(P);
    t0 = performance.now();
    t.removeValue(P);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(t.size).toBe(0);

    const peers = Array.from({ length: 1000 }, (_, i) => ({ i }));
    const r = rng(99);
    t0 = performance.now();
    for (const p of peers) {
      t.insert(Uint8Array.of(10, p.i >>> 8, p.i, 0), 24, p);
      t.insert(Uint8Array.of(172, 16, p.i >>> 8, p.i), 32, p);
      t.insert(Uint8Array.from([0xfd, 0, 0, 0, 0, 0, p.i >>> 8, p.i, ...r.bytes(8)]), 64, p);
      t.insert(Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, p.i >>> 8, p.i, ...r.bytes(10)]), 48, p);
    }
    expect(performance.now() - t0).toBeLessThan(500);
    expect(t.lookup(Uint8Array.of(10, 3, 231, 77))).toBe(peers[999]);
    expect(t.lookup(Uint8Array.of(172, 16, 1, 244))).toBe(peers[500]);
    expect(t.entries(peers[7]).length).toBe(4);
  });
});

describe("address and prefix text", () => {
  test("parseCidr clears host bits and accepts IPv6 forms", () => {
    const cases: Array<[string, string]> = [
      ["10.0.0.1/24", "10.0.0.0/24"],
      ["0.0.0.0/0", "0.0.0.0/0"],
      ["255.255.255.255/32", "255.255.255.255/32"],
      ["1.2.3.4/0", "0.0.0.0/0"],
      ["::/0", "::/0"],
      ["::1/128", "::1/128"],
      ["2001:DB8::1/32", "2001:db8::/32"],
      ["2001:db8:0:0:1:0:0:1/128", "2001:db8::1:0:0:1/128"],
      ["2001:0db8:0000:0000:0000:0000:0000:0001/128", "2001:db8::1/128"],
      ["fe80::1:2:3:4/64", "fe80::/64"],
      ["::ffff:1.2.3.4/128", "::ffff:1.2.3.4/128"],
      ["::ffff:1.2.3.4/104", "::ffff:1.0.0.0/104"],
      ["64:ff9b::192.0.2.33/128", "64:ff9b::c000:221/128"],
      ["1:0:0:1:0:0:0:1/128", "1:0:0:1::1/128"],
      ["1:0:1:0:1:0:1:0/128", "1:0:1:0:1:0:1:0/128"],
      ["0:0:1::/48", "0:0:1::/48"],
      ["0:0:1::/32", "::/32"],
      ["1::/16", "1::/16"],
    ];
    for (const [input, want] of cases) expect(formatCidr(parseCidr(input))).toBe(want);
  });

  test("parseCidr errors name the text and what was expected", () => {
    expect(() => parseCidr("300.1.1.1/33")).toThrow('allowed IP: expected ADDRESS/PREFIX with prefix 0-32 for IPv4, got "300.1.1.1/33"');
    expect(() => parseCidr("fe80::1/129")).toThrow('allowed IP: expected ADDRESS/PREFIX with prefix 0-128 for IPv6, got "fe80::1/129"');
    const bad = [
      "10.0.0.1", "10.0.0.1/", "10.0.0.1/33", "10.0.0.1/024", "10.0.0.1/+4", "10.0.0.1/-1", "10.0.0/8", "10.0.0.0.0/8",
      "010.0.0.0/8", "a.b.c.d/8", "1.2.3.4 /8", "/8", "1::2::3/64", ":1::/64", "1:::2/64", "12345::/16", "1:2:3:4:5:6:7:8:9/128",
      "1:2:3:4:5:6:7/128", "fe80::1%eth0/64", "::1.2.3/128", "1.2.3.4::/64", "g::/16", "::ffff:1.2.3.4:5/128", "",
    ];
    for (const b of bad) expect(typeof tryParseCidr(b)).toBe("string");
  });

  test("formatIp follows RFC 5952", () => {
    expect(formatIp(parseIp("0:0:0:0:0:0:0:0")!)).toBe("::");
    expect(formatIp(parseIp("1:0:0:2:0:0:0:3")!)).toBe("1:0:0:2::3");
    expect(formatIp(parseIp("1:0:0:2:0:0:3:4")!)).toBe("1::2:0:0:3:4");
    expect(formatIp(parseIp("1:2:3:4:5:6:7:0")!)).toBe("1:2:3:4:5:6:7:0");
    expect(formatIp(parseIp("1:0:3:4:5:6:7:8")!)).toBe("1:0:3:4:5:6:7:8");
    expect(formatIp(parseIp("::ffff:0a00:0001")!)).toBe("::ffff:10.0.0.1");
    expect(parseIp("1.2.3.4")).toEqual(Uint8Array.of(1, 2, 3, 4));
    expect(parseIp("1.2.3.256")).toBeNull();
  });
});
