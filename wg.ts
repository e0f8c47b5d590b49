#!/usr/bin/env bun
// bunwg — a userspace WireGuard router. `wg.ts IFNAME` runs the daemon exactly as `wireguard-go IFNAME` does;
// every other first word is a subcommand (ifconfig, netstart, show, genkey, pubkey, genpsk, demo).
// citty is loaded only for subcommands: the daemon path (`wg.ts IFNAME`) does not need it (bench/RESULTS.md, "Memory").
import type { CommandDef } from "citty";
import { VERSION } from "./src/version.ts";
import { commandUsage, mainUsage, styleFor, type DaemonFlag } from "./src/cli/usage.ts";

/** The daemon invocation's flags, `bunwg [FLAGS] IFNAME` (src/device/daemon.ts parses them): a first word that is one
 *  of these (or "--flag=value") means daemon mode, and the help's first line is made from this list. */
const DAEMON_FLAGS: DaemonFlag[] = [
  { flags: ["-f", "--foreground"], help: "daemon: stay in the foreground and log to stderr" },
  { flags: ["--metrics"], value: "ADDR:PORT", help: "daemon: serve Prometheus metrics on ADDR:PORT" },
  { flags: ["--threads"], value: "N", help: "daemon: data-plane threads (default: one per core up to 8; 1 on two cores or fewer)" },
];

/** The commands, in the order the help lists them: how to load each, its arguments and one line about it. */
const COMMANDS: Record<string, { load: () => Promise<CommandDef<any>>; args: string; summary: string }> = {
  ifconfig: { load: () => import("./src/cli/ifconfig.ts").then((m) => m.ifconfigCommand), args: "[IFNAME [WORDS…]]", summary: "configure or show interfaces, OpenBSD-style" },
  netstart: { load: () => import("./src/cli/netstart.ts").then((m) => m.netstartCommand), args: "[-n] [IFNAME…]", summary: "bring up interfaces from hostname.IFNAME files" },
  show: { load: () => import("./src/cli/show.ts").then((m) => m.showCommand), args: "[IFNAME]", summary: "show interfaces as wg show does" },
  genkey: { load: () => import("./src/cli/keys.ts").then((m) => m.genkeyCommand), args: "", summary: "print a new private key" },
  pubkey: { load: () => import("./src/cli/keys.ts").then((m) => m.pubkeyCommand), args: "", summary: "print the public key of the private key on stdin" },
  genpsk: { load: () => import("./src/cli/keys.ts").then((m) => m.genpskCommand), args: "", summary: "print a new preshared key" },
  demo: { load: () => import("./src/cli/demo.ts").then((m) => m.demoCommand), args: "", summary: "run wg(4)'s EXAMPLES in two throwaway namespaces" },
};
const subCommands = Object.fromEntries(Object.entries(COMMANDS).map(([name, c]) => [name, c.load]));

function isDaemonFlag(word: string): boolean {
  return DAEMON_FLAGS.some((f) => f.flags.includes(f.value ? word.split("=")[0] : word));
}

function usageText(stream: typeof process.stdout | typeof process.stderr): string {
  return mainUsage(
    styleFor(stream),
    DAEMON_FLAGS,
    Object.entries(COMMANDS).map(([name, c]) => ({ name, args: c.args, summary: c.summary })),
  );
}

async function versionLine(): Promise<string> {
  const { loadAead } = await import("./src/crypto/aead.ts");
  return `bunwg v${VERSION} (bun ${Bun.version}, AEAD: ${loadAead().backend})`;
}

const mainCommand = (defineCommand: typeof import("citty").defineCommand) => defineCommand({
  meta: { name: "bunwg", version: VERSION, description: "Userspace WireGuard router on Bun" },
  args: {
    version: { type: "boolean", description: "print the version and the active AEAD backend" },
  },
  subCommands,
  async run({ args, rawArgs }) {
    if (args.version) return console.log(await versionLine());
    if (rawArgs.length > 0 && rawArgs[0] in subCommands) return; // citty runs this after the subcommand
    // citty ignores flags it does not know: name the first one instead of exiting 0 in silence.
    if (rawArgs.length > 0) console.error(`bunwg: unknown option "${rawArgs[0]}"`);
    process.stderr.write(usageText(process.stderr));
    process.exitCode = 2;
  },
});

/** --help: ours for bunwg itself; citty's for a command, in colour only on a terminal and fitted to its width. */
async function showUsage(citty: typeof import("citty"), main: CommandDef<any>, cmd: CommandDef<any>, parent?: CommandDef<any>): Promise<void> {
  if (cmd === main) process.stdout.write(usageText(process.stdout));
  else process.stdout.write(commandUsage(styleFor(process.stdout), await citty.renderUsage(cmd, parent)));
}

/** citty ignores flags a command does not declare; name the first such flag instead (ifconfig's words may start
 *  with "-", so it checks its own). */
async function unknownFlag(name: string, rest: string[]): Promise<string | null> {
  if (name === "ifconfig") return null;
  const cmd = await COMMANDS[name].load();
  const args = (typeof cmd.args === "function" ? await cmd.args() : await cmd.args) ?? {};
  const known = new Set(["--help", "-h"]);
  for (const [key, def] of Object.entries(args as Record<string, { type?: string; alias?: string | string[] }>)) {
    if (def.type === "positional") continue;
    known.add(`--${key}`).add(`--no-${key}`);
    for (const a of [def.alias ?? []].flat()) known.add(a.length === 1 ? `-${a}` : `--${a}`);
  }
  for (const a of rest) {
    if (a === "--") break;
    if (a.startsWith("-") && a !== "-" && !known.has(a.split("=")[0])) return a;
  }
  return null;
}

const argv = process.argv.slice(2);
const first = argv[0];
const bad = first !== undefined && first in subCommands ? await unknownFlag(first, argv.slice(1)) : null;
if (bad !== null) {
  console.error(`bunwg ${first}: unknown option "${bad}" (see: bunwg ${first} --help)`);
  process.exitCode = 2;
} else if (first === "--version" || first === "-v" || first === "version") {
  console.log(await versionLine());
} else if (first !== undefined && !(first in subCommands) && (!first.startsWith("-") || isDaemonFlag(first))) {
  // Daemon mode, wireguard-go's invocation: [FLAGS] IFNAME.
  const { runDaemonCommand } = await import("./src/device/daemon.ts");
  process.exitCode = await runDaemonCommand(argv);
} else {
  const citty = await import("citty");
  const main = mainCommand(citty.defineCommand);
  await citty.runMain(main, { rawArgs: argv, showUsage: (cmd, parent) => showUsage(citty, main, cmd, parent) });
}
