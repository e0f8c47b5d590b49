// BUNWG_SELFTEST=aead[:CASES]: instead of running the command line, the executable checks its own Zig AEAD against
// @noble/ciphers on CASES random cases (default 200) plus a transport batch, prints one line and exits 0 when they
// agree, 1 otherwise. It exists for the compiled executable (src/cli/compiledEntry.ts), where the library is the
// embedded one, perhaps cross-built for another CPU (test/cli/compile-arm64.test.ts runs it under qemu-user).
// BUNWG_SELFTEST_SEED fixes the random cases, to reproduce a reported mismatch.

/** Runs the self-test when BUNWG_SELFTEST asks for it; returns false (doing nothing) when it does not. */
export async function runSelfTestFromEnv(env: Record<string, string | undefined> = process.env): Promise<boolean> {
  const spec = env.BUNWG_SELFTEST;
  if (!spec) return false;
  const m = /^aead(?::(\d+))?$/.exec(spec);
  const cases = m?.[1] === undefined ? 200 : Number(m[1]);
  const seed = env.BUNWG_SELFTEST_SEED ? Number(env.BUNWG_SELFTEST_SEED) : (Math.random() * 2 ** 32) >>> 0;
  if (!m || !(cases >= 1 && cases <= 1_000_000) || !Number.isInteger(seed)) {
    console.error(`bunwg: BUNWG_SELFTEST="${spec}"${env.BUNWG_SELFTEST_SEED ? `, BUNWG_SELFTEST_SEED="${env.BUNWG_SELFTEST_SEED}"` : ""}: expected "aead" or "aead:CASES" (1 to 1000000) and an integer seed`);
    process.exitCode = 2;
    return true;
  }
  const { nobleAead, zigAead } = await import("../crypto/aead.ts");
  const { checkAead, sealRate } = await import("../crypto/aeadCheck.ts");
  const { loadNative } = await import("../native/lib.ts");
  let native;
  try {
    native = loadNative();
  } catch (e) {
    // No fallback here: comparing @noble with itself would prove nothing.
    console.error(`bunwg: aead self-test: the Zig library did not load: ${(e as Error).message}`);
    process.exitCode = 1;
    return true;
  }
  const zig = zigAead(native);
  const noble = nobleAead();
  const r = checkAead(zig, noble, cases, seed);
  if (r.failures > 0) {
    console.error(`bunwg: aead self-test FAILED (seed ${seed}): ${zig.backend} disagrees with ${noble.backend} in ${r.failures} checks, among them:\n  ${r.mismatches.join("\n  ")}`);
    process.exitCode = 1;
    return true;
  }
  const rate = sealRate(zig, 300);
  console.log(
    `aead self-test: ${zig.backend} agrees with ${noble.backend} on ${r.cases} random cases and ${r.transportPackets} transport packets ` +
      `(seed ${seed}); sealing 1420-byte packets: ${rate.toFixed(1)} MB/s (smoke figure, not a benchmark)`,
  );
  return true;
}
