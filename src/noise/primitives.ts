// Byte comparisons the core needs besides its cryptography (noise/crypto.ts): constant-time equality and the
// all-zero test. Neither allocates.

/** Constant-time comparison of equal-length byte strings (MACs, tags). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** True when every byte is zero (low-order DH results, absent keys). */
export function isZero(a: Uint8Array): boolean {
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i];
  return d === 0;
}
