// The programs tests drive, by names that say what they run: `bunwg` (this repository's wg.ts, as a user runs it),
// `wgTool` (wg(8) from wireguard-tools), and the daemon programs started as `PROGRAM IFNAME` — ours (BUNWG) and the
// wireguard-go builds we interoperate with.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { run, runSync, type Result, type RunOptions } from "./process.ts";

export const REPO = join(import.meta.dir, "..", "..");
export const WG_TS = join(REPO, "wg.ts");
export const isRoot = process.getuid?.() === 0;

/** Our daemon program: `[...BUNWG, IFNAME]` starts it as wireguard-go is started. */
export const BUNWG = [process.execPath, WG_TS];
export const WGGO_DEBIAN = existsSync("/usr/bin/wireguard-go") ? ["/usr/bin/wireguard-go"] : null;
export const WGGO_LATEST = existsSync("/opt/wggo-latest/wireguard") ? ["/opt/wggo-latest/wireguard"] : null;

/** The daemon `bunwg ifconfig … create` starts: ours, unless BUNWG_TEST_DAEMON names another (e.g. wireguard-go),
 *  to hold the CLI's tests against a daemon without our extensions. */
export const ourDaemon = !process.env.BUNWG_TEST_DAEMON;
export const daemonEnv: Record<string, string> = ourDaemon ? {} : { BUNWG_DAEMON: process.env.BUNWG_TEST_DAEMON! };
export const daemonName = ourDaemon ? "bunwg (src/device/daemon.ts)" : process.env.BUNWG_TEST_DAEMON!;

/** `bun wg.ts ARGS…` from the repository, as a user runs it; the result is returned whatever the exit code. */
export function bunwg(args: string[], opts: RunOptions = {}): Promise<Result> {
  return run([...BUNWG, ...args], { check: false, cwd: REPO, ...opts, env: { ...daemonEnv, ...opts.env } });
}

/** wg(8) (keys shown in full: the tests compare them). Checked unless asked otherwise. */
export function wgTool(args: string[], opts: RunOptions = {}): Promise<Result> {
  return run(["wg", ...args], { ...opts, env: { WG_HIDE_KEYS: "never", ...opts.env } });
}

/** A key pair from wg(8), base64. */
export function genKey(): { priv: string; pub: string } {
  const priv = runSync(["wg", "genkey"]).stdout.trim();
  const pub = runSync(["wg", "pubkey"], { stdin: `${priv}\n` }).stdout.trim();
  return { priv, pub };
}

/** Six hex digits for the names of what a test makes (interfaces, namespaces): runs in parallel never collide. */
export function uniqueTag(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(3))).toString("hex");
}

/** wireguard-go as the peer of interop and robustness tests: Debian's, else the newest, else ourselves. */
export const PEER_PROGRAM: string[] = WGGO_DEBIAN ?? WGGO_LATEST ?? BUNWG;
export const PEER_NAME = WGGO_DEBIAN ? "wireguard-go (Debian)" : WGGO_LATEST ? "newest wireguard-go" : "bunwg";

/** The implementations an operator-fault test runs against: ours always, the newest wireguard-go when built. */
/** The second run of `bun run test` (BUNWG_THREADS set above 1, scripts/test.ts) is about our threaded data plane:
 *  tests that hold another implementation to the same behaviour ran against it in the first run already. */
export const SECOND_THREADS_RUN = Number(process.env.BUNWG_THREADS || 0) > 1;
export const IMPLEMENTATIONS: [string, string[]][] = [["bunwg", BUNWG], ...(WGGO_LATEST && !SECOND_THREADS_RUN ? [["newest wireguard-go", WGGO_LATEST] as [string, string[]]] : [])];
