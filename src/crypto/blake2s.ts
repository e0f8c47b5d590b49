// The Zig library's BLAKE2s HASH/MAC/KDF (zig/src/blake2s.zig), handed to the protocol core by the daemon
// (noise/primitives.ts useHashPrimitives). Same results as the core's own, at a fraction of the cost per handshake.
import type { HashPrimitives } from "../noise/primitives.ts";
import type { Native } from "../native/lib.ts";

const EMPTY = new Uint8Array(1); // a valid pointer for absent inputs (length 0)

export function nativeHashPrimitives(native: Native): HashPrimitives {
  const s = native.sym;
  return {
    hash(out, a, b, c) {
      s.bunwg_hash(out, a, a.length, b ?? EMPTY, b?.length ?? 0, c ?? EMPTY, c?.length ?? 0);
    },
    mac(out, key, input) {
      s.bunwg_mac(out, key, key.length, input.length ? input : EMPTY, input.length);
    },
    kdf1(out1, key, input) {
      s.bunwg_kdf(1, out1, EMPTY, EMPTY, key, key.length, input.length ? input : EMPTY, input.length);
    },
    kdf2(out1, out2, key, input) {
      s.bunwg_kdf(2, out1, out2, EMPTY, key, key.length, input.length ? input : EMPTY, input.length);
    },
    kdf3(out1, out2, out3, key, input) {
      s.bunwg_kdf(3, out1, out2, out3, key, key.length, input.length ? input : EMPTY, input.length);
    },
  };
}
