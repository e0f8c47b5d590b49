// `--threads N` / BUNWG_THREADS (docs/threads.md): what the operator asks for is what runs — N − 1 worker threads
// next to the JavaScript thread, visible by name in /proc — and a bad count is refused with a clear error before
// anything is created.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { run } from "../support/process.ts";
import { BUNWG, isRoot, uniqueTag } from "../support/programs.ts";
import { Scope } from "../support/scope.ts";
import { startDaemon } from "../support/daemon.ts";
import { socketPath } from "../../src/uapi/socket.ts";
import { defaultThreads } from "../../src/device/threads.ts";

function workerThreads(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`)
    .map((tid) => { try { return readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim(); } catch { return ""; } })
    .filter((name) => /^bunwg-dp\d+$/.test(name))
    .sort();
}

test("the default thread count: 1 on one or two cores (measured to lose there), one per core above, at most 8", () => {
  expect([1, 2, 3, 4, 8, 64].map((cores) => defaultThreads(cores))).toEqual([1, 1, 3, 4, 8, 8]);
});

describe.skipIf(!isRoot)("data-plane threads", () => {
  const scope = new Scope();
  afterAll(() => scope.close());

  for (const [how, args, env, workers] of [
    ["--threads 3", ["--threads", "3"], {}, ["bunwg-dp0", "bunwg-dp1"]],
    ["--threads=1", ["--threads=1"], {}, []],
    ["BUNWG_THREADS=2", [], { BUNWG_THREADS: "2" }, ["bunwg-dp0"]],
    ["--threads 1 over BUNWG_THREADS=4 (the flag wins)", ["--threads", "1"], { BUNWG_THREADS: "4" }, []],
  ] as [string, string[], Record<string, string>, string[]][]) {
    test(`${how}: ${workers.length} worker thread(s), said in the log`, async () => {
      const ifname = `bth${uniqueTag()}`;
      const d = await startDaemon(scope, [...BUNWG, ...args], ifname, { env: { LOG_LEVEL: "verbose", ...env } });
      expect(workerThreads(d.pid)).toEqual(workers);
      expect(readFileSync(d.log, "utf8")).toContain(`data-plane threads: ${workers.length + 1}`);
    }, 20_000);
  }

  for (const [how, args, env, message] of [
    ["--threads 0", ["--threads", "0"], {}, `--threads: expected a thread count from 1 to 33 (1 = no worker threads), got "0"`],
    ["--threads many", ["--threads", "many"], {}, `--threads: expected a thread count from 1 to 33 (1 = no worker threads), got "many"`],
    ["--threads with no value", ["--threads"], {}, "--threads: expected a thread count, e.g. 2"],
    ["BUNWG_THREADS=99", [], { BUNWG_THREADS: "99" }, `BUNWG_THREADS: expected a thread count from 1 to 33 (1 = no worker threads), got "99"`],
  ] as [string, string[], Record<string, string>, string][]) {
    test(`${how} is refused before anything is created`, async () => {
      const ifname = `bth${uniqueTag()}`;
      scope.interface(ifname);
      // The flag with no value comes last, so that the interface name is not taken for it.
      const argv = args.length === 1 && args[0] === "--threads" ? [...BUNWG, ifname, ...args] : [...BUNWG, ...args, ifname];
      const r = await run(argv, { check: false, env, timeoutMs: 10_000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
      expect(existsSync(socketPath(ifname))).toBe(false);
      expect((await run(["ip", "link", "show", ifname], { check: false })).code).not.toBe(0);
    }, 20_000);
  }
});
