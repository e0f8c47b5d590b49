// `bunwg [-f|--foreground] IFNAME`: the daemon, invoked exactly as wireguard-go is. Without -f it re-runs itself in
// the foreground, detached, and returns only once the TUN interface and the configuration socket exist — test
// suites written for wireguard-go move the interface right after this returns. It stops on SIGINT/SIGTERM, when
// its interface is deleted and when its socket file is removed.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync } from "node:fs";
import { connect } from "node:net";
import { LOG_DIR, Logger, logPath, parseLogLevel, type LogLevel } from "./log.ts";
import type { Device } from "./device.ts";
import type { Tun } from "./tun.ts";
import { socketPath } from "../uapi/socket.ts";
import { METRICS_ENV, parseMetricsAddress, serveMetrics, type MetricsAddress, type MetricsServer } from "./metrics.ts";
import { THREADS_ENV, defaultThreads, parseThreads } from "./threads.ts";
// The data path's modules are imported by runForeground only: the launcher (without -f) just starts the daemon and
// waits for its socket, and returns sooner without loading them (bench/startup.ts).

const READY_TIMEOUT_MS = 15_000;
/** Quiet this long (no packets, no configuration change), the daemon gives back what start-up, a burst or a large
 *  configuration left resident (trim.ts). */
const TRIM_QUIET_MS = 5000;

const IFNAME_RE = /^[A-Za-z0-9_=+.-]{1,15}$/;

function usage(msg: string): number {
  process.stderr.write(`bunwg: ${msg}\nusage: bunwg [-f|--foreground] [--metrics ADDR:PORT] [--threads N] IFNAME\n`);
  return 2;
}

export async function runDaemonCommand(argv: string[]): Promise<number> {
  let foreground = false;
  let ifname: string | undefined;
  let metricsText = process.env[METRICS_ENV] || undefined; // the flag wins over the environment
  let threadsText: string | undefined;
  let threadsFrom = "--threads";
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-f" || a === "--foreground") foreground = true;
    else if (a === "--metrics" || a.startsWith("--metrics=")) {
      metricsText = a === "--metrics" ? argv[++i] : a.slice("--metrics=".length);
      if (metricsText === undefined || metricsText === "") return usage("--metrics: expected ADDR:PORT, e.g. 127.0.0.1:9586");
    }
    else if (a === "--threads" || a.startsWith("--threads=")) {
      threadsText = a === "--threads" ? argv[++i] : a.slice("--threads=".length);
      if (threadsText === undefined || threadsText === "") return usage("--threads: expected a thread count, e.g. 2");
    }
    else if (a.startsWith("-")) return usage(`unknown option "${a}"`);
    else if (ifname !== undefined) return usage(`unexpected argument "${a}" after interface name "${ifname}"`);
    else ifname = a;
  }
  if (ifname === undefined) return usage("missing interface name");
  let metrics: MetricsAddress | null = null;
  try {
    if (metricsText !== undefined) metrics = parseMetricsAddress(metricsText);
  } catch (e) {
    return usage((e as Error).message);
  }
  if (threadsText === undefined && process.env[THREADS_ENV]) {
    threadsText = process.env[THREADS_ENV];
    threadsFrom = THREADS_ENV;
  }
  let threads: number;
  try {
    threads = threadsText === undefined ? defaultThreads() : parseThreads(threadsText, threadsFrom);
  } catch (e) {
    return usage((e as Error).message);
  }
  if (!IFNAME_RE.test(ifname) || ifname === "." || ifname === "..")
    return usage(`interface name "${ifname}": expected 1-15 characters of letters, digits, "_", "=", "+", ".", "-"`);
  let level: LogLevel;
  try {
    level = parseLogLevel(process.env.LOG_LEVEL);
  } catch (e) {
    return usage((e as Error).message);
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write(`bunwg: interface ${ifname}: must run as root (needs /dev/net/tun and /var/run/wireguard)\n`);
    return 1;
  }
  if (await socketAlive(socketPath(ifname))) {
    process.stderr.write(`bunwg: interface ${ifname}: a daemon is already running (${socketPath(ifname)})\n`);
    return 1;
  }
  return foreground ? runForeground(ifname, level, metrics, threads) : detach(ifname, metrics, threads);
}

/** The command that runs this program again: `bun wg.ts` from source, or the executable itself when compiled. */
export function selfCommand(): string[] {
  const compiled = Bun.main.startsWith("/$bunfs/") || Bun.main.startsWith("B:/~BUN/");
  return compiled ? [process.execPath] : [process.execPath, Bun.main];
}


async function detach(ifname: string, metrics: MetricsAddress | null, threads: number): Promise<number> {
  mkdirSync(LOG_DIR, { recursive: true, mode: 0o700 });
  const path = logPath(ifname);
  const fd = openSync(path, "a", 0o600);
  let startSize = 0;
  try { startSize = statSync(path).size; } catch { /* new file */ }
  const child = Bun.spawn([...selfCommand(), "-f", ...(metrics ? ["--metrics", metrics.text] : []), "--threads", String(threads), ifname], {
    stdio: ["ignore", fd, fd],
    detached: true,
    // Bun's GC timer collects every second or so while the heap grows: 10 collections per daemon in a 15 s ping run
    // against 2–3 without it, each a 0.4–2 ms pause of the event loop that a packet arriving then waits out
    // (bench/RESULTS.md, "Latency tail"). Allocation-driven collections still run, and trim.ts collects when quiet.
    // JavaScriptCore's top tier (FTL) gives the data path nothing measurable — the per-byte work is the Zig library's
    // — but its compilations keep a JIT thread busy for milliseconds at a time long after the warm-up, on the cores
    // the packets need (bench/RESULTS.md, "Latency tail (issue 12)", fourth round). The DFG tier still optimises.
    env: {
      ...process.env, BUNWG_DETACHED: "1", BUN_GC_TIMER_DISABLE: process.env.BUN_GC_TIMER_DISABLE ?? "1",
      BUN_JSC_useFTLJIT: process.env.BUN_JSC_useFTLJIT ?? "0",
    },
  });
  closeSync(fd);
  child.unref();
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const tail = readFileSync(path).subarray(startSize).toString().trim();
      process.stderr.write(`bunwg: interface ${ifname}: the daemon exited during start-up${tail ? ":\n" + tail : ""}\n`);
      return 1;
    }
    if (await socketAlive(socketPath(ifname))) return 0;
    await Bun.sleep(2); // how late the launcher may notice: part of the start-up time (bench/startup.ts)
  }
  try { process.kill(child.pid, "SIGTERM"); } catch { /* gone */ }
  process.stderr.write(`bunwg: interface ${ifname}: the daemon did not become ready within ${READY_TIMEOUT_MS / 1000} s (log: ${path})\n`);
  return 1;
}

/** True when something accepts connections on the UNIX socket at path. */
export function socketAlive(path: string, timeoutMs = 1000): Promise<boolean> {
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (v: boolean) => { clearTimeout(t); s.destroy(); resolve(v); };
    const t = setTimeout(() => done(false), timeoutMs);
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}

async function runForeground(ifname: string, level: LogLevel, metricsAddr: MetricsAddress | null, threads: number): Promise<number> {
  const [{ loadAead }, { systemRandom }, { Device }, { Tun }, { startIpc }, { trimWhenQuiet }] = await Promise.all([
    import("../crypto/aead.ts"), import("../crypto/suite.ts"), import("./device.ts"), import("./tun.ts"),
    import("./ipc.ts"), import("./trim.ts"),
  ]);
  const log = new Logger(ifname, level);
  // Bound first: an operator who asked for metrics gets a daemon with them or none at all (the port is taken).
  let dev: Device | null = null;
  let metrics: MetricsServer | null = null;
  try {
    if (metricsAddr) metrics = serveMetrics(metricsAddr, ifname, () => dev?.counters.snapshot(dev.peers.values()) ?? null);
  } catch (e) {
    log.error((e as Error).message);
    return 1;
  }
  const aead = loadAead(); // the rest of the engine's cryptography: src/crypto/suite.ts, chosen by Device
  const off = (name: string) => process.env[name] !== undefined && process.env[name] !== "" && process.env[name] !== "0";
  let tun: Tun;
  try {
    tun = Tun.create(ifname, { mtu: 1420, offload: !off("BUNWG_NO_OFFLOAD") });
  } catch (e) {
    log.error(`Failed to create TUN device: ${(e as Error).message}`);
    metrics?.close();
    return 1;
  }
  const options = { gso: !off("BUNWG_NO_GSO"), gro: !off("BUNWG_NO_GRO"), pump: !off("BUNWG_NO_PUMP"), counters: !off("BUNWG_NO_COUNTERS"), threads };
  dev = new Device(tun, aead, log, level, systemRandom, options);
  let stop!: (reason: string) => void;
  const stopped = new Promise<string>((resolve) => { stop = resolve; });
  dev.onFatal = (reason) => stop(reason);
  try {
    dev.start();
  } catch (e) {
    log.error(`Failed to start: ${(e as Error).message}`);
    metrics?.close();
    dev.close();
    return 1;
  }
  let ipc: Awaited<ReturnType<typeof startIpc>>;
  try {
    ipc = await startIpc(ifname, dev, log);
  } catch (e) {
    log.error(`Failed to open the configuration socket: ${(e as Error).message}`);
    metrics?.close();
    dev.close();
    return 1;
  }
  log.info(`Device started (AEAD: ${aead.backend}; TUN offloads: ${tun.offloads || "none"}; data-plane threads: ${1 + (dev.workers?.count ?? 0)}${metrics ? `; metrics: ${metrics.url}` : ""})`);
  const onSignal = (sig: string) => () => stop(`received ${sig}`);
  process.on("SIGINT", onSignal("SIGINT"));
  process.on("SIGTERM", onSignal("SIGTERM"));
  // Removing the socket file stops the daemon, as with wireguard-go.
  const ino = statSync(ipc.path).ino;
  const watch = setInterval(() => {
    try {
      if (statSync(ipc.path).ino !== ino) stop("configuration socket replaced");
    } catch {
      stop("configuration socket removed");
    }
  }, 500);
  let stopTrim = () => {};
  if (!off("BUNWG_NO_TRIM")) {
    let generation = 0, lastConfig = dev.config;
    stopTrim = trimWhenQuiet(() => {
      if (dev.config !== lastConfig) lastConfig = dev.config, generation++;
      let bytes = generation;
      for (const p of dev.peers.values()) bytes += p.rxBytes + p.txBytes;
      return bytes;
    }, TRIM_QUIET_MS, () => [...dev.sender.buffers, ...dev.receiver.buffers]);
  }
  // At start, in short turns: the data path reaches the optimising JIT tiers before the first real packets rather
  // than during them (warmup.ts). Started at the first peer instead, it overlapped the handshake and the first pings
  // of a freshly configured pair — wg-quick and bench/lib/pair.ts send them within tens of milliseconds — and those
  // waited out its turns: the first 20 pings averaged 0.72 ms against 0.20 (bench/RESULTS.md, "Latency tail",
  // thirteenth round). It costs a daemon that never gets a peer ~2 MiB. BUNWG_NO_WARMUP=1 turns it off.
  let stopping = false;
  if (!off("BUNWG_NO_WARMUP")) {
    const mtu = dev.mtu;
    import("./warmup.ts").then(({ warmUp }) => warmUp(aead, options, mtu, undefined, () => stopping)).then(
      (r) => log.debug(`Data path warmed up: ${r.roundTrips} round trips in ${r.ms.toFixed(0)} ms`),
      (e) => log.error(`Data path warm-up failed: ${(e as Error).message}`),
    );
  }
  const reason = await stopped;
  stopping = true;
  clearInterval(watch);
  stopTrim();
  log.info(`Shutting down: ${reason}`);
  ipc.close();
  metrics?.close();
  dev.close();
  process.exit(0);
}
