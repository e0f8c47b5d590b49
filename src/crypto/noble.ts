// The @noble packages, loaded on first use: they are the reference and the fallback, and a daemon whose Zig library
// loads never needs them — while loading them costs several MiB of resident memory (bench/RESULTS.md, "Memory:
// where it goes"). One place for the three backends that fall back to them (aead.ts, xchacha.ts, x25519.ts).
type Ciphers = typeof import("@noble/ciphers/chacha.js");
type Curves = typeof import("@noble/curves/ed25519.js");

let ciphers: Ciphers | undefined;
let curves: Curves | undefined;

export function nobleCiphers(): Ciphers {
  return (ciphers ??= require("@noble/ciphers/chacha.js") as Ciphers);
}

export function nobleCurves(): Curves {
  return (curves ??= require("@noble/curves/ed25519.js") as Curves);
}
