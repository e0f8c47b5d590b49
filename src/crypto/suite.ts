// Builds the NoiseCrypto (noise/crypto.ts) an Engine receives. Every backend is in this folder; swapping one is
// one argument where the engine is built (src/device/device.ts, tests, bench/).
import type { NoiseCrypto } from "../noise/index.ts";
import { loadNative, type Native } from "../native/lib.ts";
import { loadAead, nobleAead } from "./aead.ts";
import { jsBlake2s, zigBlake2s } from "./blake2s.ts";
import { defaultX25519, nobleX25519 } from "./x25519.ts";
import { nobleXAead, zigXAead } from "./xchacha.ts";

/** crypto.getRandomValues, which Bun backs with the kernel's CSPRNG. */
export const systemRandom = (out: Uint8Array): void => {
  crypto.getRandomValues(out);
};

function tryNative(): Native | null {
  try {
    return loadNative();
  } catch {
    return null; // loadAead says why, once; the JS backends serve
  }
}

/** The fastest backends that load here — the Zig library's AEAD, BLAKE2s and XChaCha20-Poly1305, node:crypto's
 *  X25519 — each falling back to its JS reference; `parts` replaces any of them. */
export function defaultSuite(parts: Partial<NoiseCrypto> = {}): NoiseCrypto {
  const native = parts.blake2s && parts.xaead ? null : tryNative();
  return {
    aead: parts.aead ?? loadAead(),
    xaead: parts.xaead ?? (native ? zigXAead(native) : nobleXAead()),
    blake2s: parts.blake2s ?? (native ? zigBlake2s(native) : jsBlake2s()),
    x25519: parts.x25519 ?? defaultX25519(),
    random: parts.random ?? systemRandom,
  };
}

/** Pure JS throughout (@noble and our own BLAKE2s): the reference the tests hold the fast backends to. */
export function jsSuite(parts: Partial<NoiseCrypto> = {}): NoiseCrypto {
  return {
    aead: parts.aead ?? nobleAead(),
    xaead: parts.xaead ?? nobleXAead(),
    blake2s: parts.blake2s ?? jsBlake2s(),
    x25519: parts.x25519 ?? nobleX25519(),
    random: parts.random ?? systemRandom,
  };
}
