#!/usr/bin/env bun
// `bun run test`: the whole suite with a single-threaded data plane (BUNWG_THREADS=1), then every test file that
// runs a daemon again with two data-plane threads (BUNWG_THREADS=2: the JS thread and one worker, docs/threads.md),
// so both paths meet the same peers and faults (issue #14). Arguments are passed to both runs, e.g. a file filter.
// At the end, every failure of either run is repeated with its error lines (failures.ts): CI shows only the tail.
import { FailureLog, follow } from "./failures.ts";
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

async function bunTest(threads: number, files: string[], failures: FailureLog): Promise<number> {
  console.log(`\n== bun test with BUNWG_THREADS=${threads}${files.length ? ": " + files.join(" ") : ""}`);
  const p = Bun.spawn(["bun", "test", ...files], {
    cwd: REPO_ROOT,
    stdio: ["inherit", "pipe", "pipe"],
    env: { ...process.env, BUNWG_THREADS: String(threads) },
  });
  // bun test reports on stderr; the tests' own console.log lines come on stdout.
  await Promise.all([
    follow(p.stdout, (c) => process.stdout.write(c), () => {}),
    follow(p.stderr, (c) => process.stderr.write(c), (l) => failures.line(l)),
  ]);
  return (await p.exited) ?? 1;
}

const extra = process.argv.slice(2);
const firstFailures = new FailureLog(), secondFailures = new FailureLog();
const first = await bunTest(1, extra, firstFailures);
// The second run takes the daemon tests (narrowed by the arguments when there are any).
const again = extra.length ? extra.filter((a) => DAEMON_TESTS.some((d) => a.startsWith(d) || d.startsWith(a))) : DAEMON_TESTS;
const second = again.length ? await bunTest(2, again, secondFailures) : 0;
const summary = firstFailures.summary("the run with BUNWG_THREADS=1") + secondFailures.summary("the run with BUNWG_THREADS=2");
if (summary !== "") process.stderr.write(`\n${summary}`);
else if (first !== 0 || second !== 0) process.stderr.write(`\n== bun test exited ${first} (BUNWG_THREADS=1) and ${second} (BUNWG_THREADS=2) with no failed test named: see the output above\n`);
process.exit(first !== 0 ? first : second);
