// wireguard-go's own end-to-end suite (tests/netns.sh, shipped in its Go module) run unchanged against bunwg:
// it starts the daemon as `PROGRAM IFNAME`, configures it with wg(8), pings and runs iperf3 across namespaces
// at two MTUs over IPv4 and IPv6 outer transport, roams, checks the crypto reverse-path filter, NAT with
// persistent keepalive, sticky source addresses, and large configurations. The script comes from the Go module
// cache (`go mod download golang.zx2c4.com/wireguard@latest`, done by .ci/run); it is not copied into this repo.
import { test, expect } from "bun:test";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { logPath } from "../../src/device/log.ts";

const WG_TS = join(import.meta.dir, "..", "..", "wg.ts");

function findSuite(): string | null {
  const out = Bun.spawnSync(["go", "env", "GOMODCACHE"], { stdout: "pipe", stderr: "ignore" });
  const cache = out.success ? out.stdout.toString().trim() : "";
  const dir = join(cache, "golang.zx2c4.com");
  if (!cache || !existsSync(dir)) return null;
  const versions = readdirSync(dir).filter((d) => d.startsWith("wireguard@v")).sort();
  for (const v of versions.reverse()) {
    const p = join(dir, v, "tests", "netns.sh");
    if (existsSync(p)) return p;
  }
  return null;
}

const root = process.getuid?.() === 0;
const suite = root ? findSuite() : null;
const missing = ["ncat", "iptables", "iperf3", "wg"].filter((c) => !Bun.which(c));
const why = !root ? "not root" : !suite ? "wireguard-go's tests/netns.sh not in the Go module cache" : missing.length ? `missing ${missing.join(", ")}` : "";
if (why) console.warn(`skipping wireguard-go's netns.sh suite: ${why}`);

test.skipIf(why !== "")("wireguard-go's tests/netns.sh passes against bunwg, whole", async () => {
  // The script names its interfaces wg0-wg2: remove the daemon logs it leaves, but none that existed before.
  const logs = ["wg0", "wg1", "wg2"].map((i) => logPath(i)).filter((p) => !existsSync(p));
  try {
    await runSuite();
  } finally {
    for (const p of logs) rmSync(p, { force: true });
  }
}, 660_000);

async function runSuite(): Promise<void> {
  const proc = Bun.spawn(["bash", suite!, WG_TS], { stdout: "pipe", stderr: "pipe", env: { ...process.env } });
  const timer = setTimeout(() => proc.kill("SIGTERM"), 600_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  const tail = (stdout + "\n" + stderr).split("\n").slice(-40).join("\n");
  if (code !== 0) console.error(tail);
  expect(code).toBe(0);
  expect(stdout + stderr).toContain("Objects that were created were also destroyed.");
}
