#!/usr/bin/env bun
// bunwg — a userspace WireGuard router. `wg.ts IFNAME` runs the daemon exactly as `wireguard-go IFNAME` does;
// every other first word is a subcommand (ifconfig, show, genkey, pubkey, genpsk, demo).
// citty is loaded only for subcommands: the daemon path (`wg.ts IFNAME`) does not need it (bench/RESULTS.md, "Memory").
import type { CommandDef } from "citty";
import { VERSION } from "./src/version.ts";

const subCommands: Record<string, () => Promise<CommandDef<any>>> = {
  ifconfig: () => import("./src/cli/ifconfig.ts").then((m) => m.ifconfigCommand),
  show: () => import("./src/cli/show.ts").then((m) => m.showCommand),
  genkey: () => import("./src/cli/keys.ts").then((m) => m.genkeyCommand),
  pubkey: () => import("./src/cli/keys.ts").then((m) => m.pubkeyCommand),
  genpsk: () => import("./src/cli/keys.ts").then((m) => m.genpskCommand),
  demo: () => import("./src/cli/demo.ts").then((m) => m.demoCommand),
};

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
    if (rawArgs.length > 0 && rawArgs[0]! in subCommands) return; // citty runs this after the subcommand
    // citty ignores flags it does not know: name the first one instead of exiting 0 in silence.
    if (rawArgs.length > 0) console.error(`bunwg: unknown option "${rawArgs[0]}"`);
    console.error("usage: bunwg [-f|--foreground] IFNAME | bunwg <ifconfig|show|genkey|pubkey|genpsk|demo> … (--help)");
    process.exitCode = 2;
  },
});

/** citty ignores flags a command does not declare; name the first such flag instead (ifconfig's words may start
 *  with "-", so it checks its own). */
async function unknownFlag(name: string, rest: string[]): Promise<string | null> {
  if (name === "ifconfig") return null;
  const cmd = await subCommands[name]!();
  const args = (typeof cmd.args === "function" ? await cmd.args() : await cmd.args) ?? {};
  const known = new Set(["--help", "-h"]);
  for (const [key, def] of Object.entries(args as Record<string, { type?: string; alias?: string | string[] }>)) {
    if (def.type === "positional") continue;
    known.add(`--${key}`).add(`--no-${key}`);
    for (const a of [def.alias ?? []].flat()) known.add(a.length === 1 ? `-${a}` : `--${a}`);
  }
  for (const a of rest) {
    if (a === "--") break;
    if (a.startsWith("-") && a !== "-" && !known.has(a.split("=")[0]!)) return a;
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
} else if (first !== undefined && !(first in subCommands) && (!first.startsWith("-") || first === "-f" || first === "--foreground")) {
  // Daemon mode, wireguard-go's invocation: [-f|--foreground] IFNAME.
  const { runDaemonCommand } = await import("./src/device/daemon.ts");
  process.exitCode = await runDaemonCommand(argv);
} else {
  const citty = await import("citty");
  await citty.runMain(mainCommand(citty.defineCommand), { rawArgs: argv });
}
