// The runtime the detached daemon (as wg-quick starts it) runs in: Bun's GC timer off and JavaScriptCore's FTL tier
// off (src/device/daemon.ts; bench/RESULTS.md, "Latency tail"), each unless the operator's environment says
// otherwise. Read from the daemon's own /proc/PID/environ, which is what JavaScriptCore read at its start. And the
// data path's warm-up (src/device/warmup.ts), which the daemon runs at its start rather than at its first peer.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { socketOwner } from "../support/daemon.ts";
import { WG_TS, isRoot, uniqueTag } from "../support/programs.ts";
import { Scope, alive } from "../support/scope.ts";
import { socketPath } from "../../src/uapi/socket.ts";
import { LOG_DIR } from "../../src/device/log.ts";
import { WARMUP_ROUND_TRIPS } from "../../src/device/warmup.ts";

function environ(pid: number): Map<string, string> {
  const env = new Map<string, string>();
  for (const kv of readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")) {
    const eq = kv.indexOf("=");
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return env;
}

describe.skipIf(!isRoot)("the detached daemon's runtime", () => {
  const scope = new Scope();
  afterAll(() => scope.close());

  async function detached(env: Record<string, string>): Promise<{ pid: number; ifname: string }> {
    const ifname = `brt${uniqueTag()}`;
    let pid = 0;
    scope.add(() => {
      if (pid > 0 && alive(pid)) process.kill(pid, "SIGKILL");
      Bun.spawnSync(["ip", "link", "del", ifname], { stderr: "ignore" });
      Bun.spawnSync(["rm", "-f", socketPath(ifname), `${LOG_DIR}/${ifname}.log`]);
    });
    // Without these two in our own environment: the test runner's may have either.
    const base = { ...process.env };
    delete base.BUN_JSC_useFTLJIT;
    delete base.BUN_GC_TIMER_DISABLE;
    const r = Bun.spawn([process.execPath, WG_TS, ifname], { env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    const timer = setTimeout(() => r.kill("SIGKILL"), 20_000);
    const code = await r.exited;
    clearTimeout(timer);
    expect(code).toBe(0);
    pid = await socketOwner(ifname);
    expect(pid).toBeGreaterThan(0);
    return { pid, ifname };
  }

  test("by default: no GC timer, no FTL tier", async () => {
    const env = environ((await detached({})).pid);
    expect(env.get("BUN_GC_TIMER_DISABLE")).toBe("1");
    expect(env.get("BUN_JSC_useFTLJIT")).toBe("0");
  }, 30_000);

  test("the operator's environment wins (to measure what each gives)", async () => {
    const env = environ((await detached({ BUN_JSC_useFTLJIT: "1", BUN_GC_TIMER_DISABLE: "0" })).pid);
    expect(env.get("BUN_GC_TIMER_DISABLE")).toBe("0");
    expect(env.get("BUN_JSC_useFTLJIT")).toBe("1");
  }, 30_000);

  // A freshly configured pair is pinged within tens of milliseconds of its first peer (wg-quick, bench/lib/pair.ts):
  // warmed only then, its first pings waited out the warm-up's turns (bench/RESULTS.md, "Latency tail", thirteenth
  // round). So it runs at start, with no configuration at all.
  test("the data path is warmed up at start, before any peer is configured", async () => {
    const { ifname } = await detached({ LOG_LEVEL: "debug" });
    const log = `${LOG_DIR}/${ifname}.log`;
    const deadline = Date.now() + 15_000;
    let text = "";
    const done = new RegExp(`Data path warmed up: ${WARMUP_ROUND_TRIPS} round trips in \\d+ ms`);
    while (Date.now() < deadline && !done.test(text)) {
      await Bun.sleep(50);
      text = readFileSync(log, "utf8");
    }
    expect(text).toMatch(done);
    expect(text).not.toMatch(/warm-up failed/);
    const get = Bun.spawnSync(["wg", "show", ifname, "peers"], { stdout: "pipe", stderr: "pipe" });
    expect(get.exitCode).toBe(0);
    expect(get.stdout.toString().trim()).toBe(""); // no peer was ever configured
  }, 30_000);
});
