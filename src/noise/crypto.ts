// Everything the protocol core needs from cryptography (§5.4), in one contract. An Engine receives one
// NoiseCrypto when it is built and hands it to its peers; the core imports no implementation. The backends — the
// Zig library, @noble, node:crypto, our own JS BLAKE2s — live in src/crypto/, whose suite.ts assembles the default.
// Every function writes into caller-owned memory, so a handshake allocates nothing it does not keep.

/** ChaCha20-Poly1305 with WireGuard's nonce, 4 zero bytes ‖ counter u64 little-endian (§5.4: AEAD). The handshake
 *  seals and opens with counter 0; the shell's batched transport AEAD (src/crypto/aead.ts) extends this. */
export interface HandshakeAead {
  /** out (may be the plaintext's memory) gets plaintext.length + 16 bytes. */
  seal(key: Uint8Array, counter: number, plaintext: Uint8Array, ad: Uint8Array, out: Uint8Array): void;
  /** False, and no plaintext released, when the tag does not verify; else out gets ciphertext.length − 16 bytes. */
  open(key: Uint8Array, counter: number, ciphertext: Uint8Array, ad: Uint8Array, out: Uint8Array): boolean;
}

/** XChaCha20-Poly1305 with a 24-byte nonce (§5.4: XAEAD), for cookie replies (§5.4.7). */
export interface XAead {
  /** out gets plaintext.length + 16 bytes (ciphertext ‖ tag). */
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array, out: Uint8Array): void;
  /** False when the tag does not verify (out then holds no plaintext); else out gets sealed.length − 16 bytes. */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array, out: Uint8Array): boolean;
}

/** The BLAKE2s functions of §5.4. Outputs may alias inputs (ck = KDF(ck, …)). */
export interface Blake2sFunctions {
  /** HASH(a ‖ b ‖ c) = BLAKE2s-256; out gets 32 bytes. */
  hash(out: Uint8Array, a: Uint8Array, b?: Uint8Array, c?: Uint8Array): void;
  /** MAC(key, input) = keyed BLAKE2s-128 (mac1, mac2, cookies, §5.4.4); out gets 16 bytes. */
  mac(out: Uint8Array, key: Uint8Array, input: Uint8Array): void;
  /** HMAC-BLAKE2s-256(key, a ‖ b) (RFC 2104, 64-byte block), the building block of the KDF; out gets 32 bytes. */
  hmac(out: Uint8Array, key: Uint8Array, a: Uint8Array, b?: Uint8Array): void;
  /** KDFn(key, input): τ0 = HMAC(key, input), τ1 = HMAC(τ0, 0x1), τi = HMAC(τ0, τ(i−1) ‖ i); out_i = τi. */
  kdf1(out1: Uint8Array, key: Uint8Array, input: Uint8Array): void;
  kdf2(out1: Uint8Array, out2: Uint8Array, key: Uint8Array, input: Uint8Array): void;
  kdf3(out1: Uint8Array, out2: Uint8Array, out3: Uint8Array, key: Uint8Array, input: Uint8Array): void;
}

/** A private key prepared for repeated use. Holds a clamped copy; never shares the caller's memory. */
export interface X25519PrivateKey {
  readonly publicKey: Uint8Array;
  /** Forgets the key: zeroes what this process can reach (see each implementation). */
  destroy(): void;
}

/** X25519 Diffie-Hellman (RFC 7748), the DH of §5.4. */
export interface X25519 {
  readonly name: string;
  /** Imports 32 bytes (already clamped by the caller, see keys.ts) and derives the public key. */
  privateKey(secret: Uint8Array): X25519PrivateKey;
  /** out = X25519(privateKey, publicKey). False when the result is all zero: the peer sent a low-order point, and
   *  §5.4 / RFC 7748 §6.1 require rejecting that (out is then zero too). */
  sharedSecret(privateKey: X25519PrivateKey, publicKey: Uint8Array, out: Uint8Array): boolean;
}

/** The whole contract, handed to each Engine. */
export interface NoiseCrypto {
  readonly aead: HandshakeAead;
  readonly xaead: XAead;
  readonly blake2s: Blake2sFunctions;
  readonly x25519: X25519;
  /** Fills `out` with cryptographically secure random bytes (ephemeral keys, indices, cookie secrets, jitter). */
  readonly random: (out: Uint8Array) => void;
}
