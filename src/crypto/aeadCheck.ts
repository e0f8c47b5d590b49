// Cross-checks one AEAD backend against another on random cases: the single-packet seal/open (handshake and cookie
// messages) and the batched in-place transport path (whitepaper §5.4.6) that carries the data. Used by the compiled
// executable's self-test (src/cli/selftest.ts) to show that the embedded library — possibly cross-built for another
// architecture and run there or under an emulator — computes what @noble/ciphers does.
import { KEY_LEN, TAG_LEN, TRANSPORT_HEADER_LEN, type Aead } from "./aead.ts";

export interface AeadCheckResult {
  readonly seed: number;
  readonly cases: number; // single seal/open cases
  readonly transportPackets: number; // packets through sealTransport/openTransport
  readonly failures: number; // how many checks failed (0: they agree)
  readonly mismatches: readonly string[]; // what differed, one line each, the first 10 of each path
}

// Lengths where block and vector boundaries lie (ChaCha20: 64-byte blocks, up to 16 per pass; Poly1305: 16-byte
// blocks, up to 8 lanes), plus WireGuard's usual sizes (keepalive 0, handshake AD 32, a 1420-byte MTU's payload).
const EDGE_LENGTHS = [0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 513, 1023, 1024, 1025, 1420, 1440, 4096, 9000];

/** xorshift32: a small seeded generator, so a reported mismatch can be reproduced from its seed. */
function generator(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  return {
    int: (n: number) => next() % n,
    fill(buf: Uint8Array): Uint8Array {
      for (let i = 0; i < buf.length; i++) buf[i] = next() & 0xff;
      return buf;
    },
  };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** `cases` random single-packet cases and one random transport batch, each run through both backends. */
export function checkAead(subject: Aead, reference: Aead, cases: number, seed: number): AeadCheckResult {
  const r = generator(seed);
  const mismatches: string[] = [];
  let failures = 0;
  let shown = 0;
  const fail = (what: string) => {
    failures++;
    if (shown++ < 10) mismatches.push(what);
  };

  for (let c = 0; c < cases; c++) {
    const key = r.fill(new Uint8Array(KEY_LEN));
    // Counters small, around 2^32 (the nonce's word boundary) and up to 2^53 - 1 (a JS number's exact range).
    const counter = [r.int(1000), 2 ** 32 - 2 + r.int(4), r.int(2 ** 21) * 2 ** 32 + r.int(2 ** 32)][c % 3];
    const ptLen = c % 2 === 0 ? EDGE_LENGTHS[r.int(EDGE_LENGTHS.length)] : r.int(3000);
    const pt = r.fill(new Uint8Array(ptLen));
    const ad = r.fill(new Uint8Array(r.int(3) === 0 ? 32 : r.int(80)));
    const what = `case ${c} (${ptLen}-byte plaintext, ${ad.length}-byte AD, counter ${counter})`;

    const ours = new Uint8Array(ptLen + TAG_LEN);
    const theirs = new Uint8Array(ptLen + TAG_LEN);
    subject.seal(key, counter, pt, ad, ours);
    reference.seal(key, counter, pt, ad, theirs);
    if (!equal(ours, theirs)) fail(`${what}: seal differs from ${reference.backend}`);

    const opened = new Uint8Array(ptLen);
    if (!subject.open(key, counter, theirs, ad, opened) || !equal(opened, pt)) fail(`${what}: open of ${reference.backend}'s ciphertext failed or differs`);

    // Any flipped bit, in the ciphertext or the tag, must be rejected.
    const forged = theirs.slice();
    forged[r.int(forged.length)] ^= 1 << r.int(8);
    if (subject.open(key, counter, forged, ad, new Uint8Array(ptLen))) fail(`${what}: a forged ciphertext was accepted`);
  }

  shown = 0;
  // One batch as the data path builds it: several keys, headers carrying the counters, payloads back to back.
  const n = 64;
  const keys = r.fill(new Uint8Array(4 * KEY_LEN));
  const offs = new Uint32Array(n);
  const lens = new Uint32Array(n);
  const keyIdx = new Uint16Array(n);
  let size = 0;
  for (let i = 0; i < n; i++) {
    offs[i] = size;
    lens[i] = i % 4 === 0 ? EDGE_LENGTHS[r.int(EDGE_LENGTHS.length)] : 16 * r.int(90); // padded to 16 (§5.4.6)
    keyIdx[i] = r.int(4);
    size += TRANSPORT_HEADER_LEN + lens[i] + TAG_LEN;
  }
  const plain = r.fill(new Uint8Array(size));
  const hdr = new DataView(plain.buffer);
  for (let i = 0; i < n; i++) {
    plain.fill(0, offs[i], offs[i] + 8);
    plain[offs[i]] = 4;
    hdr.setBigUint64(offs[i] + 8, (BigInt(r.int(2 ** 32)) << 32n) | BigInt(r.int(2 ** 32)), true); // full u64 counters
  }
  const ours = plain.slice();
  const theirs = plain.slice();
  subject.sealTransport(n, ours, offs, lens, keys, keyIdx);
  reference.sealTransport(n, theirs, offs, lens, keys, keyIdx);
  for (let i = 0; i < n; i++) {
    const end = offs[i] + TRANSPORT_HEADER_LEN + lens[i] + TAG_LEN;
    if (!equal(ours.subarray(offs[i], end), theirs.subarray(offs[i], end))) fail(`transport packet ${i} (${lens[i]} bytes): sealTransport differs from ${reference.backend}`);
  }
  // Open the reference's batch with every fourth packet forged.
  const openLens = lens.map((l) => l + TAG_LEN);
  for (let i = 1; i < n; i += 4) theirs[offs[i] + TRANSPORT_HEADER_LEN + r.int(openLens[i])] ^= 0x80;
  const ok = new Uint8Array(n);
  subject.openTransport(n, theirs, offs, openLens, keys, keyIdx, ok);
  for (let i = 0; i < n; i++) {
    const start = offs[i] + TRANSPORT_HEADER_LEN;
    const forged = i % 4 === 1;
    if (ok[i] !== (forged ? 0 : 1)) fail(`transport packet ${i} (${lens[i]} bytes, ${forged ? "forged" : "genuine"}): openTransport said ${ok[i] ? "ok" : "bad"}`);
    else if (!forged && !equal(theirs.subarray(start, start + lens[i]), plain.subarray(start, start + lens[i]))) fail(`transport packet ${i}: openTransport's plaintext differs`);
  }
  return { seed, cases, transportPackets: n, failures, mismatches };
}

/**
 * Sealing rate of `aead` on batches of 64 1420-byte transport packets for about `ms` milliseconds, in MB/s of
 * payload. Only a smoke figure (does it run at a plausible speed at all); benchmarks live in bench/.
 */
export function sealRate(aead: Aead, ms: number): number {
  const n = 64;
  const len = 1420;
  const stride = TRANSPORT_HEADER_LEN + len + TAG_LEN;
  const buf = new Uint8Array(n * stride);
  const offs = Uint32Array.from({ length: n }, (_, i) => i * stride);
  const lens = new Uint32Array(n).fill(len);
  const keys = new Uint8Array(KEY_LEN).fill(7);
  const keyIdx = new Uint16Array(n);
  let bytes = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    aead.sealTransport(n, buf, offs, lens, keys, keyIdx);
    bytes += n * len;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return bytes / 1e6 / (elapsed / 1000);
}
