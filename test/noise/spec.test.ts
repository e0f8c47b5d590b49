// The handshake checked against a second, independent construction of §5.4.2–§5.4.5 written straight from the
// whitepaper's formulas with @noble primitives (BLAKE2s, HMAC, ChaCha20-Poly1305, X25519): it consumes our
// initiation, answers with its own response, and both ends must derive the same transport keys.
import { expect, test } from "bun:test";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { blake2s } from "@noble/hashes/blake2.js";
import { hmac } from "@noble/hashes/hmac.js";
import { nobleAead } from "../../src/crypto/aead.ts";
import { hex, open, seal, seededRandom, SRC_A, UNIX_OFFSET } from "./helpers.ts";
import { testEngine } from "./helpers.ts";

const ascii = (s: string) => new TextEncoder().encode(s);
const cat = (...xs: Uint8Array[]) => {
  const out = new Uint8Array(xs.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of xs) {
    out.set(x, o);
    o += x.length;
  }
  return out;
};
const HASH = (...xs: Uint8Array[]) => blake2s(cat(...xs));
const HMAC = (k: Uint8Array, ...xs: Uint8Array[]) => hmac(blake2s, k, cat(...xs));
function KDF(n: number, key: Uint8Array, input: Uint8Array): Uint8Array[] {
  const t0 = HMAC(key, input);
  const out: Uint8Array[] = [];
  let prev = new Uint8Array(0);
  for (let i = 1; i <= n; i++) {
    prev = HMAC(t0, prev, new Uint8Array([i]));
    out.push(prev);
  }
  return out;
}
const nonce0 = new Uint8Array(12);
const AEAD = (k: Uint8Array, pt: Uint8Array, ad: Uint8Array) => chacha20poly1305(k, nonce0, ad).encrypt(pt);
const OPEN = (k: Uint8Array, ct: Uint8Array, ad: Uint8Array) => chacha20poly1305(k, nonce0, ad).decrypt(ct);
const MAC = (k: Uint8Array, m: Uint8Array) => blake2s(m, { key: k, dkLen: 16 });
const le32 = (m: Uint8Array, at: number) => new DataView(m.buffer, m.byteOffset).getUint32(at, true);

for (const withPsk of [false, true]) {
  test(`our initiation ↔ a from-the-formulas responder (${withPsk ? "with" : "without"} psk)`, () => {
    const aead = nobleAead();
    const rand = seededRandom(77);
    const sI = new Uint8Array(32), sR = new Uint8Array(32), eR = new Uint8Array(32), Q = new Uint8Array(32);
    rand(sI);
    rand(sR);
    rand(eR);
    if (withPsk) rand(Q);
    const SrPub = x25519.getPublicKey(sR);

    const engine = testEngine(5);
    engine.setPrivateKey(sI);
    const SiPub = engine.publicKey!;
    const peer = engine.addPeer(SrPub);
    if (withPsk) peer.setPresharedKey(Q);
    const msg = peer.createInitiation(1234)!;
    expect(msg.length).toBe(148);
    expect([...msg.subarray(0, 4)]).toEqual([1, 0, 0, 0]);

    // Responder, §5.4.2 consumed by the formulas.
    const C0 = HASH(ascii("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"));
    let h: Uint8Array = HASH(HASH(C0, ascii("WireGuard v1 zx2c4 Jason@zx2c4.com")), SrPub);
    let ck: Uint8Array = C0;
    const EiPub = msg.subarray(8, 40);
    [ck] = KDF(1, ck, EiPub);
    h = HASH(h, EiPub);
    let k: Uint8Array;
    [ck, k] = KDF(2, ck, x25519.getSharedSecret(sR, EiPub));
    const staticPt = OPEN(k, msg.subarray(40, 88), h);
    expect(hex(staticPt)).toBe(hex(SiPub));
    h = HASH(h, msg.subarray(40, 88));
    [ck, k] = KDF(2, ck, x25519.getSharedSecret(sR, SiPub));
    const ts = OPEN(k, msg.subarray(88, 116), h);
    h = HASH(h, msg.subarray(88, 116));
    // TAI64N of UNIX_OFFSET + 1234 ms (wireguard-go tai64n.go: 0x400000000000000a + Unix seconds)
    const secs = Math.floor((UNIX_OFFSET + 1234) / 1000);
    expect(hex(ts.subarray(0, 8))).toBe((2n ** 62n + 10n + BigInt(secs)).toString(16).padStart(16, "0")); // + the TAI offset
    expect(hex(msg.subarray(116, 132))).toBe(hex(MAC(HASH(ascii("mac1----"), SrPub), msg.subarray(0, 116))));

    // Responder, §5.4.3 response by the formulas.
    const resp = new Uint8Array(92);
    resp[0] = 2;
    new DataView(resp.buffer).setUint32(4, 0xa1b2c3d4, true);
    resp.set(msg.subarray(4, 8), 8);
    const ErPub = x25519.getPublicKey(eR);
    resp.set(ErPub, 12);
    [ck] = KDF(1, ck, ErPub);
    h = HASH(h, ErPub);
    [ck] = KDF(1, ck, x25519.getSharedSecret(eR, EiPub));
    [ck] = KDF(1, ck, x25519.getSharedSecret(eR, SiPub));
    let tau: Uint8Array;
    [ck, tau, k] = KDF(3, ck, Q);
    h = HASH(h, tau);
    resp.set(AEAD(k, new Uint8Array(0), h), 44);
    resp.set(MAC(HASH(ascii("mac1----"), SiPub), resp.subarray(0, 60)), 60);
    const [Tsend_i, Trecv_i] = KDF(2, ck, new Uint8Array(0)); // initiator's send = responder's receive

    const out = engine.consumeHandshake(1300, resp, SRC_A, false);
    expect(out.kind).toBe("established");
    const kp = peer.sendingKeypair(1300)!;
    expect(kp.remoteIndex).toBe(0xa1b2c3d4);
    expect(kp.localIndex).toBe(le32(msg, 4));
    expect(hex(kp.sendKey)).toBe(hex(Tsend_i));
    expect(hex(kp.receiveKey)).toBe(hex(Trecv_i));

    // §5.4.6 transport: counter 0 under Tsend, padded payload; the formulas' side decrypts it.
    const data = seal(aead, peer, kp, new Uint8Array(16).fill(0x45));
    expect(le32(data, 4)).toBe(0xa1b2c3d4);
    expect(hex(OPEN(Tsend_i, data.subarray(16), new Uint8Array(0)))).toBe("45".repeat(16));
    // and a message from the formulas' side opens here
    const back = new Uint8Array(32);
    back[0] = 4;
    new DataView(back.buffer).setUint32(4, kp.localIndex, true);
    back.set(AEAD(Trecv_i, new Uint8Array(0), new Uint8Array(0)), 16);
    expect(open(aead, engine, 1400, back)?.length).toBe(0);
  });
}
