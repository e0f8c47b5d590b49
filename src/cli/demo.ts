// `wg.ts demo`: wg(4)'s EXAMPLES on Linux. Two interfaces on one machine, each moved into its own network
// namespace (standing in for rdomain 1 and 2) while both daemons' UDP sockets stay in the default one; a ping
// crosses the tunnel, both are shown, iperf3 gives a throughput figure, and everything made is removed again —
// also on failure, Ctrl-C and SIGTERM. Exits 0 only if the ping crossed.
import { defineCommand } from "citty";
import { CliError, requireRoot, runReporting } from "./errors.ts";
import { destroyInterface, udpPortInUse } from "./apply.ts";
import { ifconfig } from "./ifconfig.ts";
import { locate, run } from "./iproute.ts";
import { daemonPid, sleep, waitFor } from "./daemonProcess.ts";
import { randomKey } from "./keyText.ts";
import { keyToBase64 } from "../text/codec.ts";
import { socketPath } from "../uapi/socket.ts";
import { logPath } from "../device/log.ts";
import { existsSync, rmSync } from "node:fs";

export interface DemoOptions {
  iperfSeconds: number; // 0: skip the throughput run
  print: (text: string) => void;
}

async function freeUdpPort(preferred: number): Promise<number> {
  if (!(await udpPortInUse(preferred))) return preferred;
  const s = await Bun.udpSocket({ hostname: "0.0.0.0", port: 0 });
  const port = s.port;
  s.close();
  return port;
}

function hex(n: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(n))).toString("hex");
}

/** What the demo made, so it can all be removed whatever happens. */
class Made {
  interfaces: string[] = [];
  namespaces: string[] = [];
  pids: number[] = [];
  procs: { kill(signal?: number | NodeJS.Signals): void; exitCode: number | null }[] = [];
  private done: Promise<void> | null = null;

  cleanup(print: (t: string) => void): Promise<void> {
    this.done ??= (async () => {
      for (const p of this.procs) if (p.exitCode === null) p.kill("SIGKILL");
      for (const ifname of this.interfaces) {
        try {
          if (existsSync(socketPath(ifname))) await destroyInterface(ifname);
          // An interface whose daemon was interrupted while starting may exist without a socket yet.
          const ns = locate(ifname);
          if (ns !== undefined) run(["ip", ...(ns ? ["-n", ns] : []), "link", "del", "dev", ifname]);
        } catch (e) {
          print(`cleanup: ${ifname}: ${(e as Error).message}\n`);
        }
      }
      // A daemon that survived its interface and socket is ended by the pid we noted when it started.
      for (const pid of this.pids) {
        try {
          process.kill(pid, 0);
          process.kill(pid, "SIGTERM");
        } catch {
          // already gone
        }
      }
      // The demo's daemons were ours alone: their logs go with them.
      for (const ifname of this.interfaces) rmSync(logPath(ifname), { force: true });
      for (const ns of this.namespaces) {
        if (run(["ip", "netns", "list"]).stdout.split("\n").some((l) => l.split(" ")[0] === ns)) {
          const r = run(["ip", "netns", "del", ns]);
          if (r.code !== 0) print(`cleanup: namespace ${ns}: ${r.stderr}\n`);
        }
      }
      print(`cleanup: removed ${this.interfaces.join(", ")} and namespaces ${this.namespaces.join(", ")}\n`);
    })();
    return this.done;
  }
}

async function iperf(nsClient: string, nsServer: string, server: string, seconds: number, made: Made, print: (t: string) => void): Promise<void> {
  if (run(["sh", "-c", "command -v iperf3"]).code !== 0) {
    print("iperf3 not installed: no throughput figure\n");
    return;
  }
  const port = String(5201 + Math.floor(Math.random() * 1000));
  const srv = Bun.spawn(["ip", "netns", "exec", nsServer, "iperf3", "-s", "-1", "-B", server, "-p", port], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "ignore",
  });
  made.procs.push(srv);
  const listening = await waitFor(
    () => run(["ip", "netns", "exec", nsServer, "ss", "-tlnH", `sport = :${port}`]).stdout.trim() !== "",
    5000,
  );
  if (!listening) {
    print("iperf3 server did not start: no throughput figure\n");
    return;
  }
  print(`+ ip netns exec ${nsClient} iperf3 -c ${server} -p ${port} -t ${seconds}\n`);
  const r = run(["ip", "netns", "exec", nsClient, "iperf3", "-c", server, "-p", port, "-t", String(seconds), "-J"], (seconds + 15) * 1000);
  try {
    const j = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
    const bps = j.end?.sum_received?.bits_per_second;
    if (bps === undefined) throw new Error(j.error ?? "no result");
    print(`throughput through the tunnel: ${(bps / 1e9).toFixed(2)} Gbit/s (TCP, one stream, ${seconds} s)\n`);
  } catch (e) {
    print(`iperf3 failed: ${(e as Error).message}\n`);
  }
  await waitFor(() => srv.exitCode !== null, 2000);
}

/** Runs the demo; returns the exit code (0: the ping crossed the tunnel). */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const { print } = opts;
  requireRoot("demo");
  const id = hex(3);
  const wg1 = `wg1-${id}`;
  const wg2 = `wg2-${id}`;
  const ns1 = `bwgdemo1-${id}`;
  const ns2 = `bwgdemo2-${id}`;
  const made = new Made();
  made.namespaces.push(ns1, ns2);

  // On a signal: let the step in progress finish (each is bounded), start no other, remove everything, exit.
  let aborted: NodeJS.Signals | null = null;
  let current: Promise<void> = Promise.resolve();
  const onSignal = (sig: NodeJS.Signals) => {
    if (aborted) return;
    aborted = sig;
    print(`\n${sig}: cleaning up\n`);
    void current
      .catch(() => {})
      .then(() => made.cleanup(print))
      .finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const step = async (shown: string, argv: string[]) => {
    if (aborted) throw new CliError(`interrupted by ${aborted}`);
    print(`+ ifconfig ${shown}\n`);
    current = ifconfig(argv, print);
    await current;
  };
  let crossed = false;
  try {
    const port1 = await freeUdpPort(111);
    const port2 = await freeUdpPort(222 === port1 ? 223 : 222);
    print(`# wg(4) EXAMPLES: rdomain 1 and 2 are network namespaces ${ns1} and ${ns2}; ports ${port1} and ${port2}\n`);
    // Keys from random bytes, as `openssl rand -base64 32` makes them: the daemon clamps.
    const key1 = keyToBase64(randomKey());
    const key2 = keyToBase64(randomKey());
    made.interfaces.push(wg1);
    await step(`${wg1} create wgport ${port1} wgkey <random> rdomain ${ns1}`, [wg1, "create", "wgport", String(port1), "wgkey", key1, "rdomain", ns1]);
    const pid1 = daemonPid(wg1);
    if (pid1) made.pids.push(pid1);
    made.interfaces.push(wg2);
    await step(`${wg2} create wgport ${port2} wgkey <random> rdomain ${ns2}`, [wg2, "create", "wgport", String(port2), "wgkey", key2, "rdomain", ns2]);
    const pid2 = daemonPid(wg2);
    if (pid2) made.pids.push(pid2);

    const pubOf = async (ifname: string) => {
      let text = "";
      await ifconfig([ifname], (t) => (text += t));
      const line = text.split("\n").find((l) => l.includes("wgpubkey"));
      if (!line) throw new CliError(`${ifname}: no wgpubkey line in its status`);
      return line.split(" ")[1];
    };
    const pub1 = await pubOf(wg1);
    const pub2 = await pubOf(wg2);
    await step(`${wg1} wgpeer ${pub2} wgendpoint 127.0.0.1 ${port2} wgaip 192.168.5.2/32`, [wg1, "wgpeer", pub2, "wgendpoint", "127.0.0.1", String(port2), "wgaip", "192.168.5.2/32"]);
    await step(`${wg2} wgpeer ${pub1} wgendpoint 127.0.0.1 ${port1} wgaip 192.168.5.1/32`, [wg2, "wgpeer", pub1, "wgendpoint", "127.0.0.1", String(port1), "wgaip", "192.168.5.1/32"]);
    await step(`${wg1} 192.168.5.1/24`, [wg1, "192.168.5.1/24"]);
    await step(`${wg2} 192.168.5.2/24`, [wg2, "192.168.5.2/24"]);

    if (aborted) throw new CliError(`interrupted by ${aborted}`);
    print(`+ ip netns exec ${ns1} ping -c 3 -i 0.2 -W 2 192.168.5.2\n`);
    const ping = run(["ip", "netns", "exec", ns1, "ping", "-c", "3", "-i", "0.2", "-W", "2", "192.168.5.2"], 15_000);
    print(ping.stdout);
    crossed = ping.code === 0;
    print(crossed ? "the ping crossed the tunnel\n" : `the ping did not cross the tunnel (${ping.stderr || `exit ${ping.code}`})\n`);

    await step(wg1, [wg1]);
    await step(wg2, [wg2]);
    print(`+ ss -uln   # the tunnel's UDP sockets, in the default namespace\n`);
    const ss = run(["ss", "-ulnH"]).stdout.split("\n").filter((l) => new RegExp(`:(${port1}|${port2})\\s`).test(l));
    print(`${ss.join("\n")}\n`);

    if (crossed && opts.iperfSeconds > 0 && !aborted) await iperf(ns1, ns2, "192.168.5.2", opts.iperfSeconds, made, print);
  } finally {
    await made.cleanup(print);
    // After an interrupt the signal handler exits with 130/143; until then keep its handlers in place.
    if (!aborted) {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    } else await sleep(60_000);
  }
  return crossed ? 0 : 1;
}

export const demoCommand = defineCommand({
  meta: {
    name: "demo",
    description: "Build wg(4)'s EXAMPLES (two interfaces in two namespaces), ping across, show both, measure with iperf3, clean up",
  },
  args: {
    seconds: { type: "string", description: "iperf3 run length in seconds (0: skip)", default: "3" },
  },
  async run({ args }) {
    await runReporting("demo", async () => {
      const seconds = Number(args.seconds);
      if (!Number.isInteger(seconds) || seconds < 0 || seconds > 60) {
        throw new CliError(`--seconds: expected a whole number of seconds 0-60, got ${JSON.stringify(args.seconds)}`);
      }
      process.exitCode = await runDemo({ iperfSeconds: seconds, print: (t) => process.stdout.write(t) });
    });
  },
});
