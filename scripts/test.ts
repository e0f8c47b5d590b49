#!/usr/bin/env bun
// `bun run test`: the whole suite with a single-threaded data plane (BUNWG_THREADS=1), then every test file that
// runs a daemon again with two data-plane threads (BUNWG_THREADS=2: the JS thread and one worker, docs/threads.md),
// so both paths meet the same peers and faults (issue #14). Arguments are passed to both runs, e.g. a file filter.
import { REPO_ROOT } from "./run.ts";

/** The test files and directories whose tests start daemons (test/support/daemon.ts, peer.ts, programs.ts). */
export const DAEMON_TESTS = [
  "test/daemon/",
  "test/robust/",
  "test/cli/demo.test.ts",
  "test/cli/seed-example.test.ts",
  "test/cli/netstart.test.ts",
  "test/cli/ifconfig.test.ts",
  "test/noise/endpoint.test.ts",
  "test/noise/tai64n.test.ts",
];

function bunTest(threads: number, files: string[]): number {
  console.log(`\n== bun test with BUNWG_THREADS=${threads}${files.length ? ": " + files.join(" ") : ""}`);
  const r = Bun.spawnSync(["bun", "test", ...files], {
    cwd: REPO_ROOT,
    stdio: ["inherit", "inherit", "inherit"],
    env: { ...process.env, BUNWG_THREADS: String(threads) },
  });
  return r.exitCode ?? 1;
}

const extra = process.argv.slice(2);
const first = bunTest(1, extra);
// The second run takes the daemon tests (narrowed by the arguments when there are any).
const again = extra.length ? extra.filter((a) => DAEMON_TESTS.some((d) => a.startsWith(d) || d.startsWith(a))) : DAEMON_TESTS;
const second = again.length ? bunTest(2, again) : 0;
process.exit(first !== 0 ? first : second);
