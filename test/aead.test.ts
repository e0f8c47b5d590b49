// ChaCha20-Poly1305 (whitepaper §5.4, RFC 8439): the Zig backend, every CPU variant this machine runs, against the
// RFC vectors and against @noble/ciphers on random packets, batches, keys and counters; forged packets are rejected
// without releasing plaintext. Likewise XChaCha20-Poly1305 (§5.4 XAEAD, cookie replies) against
// draft-irtf-cfrg-xchacha-03 and @noble/ciphers.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chacha20poly1305, xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { loadAead, nobleAead, zigAead, type Aead } from "../src/crypto/aead.ts";
import { nobleXAead, zigXAead } from "../src/crypto/xchacha.ts";
import type { XAead } from "../src/noise/crypto.ts";
import { loadNative, type Native } from "../src/native/lib.ts";
import { cpuFlags, supportedVariants, variantsFor, type Variant } from "../src/native/variants.ts";

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

// RFC 8439 §2.8.2
const V282 = {
  key: hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"),
  nonce: hex("070000004041424344454647"),
  ad: hex("50515253c0c1c2c3c4c5c6c7"),
  pt: new TextEncoder().encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  ),
  ct: hex(
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b29" +
      "05d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116",
  ),
  tag: hex("1ae10b594f09e26a7e902ecbd0600691"),
};

// RFC 8439 Appendix A.5: its nonce 00000000 ‖ 0102030405060708 is WireGuard's form with counter 0x0807060504030201.
const VA5 = {
  key: hex("1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0"),
  counter: 0x0807060504030201n,
  ad: hex("f33388860000000000004e91"),
  ct: hex(
    "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100" +
      "d4f03b7f355894cf332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c8559797a06ef4f0ef61c186324e2b350638" +
      "3606907b6a7c02b0f9f6157b53c867e4b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523eaf4534d7f83fa115" +
      "5b0047718cbc546a0d072b04b3564eea1b422273f548271a0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10" +
      "49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29a6ad5cb4022b02709b",
  ),
  tag: hex("eead9d67890cbb22392336fea1851f38"),
  ptStart: "Internet-Drafts are draft documents valid for a maximum of six months",
};

// Deterministic random bytes (xorshift128+), so a failure reproduces; the seed is printed in failure messages.
function rng(seed: number) {
  let a = BigInt(seed) | 1n;
  let b = 0x9e3779b97f4a7c15n ^ BigInt(seed);
  const M = (1n << 64n) - 1n;
  const next = () => {
    let x = a;
    const y = b;
    a = y;
    x ^= (x << 23n) & M;
    b = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    return (b + y) & M;
  };
  return {
    u64: next,
    int: (n: number) => Number(next() % BigInt(n)),
    fill(buf: Uint8Array) {
      for (let i = 0; i < buf.length; i += 8) {
        let v = next();
        for (let j = 0; j < 8 && i + j < buf.length; j++, v >>= 8n) buf[i + j] = Number(v & 0xffn);
      }
      return buf;
    },
  };
}

const noble = nobleAead();

// Random transport batches and their noble-sealed form, made once and shared by every variant.
const TRANSPORT_SEED = 4242;
interface TransportCase {
  n: number;
  offs: Uint32Array;
  lens: Uint32Array;
  openLens: Uint32Array;
  keys: Uint8Array;
  keyIdx: Uint16Array;
  plain: Uint8Array;
  sealed: Uint8Array;
}
let transportCache: TransportCase[] | undefined;
function transportCases(): TransportCase[] {
  if (transportCache) return transportCache;
  const r = rng(TRANSPORT_SEED);
  const cases: TransportCase[] = [];
  let packets = 0;
  for (let round = 1; packets < 10_000; round++) {
    const n = round % 10 === 0 ? 128 : 1 + r.int(128);
    const nkeys = 1 + r.int(6);
    const keys = r.fill(new Uint8Array(32 * nkeys));
    const offs = new Uint32Array(n);
    const lens = new Uint32Array(n);
    const openLens = new Uint32Array(n);
    const keyIdx = new Uint16Array(n);
    let at = r.int(5);
    for (let i = 0; i < n; i++) {
      offs[i] = at;
      lens[i] = i % 17 === 0 ? 0 : r.int(1601);
      openLens[i] = lens[i] + 16;
      keyIdx[i] = r.int(nkeys);
      at += 16 + lens[i] + 16 + r.int(3);
    }
    const plain = r.fill(new Uint8Array(at + r.int(20)));
    const dv = new DataView(plain.buffer);
    for (let i = 0; i < n; i++) {
      // Counters small, around 2^32 (word carry), random u64 and near 2^64.
      const k = r.int(4);
      const counter = k === 0 ? r.u64() : k === 1 ? (1n << 64n) - 1n - BigInt(r.int(3)) : k === 2 ? BigInt(r.int(1000)) : (1n << 32n) + BigInt(r.int(100));
      plain[offs[i]] = 4;
      dv.setBigUint64(offs[i] + 8, counter, true);
    }
    const sealed = plain.slice();
    noble.sealTransport(n, sealed, offs, lens, keys, keyIdx);
    // noble opens its own output (the reference is self-consistent).
    const check = sealed.slice();
    const ok = new Uint8Array(n);
    noble.openTransport(n, check, offs, openLens, keys, keyIdx, ok);
    if (!ok.every((x) => x === 1)) throw new Error(`seed ${TRANSPORT_SEED} round ${round}: noble cannot open its own packets`);
    cases.push({ n, offs, lens, openLens, keys, keyIdx, plain, sealed });
    packets += n;
  }
  transportCache = cases;
  return cases;
}
const variants = variantsFor();
const supported = new Set(supportedVariants().map((v) => v.id));

test("loadAead picks the Zig library for this CPU", () => {
  const a = loadAead();
  expect(a.backend).toStartWith(`zig ${supportedVariants()[0].label.replace(/\)$/, "")}`);
});

test("noble reference: RFC 8439 §2.8.2", () => {
  const out = chacha20poly1305(V282.key, V282.nonce, V282.ad).encrypt(V282.pt);
  expect(toHex(out)).toBe(toHex(V282.ct) + toHex(V282.tag));
});

// The v4 build picks Poly1305 on AVX-512 IFMA at run time where the CPU has it: test it with and without.
type Config = { v: Variant; ifma: boolean | null };
const configs: Config[] = variants.flatMap((v): Config[] =>
  v.id === "x86_64_v4" ? [{ v, ifma: true }, { v, ifma: false }] : [{ v, ifma: null }],
);

for (const { v, ifma } of configs) {
  const title = `zig ${v.label}${ifma === true ? " + IFMA" : ifma === false ? " without IFMA" : ""}`;
  const why = !supported.has(v.id) ? `this CPU lacks ${v.needs.join("/")}` : ifma === true && !cpuFlags().has("avx512ifma") ? "this CPU lacks avx512ifma" : null;
  if (why) console.log(`aead: skipping ${title}: ${why}`);
  (why ? describe.skip : describe)(title, () => {
    let native: Native | undefined;
    let zig: Aead | undefined;
    beforeAll(() => {
      native = loadNative(v.id);
      if (ifma !== null) expect(native.sym.bunwg_poly_ifma(ifma ? 1 : 0)).toBe(ifma ? 1 : 0);
      zig = zigAead(native);
      if (ifma !== null) expect(zig.backend.includes("IFMA")).toBe(ifma);
    });
    afterAll(() => {
      if (ifma !== null) native?.sym.bunwg_poly_ifma(1);
    });
    const get = () => ({ native: native!, zig: zig! });

    test("RFC 8439 §2.8.2 seal and open with AD", () => {
      const { native } = get();
      const out = new Uint8Array(V282.pt.length + 16);
      native.sym.bunwg_chachapoly_seal(V282.key, V282.nonce, V282.pt, V282.pt.length, V282.ad, V282.ad.length, out);
      expect(toHex(out)).toBe(toHex(V282.ct) + toHex(V282.tag));
      const back = new Uint8Array(V282.pt.length);
      expect(native.sym.bunwg_chachapoly_open(V282.key, V282.nonce, out, out.length, V282.ad, V282.ad.length, back)).toBe(1);
      expect(toHex(back)).toBe(toHex(V282.pt));
      out[5] ^= 0x20;
      back.fill(0xaa);
      expect(native.sym.bunwg_chachapoly_open(V282.key, V282.nonce, out, out.length, V282.ad, V282.ad.length, back)).toBe(0);
      expect(back.every((b) => b === 0xaa)).toBe(true);
    });

    test("RFC 8439 A.5 open with WireGuard's nonce (counter 0x0807060504030201)", () => {
      const { native } = get();
      const ct = new Uint8Array([...VA5.ct, ...VA5.tag]);
      const pt = new Uint8Array(VA5.ct.length);
      expect(native.sym.bunwg_aead_open(VA5.key, VA5.counter, ct, ct.length, VA5.ad, VA5.ad.length, pt)).toBe(1);
      expect(new TextDecoder().decode(pt).startsWith(VA5.ptStart)).toBe(true);
      const again = new Uint8Array(ct.length);
      native.sym.bunwg_aead_seal(VA5.key, VA5.counter, pt, pt.length, VA5.ad, VA5.ad.length, again);
      expect(toHex(again)).toBe(toHex(ct));
    });

    test("single seal/open with AD equals noble (1,000 random cases, in place too)", () => {
      const { zig } = get();
      const seed = 1000 + v.id.length;
      const r = rng(seed);
      const nonce = new Uint8Array(12);
      for (let i = 0; i < 1000; i++) {
        const key = r.fill(new Uint8Array(32));
        const counter = i % 3 === 0 ? Number.MAX_SAFE_INTEGER - r.int(1000) : r.int(2 ** 32);
        const pt = r.fill(new Uint8Array(r.int(i < 500 ? 200 : 2100)));
        const ad = r.fill(new Uint8Array(r.int(80)));
        new DataView(nonce.buffer).setBigUint64(4, BigInt(counter), true);
        const want = chacha20poly1305(key, nonce, ad).encrypt(pt);
        const out = new Uint8Array(pt.length + 16);
        zig.seal(key, counter, pt, ad, out);
        if (toHex(out) !== toHex(want)) throw new Error(`seed ${seed} case ${i}: seal differs (len ${pt.length}, ad ${ad.length}, counter ${counter})`);
        // In place: plaintext in the output buffer itself.
        const inPlace = new Uint8Array(pt.length + 16);
        inPlace.set(pt);
        zig.seal(key, counter, inPlace.subarray(0, pt.length), ad, inPlace);
        expect(toHex(inPlace)).toBe(toHex(want));
        const back = new Uint8Array(pt.length);
        expect(zig.open(key, counter, want, ad, back)).toBe(true);
        expect(toHex(back)).toBe(toHex(pt));
        expect(zig.open(key, counter, inPlace, ad, inPlace)).toBe(true);
        expect(toHex(inPlace.subarray(0, pt.length))).toBe(toHex(pt));
      }
    }, 30_000);

    test("tampered ciphertext, tag, AD or counter is rejected and out stays untouched", () => {
      const { zig } = get();
      const r = rng(77);
      for (let i = 0; i < 200; i++) {
        const key = r.fill(new Uint8Array(32));
        const pt = r.fill(new Uint8Array(1 + r.int(1500)));
        const ad = r.fill(new Uint8Array(32));
        const ct = new Uint8Array(pt.length + 16);
        zig.seal(key, i, pt, ad, ct);
        const out = new Uint8Array(pt.length).fill(0x5c);
        const bad = ct.slice();
        bad[r.int(bad.length)] ^= 1 << r.int(8);
        expect(zig.open(key, i, bad, ad, out)).toBe(false);
        const badAd = ad.slice();
        badAd[r.int(32)] ^= 1;
        expect(zig.open(key, i, ct, badAd, out)).toBe(false);
        expect(zig.open(key, i + 1, ct, ad, out)).toBe(false);
        expect(zig.open(key, i, ct.subarray(0, 15), ad, out)).toBe(false);
        expect(out.every((b) => b === 0x5c)).toBe(true);
      }
    });

    test("batched transport equals noble both ways (10,000 random packets, mixed keys, large counters)", () => {
      const { zig } = get();
      let packets = 0;
      for (const [round, c] of transportCases().entries()) {
        const { n, offs, lens, openLens, keys, keyIdx, plain, sealed } = c;
        // Zig seals exactly what noble sealed (so noble opens it), and Zig opens what noble sealed.
        const a = plain.slice();
        zig.sealTransport(n, a, offs, lens, keys, keyIdx);
        if (!a.every((x, i) => x === sealed[i])) {
          const bad = [...offs.subarray(0, n)].findIndex((o, i) => toHex(a.subarray(o, o + 32 + lens[i])) !== toHex(sealed.subarray(o, o + 32 + lens[i])));
          throw new Error(`seed ${TRANSPORT_SEED} round ${round}: packet ${bad} (len ${lens[bad]}) sealed differently from noble`);
        }
        const b = sealed.slice();
        const ok = new Uint8Array(n);
        zig.openTransport(n, b, offs, openLens, keys, keyIdx, ok);
        expect(ok.every((x) => x === 1)).toBe(true);
        for (let i = 0; i < n; i++) {
          const from = offs[i] + 16;
          const to = from + lens[i];
          if (toHex(b.subarray(from, to)) !== toHex(plain.subarray(from, to))) throw new Error(`seed ${TRANSPORT_SEED} round ${round}: packet ${i} opened wrong`);
        }
        packets += n;
      }
      expect(packets).toBeGreaterThanOrEqual(10_000);
    }, 60_000);

    test("openTransport rejects tampered payload, tag, header counter and wrong key; keeps others", () => {
      const { zig } = get();
      const r = rng(99);
      const n = 40;
      const keys = r.fill(new Uint8Array(64));
      const offs = new Uint32Array(n);
      const lens = new Uint32Array(n);
      const keyIdx = new Uint16Array(n);
      for (let i = 0; i < n; i++) {
        offs[i] = i * 1500;
        lens[i] = 16 * (1 + r.int(80));
        keyIdx[i] = i & 1;
      }
      const buf = r.fill(new Uint8Array(n * 1500));
      const dv = new DataView(buf.buffer);
      for (let i = 0; i < n; i++) {
        buf[offs[i]] = 4;
        dv.setBigUint64(offs[i] + 8, BigInt(i) * 0x100000001n, true);
      }
      const plain = buf.slice();
      zig.sealTransport(n, buf, offs, lens, keys, keyIdx);
      const sealed = buf.slice();
      const openLens = lens.map((l) => l + 16);
      // Packet i % 4: 0 intact, 1 payload bit, 2 tag bit, 3 counter in header.
      for (let i = 0; i < n; i++) {
        const o = offs[i];
        if (i % 4 === 1) buf[o + 16 + r.int(lens[i])] ^= 0x80;
        if (i % 4 === 2) buf[o + 16 + lens[i] + r.int(16)] ^= 0x01;
        if (i % 4 === 3) buf[o + 8 + r.int(8)] ^= 0x04;
      }
      const tampered = buf.slice();
      const wrongKey = keyIdx.map((k, i) => (i === 0 ? 1 - k : k));
      const ok = new Uint8Array(n).fill(7);
      zig.openTransport(n, buf, offs, openLens, keys, wrongKey, ok);
      for (let i = 0; i < n; i++) {
        const o = offs[i];
        const payload = buf.subarray(o + 16, o + 16 + lens[i]);
        if (i % 4 === 0 && i !== 0) {
          expect(ok[i]).toBe(1);
          expect(toHex(payload)).toBe(toHex(plain.subarray(o + 16, o + 16 + lens[i])));
        } else {
          expect(ok[i]).toBe(0);
          // Not released: still the (tampered) ciphertext, or zeroed.
          const still = toHex(payload) === toHex(tampered.subarray(o + 16, o + 16 + lens[i]));
          expect(still || payload.every((x) => x === 0)).toBe(true);
          expect(toHex(payload)).not.toBe(toHex(plain.subarray(o + 16, o + 16 + lens[i])));
        }
      }
      expect(toHex(sealed.subarray(0, 16))).toBe(toHex(plain.subarray(0, 16))); // headers are not encrypted
      // Too short to hold a tag: rejected, not an exception.
      const short = new Uint8Array(64);
      const okS = new Uint8Array(1);
      zig.openTransport(1, short, new Uint32Array([0]), new Uint32Array([15]), keys, new Uint16Array([0]), okS);
      expect(okS[0]).toBe(0);
    });

    test("packets outside the buffer or naming a missing key throw and touch nothing", () => {
      const { zig } = get();
      const buf = new Uint8Array(200).fill(3);
      const keys = new Uint8Array(32);
      expect(() => zig.sealTransport(2, buf, new Uint32Array([0, 100]), new Uint32Array([32, 80]), keys, new Uint16Array([0, 0]))).toThrow(/packet 1/);
      expect(buf.every((b) => b === 3)).toBe(true);
      expect(() => zig.sealTransport(1, buf, new Uint32Array([0]), new Uint32Array([32]), keys, new Uint16Array([1]))).toThrow(/keyIdx 1/);
      expect(() => zig.openTransport(1, buf, new Uint32Array([190]), new Uint32Array([16]), keys, new Uint16Array([0]), new Uint8Array(1))).toThrow(/packet 0/);
      expect(buf.every((b) => b === 3)).toBe(true);
      expect(() => zig.seal(new Uint8Array(31), 0, buf, buf, new Uint8Array(300))).toThrow(/key: expected 32 bytes/);
      expect(() => zig.seal(keys, 0, buf, buf, new Uint8Array(200))).toThrow(/at least 216 bytes/);
    });
  });
}

// draft-irtf-cfrg-xchacha-03 §A.3.1
const XV = {
  key: hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"),
  nonce: hex("404142434445464748494a4b4c4d4e4f5051525354555657"),
  ad: hex("50515253c0c1c2c3c4c5c6c7"),
  pt: V282.pt,
  sealed:
    "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb" +
    "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452" +
    "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9" +
    "21f9664c97637da9768812f615c68b13b52e" +
    "c0875924c1c7987947deafd8780acf49",
};

const xaeads: [string, () => XAead][] = [["@noble/ciphers", nobleXAead]];
for (const v of variants) {
  if (supported.has(v.id)) xaeads.push([`zig ${v.label}`, () => zigXAead(loadNative(v.id))]);
}

describe.each(xaeads)("XChaCha20-Poly1305, %s", (_, make) => {
  test("draft-irtf-cfrg-xchacha-03 §A.3.1 seal and open; a flipped bit is refused", () => {
    const x = make();
    const out = new Uint8Array(XV.pt.length + 16);
    x.seal(XV.key, XV.nonce, XV.pt, XV.ad, out);
    expect(toHex(out)).toBe(XV.sealed);
    const back = new Uint8Array(XV.pt.length);
    expect(x.open(XV.key, XV.nonce, out, XV.ad, back)).toBe(true);
    expect(toHex(back)).toBe(toHex(XV.pt));
    for (const at of [0, 50, out.length - 1]) {
      const bad = out.slice();
      bad[at] ^= 1;
      back.fill(0xaa);
      expect(x.open(XV.key, XV.nonce, bad, XV.ad, back)).toBe(false);
      expect(back.every((b) => b === 0xaa)).toBe(true);
    }
  });

  test("equals @noble/ciphers on 3,000 random keys, nonces, lengths 0..300 and AD 0..64; opens its own", () => {
    const x = make();
    const rnd = (n: number) => crypto.getRandomValues(new Uint8Array(n));
    for (let i = 0; i < 3000; i++) {
      const key = rnd(32), nonce = rnd(24);
      const pt = rnd(i < 100 ? i : Math.floor(Math.random() * 301)); // every short length, then any
      const ad = rnd(Math.floor(Math.random() * 65));
      const out = new Uint8Array(pt.length + 16);
      x.seal(key, nonce, pt, ad, out);
      const ref = xchacha20poly1305(key, nonce, ad).encrypt(pt);
      if (toHex(out) !== toHex(ref)) expect({ i, ours: toHex(out) }).toEqual({ i, ours: toHex(ref) });
      const back = new Uint8Array(pt.length);
      if (!x.open(key, nonce, ref, ad, back) || toHex(back) !== toHex(pt)) throw new Error(`case ${i}: does not open @noble's`);
      if (ad.length > 0) {
        ad[0] ^= 1; // the AD is authenticated too (a cookie reply's AD is the mac1 it answers)
        expect(x.open(key, nonce, ref, ad, back)).toBe(false);
      }
    }
  });

  test("in place: sealing over the plaintext's own memory", () => {
    const x = make();
    const buf = new Uint8Array(16 + 16);
    buf.set(XV.pt.subarray(0, 16));
    x.seal(XV.key, XV.nonce, buf.subarray(0, 16), XV.ad, buf);
    expect(toHex(buf)).toBe(toHex(xchacha20poly1305(XV.key, XV.nonce, XV.ad).encrypt(XV.pt.subarray(0, 16))));
  });

  test("wrong sizes are named", () => {
    const x = make();
    expect(() => x.seal(new Uint8Array(31), XV.nonce, XV.pt, XV.ad, new Uint8Array(200))).toThrow("key: expected 32 bytes, got 31");
    expect(() => x.seal(XV.key, new Uint8Array(12), XV.pt, XV.ad, new Uint8Array(200))).toThrow("nonce: expected 24 bytes, got 12");
    expect(() => x.seal(XV.key, XV.nonce, XV.pt, XV.ad, new Uint8Array(10))).toThrow("seal output: expected at least");
    expect(x.open(XV.key, XV.nonce, new Uint8Array(15), XV.ad, new Uint8Array(0))).toBe(false);
  });
});
