// X25519 Diffie-Hellman (RFC 7748), the DH of §5.4 (noise/crypto.ts X25519). Two backends: node:crypto
// (BoringSSL inside Bun, ~10× faster, the default) and @noble/curves (pure JS, the reference the tests hold the
// fast one to). A handshake costs each side one key import and three shared secrets, so this decides how many
// handshakes per second we can take.

import * as nodeCrypto from "node:crypto";
import { KEY_LENGTH, isZero } from "../noise/index.ts";
import type { X25519, X25519PrivateKey } from "../noise/index.ts";
import { nobleCurves } from "./noble.ts";

const nobleCurve = () => nobleCurves().x25519;

class NobleKey implements X25519PrivateKey {
  readonly publicKey: Uint8Array;
  constructor(readonly secret: Uint8Array) {
    this.publicKey = nobleCurve().getPublicKey(secret);
  }
  destroy(): void {
    this.secret.fill(0);
  }
}

/** The pure-JS reference. */
export function nobleX25519(): X25519 {
  return {
    name: "@noble/curves",
    privateKey: (secret) => new NobleKey(Uint8Array.from(secret)),
    sharedSecret(privateKey, publicKey, out) {
      try {
        out.set(nobleCurve().getSharedSecret((privateKey as NobleKey).secret, publicKey));
      } catch {
        out.fill(0); // noble refuses a zero result by throwing
      }
      return !isZero(out);
    },
  };
}

// DER wrappings of a raw X25519 key (RFC 8410): node:crypto imports keys only as PKCS#8 / SPKI or JWK.
const PKCS8_PREFIX = Uint8Array.from(Buffer.from("302e020100300506032b656e04220420", "hex"));
const SPKI_PREFIX = Uint8Array.from(Buffer.from("302a300506032b656e032100", "hex"));

class NodeKey implements X25519PrivateKey {
  constructor(
    public object: nodeCrypto.KeyObject | null,
    readonly publicKey: Uint8Array,
  ) {}
  // BoringSSL's copy of the key cannot be wiped from JS; dropping the reference lets it be freed.
  destroy(): void {
    this.object = null;
  }
}

/** node:crypto's X25519 (BoringSSL in Bun). Throws if this runtime lacks it. */
export function nodeX25519(): X25519 {
  const der = Buffer.alloc(PKCS8_PREFIX.length + KEY_LENGTH);
  der.set(PKCS8_PREFIX);
  const spki = Buffer.alloc(SPKI_PREFIX.length + KEY_LENGTH);
  spki.set(SPKI_PREFIX);
  const impl: X25519 = {
    name: "node:crypto",
    privateKey(secret) {
      if (secret.length !== KEY_LENGTH) throw new RangeError(`private key: expected 32 bytes, got ${secret.length}`);
      der.set(secret, PKCS8_PREFIX.length);
      try {
        const object = nodeCrypto.createPrivateKey({ key: der, format: "der", type: "pkcs8" });
        const jwk = nodeCrypto.createPublicKey(object).export({ format: "jwk" });
        return new NodeKey(object, new Uint8Array(Buffer.from(jwk.x!, "base64url")));
      } finally {
        der.fill(0, PKCS8_PREFIX.length);
      }
    },
    sharedSecret(privateKey, publicKey, out) {
      const object = (privateKey as NodeKey).object;
      if (object === null) throw new Error("X25519: the private key was destroyed");
      if (publicKey.length !== KEY_LENGTH) throw new RangeError(`public key: expected 32 bytes, got ${publicKey.length}`);
      spki.set(publicKey, SPKI_PREFIX.length);
      try {
        const peer = nodeCrypto.createPublicKey({ key: spki, format: "der", type: "spki" });
        out.set(nodeCrypto.diffieHellman({ privateKey: object, publicKey: peer }));
      } catch {
        out.fill(0); // BoringSSL refuses a zero result with an error
      }
      return !isZero(out);
    },
  };
  return impl;
}

// RFC 7748 §6.1: Alice's private key and Bob's public key give this shared secret.
const SELF_TEST_PRIVATE = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const SELF_TEST_PUBLIC = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
const SELF_TEST_SHARED = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

/** The fastest X25519 that passes a known-answer test here: node:crypto, else @noble/curves. */
export function defaultX25519(): X25519 {
  try {
    const impl = nodeX25519();
    const key = impl.privateKey(Buffer.from(SELF_TEST_PRIVATE, "hex"));
    const out = new Uint8Array(KEY_LENGTH);
    if (impl.sharedSecret(key, Buffer.from(SELF_TEST_PUBLIC, "hex"), out) && Buffer.from(out).toString("hex") === SELF_TEST_SHARED) {
      return impl;
    }
  } catch {
    // fall through to the reference implementation
  }
  return nobleX25519();
}
