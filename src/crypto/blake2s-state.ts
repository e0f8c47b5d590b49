// BLAKE2s (RFC 7693), the hash of WireGuard's handshake (§5.4). Our own allocation-free implementation: a handshake
// takes ~60 BLAKE2s runs per side over short inputs, where a reusable state beats a fresh hasher object per call.

const IV = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

// RFC 7693 §2.7: message word schedule of the 10 rounds.
const SIGMA = new Uint8Array([
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
  14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
  11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4,
  7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8,
  9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13,
  2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9,
  12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11,
  13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10,
  6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5,
  10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0,
]);

const BLOCK = 64;

/** Our own allocation-free BLAKE2s (RFC 7693), the state behind jsBlake2s() in blake2s.ts. A reusable BLAKE2s state: `init`, any number of `update`s, `digest`. */
export class Blake2s {
  private readonly h = new Int32Array(8);
  private readonly m = new Int32Array(16);
  private readonly buf = new Uint8Array(BLOCK);
  private bufLen = 0;
  private total = 0; // bytes compressed so far (t in RFC 7693); a number is exact far beyond any input here
  private outLen = 32;

  /** outLen 1..32 bytes; key 0..32 bytes (keyed mode, RFC 7693 §2.5). */
  init(outLen = 32, key?: Uint8Array): this {
    const keyLen = key === undefined ? 0 : key.length;
    if (outLen < 1 || outLen > 32) throw new RangeError(`BLAKE2s output length: expected 1..32, got ${outLen}`);
    if (keyLen > 32) throw new RangeError(`BLAKE2s key: expected at most 32 bytes, got ${keyLen}`);
    const h = this.h;
    h.set(IV);
    h[0] ^= 0x01010000 ^ (keyLen << 8) ^ outLen;
    this.outLen = outLen;
    this.total = 0;
    this.bufLen = 0;
    if (keyLen > 0) {
      this.buf.fill(0);
      this.buf.set(key!);
      this.bufLen = BLOCK;
    }
    return this;
  }

  update(data: Uint8Array): this {
    const n = data.length;
    let i = 0;
    while (i < n) {
      // The last block must be compressed with the final flag, so a full buffer waits until more data arrives.
      if (this.bufLen === BLOCK) {
        this.total += BLOCK;
        this.compress(this.buf, 0, false);
        this.bufLen = 0;
      }
      if (this.bufLen === 0 && n - i > BLOCK) {
        this.total += BLOCK;
        this.compress(data, i, false);
        i += BLOCK;
        continue;
      }
      // A byte loop: inputs here are short, and a subarray view per call would allocate.
      const buf = this.buf;
      let at = this.bufLen;
      const end = Math.min(n, i + BLOCK - at);
      while (i < end) buf[at++] = data[i++];
      this.bufLen = at;
    }
    return this;
  }

  /** Writes outLen bytes to out. The state must be `init`ed again before reuse. */
  digest(out: Uint8Array): void {
    this.total += this.bufLen;
    this.buf.fill(0, this.bufLen);
    this.compress(this.buf, 0, true);
    const h = this.h;
    for (let i = 0; i < this.outLen; i++) out[i] = h[i >> 2] >>> (8 * (i & 3));
  }

  private compress(b: Uint8Array, o: number, last: boolean): void {
    const m = this.m;
    for (let i = 0; i < 16; i++, o += 4) m[i] = b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24);
    const h = this.h;
    let v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3], v4 = h[4], v5 = h[5], v6 = h[6], v7 = h[7];
    let v8 = IV[0], v9 = IV[1], v10 = IV[2], v11 = IV[3];
    let v12 = IV[4] ^ (this.total | 0), v13 = IV[5] ^ ((this.total / 0x100000000) | 0);
    let v14 = last ? ~IV[6] : IV[6], v15 = IV[7];
    for (let r = 0; r < 160; r += 16) {
      // G(v0, v4, v8, v12)
      v0 = (v0 + v4 + m[SIGMA[r]]) | 0; v12 ^= v0; v12 = (v12 >>> 16) | (v12 << 16);
      v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 12) | (v4 << 20);
      v0 = (v0 + v4 + m[SIGMA[r + 1]]) | 0; v12 ^= v0; v12 = (v12 >>> 8) | (v12 << 24);
      v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 7) | (v4 << 25);
      // G(v1, v5, v9, v13)
      v1 = (v1 + v5 + m[SIGMA[r + 2]]) | 0; v13 ^= v1; v13 = (v13 >>> 16) | (v13 << 16);
      v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 12) | (v5 << 20);
      v1 = (v1 + v5 + m[SIGMA[r + 3]]) | 0; v13 ^= v1; v13 = (v13 >>> 8) | (v13 << 24);
      v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 7) | (v5 << 25);
      // G(v2, v6, v10, v14)
      v2 = (v2 + v6 + m[SIGMA[r + 4]]) | 0; v14 ^= v2; v14 = (v14 >>> 16) | (v14 << 16);
      v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 12) | (v6 << 20);
      v2 = (v2 + v6 + m[SIGMA[r + 5]]) | 0; v14 ^= v2; v14 = (v14 >>> 8) | (v14 << 24);
      v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 7) | (v6 << 25);
      // G(v3, v7, v11, v15)
      v3 = (v3 + v7 + m[SIGMA[r + 6]]) | 0; v15 ^= v3; v15 = (v15 >>> 16) | (v15 << 16);
      v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 12) | (v7 << 20);
      v3 = (v3 + v7 + m[SIGMA[r + 7]]) | 0; v15 ^= v3; v15 = (v15 >>> 8) | (v15 << 24);
      v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 7) | (v7 << 25);
      // G(v0, v5, v10, v15)
      v0 = (v0 + v5 + m[SIGMA[r + 8]]) | 0; v15 ^= v0; v15 = (v15 >>> 16) | (v15 << 16);
      v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 12) | (v5 << 20);
      v0 = (v0 + v5 + m[SIGMA[r + 9]]) | 0; v15 ^= v0; v15 = (v15 >>> 8) | (v15 << 24);
      v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 7) | (v5 << 25);
      // G(v1, v6, v11, v12)
      v1 = (v1 + v6 + m[SIGMA[r + 10]]) | 0; v12 ^= v1; v12 = (v12 >>> 16) | (v12 << 16);
      v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 12) | (v6 << 20);
      v1 = (v1 + v6 + m[SIGMA[r + 11]]) | 0; v12 ^= v1; v12 = (v12 >>> 8) | (v12 << 24);
      v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 7) | (v6 << 25);
      // G(v2, v7, v8, v13)
      v2 = (v2 + v7 + m[SIGMA[r + 12]]) | 0; v13 ^= v2; v13 = (v13 >>> 16) | (v13 << 16);
      v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 12) | (v7 << 20);
      v2 = (v2 + v7 + m[SIGMA[r + 13]]) | 0; v13 ^= v2; v13 = (v13 >>> 8) | (v13 << 24);
      v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 7) | (v7 << 25);
      // G(v3, v4, v9, v14)
      v3 = (v3 + v4 + m[SIGMA[r + 14]]) | 0; v14 ^= v3; v14 = (v14 >>> 16) | (v14 << 16);
      v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 12) | (v4 << 20);
      v3 = (v3 + v4 + m[SIGMA[r + 15]]) | 0; v14 ^= v3; v14 = (v14 >>> 8) | (v14 << 24);
      v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 7) | (v4 << 25);
    }
    h[0] ^= v0 ^ v8; h[1] ^= v1 ^ v9; h[2] ^= v2 ^ v10; h[3] ^= v3 ^ v11;
    h[4] ^= v4 ^ v12; h[5] ^= v5 ^ v13; h[6] ^= v6 ^ v14; h[7] ^= v7 ^ v15;
  }

  /** Erases the internal state (it saw keys). */
  wipe(): void {
    this.h.fill(0);
    this.m.fill(0);
    this.buf.fill(0);
    this.bufLen = 0;
  }
}
