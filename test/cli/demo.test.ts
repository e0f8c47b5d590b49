// `wg.ts demo`: builds the seed's EXAMPLES, pings across, shows both, measures, and leaves nothing behind —
// also when interrupted.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { linkExists, socketExists } from "../support/net.ts";
import { hasCommand, poll, shell } from "../support/process.ts";
import { REPO, WG_TS, daemonEnv, daemonName, isRoot } from "../support/programs.ts";

setDefaultTimeout(120_000);

function leftovers(id: string): string[] {
  const found: string[] = [];
  if (shell(`ip netns list`).stdout.includes(id)) found.push(`namespace *${id}`);
  for (const n of [`wg1-${id}`, `wg2-${id}`]) {
    if (socketExists(n)) found.push(`socket ${n}`);
    if (linkExists(n)) found.push(`link ${n}`);
  }
  return found;
}

describe.skipIf(!isRoot)(`demo against ${daemonName}`, () => {
  test("the ping crosses, both interfaces are shown, everything is removed; exit 0", async () => {
    const proc = Bun.spawn([process.execPath, WG_TS, "demo", "--seconds", "1"], {
      cwd: REPO,
      env: { ...process.env, ...daemonEnv },
      stdout: "pipe",
      stderr: "pipe",
    });
    const timer = setTimeout(() => proc.kill("SIGKILL"), 100_000);
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    if (code !== 0) console.error(out, err);
    const id = out.match(/network namespaces bwgdemo1-([0-9a-f]{6})/)?.[1];
    expect(id).toBeDefined();
    expect(code).toBe(0);
    expect(out).toContain("the ping crossed the tunnel");
    expect(out).toMatch(/3 received/);
    expect(out.match(/\twgpubkey [A-Za-z0-9+/]{43}=\n/g)).toHaveLength(2);
    expect(out).toContain(`rdomain bwgdemo1-${id}`);
    expect(out).toContain(`rdomain bwgdemo2-${id}`);
    if (hasCommand("iperf3")) expect(out).toMatch(/throughput through the tunnel: \d+\.\d+ Gbit\/s/);
    expect(out).toContain("cleanup: removed");
    expect(leftovers(id!)).toEqual([]);
  });

  test("SIGTERM part-way: the demo removes what it scope and exits 143", async () => {
    const proc = Bun.spawn([process.execPath, WG_TS, "demo", "--seconds", "0"], {
      cwd: REPO,
      env: { ...process.env, ...daemonEnv },
      stdout: "pipe",
      stderr: "pipe",
    });
    let out = "";
    const reader = (async () => {
      for await (const chunk of proc.stdout) out += new TextDecoder().decode(chunk);
    })();
    // Interrupt once the first interface exists.
    const started = await poll(() => /\+ ifconfig wg2-/.test(out), 30_000);
    expect(started).toBe(true);
    const id = out.match(/bwgdemo1-([0-9a-f]{6})/)![1];
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
    const code = await proc.exited;
    clearTimeout(timer);
    await reader;
    if (code !== 143) console.error(out, await new Response(proc.stderr).text());
    expect(code).toBe(143);
    expect(out).toContain("SIGTERM: cleaning up");
    expect(leftovers(id)).toEqual([]);
  });
});
