// TAI64N timestamps (§5.1, §5.4.2): 8 bytes big-endian TAI64 label, then 4 bytes big-endian nanoseconds.
// A responder accepts an initiation only when its timestamp is newer than the last one it saw from that peer,
// which stops replays of old initiations.

import { TAI64N_LENGTH } from "./constants.ts";

// Like wireguard-go, nanoseconds are rounded down to a multiple of 2^24 (~16.8 ms): the initiation then tells an
// observer less about our clock, and initiations are at least REKEY_TIMEOUT apart anyway.
const WHITENING = 0x1000000;
// The label is 2^62 + 10 + Unix seconds: 2^62 marks a TAI64 label, and the whitepaper's reference implementations
// (the kernel's and wireguard-go's) add the 10 s TAI−UTC offset of 1970. A peer compares our timestamps with those
// the same keys sent from a reference implementation, so ours must be byte-identical for the same time: without
// the 10 s a host moving to bunwg has its initiations refused as replays for ~10 s (issue 10, item 4).
const TAI64_BASE_HIGH = 0x40000000; // 2^62 as the high 32 bits of the label
const TAI_OFFSET_SECONDS = 10;

/** Writes the TAI64N timestamp of `unixMs` (milliseconds since 1970, UTC) to out[0..12]. */
export function tai64n(unixMs: number, out: Uint8Array): void {
  const unixSeconds = Math.floor(unixMs / 1000);
  const nanos = Math.floor((unixMs - unixSeconds * 1000) * 1e6);
  const seconds = unixSeconds + TAI_OFFSET_SECONDS;
  const v = new DataView(out.buffer, out.byteOffset, TAI64N_LENGTH);
  v.setUint32(0, TAI64_BASE_HIGH + Math.floor(seconds / 0x100000000));
  v.setUint32(4, seconds >>> 0);
  v.setUint32(8, nanos - (nanos % WHITENING));
}

/** True when timestamp a is later than b (both 12 bytes; big-endian, so byte order is time order). */
export function tai64nAfter(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < TAI64N_LENGTH; i++) {
    if (a[i] !== b[i]) return a[i] > b[i];
  }
  return false;
}
