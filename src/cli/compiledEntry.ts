// Entry of the standalone executable (scripts/compile.ts): register the embedded Zig library first, so
// src/native/lib.ts finds it inside the executable (loaded through a memfd), then run the ordinary entry, wg.ts —
// or, when BUNWG_SELFTEST asks, the embedded library's self-test instead (src/cli/selftest.ts).
import "../native/embed.ts";
import { runSelfTestFromEnv } from "./selftest.ts";

if (!(await runSelfTestFromEnv())) await import("../../wg.ts");
